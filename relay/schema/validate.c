/*
 * validate.c — stage 3 (see schema_int.h): walks compiled nodes and an instance together.
 * schema_validate, schema_validate_text.
 */
#include "schema_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "jsonread.h"

/* Deep enough for any real event; a "$ref" loop that never descends into the instance hits it. */
#define MAX_DEPTH 512

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
    return fail(v, p, "type", "expected %s, got %s", len ? want : "nothing", value_type_name(inst));
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
        h[i].hash = value_hash(json_array_get(inst, i));
        h[i].index = i;
    }
    qsort(h, n, sizeof(*h), cmp_hashed);
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t j = i + 1; j < n && h[j].hash == h[i].hash; j++) {
            if (value_equal(json_array_get(inst, h[i].index), json_array_get(inst, h[j].index))) {
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

        if (n->const_val != NULL && !value_equal(n->const_val, inst)) {
            r = fail(v, p, "const", "expected %s, got %s", dump(n->const_val, a, sizeof a),
                     dump(inst, b, sizeof b));
            goto done;
        }
        if (n->enum_vals != NULL) {
            size_t count = json_array_size(n->enum_vals), i;
            /* Hash first only for long enums: for a few values direct comparison is cheaper. */
            uint64_t h = count > 8 ? value_hash(inst) : 0;

            for (i = 0; i < count; i++)
                if ((count <= 8 || n->enum_hashes[i] == h) &&
                    value_equal(json_array_get(n->enum_vals, i), inst))
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

int schema_validate_text(const schema *s, const char *json, size_t len, char *errbuf,
                         size_t errbuf_size)
{
    json_error_t jerr;
    json_t *inst = jsonread_parse(json, len, &jerr);
    int r;

    if (inst == NULL) {
        errbuf_set(errbuf, errbuf_size, "(json):%d:%d: %s", jerr.line, jerr.column, jerr.text);
        return 1;
    }
    r = schema_validate(s, inst, errbuf, errbuf_size);
    json_decref(inst);
    return r;
}
