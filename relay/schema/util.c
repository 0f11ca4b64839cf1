/*
 * util.c — small helpers of the schema library: growable strings, the bounded error writer,
 * string- and pointer-keyed hash maps, JSON value equality and hash (see schema_int.h).
 */
#include "schema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_putn(strbuf *b, const char *s, size_t n)
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

void sb_puts(strbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

void sb_putc(strbuf *b, char c)
{
    sb_putn(b, &c, 1);
}

/* Appends a JSON pointer reference token: '~' → "~0", '/' → "~1" (RFC 6901). */
void sb_put_token(strbuf *b, const char *s, size_t n)
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

void sb_truncate(strbuf *b, size_t len)
{
    if (b->s != NULL && len <= b->len) {
        b->len = len;
        b->s[len] = '\0';
    }
}

const char *sb_str(const strbuf *b)
{
    return b->s != NULL ? b->s : "";
}

/* Hands the string over (never NULL unless out of memory). */
char *sb_take(strbuf *b)
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

void errbuf_set(char *errbuf, size_t errbuf_size, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errbuf_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errbuf_size, fmt, ap);
    va_end(ap);
}

void *smap_get(const smap *m, const char *key)
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
int smap_put(smap *m, const char *key, void *value)
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

void smap_free(smap *m, void (*free_value)(void *))
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

static size_t ptr_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL);
}

pentry *pmap_find(const pmap *m, const void *key)
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
pentry *pmap_insert(pmap *m, const json_t *key)
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
 * JSON values: equality (1 == 1.0, key order irrelevant) and a hash consistent with it.
 */

bool value_equal(const json_t *a, const json_t *b)
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
            if (!value_equal(json_array_get(a, i), json_array_get(b, i)))
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

            if (vb == NULL || !value_equal(va, vb))
                return false;
        }
        return true;
    }
    default:
        return true; /* true, false, null: same type is same value */
    }
}

uint64_t value_hash(const json_t *j)
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
            h = (h ^ value_hash(json_array_get(j, i))) * 0x100000001b3ULL;
        return h;
    case JSON_OBJECT: {
        const char *key;
        size_t len;
        json_t *v;

        h = 0x27d4eb2d;
        /* A sum, so that key order does not matter. */
        json_object_keylen_foreach((json_t *)j, key, len, v)
        {
            h += hash_bytes(key, len, HASH_SEED) * 31 + value_hash(v);
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

const char *value_type_name(const json_t *j)
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
