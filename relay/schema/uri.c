/*
 * uri.c — URIs (RFC 3986 section 5): just enough to resolve "$id" and "$ref" against a base.
 */
#include "schema_int.h"

#include <stdlib.h>
#include <string.h>

void uri_split(const char *s, uri_parts *u)
{
    const char *p = s, *q = s;

    memset(u, 0, sizeof(*u));
    if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')) {
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
               *q == '+' || *q == '-' || *q == '.')
            q++;
        if (*q == ':') {
            u->has_scheme = true;
            u->scheme = p;
            u->scheme_len = (size_t)(q - p);
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        u->has_auth = true;
        u->auth = p;
        u->auth_len = strcspn(p, "/?#");
        p += u->auth_len;
    }
    u->path = p;
    u->path_len = strcspn(p, "?#");
    p += u->path_len;
    if (*p == '?') {
        u->has_query = true;
        u->query = ++p;
        u->query_len = strcspn(p, "#");
        p += u->query_len;
    }
    if (*p == '#') {
        u->has_frag = true;
        u->frag = p + 1;
        u->frag_len = strlen(p + 1);
    }
}

/* Appends path with "." and ".." segments removed (RFC 3986 5.2.4). */
static void put_path_normalized(strbuf *out, const char *path, size_t n)
{
    size_t floor = out->len, i = 0;

    if (n > 0 && path[0] == '/') {
        sb_putc(out, '/');
        floor++;
        i = 1;
    }
    while (i <= n) {
        size_t j = i;
        bool last;

        while (j < n && path[j] != '/')
            j++;
        last = j >= n;
        if (j - i == 1 && path[i] == '.') {
            /* nothing: the segment before it already ends in '/' */
        } else if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (out->len > floor) {
                size_t k = out->len - 1; /* the '/' ending the last segment */

                while (k > floor && out->s[k - 1] != '/')
                    k--;
                sb_truncate(out, k);
            }
        } else {
            sb_putn(out, path + i, j - i);
            if (!last)
                sb_putc(out, '/');
        }
        i = j + 1;
    }
}

/* base + ref → absolute URI, malloc'd; NULL only when out of memory. */
char *uri_resolve(const char *base, const char *ref)
{
    uri_parts b, r;
    strbuf out = {0};

    uri_split(ref, &r);
    uri_split(base != NULL ? base : "", &b);
    if (r.has_scheme) {
        b = r;
    } else {
        if (r.has_auth) {
            b.has_auth = true;
            b.auth = r.auth;
            b.auth_len = r.auth_len;
            b.path = r.path;
            b.path_len = r.path_len;
            b.has_query = r.has_query;
            b.query = r.query;
            b.query_len = r.query_len;
        } else if (r.path_len > 0) {
            b.has_query = r.has_query;
            b.query = r.query;
            b.query_len = r.query_len;
        } else if (r.has_query) {
            b.has_query = true;
            b.query = r.query;
            b.query_len = r.query_len;
        }
        b.has_frag = r.has_frag;
        b.frag = r.frag;
        b.frag_len = r.frag_len;
    }
    if (b.has_scheme) {
        sb_putn(&out, b.scheme, b.scheme_len);
        sb_putc(&out, ':');
    }
    if (b.has_auth) {
        sb_puts(&out, "//");
        sb_putn(&out, b.auth, b.auth_len);
    }
    if (r.has_scheme || r.has_auth || (r.path_len > 0 && r.path[0] == '/')) {
        put_path_normalized(&out, r.path, r.path_len);
    } else if (r.path_len > 0) {
        /* Merge (5.2.3): the base path up to its last '/', then the reference path. */
        strbuf merged = {0};
        size_t keep = b.path_len;

        while (keep > 0 && b.path[keep - 1] != '/')
            keep--;
        if (b.has_auth && b.path_len == 0)
            sb_putc(&merged, '/');
        else
            sb_putn(&merged, b.path, keep);
        sb_putn(&merged, r.path, r.path_len);
        put_path_normalized(&out, sb_str(&merged), merged.len);
        out.oom = out.oom || merged.oom;
        free(merged.s);
    } else {
        put_path_normalized(&out, b.path, b.path_len);
    }
    if (b.has_query) {
        sb_putc(&out, '?');
        sb_putn(&out, b.query, b.query_len);
    }
    if (b.has_frag && b.frag_len > 0) {
        sb_putc(&out, '#');
        sb_putn(&out, b.frag, b.frag_len);
    }
    return sb_take(&out);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place (a fragment is percent-encoded before it is a JSON pointer). */
void uri_percent_decode(char *s)
{
    char *w = s;

    for (const char *r = s; *r != '\0'; r++) {
        if (r[0] == '%' && hex_value(r[1]) >= 0 && hex_value(r[2]) >= 0) {
            *w++ = (char)(hex_value(r[1]) * 16 + hex_value(r[2]));
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}
