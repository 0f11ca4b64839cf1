#include "scratch.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

bool sb_reserve(scratch *sb, size_t more)
{
    if (sb->len + more <= sb->cap)
        return true;
    size_t cap = sb->cap ? sb->cap : 4096;
    while (cap < sb->len + more)
        cap *= 2;
    char *grown = realloc(sb->buf, cap);
    if (grown == NULL) {
        sb->failed = true;
        return false;
    }
    sb->buf = grown;
    sb->cap = cap;
    return true;
}

size_t sb_add(scratch *sb, const char *data, size_t n)
{
    size_t off = sb->len;

    if (!sb_reserve(sb, n + 1))
        return 0;
    memcpy(sb->buf + sb->len, data, n);
    sb->buf[sb->len + n] = '\0';
    sb->len += n + 1;
    return off;
}

bool sb_cat(scratch *sb, const char *data, size_t n)
{
    if (!sb_reserve(sb, n + 1))
        return false;
    memcpy(sb->buf + sb->len, data, n);
    sb->len += n;
    return true;
}

bool sb_cat_json_string(scratch *sb, const char *text, size_t n)
{
    json_t *s = json_stringn(text, n);
    bool ok = false;

    if (s == NULL) {
        sb->failed = true; /* not UTF-8: Postgres text always is, so memory */
        return false;
    }
    size_t need = json_dumpb(s, NULL, 0, JSON_ENCODE_ANY);
    if (sb_reserve(sb, need + 1)) {
        sb->len += json_dumpb(s, sb->buf + sb->len, need, JSON_ENCODE_ANY);
        ok = true;
    }
    json_decref(s);
    return ok;
}
