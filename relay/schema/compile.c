/*
 * compile.c — stage 2 (see schema_int.h): schema objects to compiled `snode`s, with regexes
 * compiled, "$ref"s resolved to nodes and enum values hashed, so validation never reads schema
 * text again. schema_compile, schema_compile_uri.
 */
#include "schema_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

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

static snode *node_new(schema_registry *reg, const json_t *src, resource *res)
{
    snode *n = malloc(sizeof(*n));

    if (n == NULL)
        return NULL;
    snode_init(n);
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
        cerr(c, "a schema must be an object or a boolean, got %s", value_type_name(node));
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
        cerr(c, "reference target %s is a %s, not a schema", loc, value_type_name(node));
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
        uri_percent_decode(frag);
    } else {
        frag = abs + strlen(abs);
    }
    if ((t = registry_lookup_uri(c->reg, abs)) == NULL) {
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

        cerr(c, "must be a non-negative integer, got %s", value_type_name(v));
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

        cerr(c, "must be a number, got %s%s", value_type_name(v),
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
        cerr(c, "must be a type name or an array of them, got %s", value_type_name(v));
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
        cerr(c, "must be an object, got %s", value_type_name(v));
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
        cerr(c, "must be an object, got %s", value_type_name(v));
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
        cerr(c, "must be an object, got %s", value_type_name(v));
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
            cerr(c, "must be an array of property names, got %s", value_type_name(item));
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
        cerr(c, "must be an object, got %s", value_type_name(v));
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
            cerr(c, "must be a string, got %s", value_type_name(v));
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
            cerr(c, "must be a string, got %s", value_type_name(v));
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
            cerr(c, "must be an array, got %s", value_type_name(v));
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
            n->enum_hashes[i] = value_hash(json_array_get(v, i));
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
            cerr(c, "must be a string, got %s", value_type_name(v));
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
            cerr(c, "must be a string, got %s", value_type_name(v));
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
            cerr(c, "must be a boolean, got %s", value_type_name(v));
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
        snode_free(n);
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
        errbuf_set(errbuf, errbuf_size, "out of memory");
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
            errbuf_set(errbuf, errbuf_size, "out of memory");
            return NULL;
        }
        s->root = json_is_true(doc) ? &reg->true_node : &reg->false_node;
        s->draft = reg->default_draft;
        s->track_scope = false;
        return s;
    }
    if (!json_is_object(doc)) {
        errbuf_set(errbuf, errbuf_size, "(root): a schema must be an object or a boolean, got %s",
                   value_type_name(doc));
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
        errbuf_set(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    if ((frag = strchr(abs, '#')) != NULL) {
        *frag++ = '\0';
        uri_percent_decode(frag);
    }
    if ((t = registry_lookup_uri(reg, abs)) == NULL) {
        errbuf_set(errbuf, errbuf_size, "no schema \"%s\" in the registry", abs);
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
        errbuf_set(errbuf, errbuf_size, "no \"#%s\" in %s", frag, abs);
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
