/*
 * jsonread.c — reading JSON instances: a fast path for plain JSON, jansson for everything else
 * (see jsonread.h).
 *
 * Every event is parsed once to be validated, and jansson's reader (a callback per byte) was
 * most of the cost: 1.2 of 1.4 µs for the seed's envelope. This reader builds the same jansson
 * values in one pass over the buffer, but only for plain text: no backslash escapes, no control
 * characters, numbers it converts exactly as jansson does, nesting up to FAST_MAX_DEPTH. On
 * anything else, errors included, it gives up and jansson reads the text, so values and error
 * messages stay jansson's. tests/fuzz/fuzz_schema.c checks that both readers agree.
 */
#include "jsonread.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

json_t *jsonread_parse(const char *json, size_t len, json_error_t *err)
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

struct jsonread_reader {
    json_t *last; /* the previous value, reused when the next text has its shape */
};

jsonread_reader *jsonread_new(void)
{
    return calloc(1, sizeof(jsonread_reader));
}

void jsonread_free(jsonread_reader *rd)
{
    if (rd == NULL)
        return;
    json_decref(rd->last);
    free(rd);
}

json_t *jsonread_next(jsonread_reader *rd, const char *json, size_t len, json_error_t *err)
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
    rd->last = jsonread_parse(json, len, err);
    return rd->last;
}
