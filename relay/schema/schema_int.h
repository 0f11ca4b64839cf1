/*
 * schema_int.h — what the files of the JSON Schema library (relay/schema/) share: the registry
 * and compiled-node types, and the helpers more than one stage uses. The contract is schema.h;
 * nothing here is meant for code outside relay/schema/.
 *
 * Three stages, each with its own data and file:
 *   1. Index (registry.c, schema_registry_add): walk a document once, record every "$id"
 *      resource, "$anchor"/"$dynamicAnchor" and, for every schema object, the resource it belongs
 *      to (its base URI and dialect). Nothing is compiled yet, so documents may arrive in any
 *      order and refer to each other.
 *   2. Compile (compile.c): turn schema objects into `snode`s, each schema object at most once per
 *      registry (the node map doubles as the compile cache). A "$ref" target gets its snode
 *      allocated immediately and filled later from a work list, so reference cycles ("$ref": "#")
 *      end in a pointer to an existing node instead of infinite recursion.
 *   3. Validate (validate.c): walk snodes and the instance together. No schema text is looked at
 *      again: regexes are compiled, "$ref"s are pointers, enum values are pre-hashed.
 * Around them: util.c (strings, maps, JSON value equality and hash), uri.c (RFC 3986 resolution),
 * dir.c (event types from a directory of schema files) and format.c ("format" checkers and the
 * ECMA-262 regex dialect, format.h). Instances are read by ../jsonread.c.
 *
 * Annotations ("unevaluatedProperties"/"unevaluatedItems") are collected only below a node that
 * needs them, in an `evalset` of one flag per property (instance iteration order) or item.
 */
#ifndef RELAY_SCHEMA_INT_H
#define RELAY_SCHEMA_INT_H

#include "schema.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------------
 * Small helpers (util.c): growable strings, bounded error writer, hash maps.
 */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

void sb_putn(strbuf *b, const char *s, size_t n);
void sb_puts(strbuf *b, const char *s);
void sb_putc(strbuf *b, char c);
/* Appends a JSON pointer reference token: '~' → "~0", '/' → "~1" (RFC 6901). */
void sb_put_token(strbuf *b, const char *s, size_t n);
void sb_truncate(strbuf *b, size_t len);
const char *sb_str(const strbuf *b);
/* Hands the string over (never NULL unless out of memory). */
char *sb_take(strbuf *b);

/* Writes one line into errbuf (NULL/0 allowed), as every public function reports errors. */
void errbuf_set(char *errbuf, size_t errbuf_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Inline: the maps and the value hash call it per key and per string. */
static inline uint64_t hash_bytes(const char *s, size_t n, uint64_t h)
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

void *smap_get(const smap *m, const char *key);
/* 0 added, 1 already present (value left alone), -1 out of memory. */
int smap_put(smap *m, const char *key, void *value);
void smap_free(smap *m, void (*free_value)(void *));

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

pentry *pmap_find(const pmap *m, const void *key);
/* The entry for key, created zeroed if new. Valid until the next insert. NULL when OOM. */
pentry *pmap_insert(pmap *m, const json_t *key);

/* JSON values: equality (1 == 1.0, key order irrelevant) and a hash consistent with it. */
bool value_equal(const json_t *a, const json_t *b);
uint64_t value_hash(const json_t *j);
/* The JSON Schema type name of a value ("integer", "number", ...), for messages. */
const char *value_type_name(const json_t *j);

/* ---------------------------------------------------------------------------------------------
 * URIs (uri.c, RFC 3986 section 5): just enough to resolve "$id" and "$ref" against a base.
 */

typedef struct {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    bool has_scheme, has_auth, has_query, has_frag;
} uri_parts;

void uri_split(const char *s, uri_parts *u);
/* base + ref → absolute URI, malloc'd; NULL only when out of memory. */
char *uri_resolve(const char *base, const char *ref);
/* Decodes %XX in place (a fragment is percent-encoded before it is a JSON pointer). */
void uri_percent_decode(char *s);

/* ---------------------------------------------------------------------------------------------
 * The registry (registry.c): documents, resources, the node map, compiled nodes, event types.
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

void snode_init(snode *n);
void snode_free(snode *n);
/* What uri (absolute, no fragment) names, loading a built-in meta-schema on first use. */
uri_target *registry_lookup_uri(schema_registry *reg, const char *uri);

#endif
