/*
 * dir.c — event types from a directory of schema files: schema_registry_load_dir and _check_dir
 * fill the registry's type map, schema_registry_lookup reads it.
 */
#include "schema_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "file://" + path, percent-encoding what a URI cannot hold as is. */
static char *file_uri(const char *path)
{
    strbuf b = {0};

    sb_puts(&b, "file://");
    for (const char *s = path; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch <= 0x20 || ch >= 0x7F || strchr("%#?\"<>\\^`{|}[]", ch) != NULL) {
            char esc[4];

            snprintf(esc, sizeof esc, "%%%02X", ch);
            sb_puts(&b, esc);
        } else {
            sb_putc(&b, (char)ch);
        }
    }
    return sb_take(&b);
}

/* "OrderCreated.v2" → version 2 and type length 12; otherwise version 0, the whole name. */
static int split_version(const char *name, size_t *type_len)
{
    const char *dot = strrchr(name, '.');
    char *end;
    long version;

    *type_len = strlen(name);
    if (dot == NULL || dot == name || dot[1] != 'v' || dot[2] < '0' || dot[2] > '9')
        return 0;
    version = strtol(dot + 2, &end, 10);
    if (*end != '\0' || version <= 0 || version > 1000000)
        return 0;
    *type_len = (size_t)(dot - name);
    return (int)version;
}

static int add_type(schema_registry *reg, const char *name, schema *s, char *errbuf,
                    size_t errbuf_size)
{
    size_t type_len;
    int version = split_version(name, &type_len);
    type_entry *t = calloc(1, sizeof(*t)), *cur;
    char *type = NULL;
    int rc;

    if (t == NULL)
        goto oom;
    t->s = s;
    t->version = version;
    if ((cur = smap_get(&reg->types, name)) != NULL && cur->alias) {
        /* The name held an alias for a versioned file; the unversioned file wins. */
        cur->s = s;
        cur->version = 0;
        cur->alias = false;
        free(t);
        return 0;
    }
    if ((rc = smap_put(&reg->types, name, t)) != 0) {
        free(t);
        if (rc < 0)
            goto oom;
        errbuf_set(errbuf, errbuf_size, "event type \"%s\" is already loaded", name);
        schema_free(s);
        return -1;
    }
    if (version == 0)
        return 0;
    /* "Type" alone names the highest version while no unversioned file exists. */
    if ((type = strndup(name, type_len)) == NULL)
        goto oom_owned;
    if ((cur = smap_get(&reg->types, type)) != NULL) {
        if (cur->alias && cur->version < version) {
            cur->s = s;
            cur->version = version;
        }
    } else {
        type_entry *alias = calloc(1, sizeof(*alias));

        if (alias == NULL)
            goto oom_owned;
        alias->s = s;
        alias->version = version;
        alias->alias = true;
        if (smap_put(&reg->types, type, alias) != 0) {
            free(alias);
            goto oom_owned;
        }
    }
    free(type);
    return 0;
oom_owned:
    free(type);
    errbuf_set(errbuf, errbuf_size, "out of memory");
    return -1; /* t is in the map now and is freed with it */
oom:
    errbuf_set(errbuf, errbuf_size, "out of memory");
    schema_free(s);
    return -1;
}

/*
 * Loads the "*.json" files of dir. With report NULL it stops at the first broken file (start-up:
 * errbuf names it); otherwise every file is tried and reported in name order. Returns the number
 * of schemas loaded (report NULL) or of broken files (report set); -1 when dir cannot be read or
 * memory runs out.
 */
