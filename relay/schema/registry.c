/*
 * registry.c — stage 1 (see schema_int.h): the registry's documents, resources, anchors and URI
 * map, filled by schema_registry_add; and the built-in meta-schemas, added on first "$ref".
 */
#include "schema_int.h"

#include <stdlib.h>
#include <string.h>

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

void snode_free(snode *n)
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

void snode_init(snode *n)
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
    snode_init(&reg->true_node);
    snode_init(&reg->false_node);
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
        snode_free(n);
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
        errbuf_set(errbuf, errbuf_size, "duplicate schema URI \"%s\"", uri);
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
    errbuf_set(errbuf, errbuf_size, "out of memory");
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
    errbuf_set(errbuf, errbuf_size, "out of memory");
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
        errbuf_set(errbuf, errbuf_size, "%s: a schema must be an object or a boolean",
                   uri != NULL ? uri : "(schema)");
        return -1;
    }
    if (uri == NULL) {
        uri_parts u;

        if (json_is_string(id))
            uri_split(json_string_value(id), &u);
        if (!json_is_string(id) || !u.has_scheme) {
            errbuf_set(errbuf, errbuf_size, "schema has no absolute \"$id\"; give it a URI");
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
        errbuf_set(errbuf, errbuf_size, "duplicate schema URI \"%s\"", abs);
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
    errbuf_set(errbuf, errbuf_size, "out of memory");
out:
    free(abs);
    return rc;
}

/* What uri (absolute, no fragment) names, loading a built-in meta-schema on first use. */
uri_target *registry_lookup_uri(schema_registry *reg, const char *uri)
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
