/*
 * schema.c — JSON Schema compile and validate (see schema.h for the contract).
 *
 * Three stages, each with its own data:
 *   1. Index (schema_registry_add): walk a document once, record every "$id" resource,
 *      "$anchor"/"$dynamicAnchor" and, for every schema object, the resource it belongs to
 *      (its base URI and dialect). Nothing is compiled yet, so documents may arrive in any order
 *      and refer to each other.
 *   2. Compile: turn schema objects into `snode`s, each schema object at most once per registry
 *      (the node map doubles as the compile cache). A "$ref" target gets its snode allocated
 *      immediately and filled later from a work list, so reference cycles ("$ref": "#") end
 *      in a pointer to an existing node instead of infinite recursion.
 *   3. Validate: walk snodes and the instance together. No schema text is looked at again:
 *      regexes are compiled, "$ref"s are pointers, enum values are pre-hashed.
 *
 * Annotations ("unevaluatedProperties"/"unevaluatedItems") are collected only below a node that
 * needs them, in an `evalset` of one flag per property (instance iteration order) or item.
 */
#include "schema.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Deep enough for any real event; a "$ref" loop that never descends into the instance hits it. */
#define MAX_DEPTH 512

/* ---------------------------------------------------------------------------------------------
 * Small helpers: growable strings, bounded error writer, hash maps.
 */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(strbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_putc(strbuf *b, char c)
{
    sb_putn(b, &c, 1);
}

/* Appends a JSON pointer reference token: '~' → "~0", '/' → "~1" (RFC 6901). */
static void sb_put_token(strbuf *b, const char *s, size_t n)
{
    sb_putc(b, '/');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '~')
            sb_puts(b, "~0");
        else if (s[i] == '/')
            sb_puts(b, "~1");
        else
            sb_putc(b, s[i]);
    }
}

static void sb_truncate(strbuf *b, size_t len)
{
    if (b->s != NULL && len <= b->len) {
        b->len = len;
        b->s[len] = '\0';
    }
}

static const char *sb_str(const strbuf *b)
{
    return b->s != NULL ? b->s : "";
}

/* Hands the string over (never NULL unless out of memory). */
static char *sb_take(strbuf *b)
{
    char *s = b->s;

    if (b->oom) {
        free(s);
        return NULL;
    }
    if (s == NULL)
        s = strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

static void set_err(char *errbuf, size_t errbuf_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errbuf_size, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errbuf_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errbuf_size, fmt, ap);
    va_end(ap);
}

static uint64_t hash_bytes(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL; /* FNV-1a */
    return h;
}

#define HASH_SEED 0xcbf29ce484222325ULL

/* String-keyed map (open addressing); keys are copied, values are the caller's. */
typedef struct {
    char *key;
    size_t keylen;
    uint64_t hash;
    void *value;
} smap_entry;

typedef struct {
    smap_entry *e;
    size_t cap, n;
} smap;

static void *smap_get(const smap *m, const char *key)
{
    size_t len = strlen(key);
    uint64_t h = hash_bytes(key, len, HASH_SEED);

    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const smap_entry *e = &m->e[i];

        if (e->key == NULL)
            return NULL;
        if (e->hash == h && e->keylen == len && memcmp(e->key, key, len) == 0)
            return e->value;
    }
}

static bool smap_grow(smap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    smap_entry *e = calloc(cap, sizeof(*e));

    if (e == NULL)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        size_t j;

        if (m->e[i].key == NULL)
            continue;
        for (j = m->e[i].hash & (cap - 1); e[j].key != NULL; j = (j + 1) & (cap - 1))
            ;
        e[j] = m->e[i];
    }
    free(m->e);
    m->e = e;
    m->cap = cap;
    return true;
}

/* 0 added, 1 already present (value left alone), -1 out of memory. */
static int smap_put(smap *m, const char *key, void *value)
{
    size_t len = strlen(key);
    uint64_t h = hash_bytes(key, len, HASH_SEED);
    size_t i;

    if (smap_get(m, key) != NULL)
        return 1;
    if ((m->n + 1) * 2 > m->cap && !smap_grow(m))
        return -1;
    for (i = h & (m->cap - 1); m->e[i].key != NULL; i = (i + 1) & (m->cap - 1))
        ;
    if ((m->e[i].key = strdup(key)) == NULL)
        return -1;
    m->e[i].keylen = len;
    m->e[i].hash = h;
    m->e[i].value = value;
    m->n++;
    return 0;
}

static void smap_free(smap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->e[i].key == NULL)
            continue;
        free(m->e[i].key);
        if (free_value != NULL)
            free_value(m->e[i].value);
    }
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}

typedef struct snode snode;
typedef struct resource resource;

/* What the registry knows about one schema object: its resource, and its snode once compiled. */
typedef struct {
    const json_t *key;
    resource *res;
    snode *node;
} pentry;

typedef struct {
    pentry *e;
    size_t cap, n;
} pmap;

static size_t ptr_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL);
}

static pentry *pmap_find(const pmap *m, const void *key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = ptr_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->e[i].key == key)
            return &m->e[i];
        if (m->e[i].key == NULL)
            return NULL;
    }
}

/* The entry for key, created zeroed if new. Valid until the next insert. NULL when OOM. */
static pentry *pmap_insert(pmap *m, const json_t *key)
{
    pentry *e = pmap_find(m, key);
    size_t i;

    if (e != NULL)
        return e;
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        pentry *ne = calloc(cap, sizeof(*ne));

        if (ne == NULL)
            return NULL;
        for (size_t k = 0; k < m->cap; k++) {
            if (m->e[k].key == NULL)
                continue;
            for (i = ptr_hash(m->e[k].key) & (cap - 1); ne[i].key != NULL; i = (i + 1) & (cap - 1))
                ;
            ne[i] = m->e[k];
        }
        free(m->e);
        m->e = ne;
        m->cap = cap;
    }
    for (i = ptr_hash(key) & (m->cap - 1); m->e[i].key != NULL; i = (i + 1) & (m->cap - 1))
        ;
    m->e[i].key = key;
    m->n++;
    return &m->e[i];
}

/* ---------------------------------------------------------------------------------------------
 * URIs (RFC 3986 section 5): just enough to resolve "$id" and "$ref" against a base.
 */

typedef struct {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    bool has_scheme, has_auth, has_query, has_frag;
} uri_parts;

static void uri_split(const char *s, uri_parts *u)
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
static char *uri_resolve(const char *base, const char *ref)
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
static void percent_decode(char *s)
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

/* ---------------------------------------------------------------------------------------------
 * The registry: documents, resources, the node map, compiled nodes, event types.
 */

typedef struct {
    char *name;
    json_t *node;
    snode *compiled; /* filled by the compile that first needs dynamic scope */
} dyn_anchor;

/* A schema resource: a document root or a subschema with its own "$id". */
struct resource {
    char *uri; /* absolute, no fragment: the base URI of every schema object inside */
    int draft;
    json_t *root;
    dyn_anchor *dyn;
    size_t ndyn, dyncap;
    bool used; /* some node inside is compiled: validation may enter this resource */
    resource *next;
};

/* What an absolute URI ("…" or "…#anchor") names. */
typedef struct {
    json_t *node;
    resource *res;
} uri_target;

typedef struct {
    schema *s;
    int version;
    bool alias; /* "Type" standing for its highest version: s belongs to another entry */
} type_entry;

typedef struct {
    const char *name;
    size_t len;
    snode *node;
} prop_entry;

typedef struct {
    pcre2_code *re;
    snode *node;
} pattern_entry;

typedef struct {
    const char *name;
    size_t len;
    json_t *required; /* array of names (dependentRequired, "dependencies" array form) */
    snode *node;      /* dependentSchemas, "dependencies" schema form */
} dep_entry;

enum {
    T_NULL = 1 << 0,
    T_BOOLEAN = 1 << 1,
    T_OBJECT = 1 << 2,
    T_ARRAY = 1 << 3,
    T_NUMBER = 1 << 4,
    T_STRING = 1 << 5,
    T_INTEGER = 1 << 6,
};

/* Keyword groups present in a node, so validation skips whole groups with one test. */
enum {
    C_TYPE = 1 << 0,
    C_NUMBER = 1 << 1,
    C_STRING = 1 << 2,
    C_ARRAY = 1 << 3,
    C_OBJECT = 1 << 4,
    C_PROPS = 1 << 5, /* properties / patternProperties / additionalProperties / propertyNames */
    C_INPLACE = 1 << 6,
    C_EQUAL = 1 << 7, /* enum / const */
};

struct snode {
    snode *next_alloc; /* the registry's list of every node, for freeing */
    const json_t *src; /* the schema object (owned by the registry's documents) */
    const resource *res;
    unsigned checks;
    unsigned types;
    bool is_false;
    bool annotate; /* has unevaluated*: collects what its in-place subschemas evaluated */
    bool doomed;   /* set while rolling back a failed compile */

    json_t *enum_vals; /* borrowed from the document */
    uint64_t *enum_hashes;
    json_t *const_val;

    json_t *minimum, *maximum, *ex_minimum, *ex_maximum, *multiple_of;

    size_t min_length, max_length;
    pcre2_code *pattern;
    const char *pattern_src;
    int format;
    const char *format_name;

    size_t min_items, max_items;
    bool unique;
    snode **prefix; /* prefixItems, or draft-07 "items" array */
    size_t nprefix;
    snode *items;         /* every item after the prefix */
    const char *items_kw; /* the keyword that set it, for messages */
    snode *contains;
    size_t min_contains, max_contains;
    snode *uneval_items;

    size_t min_props, max_props;
    json_t *required;
    prop_entry *props; /* sorted by (len, bytes) for bsearch */
    size_t nprops;
    pattern_entry *pprops;
    size_t npprops;
    snode *addl_props;
    snode *prop_names;
    dep_entry *deps;
    size_t ndeps;
    snode *uneval_props;

    snode *ref;
    snode *dyn_ref;
    char *dyn_name; /* set when "$dynamicRef" lands on a "$dynamicAnchor" of that name */
    snode **all_of, **any_of, **one_of;
    size_t nall, nany, none;
    snode *not_, *if_, *then_, *else_;
};

struct schema_registry {
    int default_draft;
    bool format_assert;
    bool has_dynamic; /* some compiled node uses "$dynamicRef" with dynamic scope */
    smap uris;        /* absolute URI → uri_target */
    pmap nodes;       /* schema object → pentry */
    resource *resources;
    json_t *docs; /* every document added, kept alive for the compiled graph */
    snode *all;
    snode true_node, false_node;
    smap types; /* event type name → type_entry */
    unsigned anon_seq;
};

struct schema {
    const snode *root;
    int draft;
    bool track_scope;
};