static int load_dir(schema_registry *reg, const char *dir, schema_dir_report_fn report, void *ctx,
                    char *errbuf, size_t errbuf_size)
{
    DIR *d = opendir(dir);
    char **names = NULL, **uris = NULL, **errs = NULL, *absdir = NULL;
    schema **compiled = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    char msg[512];
    int rc = -1, broken = 0;

    if (d == NULL) {
        errbuf_set(errbuf, errbuf_size, "%s: cannot open schema directory: %s", dir,
                   strerror(errno));
        return -1;
    }
    if ((absdir = realpath(dir, NULL)) == NULL) {
        errbuf_set(errbuf, errbuf_size, "%s: %s", dir, strerror(errno));
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*p));

            if (p == NULL)
                goto oom;
            names = p;
        }
        if ((names[n] = strdup(de->d_name)) == NULL)
            goto oom;
        n++;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_str);
    if (n > 0 && ((uris = calloc(n, sizeof(*uris))) == NULL ||
                  (errs = calloc(n, sizeof(*errs))) == NULL ||
                  (compiled = calloc(n, sizeof(*compiled))) == NULL))
        goto oom;
    /* Add every file before compiling any, so "$ref"s between files resolve in any order. */
    for (size_t i = 0; i < n; i++) {
        strbuf path = {0};
        json_error_t jerr;
        json_t *doc;
        int added;

        sb_puts(&path, absdir);
        sb_putc(&path, '/');
        sb_puts(&path, names[i]);
        if (path.oom)
            goto oom;
        /* JSON_DECODE_ANY: true and false are schemas too (they accept or refuse all). */
        doc = json_load_file(path.s, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (doc == NULL) {
            snprintf(msg, sizeof msg, "%s/%s:%d:%d: %s", dir, names[i], jerr.line, jerr.column,
                     jerr.text);
            free(path.s);
            if (report == NULL || (errs[i] = strdup(msg)) == NULL) {
                errbuf_set(errbuf, errbuf_size, "%s", report == NULL ? msg : "out of memory");
                goto out;
            }
            continue;
        }
        uris[i] = file_uri(path.s);
        free(path.s);
        added = uris[i] != NULL ? schema_registry_add(reg, uris[i], doc, msg, sizeof msg) : -1;
        json_decref(doc);
        if (uris[i] == NULL)
            goto oom;
        if (added < 0) {
            char line[768];

            snprintf(line, sizeof line, "%s/%s: %s", dir, names[i], msg);
            if (report == NULL || (errs[i] = strdup(line)) == NULL) {
                errbuf_set(errbuf, errbuf_size, "%s", report == NULL ? line : "out of memory");
                goto out;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        schema *s;
        char line[768];

        names[i][strlen(names[i]) - 5] = '\0';
        if (errs[i] != NULL)
            continue;
        s = schema_compile_uri(reg, uris[i], msg, sizeof msg);
        if (s != NULL && add_type(reg, names[i], s, msg, sizeof msg) < 0)
            s = NULL; /* add_type freed it */
        if (s == NULL) {
            snprintf(line, sizeof line, "%s/%s.json: %s", dir, names[i], msg);
            if (report == NULL || (errs[i] = strdup(line)) == NULL) {
                errbuf_set(errbuf, errbuf_size, "%s", report == NULL ? line : "out of memory");
                goto out;
            }
            continue;
        }
        compiled[i] = s;
    }
    for (size_t i = 0; report != NULL && i < n; i++) {
        size_t type_len;
        int version = split_version(names[i], &type_len);

        broken += errs[i] != NULL;
        names[i][type_len] = '\0';
        report(ctx, names[i], version, compiled[i], errs[i]);
    }
    rc = report != NULL ? broken : (int)n;
    goto out;
oom:
    errbuf_set(errbuf, errbuf_size, "%s: out of memory", dir);
out:
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        if (uris != NULL)
            free(uris[i]);
        if (errs != NULL)
            free(errs[i]);
    }
    free(names);
    free(uris);
    free(errs);
    free(compiled);
    free(absdir);
    closedir(d);
    return rc;
}

int schema_registry_load_dir(schema_registry *reg, const char *dir, char *errbuf,
                             size_t errbuf_size)
{
    return load_dir(reg, dir, NULL, NULL, errbuf, errbuf_size);
}

int schema_registry_check_dir(schema_registry *reg, const char *dir, schema_dir_report_fn report,
                              void *ctx, char *errbuf, size_t errbuf_size)
{
    return load_dir(reg, dir, report, ctx, errbuf, errbuf_size);
}

char *schema_file_uri(const char *path)
{
    return file_uri(path);
}

const schema *schema_registry_lookup(const schema_registry *reg, const char *type, int version,
                                     int *version_out)
{
    char name[256];
    const type_entry *t;

    if (version <= 0) {
        t = smap_get(&reg->types, type);
    } else {
        if ((size_t)snprintf(name, sizeof name, "%s.v%d", type, version) >= sizeof name)
            return NULL;
        t = smap_get(&reg->types, name);
        if (t != NULL && t->alias)
            t = NULL;
    }
    if (t == NULL)
        return NULL;
    if (version_out != NULL)
        *version_out = t->version;
    return t->s;
}
