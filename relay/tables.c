#include "tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES (CONFIG_NAME_SIZE - 1) /* Postgres's NAMEDATALEN - 1 */

struct tables_set {
    tables_name *entries; /* as configured; schema TABLES_ANY_SCHEMA for a pattern */
    int nentries;
    tables_name *known; /* the outbox tables: named entries first, then what patterns found */
    int nknown, cap_known;
    int nnamed;       /* known[0..nnamed) are the named entries */
    struct decided {
        uint64_t shape; /* oid << 32 | version of a TABLES_PATTERN relation */
        bool fits;
    } *decided;
    int ndecided, cap_decided;
};

static bool is_pattern(const tables_name *e)
{
    return strcmp(e->schema, TABLES_ANY_SCHEMA) == 0;
}

/* The entry of len bytes at s, spaces around it dropped, into out; false with why. */
static bool parse_entry(const char *s, size_t len, tables_name *out, char *why, size_t why_size)
{
    const char *dot, *name;
    size_t slen;

    while (len > 0 && *s == ' ')
        s++, len--;
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len == 0) {
        snprintf(why, why_size, "an empty entry");
        return false;
    }
    dot = memchr(s, '.', len);
    if (dot != NULL && memchr(dot + 1, '.', len - (size_t)(dot + 1 - s)) != NULL) {
        snprintf(why, why_size, "more than one '.'");
        return false;
    }
    name = dot ? dot + 1 : s;
    slen = dot ? (size_t)(dot - s) : 0;
    if ((dot && (slen == 0 || slen > NAME_MAX_BYTES)) || len - (size_t)(name - s) == 0 ||
        len - (size_t)(name - s) > NAME_MAX_BYTES) {
        snprintf(why, why_size, "a part empty or longer than 63 bytes");
        return false;
    }
    if (memchr(name, '*', len - (size_t)(name - s)) != NULL ||
        (dot && memchr(s, '*', slen) != NULL && !(slen == 1 && *s == '*'))) {
        snprintf(why, why_size, "'*' stands only for the whole schema, as in \"*.outbox\"");
        return false;
    }
    snprintf(out->schema, sizeof out->schema, "%.*s", dot ? (int)slen : 6, dot ? s : "public");
    snprintf(out->name, sizeof out->name, "%.*s", (int)(len - (size_t)(name - s)), name);
    return true;
}

/* Calls parse_entry on each comma-separated entry; out (may be NULL) gets entry i. */
static int each_entry(const char *spec, tables_name *out, char *why, size_t why_size)
{
    int n = 0;
    tables_name scratch;

    for (const char *p = spec;; n++) {
        size_t len = strcspn(p, ",");
        if (!parse_entry(p, len, out ? &out[n] : &scratch, why, why_size))
            return -1;
        if (p[len] == '\0')
            return n + 1;
        p += len + 1;
    }
}

bool tables_parse_name(const char *text, tables_name *out, char *why, size_t why_size)
{
    if (strchr(text, ',') != NULL) {
        snprintf(why, why_size, "a list");
        return false;
    }
    if (!parse_entry(text, strlen(text), out, why, why_size))
        return false;
    if (is_pattern(out)) {
        snprintf(why, why_size, "a pattern");
        return false;
    }
    return true;
}

bool tables_spec_valid(const char *spec, char *why, size_t why_size)
{
    return each_entry(spec, NULL, why, why_size) > 0;
}

static int add_known(tables_set *t, const char *schema, const char *name);

static bool same(const tables_name *a, const char *schema, const char *name)
{
    return strcmp(a->name, name) == 0 && strcmp(a->schema, schema) == 0;
}

static int find_known(const tables_set *t, const char *schema, const char *name)
{
    for (int i = 0; i < t->nknown; i++)
        if (same(&t->known[i], schema, name))
            return i;
    return -1;
}

tables_set *tables_new(const char *spec)
{
    tables_set *t = calloc(1, sizeof(*t));
    char why[96];
    int n = each_entry(spec, NULL, why, sizeof why);

    if (t == NULL || n <= 0)
        goto fail;
    t->entries = calloc((size_t)n, sizeof(*t->entries));
    if (t->entries == NULL || each_entry(spec, t->entries, why, sizeof why) != n)
        goto fail;
    t->nentries = n;
    for (int i = 0; i < n; i++)
        if (!is_pattern(&t->entries[i]) &&
            add_known(t, t->entries[i].schema, t->entries[i].name) != 0)
            goto fail;
    t->nnamed = t->nknown;
    return t;
fail:
    tables_free(t);
    return NULL;
}

void tables_free(tables_set *t)
{
    if (t == NULL)
        return;
    free(t->entries);
    free(t->known);
    free(t->decided);
    free(t);
}

bool tables_has_pattern(const tables_set *t)
{
    for (int i = 0; i < t->nentries; i++)
        if (is_pattern(&t->entries[i]))
            return true;
    return false;
}

int tables_count(const tables_set *t)
{
    return t->nknown;
}

const tables_name *tables_get(const tables_set *t, int i)
{
    return i >= 0 && i < t->nknown ? &t->known[i] : NULL;
}