/* Meta-schemas a "$ref" may name without them being added: compact, annotations stripped. */
static const struct {
    const char *uri;
    const char *text;
} builtin_docs[] = {
    {"http://json-schema.org/draft-07/schema",
     "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"http://json-schema."
     "org/draft-07/schema#\",\"definitions\":{\"schemaArray\":{\"type\":\"array\",\"minItems\":1,"
     "\"items\":{\"$ref\":\"#\"}},\"nonNegativeInteger\":{\"type\":\"integer\",\"minimum\":0},"
     "\"nonNegativeIntegerDefault0\":{\"allOf\":[{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
     "{}]},\"simpleTypes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"o"
     "bject\",\"string\"]},\"stringArray\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\""
     "uniqueItems\":true}},\"type\":[\"object\",\"boolean\"],\"properties\":{\"$id\":{\"type\":"
     "\"string\",\"format\":\"uri-reference\"},\"$schema\":{\"type\":\"string\",\"format\":\"uri"
     "\"},\"$ref\":{\"type\":\"string\",\"format\":\"uri-reference\"},\"$comment\":{\"type\":\"s"
     "tring\"},\"title\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"default\":"
     "true,\"readOnly\":{\"type\":\"boolean\"},\"examples\":{\"type\":\"array\",\"items\":true},"
     "\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0},\"maximum\":{\"type\":\"numbe"
     "r\"},\"exclusiveMaximum\":{\"type\":\"number\"},\"minimum\":{\"type\":\"number\"},\"exclus"
     "iveMinimum\":{\"type\":\"number\"},\"maxLength\":{\"$ref\":\"#/definitions/nonNegativeInte"
     "ger\"},\"minLength\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},\"pattern\":{"
     "\"type\":\"string\",\"format\":\"regex\"},\"additionalItems\":{\"$ref\":\"#\"},\"items\":{"
     "\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definitions/schemaArray\"}]},\"maxItems\":{\"$r"
     "ef\":\"#/definitions/nonNegativeInteger\"},\"minItems\":{\"$ref\":\"#/definitions/nonNegat"
     "iveIntegerDefault0\"},\"uniqueItems\":{\"type\":\"boolean\"},\"contains\":{\"$ref\":\"#\"}"
     ",\"maxProperties\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},\"minProperties\":{\"$r"
     "ef\":\"#/definitions/nonNegativeIntegerDefault0\"},\"required\":{\"$ref\":\"#/definitions/"
     "stringArray\"},\"additionalProperties\":{\"$ref\":\"#\"},\"definitions\":{\"type\":\"objec"
     "t\",\"additionalProperties\":{\"$ref\":\"#\"}},\"properties\":{\"type\":\"object\",\"addit"
     "ionalProperties\":{\"$ref\":\"#\"}},\"patternProperties\":{\"type\":\"object\",\"additiona"
     "lProperties\":{\"$ref\":\"#\"},\"propertyNames\":{\"format\":\"regex\"}},\"dependencies\":"
     "{\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/d"
     "efinitions/stringArray\"}]}},\"propertyNames\":{\"$ref\":\"#\"},\"const\":true,\"enum\":{"
     "\"type\":\"array\",\"items\":true},\"type\":{\"anyOf\":[{\"$ref\":\"#/definitions/simpleTy"
     "pes\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/simpleTypes\"},\"minItems\""
     ":1,\"uniqueItems\":true}]},\"format\":{\"type\":\"string\"},\"contentMediaType\":{\"type\""
     ":\"string\"},\"contentEncoding\":{\"type\":\"string\"},\"if\":{\"$ref\":\"#\"},\"then\":{"
     "\"$ref\":\"#\"},\"else\":{\"$ref\":\"#\"},\"allOf\":{\"$ref\":\"#/definitions/schemaArray"
     "\"},\"anyOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"oneOf\":{\"$ref\":\"#/definitions"
     "/schemaArray\"},\"not\":{\"$ref\":\"#\"}}}"},
    {"https://json-schema.org/draft/2020-12/schema",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/schema\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/v"
     "ocab/core\":true,\"https://json-schema.org/draft/2020-12/vocab/applicator\":true,\"https:"
     "//json-schema.org/draft/2020-12/vocab/unevaluated\":true,\"https://json-schema.org/draft/"
     "2020-12/vocab/validation\":true,\"https://json-schema.org/draft/2020-12/vocab/meta-data\":"
     "true,\"https://json-schema.org/draft/2020-12/vocab/format-annotation\":true,\"https://jso"
     "n-schema.org/draft/2020-12/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"allOf\":[{"
     "\"$ref\":\"meta/core\"},{\"$ref\":\"meta/applicator\"},{\"$ref\":\"meta/unevaluated\"},{\""
     "$ref\":\"meta/validation\"},{\"$ref\":\"meta/meta-data\"},{\"$ref\":\"meta/format-annotati"
     "on\"},{\"$ref\":\"meta/content\"}],\"type\":[\"object\",\"boolean\"],\"properties\":{\"def"
     "initions\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"}},\"de"
     "pendencies\":{\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$dynamicRef\":\""
     "#meta\"},{\"$ref\":\"meta/validation#/$defs/stringArray\"}]}},\"$recursiveAnchor\":{\"$ref"
     "\":\"meta/core#/$defs/anchorString\"},\"$recursiveRef\":{\"$ref\":\"meta/core#/$defs/uriRe"
     "ferenceString\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/core",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/core\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-1"
     "2/vocab/core\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"object\",\"boolean\"],\"prope"
     "rties\":{\"$id\":{\"$ref\":\"#/$defs/uriReferenceString\",\"$comment\":\"Non-empty fragmen"
     "ts not allowed.\",\"pattern\":\"^[^#]*#?$\"},\"$schema\":{\"$ref\":\"#/$defs/uriString\"},"
     "\"$ref\":{\"$ref\":\"#/$defs/uriReferenceString\"},\"$anchor\":{\"$ref\":\"#/$defs/anchorS"
     "tring\"},\"$dynamicRef\":{\"$ref\":\"#/$defs/uriReferenceString\"},\"$dynamicAnchor\":{\"$"
     "ref\":\"#/$defs/anchorString\"},\"$vocabulary\":{\"type\":\"object\",\"propertyNames\":{\""
     "$ref\":\"#/$defs/uriString\"},\"additionalProperties\":{\"type\":\"boolean\"}},\"$comment\""
     ":{\"type\":\"string\"},\"$defs\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamic"
     "Ref\":\"#meta\"}}},\"$defs\":{\"anchorString\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z"
     "_][-A-Za-z0-9._]*$\"},\"uriString\":{\"type\":\"string\",\"format\":\"uri\"},\"uriReferenc"
     "eString\":{\"type\":\"string\",\"format\":\"uri-reference\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/applicator",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/applicator\",\"$vocabulary\":{\"https://json-schema.org/draft/"
     "2020-12/vocab/applicator\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"object\",\"boolea"
     "n\"],\"properties\":{\"prefixItems\":{\"$ref\":\"#/$defs/schemaArray\"},\"items\":{\"$dyna"
     "micRef\":\"#meta\"},\"contains\":{\"$dynamicRef\":\"#meta\"},\"additionalProperties\":{\"$"
     "dynamicRef\":\"#meta\"},\"properties\":{\"type\":\"object\",\"additionalProperties\":{\"$d"
     "ynamicRef\":\"#meta\"}},\"patternProperties\":{\"type\":\"object\",\"additionalProperties\""
     ":{\"$dynamicRef\":\"#meta\"},\"propertyNames\":{\"format\":\"regex\"}},\"dependentSchemas\""
     ":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"}},\"propertyName"
     "s\":{\"$dynamicRef\":\"#meta\"},\"if\":{\"$dynamicRef\":\"#meta\"},\"then\":{\"$dynamicRef"
     "\":\"#meta\"},\"else\":{\"$dynamicRef\":\"#meta\"},\"allOf\":{\"$ref\":\"#/$defs/schemaArr"
     "ay\"},\"anyOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"oneOf\":{\"$ref\":\"#/$defs/schemaArr"
     "ay\"},\"not\":{\"$dynamicRef\":\"#meta\"}},\"$defs\":{\"schemaArray\":{\"type\":\"array\","
     "\"minItems\":1,\"items\":{\"$dynamicRef\":\"#meta\"}}}}"},
    {"https://json-schema.org/draft/2020-12/meta/unevaluated",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/unevaluated\",\"$vocabulary\":{\"https://json-schema.org/draft"
     "/2020-12/vocab/unevaluated\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"object\",\"bool"
     "ean\"],\"properties\":{\"unevaluatedItems\":{\"$dynamicRef\":\"#meta\"},\"unevaluatedPrope"
     "rties\":{\"$dynamicRef\":\"#meta\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/validation",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/validation\",\"$vocabulary\":{\"https://json-schema.org/draft/"
     "2020-12/vocab/validation\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"object\",\"boolea"
     "n\"],\"properties\":{\"type\":{\"anyOf\":[{\"$ref\":\"#/$defs/simpleTypes\"},{\"type\":\"a"
     "rray\",\"items\":{\"$ref\":\"#/$defs/simpleTypes\"},\"minItems\":1,\"uniqueItems\":true}]}"
     ",\"const\":true,\"enum\":{\"type\":\"array\",\"items\":true},\"multipleOf\":{\"type\":\"nu"
     "mber\",\"exclusiveMinimum\":0},\"maximum\":{\"type\":\"number\"},\"exclusiveMaximum\":{\"t"
     "ype\":\"number\"},\"minimum\":{\"type\":\"number\"},\"exclusiveMinimum\":{\"type\":\"number"
     "\"},\"maxLength\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minLength\":{\"$ref\":\"#/$d"
     "efs/nonNegativeIntegerDefault0\"},\"pattern\":{\"type\":\"string\",\"format\":\"regex\"},"
     "\"maxItems\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minItems\":{\"$ref\":\"#/$defs/no"
     "nNegativeIntegerDefault0\"},\"uniqueItems\":{\"type\":\"boolean\"},\"maxContains\":{\"$ref"
     "\":\"#/$defs/nonNegativeInteger\"},\"minContains\":{\"$ref\":\"#/$defs/nonNegativeInteger\""
     "},\"maxProperties\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minProperties\":{\"$ref\":"
     "\"#/$defs/nonNegativeIntegerDefault0\"},\"required\":{\"$ref\":\"#/$defs/stringArray\"},\""
     "dependentRequired\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#/$defs/stri"
     "ngArray\"}}},\"$defs\":{\"nonNegativeInteger\":{\"type\":\"integer\",\"minimum\":0},\"nonN"
     "egativeIntegerDefault0\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"simpleTypes\":{\"enum"
     "\":[\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object\",\"string\"]},\"string"
     "Array\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true}}}"},
    {"https://json-schema.org/draft/2020-12/meta/meta-data",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/meta-data\",\"$vocabulary\":{\"https://json-schema.org/draft/2"
     "020-12/vocab/meta-data\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"object\",\"boolean"
     "\"],\"properties\":{\"title\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
     "\"default\":true,\"deprecated\":{\"type\":\"boolean\"},\"readOnly\":{\"type\":\"boolean\"},"
     "\"writeOnly\":{\"type\":\"boolean\"},\"examples\":{\"type\":\"array\",\"items\":true}}}"},
    {"https://json-schema.org/draft/2020-12/meta/format-annotation",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/format-annotation\",\"$vocabulary\":{\"https://json-schema.org"
     "/draft/2020-12/vocab/format-annotation\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"obj"
     "ect\",\"boolean\"],\"properties\":{\"format\":{\"type\":\"string\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/content",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/content\",\"$vocabulary\":{\"https://json-schema.org/draft/202"
     "0-12/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"object\",\"boolean\"],"
     "\"properties\":{\"contentEncoding\":{\"type\":\"string\"},\"contentMediaType\":{\"type\":"
     "\"string\"},\"contentSchema\":{\"$dynamicRef\":\"#meta\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/format-assertion",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/format-assertion\",\"$vocabulary\":{\"https://json-schema.org"
     "/draft/2020-12/vocab/format-assertion\":true},\"$dynamicAnchor\":\"meta\",\"type\":[\"obj"
     "ect\",\"boolean\"],\"properties\":{\"format\":{\"type\":\"string\"}}}"},
};

static int draft_from_uri(const char *u, int fallback)
{
    if (strstr(u, "json-schema.org/draft-07/") || strstr(u, "json-schema.org/draft-06/") ||
        strstr(u, "json-schema.org/draft-04/") || strstr(u, "json-schema.org/draft-03/"))
        return SCHEMA_DRAFT7;
    if (strstr(u, "json-schema.org/draft/2019-09/"))
        return SCHEMA_DRAFT2019;
    if (strstr(u, "json-schema.org/draft/2020-12/") || strstr(u, "json-schema.org/draft/next/"))
        return SCHEMA_DRAFT2020;
    return fallback;
}

static void free_target(void *p)
{
    free(p);
}

static void free_type(void *p)
{
    type_entry *t = p;

    if (t != NULL && !t->alias)
        schema_free(t->s);
    free(t);
}

static void node_free(snode *n)
{
    free(n->enum_hashes);
    if (n->pattern != NULL)
        pcre2_code_free(n->pattern);
    free(n->prefix);
    free(n->props);
    for (size_t i = 0; i < n->npprops; i++)
        pcre2_code_free(n->pprops[i].re);
    free(n->pprops);
    free(n->deps);
    free(n->dyn_name);
    free(n->all_of);
    free(n->any_of);
    free(n->one_of);
    free(n);
}

static void node_init(snode *n)
{
    memset(n, 0, sizeof(*n));
    n->max_length = n->max_items = n->max_props = n->max_contains = SIZE_MAX;
    n->min_contains = 1;
}

schema_registry *schema_registry_new(int default_draft, bool format_assert)
{
    schema_registry *reg = calloc(1, sizeof(*reg));

    if (reg == NULL)
        return NULL;
    reg->default_draft = default_draft >= SCHEMA_DRAFT2020   ? SCHEMA_DRAFT2020
                         : default_draft >= SCHEMA_DRAFT2019 ? SCHEMA_DRAFT2019
                                                             : SCHEMA_DRAFT7;
    reg->format_assert = format_assert;
    if ((reg->docs = json_array()) == NULL) {
        free(reg);
        return NULL;
    }
    node_init(&reg->true_node);
    node_init(&reg->false_node);
    reg->false_node.is_false = true;
    return reg;
}

void schema_registry_free(schema_registry *reg)
{
    if (reg == NULL)
        return;
    smap_free(&reg->types, free_type);
    while (reg->all != NULL) {
        snode *n = reg->all;

        reg->all = n->next_alloc;
        node_free(n);
    }
    while (reg->resources != NULL) {
        resource *r = reg->resources;

        reg->resources = r->next;
        for (size_t i = 0; i < r->ndyn; i++)
            free(r->dyn[i].name);
        free(r->dyn);
        free(r->uri);
        free(r);
    }
    smap_free(&reg->uris, free_target);
    free(reg->nodes.e);
    json_decref(reg->docs);
    free(reg);
}

/* Registers uri → node. A second, different node under one URI is an error. */
static int register_uri(schema_registry *reg, const char *uri, json_t *node, resource *res,
                        char *errbuf, size_t errbuf_size)
{
    uri_target *t = smap_get(&reg->uris, uri);
    int rc;

    if (t != NULL) {
        if (t->node == node)
            return 0;
        set_err(errbuf, errbuf_size, "duplicate schema URI \"%s\"", uri);
        return -1;
    }
    if ((t = malloc(sizeof(*t))) == NULL)
        goto oom;
    t->node = node;
    t->res = res;
    if ((rc = smap_put(&reg->uris, uri, t)) != 0) {
        free(t);
        if (rc < 0)
            goto oom;
    }
    return 0;
oom:
    set_err(errbuf, errbuf_size, "out of memory");
    return -1;
}