void tables_reset(tables_set *t)
{
    t->nknown = t->nnamed;
}

/* Whether a pattern entry matches schema.name. */
static bool pattern_matches(const tables_set *t, const char *name)
{
    for (int i = 0; i < t->nentries; i++)
        if (is_pattern(&t->entries[i]) && strcmp(t->entries[i].name, name) == 0)
            return true;
    return false;
}

tables_kind tables_match(const tables_set *t, const char *schema, const char *name)
{
    for (int i = 0; i < t->nnamed; i++)
        if (same(&t->known[i], schema, name))
            return TABLES_OUTBOX;
    return pattern_matches(t, name) ? TABLES_PATTERN : TABLES_OTHER;
}

bool tables_known(const tables_set *t, const char *schema, const char *name)
{
    return find_known(t, schema, name) >= 0;
}

/* Appends schema.name to the known tables, unless it is there. 0, or -1 out of memory. */
static int add_known(tables_set *t, const char *schema, const char *name)
{
    if (find_known(t, schema, name) >= 0)
        return 0;
    if (t->nknown == t->cap_known) {
        int cap = t->cap_known ? t->cap_known * 2 : 4;
        tables_name *grown = realloc(t->known, (size_t)cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        t->known = grown;
        t->cap_known = cap;
    }
    snprintf(t->known[t->nknown].schema, CONFIG_NAME_SIZE, "%s", schema);
    snprintf(t->known[t->nknown].name, CONFIG_NAME_SIZE, "%s", name);
    t->nknown++;
    return 0;
}

int tables_offer(tables_set *t, const char *schema, const char *name)
{
    if (find_known(t, schema, name) >= 0)
        return 1;
    if (!pattern_matches(t, name))
        return 0;
    return add_known(t, schema, name) == 0 ? 1 : -1;
}

int tables_check_patterns(const tables_set *t, const char *publication, char *errbuf,
                          size_t errbuf_size)
{
    for (int i = 0; i < t->nentries; i++) {
        const tables_name *e = &t->entries[i];
        bool found = false;

        if (!is_pattern(e))
            continue;
        for (int k = 0; k < t->nknown && !found; k++)
            found = strcmp(t->known[k].name, e->name) == 0;
        if (!found) {
            snprintf(errbuf, errbuf_size,
                     "outbox.table \"*.%s\" matches no table of publication \"%s\": run ALTER "
                     "PUBLICATION %s ADD TABLE <schema>.%s; for each outbox table (or CREATE "
                     "PUBLICATION if it does not exist, see sql/)",
                     e->name, publication, publication, e->name);
            return -1;
        }
    }
    return 0;
}

int tables_fits(const tables_set *t, uint64_t shape)
{
    for (int i = 0; i < t->ndecided; i++)
        if (t->decided[i].shape == shape)
            return t->decided[i].fits;
    return -1;
}

bool tables_remember(tables_set *t, uint64_t shape, bool fits)
{
    if (t->ndecided == t->cap_decided) {
        int cap = t->cap_decided ? t->cap_decided * 2 : 4;
        struct decided *grown = realloc(t->decided, (size_t)cap * sizeof(*grown));
        if (grown == NULL)
            return false;
        t->decided = grown;
        t->cap_decided = cap;
    }
    t->decided[t->ndecided++] = (struct decided){shape, fits};
    return true;
}

const char *tables_format(const tables_name *n, char *buf, size_t size)
{
    snprintf(buf, size, "%s.%s", n->schema, n->name);
    return buf;
}

const char *tables_list(const tables_set *t, char *buf, size_t size)
{
    size_t n = 0;
    char one[2 * CONFIG_NAME_SIZE + 1];

    buf[0] = '\0';
    for (int i = 0; i < t->nknown; i++) {
        tables_format(&t->known[i], one, sizeof one);
        if (n + strlen(one) + 6 >= size) {
            snprintf(buf + n, size - n, "%s...", n ? ", " : "");
            break;
        }
        n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", one);
    }
    return buf;
}

int tables_choose(const tables_set *t, const char *arg, tables_name *out, char *errbuf,
                  size_t errbuf_size)
{
    char list[512], why[96];
    tables_name want;
    int i;

    if (arg == NULL) {
        if (t->nknown == 1) {
            *out = t->known[0];
            return 0;
        }
        snprintf(errbuf, errbuf_size,
                 "outbox.table names %d tables (%s): choose one with --table SCHEMA.NAME",
                 t->nknown, tables_list(t, list, sizeof list));
        return -1;
    }
    if (!tables_parse_name(arg, &want, why, sizeof why)) {
        snprintf(errbuf, errbuf_size, "--table \"%s\": %s; expected one table, SCHEMA.NAME (one of %s)",
                 arg, why, tables_list(t, list, sizeof list));
        return -1;
    }
    if ((i = find_known(t, want.schema, want.name)) < 0) {
        snprintf(errbuf, errbuf_size, "--table %s.%s is not an outbox table of this relay (%s)",
                 want.schema, want.name, tables_list(t, list, sizeof list));
        return -1;
    }
    *out = t->known[i];
    return 0;
}