static resource *resource_new(schema_registry *reg, const char *uri, int draft, json_t *root)
{
    resource *r = calloc(1, sizeof(*r));

    if (r == NULL || (r->uri = strdup(uri)) == NULL) {
        free(r);
        return NULL;
    }
    r->draft = draft;
    r->root = root;
    r->next = reg->resources;
    reg->resources = r;
    return r;
}

static int add_dyn_anchor(resource *r, const char *name, json_t *node)
{
    for (size_t i = 0; i < r->ndyn; i++)
        if (strcmp(r->dyn[i].name, name) == 0)
            return 0;
    if (r->ndyn == r->dyncap) {
        size_t cap = r->dyncap ? r->dyncap * 2 : 4;
        dyn_anchor *d = realloc(r->dyn, cap * sizeof(*d));

        if (d == NULL)
            return -1;
        r->dyn = d;
        r->dyncap = cap;
    }
    if ((r->dyn[r->ndyn].name = strdup(name)) == NULL)
        return -1;
    r->dyn[r->ndyn].node = node;
    r->dyn[r->ndyn].compiled = NULL;
    r->ndyn++;
    return 0;
}

/* Keywords whose value is a schema, an array of schemas, or an object of schemas. */
static const char *const kw_single[] = {
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "items",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
};
static const char *const kw_array[] = {"allOf", "anyOf", "oneOf", "items", "prefixItems"};
static const char *const kw_map[] = {
    "properties", "patternProperties", "definitions", "$defs", "dependencies", "dependentSchemas",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Stage 1: records res for node and everything below it, creating resources at "$id" and
 * registering anchors. Only schema positions are walked: an "$id" inside "enum" or inside an
 * unknown keyword is data, not an identifier.
 */
static int index_schema(schema_registry *reg, json_t *node, resource *res, bool is_root,
                        char *errbuf, size_t errbuf_size)
{
    resource *here = res;
    int draft = res->draft;
    json_t *id, *sv, *v;
    pentry *e;
    char *abs = NULL;
    int rc = -1;

    if (!json_is_object(node))
        return 0;
    id = json_object_get(node, "$id");
    sv = json_object_get(node, "$schema");
    /* "$schema" counts only where a resource starts. */
    if (json_is_string(sv) && (is_root || json_is_string(id)))
        draft = draft_from_uri(json_string_value(sv), draft);
    if (is_root)
        res->draft = draft;
    /* Before 2019-09 "$ref" hides every sibling, "$id" included. */
    if (json_is_string(id) && !(draft < SCHEMA_DRAFT2019 && json_object_get(node, "$ref"))) {
        char *hash;

        if ((abs = uri_resolve(res->uri, json_string_value(id))) == NULL)
            goto oom;
        hash = strchr(abs, '#');
        if (hash != NULL)
            *hash++ = '\0';
        if (strcmp(abs, res->uri) != 0) {
            if ((here = resource_new(reg, abs, draft, node)) == NULL)
                goto oom;
            if (register_uri(reg, abs, node, here, errbuf, errbuf_size) < 0)
                goto out;
        }
        if (hash != NULL && *hash != '\0' && draft < SCHEMA_DRAFT2019) {
            /* draft-07 plain-name fragment: "$id": "#foo" is an anchor. */
            strbuf key = {0};

            sb_puts(&key, here->uri);
            sb_putc(&key, '#');
            sb_puts(&key, hash);
            rc = key.oom ? -1 : register_uri(reg, key.s, node, here, errbuf, errbuf_size);
            free(key.s);
            if (rc < 0)
                goto out;
            rc = -1;
        }
    }
    if (draft >= SCHEMA_DRAFT2019) {
        static const char *const anchors[] = {"$anchor", "$dynamicAnchor"};

        for (size_t i = 0; i < NELEM(anchors); i++) {
            strbuf key = {0};
            int r;

            if (!json_is_string(v = json_object_get(node, anchors[i])))
                continue;
            sb_puts(&key, here->uri);
            sb_putc(&key, '#');
            sb_puts(&key, json_string_value(v));
            r = key.oom ? -1 : register_uri(reg, key.s, node, here, errbuf, errbuf_size);
            free(key.s);
            if (r < 0)
                goto out;
            if (i == 1 && add_dyn_anchor(here, json_string_value(v), node) < 0)
                goto oom;
        }
    }
    if ((e = pmap_insert(&reg->nodes, node)) == NULL)
        goto oom;
    if (e->res == NULL)
        e->res = here;
    for (size_t i = 0; i < NELEM(kw_single); i++)
        if ((v = json_object_get(node, kw_single[i])) != NULL &&
            index_schema(reg, v, here, false, errbuf, errbuf_size) < 0)
            goto out;
    for (size_t i = 0; i < NELEM(kw_array); i++) {
        size_t k;
        json_t *item;

        if (!json_is_array(v = json_object_get(node, kw_array[i])))
            continue;
        json_array_foreach(v, k, item)
        {
            if (index_schema(reg, item, here, false, errbuf, errbuf_size) < 0)
                goto out;
        }
    }
    for (size_t i = 0; i < NELEM(kw_map); i++) {
        const char *key;
        json_t *item;

        if (!json_is_object(v = json_object_get(node, kw_map[i])))
            continue;
        json_object_foreach(v, key, item)
        {
            if (index_schema(reg, item, here, false, errbuf, errbuf_size) < 0)
                goto out;
        }
    }
    rc = 0;
    goto out;
oom:
    set_err(errbuf, errbuf_size, "out of memory");
out:
    free(abs);
    return rc;
}

int schema_registry_add(schema_registry *reg, const char *uri, json_t *doc, char *errbuf,
                        size_t errbuf_size)
{
    json_t *id = json_object_get(doc, "$id");
    char *abs = NULL;
    resource *res;
    int rc = -1;

    if (!json_is_object(doc) && !json_is_boolean(doc)) {
        set_err(errbuf, errbuf_size, "%s: a schema must be an object or a boolean",
                uri != NULL ? uri : "(schema)");
        return -1;
    }
    if (uri == NULL) {
        uri_parts u;

        if (json_is_string(id))
            uri_split(json_string_value(id), &u);
        if (!json_is_string(id) || !u.has_scheme) {
            set_err(errbuf, errbuf_size, "schema has no absolute \"$id\"; give it a URI");
            return -1;
        }
        uri = json_string_value(id);
    }
    if ((abs = uri_resolve(NULL, uri)) == NULL)
        goto oom;
    if (strchr(abs, '#') != NULL)
        *strchr(abs, '#') = '\0';
    if (smap_get(&reg->uris, abs) != NULL) {
        uri_target *t = smap_get(&reg->uris, abs);

        if (t->node == doc) {
            rc = 0;
            goto out;
        }
        set_err(errbuf, errbuf_size, "duplicate schema URI \"%s\"", abs);
        goto out;
    }
    if (json_array_append(reg->docs, doc) < 0)
        goto oom;
    if ((res = resource_new(reg, abs, reg->default_draft, doc)) == NULL)
        goto oom;
    if (register_uri(reg, abs, doc, res, errbuf, errbuf_size) < 0)
        goto out;
    if (index_schema(reg, doc, res, true, errbuf, errbuf_size) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    set_err(errbuf, errbuf_size, "out of memory");
out:
    free(abs);
    return rc;
}

/* What uri (absolute, no fragment) names, loading a built-in meta-schema on first use. */
static uri_target *lookup_resource(schema_registry *reg, const char *uri)
{
    uri_target *t = smap_get(&reg->uris, uri);

    if (t != NULL)
        return t;
    for (size_t i = 0; i < NELEM(builtin_docs); i++) {
        json_t *doc;
        int rc;

        if (strcmp(builtin_docs[i].uri, uri) != 0)
            continue;
        if ((doc = json_loads(builtin_docs[i].text, 0, NULL)) == NULL)
            return NULL;
        rc = schema_registry_add(reg, uri, doc, NULL, 0);
        json_decref(doc);
        return rc == 0 ? smap_get(&reg->uris, uri) : NULL;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * JSON values: equality (1 == 1.0, key order irrelevant) and a hash consistent with it.
 */

static bool json_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_eq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_OBJECT: {
        const char *key;
        size_t len;
        json_t *va;

        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_keylen_foreach((json_t *)a, key, len, va)
        {
            json_t *vb = json_object_getn(b, key, len);

            if (vb == NULL || !json_eq(va, vb))
                return false;
        }
        return true;
    }
    default:
        return true; /* true, false, null: same type is same value */
    }
}

static uint64_t json_hash(const json_t *j)
{
    uint64_t h;

    switch (json_typeof(j)) {
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_number_value(j);

        if (d == 0)
            d = 0; /* -0.0 == 0.0 */
        memcpy(&h, &d, sizeof(h));
        return h * 0x9E3779B97F4A7C15ULL;
    }
    case JSON_STRING:
        return hash_bytes(json_string_value(j), json_string_length(j), HASH_SEED);
    case JSON_ARRAY:
        h = 0x5bd1e995;
        for (size_t i = 0; i < json_array_size(j); i++)
            h = (h ^ json_hash(json_array_get(j, i))) * 0x100000001b3ULL;
        return h;
    case JSON_OBJECT: {
        const char *key;
        size_t len;
        json_t *v;

        h = 0x27d4eb2d;
        /* A sum, so that key order does not matter. */
        json_object_keylen_foreach((json_t *)j, key, len, v)
        {
            h += hash_bytes(key, len, HASH_SEED) * 31 + json_hash(v);
        }
        return h;
    }
    case JSON_TRUE:
        return 1;
    case JSON_FALSE:
        return 2;
    default:
        return 3;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Stage 2: compile.
 */

typedef struct work {
    json_t *node;
    snode *n;
    resource *res;
    char *loc;
    struct work *next;
} work;

typedef struct {
    schema_registry *reg;
    strbuf loc;           /* where the node being compiled is, for errors */
    const char *home_uri; /* locations inside this document print as bare pointers */
    work *work;
    char *errbuf;
    size_t errbuf_size;
} cctx;

static void cerr(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cerr(cctx *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->errbuf == NULL || c->errbuf_size == 0)
        return;
    n = snprintf(c->errbuf, c->errbuf_size, "%s: ", c->loc.len ? sb_str(&c->loc) : "(root)");
    if (n < 0 || (size_t)n >= c->errbuf_size)
        return;
    va_start(ap, fmt);
    vsnprintf(c->errbuf + n, c->errbuf_size - (size_t)n, fmt, ap);
    va_end(ap);
}

static size_t loc_push(cctx *c, const char *token)
{
    size_t mark = c->loc.len;

    sb_put_token(&c->loc, token, strlen(token));
    return mark;
}

static void loc_pop(cctx *c, size_t mark)
{
    sb_truncate(&c->loc, mark);
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static snode *node_new(schema_registry *reg, const json_t *src, resource *res)
{
    snode *n = malloc(sizeof(*n));

    if (n == NULL)
        return NULL;
    node_init(n);
    n->src = src;
    n->res = res;
    res->used = true;
    n->next_alloc = reg->all;
    reg->all = n;
    return n;
}

static int compile_keywords(cctx *c, snode *n, json_t *node, resource *res);

/* The snode for a subschema met inline, compiled now (or the one compiled before). */
static snode *compile_schema(cctx *c, json_t *node, resource *res)
{
    pentry *e;
    snode *n;

    if (json_is_boolean(node))
        return json_is_true(node) ? &c->reg->true_node : &c->reg->false_node;
    if (!json_is_object(node)) {
        cerr(c, "a schema must be an object or a boolean, got %s", type_name(node));
        return NULL;
    }
    if ((e = pmap_insert(&c->reg->nodes, node)) == NULL)
        goto oom;
    if (e->node != NULL)
        return e->node;
    if (e->res == NULL)
        e->res = res; /* not indexed (inside an unknown keyword): its parent's resource */
    res = e->res;
    if ((n = node_new(c->reg, node, res)) == NULL)
        goto oom;
    e->node = n; /* before the keywords: a cycle back to node finds n */
    return compile_keywords(c, n, node, res) == 0 ? n : NULL;
oom:
    cerr(c, "out of memory");
    return NULL;
}

/* The snode for a "$ref" target: allocated now, compiled from the work list later. */
static snode *ref_target(cctx *c, json_t *node, resource *res, const char *loc)
{
    pentry *e;
    snode *n;
    work *w;

    if (json_is_boolean(node))
        return json_is_true(node) ? &c->reg->true_node : &c->reg->false_node;
    if (!json_is_object(node)) {
        cerr(c, "reference target %s is a %s, not a schema", loc, type_name(node));
        return NULL;
    }
    if ((e = pmap_insert(&c->reg->nodes, node)) == NULL)
        goto oom;
    if (e->node != NULL)
        return e->node;
    if (e->res == NULL)
        e->res = res;
    res = e->res;
    if ((n = node_new(c->reg, node, res)) == NULL || (w = calloc(1, sizeof(*w))) == NULL)
        goto oom;
    e->node = n;
    w->node = node;
    w->n = n;
    w->res = res;
    if ((w->loc = strdup(loc)) == NULL) {
        free(w);
        goto oom;
    }
    w->next = c->work;
    c->work = w;
    return n;
oom:
    cerr(c, "out of memory");
    return NULL;
}

/* Follows a JSON pointer (already percent-decoded) from node; *res follows the resources. */
static json_t *walk_pointer(schema_registry *reg, json_t *node, const char *ptr, resource **res)
{
    while (node != NULL && *ptr == '/') {
        const char *end = strchr(ptr + 1, '/');
        size_t n = end ? (size_t)(end - ptr - 1) : strlen(ptr + 1);
        char *tok = malloc(n + 1);
        size_t len = 0;
        pentry *e;

        if (tok == NULL)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            char ch = ptr[1 + i];

            if (ch == '~' && i + 1 < n && (ptr[2 + i] == '0' || ptr[2 + i] == '1')) {
                ch = ptr[2 + i] == '0' ? '~' : '/';
                i++;
            }
            tok[len++] = ch;
        }
        tok[len] = '\0';
        if (json_is_object(node)) {
            node = json_object_getn(node, tok, len);
        } else if (json_is_array(node)) {
            char *endp;
            unsigned long idx = strtoul(tok, &endp, 10);

            node = (len > 0 && *endp == '\0' && tok[0] != '-' && (tok[0] != '0' || len == 1))
                       ? json_array_get(node, idx)
                       : NULL;
        } else {
            node = NULL;
        }
        free(tok);
        if (node != NULL && (e = pmap_find(&reg->nodes, node)) != NULL && e->res != NULL)
            *res = e->res;
        ptr += 1 + n;
    }
    return node;
}

/*
 * Resolves ref against res and returns the target's snode; *dyn_name_out is set (malloc'd) when
 * the target carries "$dynamicAnchor" equal to the fragment (what "$dynamicRef" needs to know).
 */
static snode *compile_ref(cctx *c, const char *ref, resource *res, char **dyn_name_out)
{
    char *abs = uri_resolve(res->uri, ref), *frag;
    strbuf loc = {0};
    uri_target *t;
    json_t *target;
    resource *tres;
    snode *n = NULL;

    if (abs == NULL) {
        cerr(c, "out of memory");
        return NULL;
    }
    frag = strchr(abs, '#');
    if (frag != NULL) {
        *frag++ = '\0';
        percent_decode(frag);
    } else {
        frag = abs + strlen(abs);
    }
    if ((t = lookup_resource(c->reg, abs)) == NULL) {
        cerr(c, "cannot resolve \"%s\": no schema \"%s\" in the registry", ref, abs);
        goto out;
    }
    target = t->node;
    tres = t->res;
    if (strcmp(abs, c->home_uri) != 0) {
        sb_puts(&loc, abs);
        sb_putc(&loc, '#');
    }
    if (*frag == '/') {
        if ((target = walk_pointer(c->reg, target, frag, &tres)) == NULL) {
            cerr(c, "cannot resolve \"%s\": no \"%s\" in %s", ref, frag, abs);
            goto out;
        }
        sb_puts(&loc, frag);
    } else if (*frag != '\0') {
        strbuf key = {0};

        sb_puts(&key, abs);
        sb_putc(&key, '#');
        sb_puts(&key, frag);
        t = key.oom ? NULL : smap_get(&c->reg->uris, key.s);
        free(key.s);
        if (t == NULL) {
            cerr(c, "cannot resolve \"%s\": no anchor \"%s\" in %s", ref, frag, abs);
            goto out;
        }
        target = t->node;
        tres = t->res;
        if (loc.len == 0)
            sb_putc(&loc, '#');
        sb_puts(&loc, frag);
        if (dyn_name_out != NULL) {
            json_t *da = json_object_get(target, "$dynamicAnchor");

            if (json_is_string(da) && strcmp(json_string_value(da), frag) == 0 &&
                (*dyn_name_out = strdup(frag)) == NULL) {
                cerr(c, "out of memory");
                goto out;
            }
        }
    }
    if (loc.oom) {
        cerr(c, "out of memory");
        goto out;
    }
    n = ref_target(c, target, tres, sb_str(&loc));
out:
    free(loc.s);
    free(abs);
    return n;
}

/* A non-negative integer keyword (2.0 counts: drafts 6+ allow integral numbers). */
static int kw_count(cctx *c, json_t *node, const char *kw, size_t *out)
{
    json_t *v = json_object_get(node, kw);
    double d;

    if (v == NULL)
        return 0;
    d = json_number_value(v);
    if (!json_is_number(v) || d < 0 || d != floor(d)) {
        size_t mark = loc_push(c, kw);

        cerr(c, "must be a non-negative integer, got %s", type_name(v));
        loc_pop(c, mark);
        return -1;
    }
    *out = json_is_integer(v) ? (size_t)json_integer_value(v) : d >= 1e19 ? SIZE_MAX : (size_t)d;
    return 1;
}

static int kw_number(cctx *c, json_t *node, const char *kw, json_t **out)
{
    json_t *v = json_object_get(node, kw);

    if (v == NULL)
        return 0;
    if (!json_is_number(v)) {
        size_t mark = loc_push(c, kw);

        cerr(c, "must be a number, got %s%s", type_name(v),
             json_is_boolean(v) ? " (the boolean form is draft-04)" : "");
        loc_pop(c, mark);
        return -1;
    }
    *out = v;
    return 1;
}

/* A keyword whose value is one schema. */
static int kw_schema(cctx *c, json_t *node, const char *kw, resource *res, snode **out)
{
    json_t *v = json_object_get(node, kw);
    size_t mark;

    if (v == NULL)
        return 0;
    mark = loc_push(c, kw);
    *out = compile_schema(c, v, res);
    loc_pop(c, mark);
    return *out != NULL ? 1 : -1;
}

/* A keyword whose value is a non-empty array of schemas. */
static int kw_schema_array(cctx *c, json_t *v, const char *kw, resource *res, snode ***out,
                           size_t *count)
{
    size_t mark = loc_push(c, kw), i;
    json_t *item;
    int rc = -1;

    if (!json_is_array(v) || json_array_size(v) == 0) {
        cerr(c, "must be a non-empty array of schemas");
        goto out;
    }
    if ((*out = calloc(json_array_size(v), sizeof(**out))) == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    *count = json_array_size(v);
    json_array_foreach(v, i, item)
    {
        char idx[24];
        size_t m2;

        snprintf(idx, sizeof idx, "%zu", i);
        m2 = loc_push(c, idx);
        (*out)[i] = compile_schema(c, item, res);
        loc_pop(c, m2);
        if ((*out)[i] == NULL)
            goto out;
    }
    rc = 1;
out:
    loc_pop(c, mark);
    return rc;
}

static pcre2_code *compile_regex(cctx *c, const char *src, size_t len)
{
    char msg[200];
    pcre2_code *re = schema_format_regex_compile(src, len, msg, sizeof msg);

    if (re == NULL)
        cerr(c, "invalid regex \"%s\": %s", src, msg);
    return re;
}

static int cmp_prop(const void *a, const void *b)
{
    const prop_entry *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

static unsigned type_bit(const char *name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } types[] = {
        {"null", T_NULL},     {"boolean", T_BOOLEAN}, {"object", T_OBJECT},   {"array", T_ARRAY},
        {"number", T_NUMBER}, {"string", T_STRING},   {"integer", T_INTEGER},
    };

    for (size_t i = 0; i < NELEM(types); i++)
        if (strcmp(types[i].name, name) == 0)
            return types[i].bit;
    return 0;
}

static int compile_type(cctx *c, snode *n, json_t *v)
{
    size_t i;
    json_t *item;

    if (json_is_string(v)) {
        if ((n->types = type_bit(json_string_value(v))) == 0) {
            cerr(c, "unknown type \"%s\"", json_string_value(v));
            return -1;
        }
        return 0;
    }
    if (!json_is_array(v)) {
        cerr(c, "must be a type name or an array of them, got %s", type_name(v));
        return -1;
    }
    json_array_foreach(v, i, item)
    {
        unsigned bit = json_is_string(item) ? type_bit(json_string_value(item)) : 0;

        if (bit == 0) {
            cerr(c, "item %zu is not a type name", i);
            return -1;
        }
        n->types |= bit;
    }
    if (n->types == 0)
        n->types = 0x80; /* "type": [] allows nothing; a bit no value has */
    return 0;
}

static bool is_string_array(json_t *v)
{
    size_t i;
    json_t *item;

    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return false;
    }
    return true;
}

static int compile_properties(cctx *c, snode *n, json_t *v, resource *res)
{
    const char *key;
    size_t len, mark = loc_push(c, "properties"), i = 0;
    json_t *item;
    int rc = -1;

    if (!json_is_object(v)) {
        cerr(c, "must be an object, got %s", type_name(v));
        goto out;
    }
    if (json_object_size(v) == 0) {
        rc = 0;
        goto out;
    }
    if ((n->props = calloc(json_object_size(v), sizeof(*n->props))) == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    json_object_keylen_foreach(v, key, len, item)
    {
        size_t m2 = c->loc.len;

        sb_put_token(&c->loc, key, len);
        n->props[i].name = key;
        n->props[i].len = len;
        n->props[i].node = compile_schema(c, item, res);
        loc_pop(c, m2);
        if (n->props[i++].node == NULL)
            goto out;
    }
    n->nprops = i;
    qsort(n->props, n->nprops, sizeof(*n->props), cmp_prop);
    rc = 0;
out:
    loc_pop(c, mark);
    return rc;
}

static int compile_pattern_properties(cctx *c, snode *n, json_t *v, resource *res)
{
    const char *key;
    size_t len, mark = loc_push(c, "patternProperties");
    json_t *item;
    int rc = -1;

    if (!json_is_object(v)) {
        cerr(c, "must be an object, got %s", type_name(v));
        goto out;
    }
    if (json_object_size(v) > 0 &&
        (n->pprops = calloc(json_object_size(v), sizeof(*n->pprops))) == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    json_object_keylen_foreach(v, key, len, item)
    {
        size_t m2 = c->loc.len;
        pattern_entry *pe = &n->pprops[n->npprops];

        sb_put_token(&c->loc, key, len);
        pe->re = compile_regex(c, key, len);
        if (pe->re != NULL)
            n->npprops++;
        pe->node = pe->re != NULL ? compile_schema(c, item, res) : NULL;
        loc_pop(c, m2);
        if (pe->node == NULL)
            goto out;
    }
    rc = 0;
out:
    loc_pop(c, mark);
    return rc;
}

/* dependencies (draft-07: array or schema), dependentRequired, dependentSchemas. */
static int compile_deps(cctx *c, snode *n, json_t *v, const char *kw, resource *res)
{
    const char *key;
    size_t len, mark = loc_push(c, kw);
    json_t *item;
    dep_entry *d;
    int rc = -1;
    bool want_req = strcmp(kw, "dependentSchemas") != 0;
    bool want_schema = strcmp(kw, "dependentRequired") != 0;

    if (!json_is_object(v)) {
        cerr(c, "must be an object, got %s", type_name(v));
        goto out;
    }
    if ((d = realloc(n->deps, (n->ndeps + json_object_size(v) + 1) * sizeof(*d))) == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    n->deps = d;
    json_object_keylen_foreach(v, key, len, item)
    {
        size_t m2 = c->loc.len;
        dep_entry *e = &n->deps[n->ndeps];

        memset(e, 0, sizeof(*e));
        e->name = key;
        e->len = len;
        sb_put_token(&c->loc, key, len);
        if (want_req && json_is_array(item)) {
            if (!is_string_array(item)) {
                cerr(c, "must be an array of property names");
                goto out;
            }
            e->required = item;
        } else if (want_schema) {
            if ((e->node = compile_schema(c, item, res)) == NULL)
                goto out;
        } else {
            cerr(c, "must be an array of property names, got %s", type_name(item));
            goto out;
        }
        loc_pop(c, m2);
        n->ndeps++;
    }
    rc = 0;
out:
    loc_pop(c, mark);
    return rc;
}

/* Eagerly compiles every entry of "$defs"/"definitions", so errors there surface now. */
static int compile_defs(cctx *c, json_t *node, const char *kw, resource *res)
{
    json_t *v = json_object_get(node, kw), *item;
    const char *key;
    size_t len, mark;
    int rc = 0;

    if (v == NULL)
        return 0;
    mark = loc_push(c, kw);
    if (!json_is_object(v)) {
        cerr(c, "must be an object, got %s", type_name(v));
        rc = -1;
    }
    json_object_keylen_foreach(v, key, len, item)
    {
        size_t m2 = c->loc.len;

        if (rc < 0)
            break;
        sb_put_token(&c->loc, key, len);
        if (compile_schema(c, item, res) == NULL)
            rc = -1;
        loc_pop(c, m2);
    }
    loc_pop(c, mark);
    return rc;
}

static int compile_items(cctx *c, snode *n, json_t *node, resource *res)
{
    json_t *items = json_object_get(node, "items");
    json_t *prefix = json_object_get(node, "prefixItems");
    int draft = res->draft;
    int rc;

    if (draft >= SCHEMA_DRAFT2020) {
        if (prefix != NULL &&
            kw_schema_array(c, prefix, "prefixItems", res, &n->prefix, &n->nprefix) < 0)
            return -1;
        if (json_is_array(items)) {
            size_t mark = loc_push(c, "items");

            cerr(c, "must be a schema in 2020-12 (the array form is now \"prefixItems\")");
            loc_pop(c, mark);
            return -1;
        }
        if ((rc = kw_schema(c, node, "items", res, &n->items)) < 0)
            return -1;
        n->items_kw = "items";
    } else if (json_is_array(items)) {
        if (kw_schema_array(c, items, "items", res, &n->prefix, &n->nprefix) < 0)
            return -1;
        /* additionalItems only means something after an array "items". */
        if ((rc = kw_schema(c, node, "additionalItems", res, &n->items)) < 0)
            return -1;
        n->items_kw = "additionalItems";
    } else {
        if ((rc = kw_schema(c, node, "items", res, &n->items)) < 0)
            return -1;
        n->items_kw = "items";
    }
    return 0;
}

/* Stage 2 proper: every keyword of one schema object into n. */
static int compile_keywords(cctx *c, snode *n, json_t *node, resource *res)
{
    int draft = res->draft, r;
    json_t *v;
    size_t mark;

    if ((v = json_object_get(node, "$ref")) != NULL) {
        mark = loc_push(c, "$ref");
        if (!json_is_string(v))
            cerr(c, "must be a string, got %s", type_name(v));
        else
            n->ref = compile_ref(c, json_string_value(v), res, NULL);
        loc_pop(c, mark);
        if (n->ref == NULL)
            return -1;
        n->checks |= C_INPLACE;
        /* draft-07 and before: "$ref" replaces the whole schema object. */
        if (draft < SCHEMA_DRAFT2019)
            return 0;
    }
    if (draft >= SCHEMA_DRAFT2019 && (v = json_object_get(node, "$dynamicRef")) != NULL) {
        mark = loc_push(c, "$dynamicRef");
        if (!json_is_string(v))
            cerr(c, "must be a string, got %s", type_name(v));
        else
            n->dyn_ref = compile_ref(c, json_string_value(v), res, &n->dyn_name);
        loc_pop(c, mark);
        if (n->dyn_ref == NULL)
            return -1;
        if (n->dyn_name != NULL)
            c->reg->has_dynamic = true;
        n->checks |= C_INPLACE;
    }
    if ((v = json_object_get(node, "type")) != NULL) {
        mark = loc_push(c, "type");
        r = compile_type(c, n, v);
        loc_pop(c, mark);
        if (r < 0)
            return -1;
        n->checks |= C_TYPE;
    }
    if ((v = json_object_get(node, "enum")) != NULL) {
        if (!json_is_array(v)) {
            mark = loc_push(c, "enum");
            cerr(c, "must be an array, got %s", type_name(v));
            loc_pop(c, mark);
            return -1;
        }
        n->enum_vals = v;
        if (json_array_size(v) > 0 &&
            (n->enum_hashes = malloc(json_array_size(v) * sizeof(uint64_t))) == NULL) {
            cerr(c, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < json_array_size(v); i++)
            n->enum_hashes[i] = json_hash(json_array_get(v, i));
        n->checks |= C_EQUAL;
    }
    if ((v = json_object_get(node, "const")) != NULL) {
        n->const_val = v;
        n->checks |= C_EQUAL;
    }

    /* numbers */
    if (kw_number(c, node, "minimum", &n->minimum) < 0 ||
        kw_number(c, node, "maximum", &n->maximum) < 0 ||
        kw_number(c, node, "exclusiveMinimum", &n->ex_minimum) < 0 ||
        kw_number(c, node, "exclusiveMaximum", &n->ex_maximum) < 0 ||
        kw_number(c, node, "multipleOf", &n->multiple_of) < 0)
        return -1;
    if (n->multiple_of != NULL && json_number_value(n->multiple_of) <= 0) {
        mark = loc_push(c, "multipleOf");
        cerr(c, "must be greater than 0");
        loc_pop(c, mark);
        return -1;
    }
    if (n->minimum || n->maximum || n->ex_minimum || n->ex_maximum || n->multiple_of)
        n->checks |= C_NUMBER;

    /* strings */
    if (kw_count(c, node, "minLength", &n->min_length) < 0 ||
        kw_count(c, node, "maxLength", &n->max_length) < 0)
        return -1;
    if ((v = json_object_get(node, "pattern")) != NULL) {
        mark = loc_push(c, "pattern");
        if (!json_is_string(v))
            cerr(c, "must be a string, got %s", type_name(v));
        else
            n->pattern = compile_regex(c, json_string_value(v), json_string_length(v));
        loc_pop(c, mark);
        if (n->pattern == NULL)
            return -1;
        n->pattern_src = json_string_value(v);
    }
    if ((v = json_object_get(node, "format")) != NULL) {
        if (!json_is_string(v)) {
            mark = loc_push(c, "format");
            cerr(c, "must be a string, got %s", type_name(v));
            loc_pop(c, mark);
            return -1;
        }
        if (c->reg->format_assert) {
            n->format = schema_format_lookup(json_string_value(v));
            n->format_name = json_string_value(v);
        }
    }
    if (n->min_length > 0 || n->max_length != SIZE_MAX || n->pattern || n->format)
        n->checks |= C_STRING;

    /* arrays */
    if (kw_count(c, node, "minItems", &n->min_items) < 0 ||
        kw_count(c, node, "maxItems", &n->max_items) < 0 || compile_items(c, n, node, res) < 0 ||
        kw_schema(c, node, "contains", res, &n->contains) < 0)
        return -1;
    if (draft >= SCHEMA_DRAFT2019 && n->contains != NULL &&
        (kw_count(c, node, "minContains", &n->min_contains) < 0 ||
         kw_count(c, node, "maxContains", &n->max_contains) < 0))
        return -1;
    if ((v = json_object_get(node, "uniqueItems")) != NULL) {
        if (!json_is_boolean(v)) {
            mark = loc_push(c, "uniqueItems");
            cerr(c, "must be a boolean, got %s", type_name(v));
            loc_pop(c, mark);
            return -1;
        }
        n->unique = json_is_true(v);
    }
    if (draft >= SCHEMA_DRAFT2019 &&
        kw_schema(c, node, "unevaluatedItems", res, &n->uneval_items) < 0)
        return -1;
    if (n->min_items > 0 || n->max_items != SIZE_MAX || n->unique || n->nprefix || n->items ||
        n->contains || n->uneval_items)
        n->checks |= C_ARRAY;

    /* objects */
    if (kw_count(c, node, "minProperties", &n->min_props) < 0 ||
        kw_count(c, node, "maxProperties", &n->max_props) < 0)
        return -1;
    if ((v = json_object_get(node, "required")) != NULL) {
        if (!is_string_array(v)) {
            mark = loc_push(c, "required");
            cerr(c, "must be an array of property names");
            loc_pop(c, mark);
            return -1;
        }
        n->required = json_array_size(v) > 0 ? v : NULL;
    }
    if ((v = json_object_get(node, "properties")) != NULL && compile_properties(c, n, v, res) < 0)
        return -1;
    if ((v = json_object_get(node, "patternProperties")) != NULL &&
        compile_pattern_properties(c, n, v, res) < 0)
        return -1;
    if (kw_schema(c, node, "additionalProperties", res, &n->addl_props) < 0 ||
        kw_schema(c, node, "propertyNames", res, &n->prop_names) < 0)
        return -1;
    /* "dependencies" is gone from 2019-09 on, but schemas still use it: honour it anyway. */
    if ((v = json_object_get(node, "dependencies")) != NULL &&
        compile_deps(c, n, v, "dependencies", res) < 0)
        return -1;
    if (draft >= SCHEMA_DRAFT2019) {
        if ((v = json_object_get(node, "dependentRequired")) != NULL &&
            compile_deps(c, n, v, "dependentRequired", res) < 0)
            return -1;
        if ((v = json_object_get(node, "dependentSchemas")) != NULL &&
            compile_deps(c, n, v, "dependentSchemas", res) < 0)
            return -1;
        if (kw_schema(c, node, "unevaluatedProperties", res, &n->uneval_props) < 0)
            return -1;
    }
    if (n->nprops || n->npprops || n->addl_props || n->prop_names)
        n->checks |= C_PROPS;
    if (n->min_props > 0 || n->max_props != SIZE_MAX || n->required || n->ndeps ||
        (n->checks & C_PROPS) || n->uneval_props)
        n->checks |= C_OBJECT;

    /* in-place applicators */
    if ((v = json_object_get(node, "allOf")) != NULL &&
        kw_schema_array(c, v, "allOf", res, &n->all_of, &n->nall) < 0)
        return -1;
    if ((v = json_object_get(node, "anyOf")) != NULL &&
        kw_schema_array(c, v, "anyOf", res, &n->any_of, &n->nany) < 0)
        return -1;
    if ((v = json_object_get(node, "oneOf")) != NULL &&
        kw_schema_array(c, v, "oneOf", res, &n->one_of, &n->none) < 0)
        return -1;
    if (kw_schema(c, node, "not", res, &n->not_) < 0 ||
        kw_schema(c, node, "if", res, &n->if_) < 0 ||
        kw_schema(c, node, "then", res, &n->then_) < 0 ||
        kw_schema(c, node, "else", res, &n->else_) < 0)
        return -1;
    if (n->nall || n->nany || n->none || n->not_ || n->if_)
        n->checks |= C_INPLACE;
    n->annotate = n->uneval_props != NULL || n->uneval_items != NULL;

    if (compile_defs(c, node, "definitions", res) < 0 || compile_defs(c, node, "$defs", res) < 0)
        return -1;
    return 0;
}

/*
 * "$dynamicRef" looks for "$dynamicAnchor"s in whatever resources validation passes through:
 * once any node needs dynamic scope, the dynamic anchors of every resource that has compiled
 * nodes (and so can be entered) are compiled too. Returns how many were compiled now, -1 on
 * error; the caller repeats until nothing new is reachable.
 */
static int compile_dynamic_anchors(cctx *c)
{
    int count = 0;

    for (resource *r = c->reg->resources; r != NULL; r = r->next) {
        for (size_t i = 0; r->used && i < r->ndyn; i++) {
            if (r->dyn[i].compiled != NULL)
                continue;
            sb_truncate(&c->loc, 0);
            sb_puts(&c->loc, r->uri);
            sb_putc(&c->loc, '#');
            sb_puts(&c->loc, r->dyn[i].name);
            if ((r->dyn[i].compiled = compile_schema(c, r->dyn[i].node, r)) == NULL)
                return -1;
            count++;
        }
    }
    return count;
}

/* Undoes a failed compile: nodes created since mark leave the node map and are freed. */
static void rollback(schema_registry *reg, snode *mark)
{
    for (snode *n = reg->all; n != mark; n = n->next_alloc) {
        pentry *e = pmap_find(&reg->nodes, n->src);

        if (e != NULL && e->node == n)
            e->node = NULL;
        n->doomed = true;
    }
    for (resource *r = reg->resources; r != NULL; r = r->next)
        for (size_t i = 0; i < r->ndyn; i++)
            if (r->dyn[i].compiled != NULL && r->dyn[i].compiled->doomed)
                r->dyn[i].compiled = NULL;
    while (reg->all != mark) {
        snode *n = reg->all;

        reg->all = n->next_alloc;
        node_free(n);
    }
}

static schema *compile_root(schema_registry *reg, json_t *node, resource *res, const char *home_uri,
                            const char *loc, char *errbuf, size_t errbuf_size)
{
    cctx c = {.reg = reg, .home_uri = home_uri, .errbuf = errbuf, .errbuf_size = errbuf_size};
    snode *mark = reg->all, *root;
    schema *s = NULL;

    sb_puts(&c.loc, loc);
    root = compile_schema(&c, node, res);
    while (root != NULL) {
        int more;

        while (root != NULL && c.work != NULL) {
            work *w = c.work;

            c.work = w->next;
            sb_truncate(&c.loc, 0);
            sb_puts(&c.loc, w->loc);
            if (compile_keywords(&c, w->n, w->node, w->res) < 0)
                root = NULL;
            free(w->loc);
            free(w);
        }
        if (root == NULL || !reg->has_dynamic)
            break;
        if ((more = compile_dynamic_anchors(&c)) < 0)
            root = NULL;
        else if (more == 0 && c.work == NULL)
            break;
    }
    while (c.work != NULL) {
        work *w = c.work;

        c.work = w->next;
        free(w->loc);
        free(w);
    }
    if (root != NULL && (s = malloc(sizeof(*s))) == NULL)
        set_err(errbuf, errbuf_size, "out of memory");
    if (s == NULL) {
        rollback(reg, mark);
        goto out;
    }
    s->root = root;
    s->draft = res->draft;
    s->track_scope = reg->has_dynamic;
out:
    free(c.loc.s);
    return s;
}

schema *schema_compile(schema_registry *reg, json_t *doc, char *errbuf, size_t errbuf_size)
{
    pentry *e = pmap_find(&reg->nodes, doc);
    json_t *id = json_object_get(doc, "$id");
    char uri[64];

    if (json_is_boolean(doc)) {
        schema *s = malloc(sizeof(*s));

        if (s == NULL) {
            set_err(errbuf, errbuf_size, "out of memory");
            return NULL;
        }
        s->root = json_is_true(doc) ? &reg->true_node : &reg->false_node;
        s->draft = reg->default_draft;
        s->track_scope = false;
        return s;
    }
    if (!json_is_object(doc)) {
        set_err(errbuf, errbuf_size, "(root): a schema must be an object or a boolean, got %s",
                type_name(doc));
        return NULL;
    }
    if (e == NULL || e->res == NULL) {
        uri_parts u;
        const char *name = NULL;

        if (json_is_string(id)) {
            uri_split(json_string_value(id), &u);
            if (u.has_scheme)
                name = json_string_value(id);
        }
        if (name == NULL) {
            snprintf(uri, sizeof uri, "urn:relay:schema:%u", ++reg->anon_seq);
            name = uri;
        }
        if (schema_registry_add(reg, name, doc, errbuf, errbuf_size) < 0)
            return NULL;
        e = pmap_find(&reg->nodes, doc);
    }
    return compile_root(reg, doc, e->res, e->res->uri, "", errbuf, errbuf_size);
}

schema *schema_compile_uri(schema_registry *reg, const char *uri, char *errbuf, size_t errbuf_size)
{
    char *abs = uri_resolve(NULL, uri), *frag;
    uri_target *t;
    json_t *node;
    resource *res;
    schema *s = NULL;

    if (abs == NULL) {
        set_err(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    if ((frag = strchr(abs, '#')) != NULL) {
        *frag++ = '\0';
        percent_decode(frag);
    }
    if ((t = lookup_resource(reg, abs)) == NULL) {
        set_err(errbuf, errbuf_size, "no schema \"%s\" in the registry", abs);
        goto out;
    }
    node = t->node;
    res = t->res;
    if (frag != NULL && *frag == '/') {
        node = walk_pointer(reg, node, frag, &res);
    } else if (frag != NULL && *frag != '\0') {
        strbuf key = {0};

        sb_puts(&key, abs);
        sb_putc(&key, '#');
        sb_puts(&key, frag);
        t = key.oom ? NULL : smap_get(&reg->uris, key.s);
        free(key.s);
        node = t != NULL ? t->node : NULL;
        res = t != NULL ? t->res : NULL;
    }
    if (node == NULL) {
        set_err(errbuf, errbuf_size, "no \"#%s\" in %s", frag, abs);
        goto out;
    }
    s = compile_root(reg, node, res, abs, frag != NULL && *frag == '/' ? frag : "", errbuf,
                     errbuf_size);
out:
    free(abs);
    return s;
}

void schema_free(schema *s)
{
    free(s);
}

int schema_draft(const schema *s)
{
    return s->draft;
}

/* ---------------------------------------------------------------------------------------------
 * Stage 3: validate.
 */

/* Where in the instance we are: a chain on the C stack, turned into a pointer only on error. */
typedef struct ipath {
    const struct ipath *up;
    const char *key; /* NULL: array index */
    size_t len;
    size_t index;
} ipath;

/* The dynamic scope: resources entered, innermost first. */
typedef struct scope {
    const resource *res;
    const struct scope *up;
} scope;

/* Which properties / items of one instance value some subschema evaluated. */
typedef struct {
    unsigned char *props;
    size_t nprops;
    unsigned char *items;
    size_t nitems;
} evalset;

typedef struct {
    char *errbuf;
    size_t errbuf_size;
    int quiet; /* inside anyOf/oneOf/not/if: failures are expected, don't format them */
    int depth;
    bool track_scope;
    const scope *scope;
    pcre2_match_data *md;
} vctx;

typedef struct {
    char *buf;
    size_t size, len;
} wbuf;

static void w_printf(wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void w_printf(wbuf *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (w->len + 1 >= w->size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(w->buf + w->len, w->size - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len = w->len + (size_t)n < w->size ? w->len + (size_t)n : w->size - 1;
}

static void w_path(wbuf *w, const ipath *p)
{
    if (p == NULL)
        return;
    w_path(w, p->up);
    if (p->key == NULL) {
        w_printf(w, "/%zu", p->index);
        return;
    }
    w_printf(w, "/");
    for (size_t i = 0; i < p->len; i++) {
        if (p->key[i] == '~')
            w_printf(w, "~0");
        else if (p->key[i] == '/')
            w_printf(w, "~1");
        else
            w_printf(w, "%c", p->key[i]);
    }
}

static void verr_write(vctx *v, const ipath *p, const char *kw, const char *fmt, va_list ap)
{
    wbuf w = {v->errbuf, v->errbuf_size, 0};

    if (p == NULL)
        w_printf(&w, "(root)");
    else
        w_path(&w, p);
    w_printf(&w, ": %s: ", kw);
    if (w.len + 1 < w.size)
        vsnprintf(w.buf + w.len, w.size - w.len, fmt, ap);
}

static int fail(vctx *v, const ipath *p, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One failure: returns 1 ("invalid"); the message only when someone will read it. */
static int fail(vctx *v, const ipath *p, const char *kw, const char *fmt, ...)
{
    va_list ap;

    if (v->quiet > 0 || v->errbuf == NULL || v->errbuf_size == 0)
        return 1;
    va_start(ap, fmt);
    verr_write(v, p, kw, fmt, ap);
    va_end(ap);
    return 1;
}

static int internal(vctx *v, const ipath *p, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Validation could not finish: returns -1 and always says why. */
static int internal(vctx *v, const ipath *p, const char *kw, const char *fmt, ...)
{
    va_list ap;

    if (v->errbuf == NULL || v->errbuf_size == 0)
        return -1;
    va_start(ap, fmt);
    verr_write(v, p, kw, fmt, ap);
    va_end(ap);
    return -1;
}

/* Compact JSON of j for messages, cut with "..." when long. */
static const char *dump(const json_t *j, char *buf, size_t size)
{
    size_t n =
        json_dumpb(j, buf, size - 1, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));

    if (n == 0)
        snprintf(buf, size, "?");
    else if (n > size - 1)
        snprintf(buf + size - 4, 4, "...");
    else
        buf[n] = '\0';
    return buf;
}

static unsigned instance_types(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_INTEGER | T_NUMBER;
    case JSON_REAL: {
        double d = json_real_value(j);

        return isfinite(d) && d == floor(d) ? T_INTEGER | T_NUMBER : T_NUMBER;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    default:
        return T_NULL;
    }
}

static int fail_type(vctx *v, const snode *n, const json_t *inst, const ipath *p)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    char want[80] = "";
    size_t len = 0;

    if (v->quiet > 0)
        return 1;
    for (size_t i = 0; i < NELEM(names); i++) {
        if (!(n->types & (1u << i)))
            continue;
        len += (size_t)snprintf(want + len, sizeof want - len, "%s%s", len ? " or " : "", names[i]);
    }
    return fail(v, p, "type", "expected %s, got %s", len ? want : "nothing", type_name(inst));
}

static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);

        return (x > y) - (x < y);
    }
    double x = json_number_value(a), y = json_number_value(b);

    return (x > y) - (x < y);
}

static bool is_multiple(const json_t *inst, const json_t *m)
{
    double x, d, q;

    if (json_is_integer(inst) && json_is_integer(m))
        return json_integer_value(inst) % json_integer_value(m) == 0;
    x = json_number_value(inst);
    d = json_number_value(m);
    q = x / d;
    /* Overflowed quotient: fmod is exact, so a true multiple still shows as remainder 0. */
    if (!isfinite(q))
        return fmod(x, d) == 0;
    /* Decimal multipliers (0.01) are inexact in binary; accept rounding noise in the quotient. */
    return fabs(q - nearbyint(q)) < 1e-9;
}

static int validate(vctx *v, const snode *n, const json_t *inst, const ipath *p, evalset *ev);

static int evalset_init(evalset *e, const json_t *inst)
{
    memset(e, 0, sizeof(*e));
    if (json_is_object(inst) && (e->nprops = json_object_size(inst)) > 0)
        return (e->props = calloc(e->nprops, 1)) != NULL ? 0 : -1;
    if (json_is_array(inst) && (e->nitems = json_array_size(inst)) > 0)
        return (e->items = calloc(e->nitems, 1)) != NULL ? 0 : -1;
    return 0;
}

static void evalset_merge(evalset *to, const evalset *from)
{
    for (size_t i = 0; i < to->nprops && i < from->nprops; i++)
        to->props[i] |= from->props[i];
    for (size_t i = 0; i < to->nitems && i < from->nitems; i++)
        to->items[i] |= from->items[i];
}

static void evalset_free(evalset *e)
{
    free(e->props);
    free(e->items);
}

/* 1 match, 0 no match, -1 engine error (catastrophic backtracking hits the match limit). */
static int re_search(vctx *v, const pcre2_code *re, const char *s, size_t len)
{
    int rc;

    if (v->md == NULL && (v->md = pcre2_match_data_create(1, NULL)) == NULL)
        return -1;
    rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, v->md, NULL);
    if (rc >= 0)
        return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static int validate_numeric(vctx *v, const snode *n, const json_t *inst, const ipath *p)
{
    char a[40], b[40];

    if (n->minimum != NULL && num_cmp(inst, n->minimum) < 0)
        return fail(v, p, "minimum", "%s is less than %s", dump(inst, a, sizeof a),
                    dump(n->minimum, b, sizeof b));
    if (n->maximum != NULL && num_cmp(inst, n->maximum) > 0)
        return fail(v, p, "maximum", "%s is greater than %s", dump(inst, a, sizeof a),
                    dump(n->maximum, b, sizeof b));
    if (n->ex_minimum != NULL && num_cmp(inst, n->ex_minimum) <= 0)
        return fail(v, p, "exclusiveMinimum", "%s is not greater than %s", dump(inst, a, sizeof a),
                    dump(n->ex_minimum, b, sizeof b));
    if (n->ex_maximum != NULL && num_cmp(inst, n->ex_maximum) >= 0)
        return fail(v, p, "exclusiveMaximum", "%s is not less than %s", dump(inst, a, sizeof a),
                    dump(n->ex_maximum, b, sizeof b));
    if (n->multiple_of != NULL && !is_multiple(inst, n->multiple_of))
        return fail(v, p, "multipleOf", "%s is not a multiple of %s", dump(inst, a, sizeof a),
                    dump(n->multiple_of, b, sizeof b));
    return 0;
}

static int validate_string(vctx *v, const snode *n, const json_t *inst, const ipath *p)
{
    const char *s = json_string_value(inst);
    size_t len = json_string_length(inst);

    if (n->min_length > 0 || n->max_length != SIZE_MAX) {
        size_t cps = 0;

        /* Code points, not bytes: count every byte that does not continue a sequence. */
        for (size_t i = 0; i < len; i++)
            cps += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (cps < n->min_length)
            return fail(v, p, "minLength", "%zu characters, fewer than %zu", cps, n->min_length);
        if (cps > n->max_length)
            return fail(v, p, "maxLength", "%zu characters, more than %zu", cps, n->max_length);
    }
    if (n->pattern != NULL) {
        int rc = re_search(v, n->pattern, s, len);

        if (rc < 0)
            return internal(v, p, "pattern", "regex engine failed on /%s/", n->pattern_src);
        if (rc == 0)
            return fail(v, p, "pattern", "does not match /%s/", n->pattern_src);
    }
    if (n->format != 0 && !schema_format_check(n->format, s, len))
        return fail(v, p, "format", "not a valid %s", n->format_name);
    return 0;
}

typedef struct {
    uint64_t hash;
    size_t index;
} hashed_item;

static int cmp_hashed(const void *a, const void *b)
{
    const hashed_item *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* uniqueItems in O(n log n): sort by hash, compare only within runs of equal hashes. */
static int validate_unique(vctx *v, const json_t *inst, const ipath *p)
{
    size_t n = json_array_size(inst);
    hashed_item stackbuf[16], *h = n <= 16 ? stackbuf : malloc(n * sizeof(*h));
    int rc = 0;

    if (n < 2)
        return 0;
    if (h == NULL)
        return internal(v, p, "uniqueItems", "out of memory");
    for (size_t i = 0; i < n; i++) {
        h[i].hash = json_hash(json_array_get(inst, i));
        h[i].index = i;
    }
    qsort(h, n, sizeof(*h), cmp_hashed);
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t j = i + 1; j < n && h[j].hash == h[i].hash; j++) {
            if (json_eq(json_array_get(inst, h[i].index), json_array_get(inst, h[j].index))) {
                rc = fail(v, p, "uniqueItems", "items %zu and %zu are equal", h[i].index,
                          h[j].index);
                break;
            }
        }
    }
    if (h != stackbuf)
        free(h);
    return rc;
}

static int validate_array(vctx *v, const snode *n, const json_t *inst, const ipath *p, evalset *ev)
{
    size_t size = json_array_size(inst);
    int r;

    if (size < n->min_items)
        return fail(v, p, "minItems", "%zu items, fewer than %zu", size, n->min_items);
    if (size > n->max_items)
        return fail(v, p, "maxItems", "%zu items, more than %zu", size, n->max_items);
    if (n->unique && (r = validate_unique(v, inst, p)) != 0)
        return r;
    for (size_t i = 0; i < size && i < n->nprefix; i++) {
        ipath cp = {p, NULL, 0, i};

        if ((r = validate(v, n->prefix[i], json_array_get(inst, i), &cp, NULL)) != 0)
            return r;
        if (ev != NULL)
            ev->items[i] = 1;
    }
    if (n->items != NULL) {
        for (size_t i = n->nprefix; i < size; i++) {
            ipath cp = {p, NULL, 0, i};

            if (n->items->is_false)
                return fail(v, &cp, n->items_kw, "no item allowed past the first %zu", n->nprefix);
            if ((r = validate(v, n->items, json_array_get(inst, i), &cp, NULL)) != 0)
                return r;
            if (ev != NULL)
                ev->items[i] = 1;
        }
    }
    if (n->contains != NULL) {
        size_t matched = 0;

        v->quiet++;
        for (size_t i = 0; i < size; i++) {
            ipath cp = {p, NULL, 0, i};

            r = validate(v, n->contains, json_array_get(inst, i), &cp, NULL);
            if (r < 0) {
                v->quiet--;
                return r;
            }
            if (r == 0) {
                matched++;
                if (ev != NULL)
                    ev->items[i] = 1;
                /* Enough seen, and nobody needs to know which others match. */
                else if (matched >= n->min_contains && n->max_contains == SIZE_MAX)
                    break;
            }
        }
        v->quiet--;
        if (matched < n->min_contains)
            return matched == 0 ? fail(v, p, "contains", "no item matches")
                                : fail(v, p, "minContains", "%zu items match, fewer than %zu",
                                       matched, n->min_contains);
        if (matched > n->max_contains)
            return fail(v, p, "maxContains", "%zu items match, more than %zu", matched,
                        n->max_contains);
    }
    return 0;
}

static const prop_entry *find_prop(const snode *n, const char *key, size_t len)
{
    size_t lo = 0, hi = n->nprops;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const prop_entry *e = &n->props[mid];
        int c = e->len != len ? (e->len < len ? -1 : 1) : memcmp(e->name, key, len);

        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int validate_property_name(vctx *v, const snode *n, const char *key, size_t len,
                                  const ipath *p)
{
    json_t *name = json_stringn(key, len);
    int r;

    if (name == NULL)
        return internal(v, p, "propertyNames", "out of memory");
    r = validate(v, n->prop_names, name, p, NULL);
    json_decref(name);
    return r;
}

static int validate_object(vctx *v, const snode *n, const json_t *inst, const ipath *p, evalset *ev)
{
    size_t size = json_object_size(inst);
    int r;

    if (size < n->min_props)
        return fail(v, p, "minProperties", "%zu properties, fewer than %zu", size, n->min_props);
    if (size > n->max_props)
        return fail(v, p, "maxProperties", "%zu properties, more than %zu", size, n->max_props);
    if (n->required != NULL) {
        for (size_t i = 0; i < json_array_size(n->required); i++) {
            const json_t *name = json_array_get(n->required, i);

            if (json_object_getn(inst, json_string_value(name), json_string_length(name)) == NULL)
                return fail(v, p, "required", "missing property \"%s\"", json_string_value(name));
        }
    }
    if (n->checks & C_PROPS) {
        size_t idx = 0;

        for (void *it = json_object_iter((json_t *)inst); it != NULL;
             it = json_object_iter_next((json_t *)inst, it), idx++) {
            const char *key = json_object_iter_key(it);
            size_t len = json_object_iter_key_len(it);
            const json_t *val = json_object_iter_value(it);
            ipath cp = {p, key, len, 0};
            bool evaluated = false;

            if (n->nprops > 0) {
                const prop_entry *pe = find_prop(n, key, len);

                if (pe != NULL) {
                    evaluated = true;
                    if ((r = validate(v, pe->node, val, &cp, NULL)) != 0)
                        return r;
                }
            }
            for (size_t k = 0; k < n->npprops; k++) {
                if ((r = re_search(v, n->pprops[k].re, key, len)) < 0)
                    return internal(v, &cp, "patternProperties", "regex engine failed");
                if (r == 0)
                    continue;
                evaluated = true;
                if ((r = validate(v, n->pprops[k].node, val, &cp, NULL)) != 0)
                    return r;
            }
            if (!evaluated && n->addl_props != NULL) {
                if (n->addl_props->is_false)
                    return fail(v, &cp, "additionalProperties", "property not allowed");
                if ((r = validate(v, n->addl_props, val, &cp, NULL)) != 0)
                    return r;
                evaluated = true;
            }
            if (n->prop_names != NULL && (r = validate_property_name(v, n, key, len, &cp)) != 0)
                return r;
            if (ev != NULL && evaluated)
                ev->props[idx] = 1;
        }
    }
    for (size_t i = 0; i < n->ndeps; i++) {
        const dep_entry *d = &n->deps[i];

        if (json_object_getn(inst, d->name, d->len) == NULL)
            continue;
        for (size_t k = 0; d->required != NULL && k < json_array_size(d->required); k++) {
            const json_t *name = json_array_get(d->required, k);

            if (json_object_getn(inst, json_string_value(name), json_string_length(name)) == NULL)
                return fail(v, p, "dependentRequired", "property \"%s\" requires \"%s\"", d->name,
                            json_string_value(name));
        }
        if (d->node != NULL && (r = validate(v, d->node, inst, p, ev)) != 0)
            return r;
    }
    return 0;
}

/* The target of a "$dynamicRef": the outermost resource in scope with that dynamic anchor. */
static const snode *dynamic_target(const vctx *v, const snode *n)
{
    const snode *target = n->dyn_ref;

    if (n->dyn_name == NULL)
        return target;
    for (const scope *s = v->scope; s != NULL; s = s->up)
        for (size_t i = 0; i < s->res->ndyn; i++)
            if (s->res->dyn[i].compiled != NULL && strcmp(s->res->dyn[i].name, n->dyn_name) == 0)
                target = s->res->dyn[i].compiled;
    return target;
}

/* anyOf / oneOf: how many branches match; their annotations count only when they do. */
static int count_matches(vctx *v, const char *kw, snode *const *branches, size_t nb,
                         const json_t *inst, const ipath *p, evalset *ev, size_t *first,
                         size_t *second)
{
    size_t matched = 0;
    /* Without annotations to collect, anyOf can stop at one match and oneOf at two. */
    size_t enough = kw[0] == 'a' ? 1 : 2;
    int r = 0;

    v->quiet++;
    for (size_t i = 0; i < nb && (ev != NULL || matched < enough); i++) {
        evalset tmp;

        if (ev != NULL && evalset_init(&tmp, inst) < 0) {
            v->quiet--;
            return internal(v, p, kw, "out of memory");
        }
        r = validate(v, branches[i], inst, p, ev != NULL ? &tmp : NULL);
        if (r == 0) {
            if (ev != NULL)
                evalset_merge(ev, &tmp);
            if (matched == 0)
                *first = i;
            else if (matched == 1)
                *second = i;
            matched++;
        }
        if (ev != NULL)
            evalset_free(&tmp);
        if (r < 0)
            break; /* internal() has said why */
    }
    v->quiet--;
    if (r < 0)
        return r;
    return (int)(matched > 2 ? 2 : matched);
}

static int validate_inplace(vctx *v, const snode *n, const json_t *inst, const ipath *p,
                            evalset *ev)
{
    int r;

    if (n->ref != NULL && (r = validate(v, n->ref, inst, p, ev)) != 0)
        return r;
    if (n->dyn_ref != NULL && (r = validate(v, dynamic_target(v, n), inst, p, ev)) != 0)
        return r;
    for (size_t i = 0; i < n->nall; i++)
        if ((r = validate(v, n->all_of[i], inst, p, ev)) != 0)
            return r;
    if (n->nany > 0) {
        size_t first = 0, second = 0;

        if ((r = count_matches(v, "anyOf", n->any_of, n->nany, inst, p, ev, &first, &second)) < 0)
            return r;
        if (r == 0)
            return fail(v, p, "anyOf", "matches none of the %zu subschemas", n->nany);
    }
    if (n->none > 0) {
        size_t first = 0, second = 0;

        if ((r = count_matches(v, "oneOf", n->one_of, n->none, inst, p, ev, &first, &second)) < 0)
            return r;
        if (r == 0)
            return fail(v, p, "oneOf", "matches none of the %zu subschemas", n->none);
        if (r > 1)
            return fail(v, p, "oneOf", "matches subschemas %zu and %zu, exactly one allowed", first,
                        second);
    }
    if (n->not_ != NULL) {
        v->quiet++;
        r = validate(v, n->not_, inst, p, NULL);
        v->quiet--;
        if (r < 0)
            return r;
        if (r == 0)
            return fail(v, p, "not", "must not match the subschema");
    }
    if (n->if_ != NULL && (n->then_ != NULL || n->else_ != NULL || ev != NULL)) {
        evalset tmp;

        if (ev != NULL && evalset_init(&tmp, inst) < 0)
            return internal(v, p, "if", "out of memory");
        v->quiet++;
        r = validate(v, n->if_, inst, p, ev != NULL ? &tmp : NULL);
        v->quiet--;
        if (ev != NULL) {
            if (r == 0)
                evalset_merge(ev, &tmp);
            evalset_free(&tmp);
        }
        if (r < 0)
            return r;
        if (r == 0 && n->then_ != NULL && (r = validate(v, n->then_, inst, p, ev)) != 0)
            return r;
        if (r == 1 && n->else_ != NULL && (r = validate(v, n->else_, inst, p, ev)) != 0)
            return r;
    }
    return 0;
}

static int validate_unevaluated(vctx *v, const snode *n, const json_t *inst, const ipath *p,
                                evalset *ev)
{
    int r;

    if (n->uneval_props != NULL && json_is_object(inst)) {
        size_t idx = 0;

        for (void *it = json_object_iter((json_t *)inst); it != NULL;
             it = json_object_iter_next((json_t *)inst, it), idx++) {
            ipath cp = {p, json_object_iter_key(it), json_object_iter_key_len(it), 0};

            if (ev->props[idx])
                continue;
            if (n->uneval_props->is_false)
                return fail(v, &cp, "unevaluatedProperties", "property not allowed");
            if ((r = validate(v, n->uneval_props, json_object_iter_value(it), &cp, NULL)) != 0)
                return r;
            ev->props[idx] = 1;
        }
    }
    if (n->uneval_items != NULL && json_is_array(inst)) {
        for (size_t i = 0; i < json_array_size(inst); i++) {
            ipath cp = {p, NULL, 0, i};

            if (ev->items[i])
                continue;
            if (n->uneval_items->is_false)
                return fail(v, &cp, "unevaluatedItems", "item not allowed");
            if ((r = validate(v, n->uneval_items, json_array_get(inst, i), &cp, NULL)) != 0)
                return r;
            ev->items[i] = 1;
        }
    }
    return 0;
}

/*
 * 0 valid, 1 invalid, -1 internal error. ev, when not NULL, collects what this node and its
 * in-place subschemas evaluated of inst (for an enclosing unevaluated* keyword).
 */
static int validate(vctx *v, const snode *n, const json_t *inst, const ipath *p, evalset *ev)
{
    scope frame;
    evalset local, *outer = ev;
    bool pushed = false;
    int r = 0;

    if (n->is_false)
        return fail(v, p, "false", "no value is allowed here");
    if (n->checks == 0)
        return 0;
    if (v->depth >= MAX_DEPTH)
        return internal(v, p, "$ref", "schema nesting deeper than %d: a reference cycle?",
                        MAX_DEPTH);
    v->depth++;
    if (v->track_scope && (v->scope == NULL || v->scope->res != n->res)) {
        frame.res = n->res;
        frame.up = v->scope;
        v->scope = &frame;
        pushed = true;
    }
    /* unevaluated* sees only what this node's own subschemas evaluated: start a fresh set. */
    if (n->annotate) {
        if (evalset_init(&local, inst) < 0) {
            r = internal(v, p, "unevaluatedProperties", "out of memory");
            goto out;
        }
        ev = &local;
    }
    if ((n->checks & C_TYPE) && !(n->types & instance_types(inst))) {
        r = fail_type(v, n, inst, p);
        goto done;
    }
    if (n->checks & C_EQUAL) {
        char a[96], b[96];

        if (n->const_val != NULL && !json_eq(n->const_val, inst)) {
            r = fail(v, p, "const", "expected %s, got %s", dump(n->const_val, a, sizeof a),
                     dump(inst, b, sizeof b));
            goto done;
        }
        if (n->enum_vals != NULL) {
            size_t count = json_array_size(n->enum_vals), i;
            /* Hash first only for long enums: for a few values direct comparison is cheaper. */
            uint64_t h = count > 8 ? json_hash(inst) : 0;

            for (i = 0; i < count; i++)
                if ((count <= 8 || n->enum_hashes[i] == h) &&
                    json_eq(json_array_get(n->enum_vals, i), inst))
                    break;
            if (i == count) {
                r = fail(v, p, "enum", "%s is not one of %s", dump(inst, a, sizeof a),
                         dump(n->enum_vals, b, sizeof b));
                goto done;
            }
        }
    }
    switch (json_typeof(inst)) {
    case JSON_INTEGER:
    case JSON_REAL:
        if (n->checks & C_NUMBER)
            r = validate_numeric(v, n, inst, p);
        break;
    case JSON_STRING:
        if (n->checks & C_STRING)
            r = validate_string(v, n, inst, p);
        break;
    case JSON_ARRAY:
        if (n->checks & C_ARRAY)
            r = validate_array(v, n, inst, p, ev);
        break;
    case JSON_OBJECT:
        if (n->checks & C_OBJECT)
            r = validate_object(v, n, inst, p, ev);
        break;
    default:
        break;
    }
    if (r == 0 && (n->checks & C_INPLACE))
        r = validate_inplace(v, n, inst, p, ev);
    if (r == 0 && n->annotate)
        r = validate_unevaluated(v, n, inst, p, ev);
done:
    if (n->annotate) {
        if (r == 0 && outer != NULL)
            evalset_merge(outer, &local);
        evalset_free(&local);
    }
out:
    if (pushed)
        v->scope = frame.up;
    v->depth--;
    return r;
}

int schema_validate(const schema *s, const json_t *instance, char *errbuf, size_t errbuf_size)
{
    vctx v = {.errbuf = errbuf, .errbuf_size = errbuf_size, .track_scope = s->track_scope};
    int r;

    if (errbuf != NULL && errbuf_size > 0)
        errbuf[0] = '\0';
    r = validate(&v, s->root, instance, NULL, NULL);
    if (v.md != NULL)
        pcre2_match_data_free(v.md);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Reading instances: a fast path for plain JSON, jansson for everything else.
 *
 * Every event is parsed once to be validated, and jansson's reader (a callback per byte) was
 * most of the cost: 1.2 of 1.4 µs for the seed's envelope. This reader builds the same jansson
 * values in one pass over the buffer, but only for plain text: no backslash escapes, no control
 * characters, numbers it converts exactly as jansson does, nesting up to FAST_MAX_DEPTH. On
 * anything else, errors included, it gives up and jansson reads the text, so values and error
 * messages stay jansson's. tests/fuzz/fuzz_schema.c checks that both readers agree.
 */

#define FAST_MAX_DEPTH 64

typedef struct {
    const char *p, *end;
    int depth;
} fastrd;

static void fast_ws(fastrd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* Length of the UTF-8 sequence at p (a byte >= 0x80), or 0 when jansson would refuse it:
 * overlong forms, surrogates, beyond U+10FFFF, truncated. */
static size_t fast_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], cp;
    size_t n;

    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        n = 2, cp = c & 0x1F;
    else if (c < 0xF0)
        n = 3, cp = c & 0x0F;
    else if (c < 0xF5)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* A string without escapes; r->p is past the opening quote. */
static bool fast_string(fastrd *r, const char **out, size_t *len)
{
    const unsigned char *p = (const unsigned char *)r->p, *end = (const unsigned char *)r->end;
    const unsigned char *start = p;

    while (p < end) {
        unsigned c = *p;
        size_t n;

        if (c == '"') {
            *out = (const char *)start;
            *len = (size_t)(p - start);
            r->p = (const char *)p + 1;
            return true;
        }
        if (c == '\\' || c < 0x20)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        if ((n = fast_utf8(p, end)) == 0)
            return false;
        p += n;
    }
    return false;
}

static bool fast_digit(const fastrd *r, const char *p)
{
    return p < r->end && *p >= '0' && *p <= '9';
}

/* A number by the JSON grammar: an integer of up to 18 digits (jansson's strtoll range
 * without overflow checks), or a real strtod reads whole and finite. Advances r->p only when
 * it returns true. */
static bool fast_number_token(fastrd *r, bool *real, json_int_t *ival, double *dval)
{
    const char *p = r->p, *start = r->p;
    bool neg = false;
    char buf[64], *e;
    size_t len;

    *real = false;
    if (p < r->end && *p == '-')
        neg = true, p++;
    if (!fast_digit(r, p))
        return false;
    if (*p == '0')
        p++;
    else
        while (fast_digit(r, p))
            p++;
    if (p < r->end && *p == '.') {
        if (!fast_digit(r, ++p))
            return false;
        while (fast_digit(r, p))
            p++;
        *real = true;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (!fast_digit(r, p))
            return false;
        while (fast_digit(r, p))
            p++;
        *real = true;
    }
    len = (size_t)(p - start);
    if (!*real) {
        json_int_t v = 0;

        if (len - neg > 18)
            return false;
        for (const char *q = start + neg; q < p; q++)
            v = v * 10 + (*q - '0');
        *ival = neg ? -v : v;
        r->p = p;
        return true;
    }
    if (len >= sizeof buf)
        return false;
    memcpy(buf, start, len);
    buf[len] = '\0';
    errno = 0;
    *dval = strtod(buf, &e);
    if (e != buf + len || ((*dval == HUGE_VAL || *dval == -HUGE_VAL) && errno == ERANGE))
        return false;
    r->p = p;
    return true;
}

static json_t *fast_number(fastrd *r)
{
    bool real;
    json_int_t i;
    double d;

    if (!fast_number_token(r, &real, &i, &d))
        return NULL;
    return real ? json_real(d) : json_integer(i);
}

static json_t *fast_value(fastrd *r);

static json_t *fast_object(fastrd *r)
{
    json_t *obj = json_object(), *v;
    const char *key;
    size_t klen;

    r->p++;
    fast_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return obj;
    }
    for (;;) {
        fast_ws(r);
        if (r->p >= r->end || *r->p != '"')
            goto fail;
        r->p++;
        if (!fast_string(r, &key, &klen))
            goto fail;
        fast_ws(r);
        if (r->p >= r->end || *r->p != ':')
            goto fail;
        r->p++;
        /* A repeated key replaces the earlier value in its place, as jansson's reader does. */
        if ((v = fast_value(r)) == NULL || json_object_setn_new_nocheck(obj, key, klen, v) != 0)
            goto fail;
        fast_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return obj;
        }
        goto fail;
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *fast_array(fastrd *r)
{
    json_t *arr = json_array(), *v;

    r->p++;
    fast_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return arr;
    }
    for (;;) {
        if ((v = fast_value(r)) == NULL || json_array_append_new(arr, v) != 0)
            goto fail;
        fast_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return arr;
        }
        goto fail;
    }
fail:
    json_decref(arr);
    return NULL;
}

static bool fast_literal(fastrd *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static json_t *fast_value(fastrd *r)
{
    json_t *v = NULL;
    const char *str;
    size_t len;

    fast_ws(r);
    if (r->p >= r->end)
        return NULL;
    switch (*r->p) {
    case '{':
    case '[':
        if (++r->depth > FAST_MAX_DEPTH)
            return NULL;
        v = *r->p == '{' ? fast_object(r) : fast_array(r);
        r->depth--;
        return v;
    case '"':
        r->p++;
        return fast_string(r, &str, &len) ? json_stringn_nocheck(str, len) : NULL;
    case 't': return fast_literal(r, "true", 4) ? json_true() : NULL;
    case 'f': return fast_literal(r, "false", 5) ? json_false() : NULL;
    case 'n': return fast_literal(r, "null", 4) ? json_null() : NULL;
    default: return fast_number(r);
    }
}

json_t *schema_parse_instance(const char *json, size_t len, json_error_t *err)
{
    fastrd r = {json, json + len, 0};
    json_t *inst = fast_value(&r);

    if (inst != NULL) {
        fast_ws(&r);
        if (r.p == r.end)
            return inst;
        json_decref(inst);
    }
    inst = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
    /*
     * jansson refuses integers beyond 64 bits; JSON does not. Read them as doubles instead: exact
     * enough for validation, and nothing is re-serialised from this parse.
     */
    if (inst == NULL && json_error_code(err) == json_error_numeric_overflow)
        inst = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                          err);
    return inst;
}

/*
 * Reads the next value of the text into v when they have the same shape: objects with the same
 * keys in the same order, arrays of the same length, scalars of the same JSON type (integer and
 * real apart). False at the first difference, or wherever the fast path would give up; v is
 * then partly updated and must be thrown away.
 */
static bool fast_update(fastrd *r, json_t *v)
{
    const char *str;
    size_t len, n;
    bool real;
    json_int_t i;
    double d;

    fast_ws(r);
    if (r->p >= r->end)
        return false;
    switch (*r->p) {
    case '{': {
        void *it = json_object_iter(v);

        if (!json_is_object(v) || ++r->depth > FAST_MAX_DEPTH)
            return false;
        r->p++;
        fast_ws(r);
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            r->depth--;
            return it == NULL;
        }
        for (;;) {
            fast_ws(r);
            if (r->p >= r->end || *r->p != '"' || it == NULL)
                return false;
            r->p++;
            if (!fast_string(r, &str, &len) || json_object_iter_key_len(it) != len ||
                memcmp(json_object_iter_key(it), str, len) != 0)
                return false;
            fast_ws(r);
            if (r->p >= r->end || *r->p != ':')
                return false;
            r->p++;
            if (!fast_update(r, json_object_iter_value(it)))
                return false;
            it = json_object_iter_next(v, it);
            fast_ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == '}') {
                r->p++;
                r->depth--;
                return it == NULL;
            }
            return false;
        }
    }
    case '[':
        if (!json_is_array(v) || ++r->depth > FAST_MAX_DEPTH)
            return false;
        n = json_array_size(v);
        r->p++;
        fast_ws(r);
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            r->depth--;
            return n == 0;
        }
        for (size_t k = 0;; k++) {
            if (k >= n || !fast_update(r, json_array_get(v, k)))
                return false;
            fast_ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == ']') {
                r->p++;
                r->depth--;
                return k + 1 == n;
            }
            return false;
        }
    case '"':
        r->p++;
        if (!json_is_string(v) || !fast_string(r, &str, &len))
            return false;
        if (json_string_length(v) == len && memcmp(json_string_value(v), str, len) == 0)
            return true;
        return json_string_setn_nocheck(v, str, len) == 0;
    case 't': return json_is_true(v) && fast_literal(r, "true", 4);
    case 'f': return json_is_false(v) && fast_literal(r, "false", 5);
    case 'n': return json_is_null(v) && fast_literal(r, "null", 4);
    default:
        if (!fast_number_token(r, &real, &i, &d))
            return false;
        if (real)
            return json_is_real(v) && json_real_set(v, d) == 0;
        return json_is_integer(v) && json_integer_set(v, i) == 0;
    }
}

struct schema_reader {
    json_t *last; /* the previous value, reused when the next text has its shape */
};

schema_reader *schema_reader_new(void)
{
    return calloc(1, sizeof(schema_reader));
}

void schema_reader_free(schema_reader *rd)
{
    if (rd == NULL)
        return;
    json_decref(rd->last);
    free(rd);
}

json_t *schema_reader_parse(schema_reader *rd, const char *json, size_t len, json_error_t *err)
{
    /*
     * Events of one type mostly share their shape, so the previous value is updated in place:
     * numbers and literals without allocating, strings only when they differ. Building fresh
     * values (about 15 allocations and frees for the seed's envelope) cost more than the rest
     * of validation. A value the caller keeps a reference to is never reused.
     */
    if (rd->last != NULL && rd->last->refcount == 1) {
        fastrd r = {json, json + len, 0};

        if (fast_update(&r, rd->last)) {
            fast_ws(&r);
            if (r.p == r.end)
                return rd->last;
        }
    }
    json_decref(rd->last);
    rd->last = schema_parse_instance(json, len, err);
    return rd->last;
}

int schema_validate_text(const schema *s, const char *json, size_t len, char *errbuf,
                         size_t errbuf_size)
{
    json_error_t jerr;
    json_t *inst = schema_parse_instance(json, len, &jerr);
    int r;

    if (inst == NULL) {
        set_err(errbuf, errbuf_size, "(json):%d:%d: %s", jerr.line, jerr.column, jerr.text);
        return 1;
    }
    r = schema_validate(s, inst, errbuf, errbuf_size);
    json_decref(inst);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Event types from a directory.
 */

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
        set_err(errbuf, errbuf_size, "event type \"%s\" is already loaded", name);
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
    set_err(errbuf, errbuf_size, "out of memory");
    return -1; /* t is in the map now and is freed with it */
oom:
    set_err(errbuf, errbuf_size, "out of memory");
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
        set_err(errbuf, errbuf_size, "%s: cannot open schema directory: %s", dir, strerror(errno));
        return -1;
    }
    if ((absdir = realpath(dir, NULL)) == NULL) {
        set_err(errbuf, errbuf_size, "%s: %s", dir, strerror(errno));
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
        doc = json_load_file(path.s, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL) {
            snprintf(msg, sizeof msg, "%s/%s:%d:%d: %s", dir, names[i], jerr.line, jerr.column,
                     jerr.text);
            free(path.s);
            if (report == NULL || (errs[i] = strdup(msg)) == NULL) {
                set_err(errbuf, errbuf_size, "%s", report == NULL ? msg : "out of memory");
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
                set_err(errbuf, errbuf_size, "%s", report == NULL ? line : "out of memory");
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
                set_err(errbuf, errbuf_size, "%s", report == NULL ? line : "out of memory");
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
    set_err(errbuf, errbuf_size, "%s: out of memory", dir);
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

const schema *schema_registry_get(const schema_registry *reg, const char *name)
{
    const type_entry *t = smap_get(&reg->types, name);

    return t != NULL ? t->s : NULL;
}

const schema *schema_registry_get_version(const schema_registry *reg, const char *type, int version)
{
    char name[256];
    const type_entry *t;

    if (version <= 0)
        return schema_registry_get(reg, type);
    if ((size_t)snprintf(name, sizeof name, "%s.v%d", type, version) >= sizeof name)
        return NULL;
    t = smap_get(&reg->types, name);
    return t != NULL && !t->alias ? t->s : NULL;
}
