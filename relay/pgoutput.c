/*
 * pgoutput.c — decoder of pgoutput protocol version 1 messages (see pgoutput.h).
 *
 * One reader per message type, in the order of the fields on the wire, like
 * logicalrep_read_*() in PostgreSQL's proto.c. Every read goes through a cursor that
 * refuses to step past the end, so truncated input fails where it ends and says so.
 * A message is accepted only when it is consumed exactly: trailing bytes are an error.
 *
 * The relation cache is an array of pointers sorted by oid. Entries are allocated one by
 * one and never move or go away before the decoder does, so a const pgo_relation * stays
 * valid; a new Relation message for a cached oid replaces the entry's strings and columns
 * in place (after the whole message has parsed) and bumps its version.
 */
#include "pgoutput.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pgo_decoder {
    pgo_relation **rels; /* sorted by oid, each owned */
    size_t nrels;
    size_t rels_cap;

    /* Scratch handed out in pgo_msg, reused by the next call. */
    pgo_value *new_vals;
    size_t new_cap;
    pgo_value *old_vals;
    size_t old_cap;
    uint32_t *relids;
    size_t relids_cap;
};

/* A read position in one message. Readers return false, and move nothing, when fewer
 * bytes are left than they need. */
typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor;

static bool read_u8(cursor *c, uint8_t *out)
{
    if (c->left < 1)
        return false;
    *out = c->p[0];
    c->p += 1;
    c->left -= 1;
    return true;
}

static bool read_u16(cursor *c, uint16_t *out)
{
    if (c->left < 2)
        return false;
    *out = (uint16_t)((unsigned)c->p[0] << 8 | c->p[1]);
    c->p += 2;
    c->left -= 2;
    return true;
}

static bool read_u32(cursor *c, uint32_t *out)
{
    if (c->left < 4)
        return false;
    *out = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 |
           (uint32_t)c->p[3];
    c->p += 4;
    c->left -= 4;
    return true;
}

static bool read_u64(cursor *c, uint64_t *out)
{
    uint32_t hi = 0, lo = 0;

    if (!read_u32(c, &hi) || !read_u32(c, &lo))
        return false;
    *out = (uint64_t)hi << 32 | lo;
    return true;
}

/* A NUL-terminated string in the input; *out points into it. */
static bool read_cstring(cursor *c, const char **out)
{
    const uint8_t *nul = memchr(c->p, '\0', c->left);
    size_t n;

    if (nul == NULL)
        return false;
    n = (size_t)(nul - c->p) + 1;
    *out = (const char *)c->p;
    c->p += n;
    c->left -= n;
    return true;
}

static bool read_bytes(cursor *c, size_t n, const uint8_t **out)
{
    if (c->left < n)
        return false;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return true;
}

/* Two's complement reinterpretation without implementation-defined conversions. */
static int64_t as_i64(uint64_t v)
{
    return v <= INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

static int32_t as_i32(uint32_t v)
{
    return v <= INT32_MAX ? (int32_t)v : -(int32_t)(~v) - 1;
}

/* Writes "pgoutput <what>: <detail>" to errbuf; returns -1 for the caller to return. */
static int fail(char *errbuf, size_t errbuf_size, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *errbuf, size_t errbuf_size, const char *what, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (errbuf == NULL || errbuf_size == 0)
        return -1;
    n = snprintf(errbuf, errbuf_size, "pgoutput %s: ", what);
    if (n >= 0 && (size_t)n < errbuf_size) {
        va_start(ap, fmt);
        vsnprintf(errbuf + n, errbuf_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Relation and column names go into error messages: keep those on one line. */
static void printable(char *dst, size_t dst_size, const char *src)
{
    size_t i;

    for (i = 0; src[i] != '\0' && i + 1 < dst_size; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

static char *dup_cstring(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* Returns arr grown (realloc) to hold at least need elements, or NULL when out of memory
 * (arr is then unchanged and still owned by the caller). */
static void *grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 8;
    void *p;

    if (need <= *cap && arr != NULL)
        return arr;
    while (n < need)
        n *= 2;
    p = realloc(arr, n * elem);
    if (p == NULL)
        return NULL;
    *cap = n;
    return p;
}

/* ---- relation cache ---- */

/* Index of oid in dec->rels, or where it would be inserted (with *found false). */
static size_t rel_find(const pgo_decoder *dec, uint32_t oid, bool *found)
{
    size_t lo = 0, hi = dec->nrels;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (dec->rels[mid]->oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < dec->nrels && dec->rels[lo]->oid == oid;
    return lo;
}

static void rel_clear(pgo_relation *rel)
{
    for (int i = 0; i < rel->ncolumns; i++)
        free(rel->columns[i].name);
    free(rel->columns);
    free(rel->nspname);
    free(rel->relname);
    rel->columns = NULL;
    rel->nspname = rel->relname = NULL;
    rel->ncolumns = 0;
}

const pgo_relation *pgo_relation_get(const pgo_decoder *dec, uint32_t oid)
{
    bool found;
    size_t i;

    if (dec == NULL)
        return NULL;
    i = rel_find(dec, oid, &found);
    return found ? dec->rels[i] : NULL;
}

int pgo_relation_column(const pgo_relation *rel, const char *name)
{
    if (rel == NULL || name == NULL)
        return -1;
    for (int i = 0; i < rel->ncolumns; i++) {
        if (strcmp(rel->columns[i].name, name) == 0)
            return i;
    }
    return -1;
}

pgo_decoder *pgo_decoder_new(void)
{
    return calloc(1, sizeof(pgo_decoder));
}

void pgo_decoder_free(pgo_decoder *dec)
{
    if (dec == NULL)
        return;
    for (size_t i = 0; i < dec->nrels; i++) {
        rel_clear(dec->rels[i]);
        free(dec->rels[i]);
    }
    free(dec->rels);
    free(dec->new_vals);
    free(dec->old_vals);
    free(dec->relids);
    free(dec);
}

/* ---- message readers: each starts after the type byte ---- */

#define TRUNC(what, field) fail(errbuf, errbuf_size, what, "truncated in " field)

static int read_begin(cursor *c, pgo_msg *out, char *errbuf, size_t errbuf_size)
{
    uint64_t final_lsn, commit_time;
    uint32_t xid;

    if (!read_u64(c, &final_lsn))
        return TRUNC("Begin", "final_lsn");
    if (!read_u64(c, &commit_time))
        return TRUNC("Begin", "commit_time");
    if (!read_u32(c, &xid))
        return TRUNC("Begin", "xid");
    if (final_lsn == 0)
        return fail(errbuf, errbuf_size, "Begin", "final_lsn is 0/0");
    out->kind = PGO_BEGIN;
    out->u.begin.final_lsn = final_lsn;
    out->u.begin.commit_time = as_i64(commit_time);
    out->u.begin.xid = xid;
    return 0;
}

static int read_commit(cursor *c, pgo_msg *out, char *errbuf, size_t errbuf_size)
{
    uint8_t flags;
    uint64_t commit_lsn, end_lsn, commit_time;

    if (!read_u8(c, &flags))
        return TRUNC("Commit", "flags");
    if (!read_u64(c, &commit_lsn))
        return TRUNC("Commit", "commit_lsn");
    if (!read_u64(c, &end_lsn))
        return TRUNC("Commit", "end_lsn");
    if (!read_u64(c, &commit_time))
        return TRUNC("Commit", "commit_time");
    /* Protocol version 1 defines no commit flags; proto.c rejects any. */
    if (flags != 0)
        return fail(errbuf, errbuf_size, "Commit", "unknown flags 0x%02x (expected 0)", flags);
    out->kind = PGO_COMMIT;
    out->u.commit.flags = flags;
    out->u.commit.commit_lsn = commit_lsn;
    out->u.commit.end_lsn = end_lsn;
    out->u.commit.commit_time = as_i64(commit_time);
    return 0;
}

static int read_origin(cursor *c, pgo_msg *out, char *errbuf, size_t errbuf_size)
{
    uint64_t lsn;
    const char *name;

    if (!read_u64(c, &lsn))
        return TRUNC("Origin", "origin lsn");
    if (!read_cstring(c, &name))
        return TRUNC("Origin", "origin name (no terminating NUL)");
    out->kind = PGO_ORIGIN;
    out->u.origin.lsn = lsn;
    out->u.origin.name = name;
    return 0;
}

static int read_type(cursor *c, pgo_msg *out, char *errbuf, size_t errbuf_size)
{
    uint32_t oid;
    const char *nspname, *typname;

    if (!read_u32(c, &oid))
        return TRUNC("Type", "type oid");
    if (!read_cstring(c, &nspname))
        return TRUNC("Type", "namespace (no terminating NUL)");
    if (!read_cstring(c, &typname))
        return TRUNC("Type", "type name (no terminating NUL)");
    out->kind = PGO_TYPE;
    out->u.type.oid = oid;
    out->u.type.nspname = nspname;
    out->u.type.typname = typname;
    return 0;
}

/*
 * Relation: the message is parsed into a fresh description first and only then stored,
 * so a malformed message leaves the cache as it was.
 */
static int read_relation(pgo_decoder *dec, cursor *c, pgo_msg *out, char *errbuf,
                         size_t errbuf_size)
{
    uint32_t oid;
    const char *nspname, *relname;
    uint8_t replident;
    uint16_t natts;
    pgo_relation fresh = {0};
    pgo_relation *rel;
    bool found;
    size_t pos;
    int rc = -1;

    if (!read_u32(c, &oid))
        return TRUNC("Relation", "relation oid");
    if (!read_cstring(c, &nspname))
        return TRUNC("Relation", "namespace (no terminating NUL)");
    if (!read_cstring(c, &relname))
        return TRUNC("Relation", "relation name (no terminating NUL)");
    if (!read_u8(c, &replident))
        return TRUNC("Relation", "replica identity");
    if (replident != 'd' && replident != 'n' && replident != 'f' && replident != 'i')
        return fail(errbuf, errbuf_size, "Relation",
                    "oid %u: unknown replica identity 0x%02x (expected d, n, f or i)", oid,
                    replident);
    if (!read_u16(c, &natts))
        return TRUNC("Relation", "column count");
    if (natts > INT16_MAX)
        return fail(errbuf, errbuf_size, "Relation", "oid %u: negative column count %d", oid,
                    (int)natts - 65536);

    fresh.nspname = dup_cstring(nspname);
    fresh.relname = dup_cstring(relname);
    fresh.columns = calloc(natts ? natts : 1, sizeof(pgo_column));
    if (fresh.nspname == NULL || fresh.relname == NULL || fresh.columns == NULL) {
        fail(errbuf, errbuf_size, "Relation", "out of memory");
        goto out;
    }
    fresh.ncolumns = natts; /* columns are zeroed: rel_clear can free a partial list */
    for (int i = 0; i < natts; i++) {
        pgo_column *col = &fresh.columns[i];
        const char *name;
        uint8_t flags;
        uint32_t type_oid, type_mod;

        if (!read_u8(c, &flags) || !read_cstring(c, &name) || !read_u32(c, &type_oid) ||
            !read_u32(c, &type_mod)) {
            fail(errbuf, errbuf_size, "Relation", "oid %u: truncated at column %d of %d", oid,
                 i + 1, (int)natts);
            goto out;
        }
        col->name = dup_cstring(name);
        if (col->name == NULL) {
            fail(errbuf, errbuf_size, "Relation", "out of memory");
            goto out;
        }
        col->flags = flags;
        col->type_oid = type_oid;
        col->type_mod = as_i32(type_mod);
    }
    fresh.replident = (char)replident;

    pos = rel_find(dec, oid, &found);
    if (found) {
        rel = dec->rels[pos];
        rel_clear(rel);
        rel->version++;
    } else {
        pgo_relation **rels = grow(dec->rels, &dec->rels_cap, dec->nrels + 1, sizeof(*rels));

        if (rels != NULL)
            dec->rels = rels;
        if (rels == NULL || (rel = calloc(1, sizeof(*rel))) == NULL) {
            fail(errbuf, errbuf_size, "Relation", "out of memory");
            goto out;
        }
        memmove(&dec->rels[pos + 1], &dec->rels[pos], (dec->nrels - pos) * sizeof(*dec->rels));
        dec->rels[pos] = rel;
        dec->nrels++;
        rel->oid = oid;
        rel->version = 1;
    }
    rel->nspname = fresh.nspname;
    rel->relname = fresh.relname;
    rel->replident = fresh.replident;
    rel->ncolumns = fresh.ncolumns;
    rel->columns = fresh.columns;
    fresh = (pgo_relation){0}; /* now owned by the cache */

    out->kind = PGO_RELATION;
    out->u.relation.rel = rel;
    rc = 0;
out:
    rel_clear(&fresh);
    return rc;
}

/* The cached relation a change refers to; a change before its Relation is an error. */
static const pgo_relation *change_relation(pgo_decoder *dec, cursor *c, const char *what,
                                           char *errbuf, size_t errbuf_size)
{
    uint32_t oid;
    const pgo_relation *rel;

    if (!read_u32(c, &oid)) {
        TRUNC(what, "relation oid");
        return NULL;
    }
    rel = pgo_relation_get(dec, oid);
    if (rel == NULL)
        fail(errbuf, errbuf_size, what,
             "relation oid %u was not described by a Relation message first", oid);
    return rel;
}

/*
 * TupleData: Int16 column count, then per column a kind byte and, for 't' and 'b', an
 * Int32 length and that many bytes. The count must match the relation: pgoutput sends
 * the same columns in a tuple as in the Relation message that described it.
 */
static int read_tuple(pgo_decoder *dec, cursor *c, const pgo_relation *rel, bool old,
                      const char *what, int *nout, const pgo_value **vout, char *errbuf,
                      size_t errbuf_size)
{
    const char *which = old ? "old tuple" : "new tuple";
    pgo_value **vals = old ? &dec->old_vals : &dec->new_vals;
    size_t *cap = old ? &dec->old_cap : &dec->new_cap;
    uint16_t raw;
    int ncols;
    char name[64];
    pgo_value *grown;

    if (!read_u16(c, &raw))
        return fail(errbuf, errbuf_size, what, "%s truncated in column count", which);
    if (raw > INT16_MAX)
        return fail(errbuf, errbuf_size, what, "%s has negative column count %d", which,
                    (int)raw - 65536);
    ncols = raw;
    if (ncols != rel->ncolumns) {
        printable(name, sizeof name, rel->relname);
        return fail(errbuf, errbuf_size, what,
                    "%s has %d columns but relation %s (oid %u) has %d", which, ncols, name,
                    rel->oid, rel->ncolumns);
    }
    grown = grow(*vals, cap, (size_t)ncols, sizeof(pgo_value));
    if (grown == NULL)
        return fail(errbuf, errbuf_size, what, "out of memory");
    *vals = grown;

    for (int i = 0; i < ncols; i++) {
        pgo_value *v = &(*vals)[i];
        uint8_t kind;
        uint32_t len;
        const uint8_t *data;

        if (!read_u8(c, &kind))
            return fail(errbuf, errbuf_size, what, "%s truncated at column %d of %d", which,
                        i + 1, ncols);
        v->kind = (char)kind;
        v->data = NULL;
        v->len = 0;
        switch (kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b':
            if (!read_u32(c, &len))
                return fail(errbuf, errbuf_size, what, "%s truncated at column %d of %d",
                            which, i + 1, ncols);
            if (len > INT32_MAX)
                return fail(errbuf, errbuf_size, what,
                            "%s has negative length %d at column %d of %d", which, as_i32(len),
                            i + 1, ncols);
            if (!read_bytes(c, len, &data))
                return fail(errbuf, errbuf_size, what,
                            "%s truncated at column %d of %d (%u value bytes, %zu left)", which,
                            i + 1, ncols, len, c->left);
            v->data = (const char *)data;
            v->len = len;
            break;
        default:
            return fail(errbuf, errbuf_size, what,
                        "%s has unknown column kind 0x%02x at column %d of %d (expected n, u, "
                        "t or b)",
                        which, kind, i + 1, ncols);
        }
    }
    *nout = ncols;
    *vout = *vals;
    return 0;
}

static void change_init(pgo_msg *out, pgo_kind kind, const pgo_relation *rel)
{
    out->kind = kind;
    out->u.change.rel = rel;
    out->u.change.nnew = 0;
    out->u.change.new_tuple = NULL;
    out->u.change.old_kind = 0;
    out->u.change.nold = 0;
    out->u.change.old_tuple = NULL;
}

static int read_insert(pgo_decoder *dec, cursor *c, pgo_msg *out, char *errbuf,
                       size_t errbuf_size)
{
    const pgo_relation *rel = change_relation(dec, c, "Insert", errbuf, errbuf_size);
    uint8_t action;

    if (rel == NULL)
        return -1;
    if (!read_u8(c, &action))
        return TRUNC("Insert", "tuple action");
    if (action != 'N')
        return fail(errbuf, errbuf_size, "Insert", "unknown tuple action 0x%02x (expected N)",
                    action);
    change_init(out, PGO_INSERT, rel);
    return read_tuple(dec, c, rel, false, "Insert", &out->u.change.nnew,
                      &out->u.change.new_tuple, errbuf, errbuf_size);
}

static int read_update(pgo_decoder *dec, cursor *c, pgo_msg *out, char *errbuf,
                       size_t errbuf_size)
{
    const pgo_relation *rel = change_relation(dec, c, "Update", errbuf, errbuf_size);
    uint8_t action;

    if (rel == NULL)
        return -1;
    if (!read_u8(c, &action))
        return TRUNC("Update", "tuple action");
    if (action != 'K' && action != 'O' && action != 'N')
        return fail(errbuf, errbuf_size, "Update",
                    "unknown tuple action 0x%02x (expected K, O or N)", action);
    change_init(out, PGO_UPDATE, rel);
    if (action != 'N') {
        out->u.change.old_kind = (char)action;
        if (read_tuple(dec, c, rel, true, "Update", &out->u.change.nold,
                       &out->u.change.old_tuple, errbuf, errbuf_size) < 0)
            return -1;
        if (!read_u8(c, &action))
            return TRUNC("Update", "new tuple action");
        if (action != 'N')
            return fail(errbuf, errbuf_size, "Update",
                        "unknown tuple action 0x%02x after old tuple (expected N)", action);
    }
    return read_tuple(dec, c, rel, false, "Update", &out->u.change.nnew,
                      &out->u.change.new_tuple, errbuf, errbuf_size);
}

static int read_delete(pgo_decoder *dec, cursor *c, pgo_msg *out, char *errbuf,
                       size_t errbuf_size)
{
    const pgo_relation *rel = change_relation(dec, c, "Delete", errbuf, errbuf_size);
    uint8_t action;

    if (rel == NULL)
        return -1;
    if (!read_u8(c, &action))
        return TRUNC("Delete", "tuple action");
    if (action != 'K' && action != 'O')
        return fail(errbuf, errbuf_size, "Delete",
                    "unknown tuple action 0x%02x (expected K or O)", action);
    change_init(out, PGO_DELETE, rel);
    out->u.change.old_kind = (char)action;
    return read_tuple(dec, c, rel, true, "Delete", &out->u.change.nold,
                      &out->u.change.old_tuple, errbuf, errbuf_size);
}

static int read_truncate(pgo_decoder *dec, cursor *c, pgo_msg *out, char *errbuf,
                         size_t errbuf_size)
{
    uint32_t nrelations;
    uint8_t options;
    uint32_t *relids;

    if (!read_u32(c, &nrelations))
        return TRUNC("Truncate", "relation count");
    if (!read_u8(c, &options))
        return TRUNC("Truncate", "options");
    if (nrelations > INT32_MAX)
        return fail(errbuf, errbuf_size, "Truncate", "negative relation count %d",
                    as_i32(nrelations));
    /* Check the length before sizing scratch by a count that came off the wire. */
    if (c->left / 4 < nrelations)
        return fail(errbuf, errbuf_size, "Truncate",
                    "truncated in relation oids (%u announced, room for %zu)", nrelations,
                    c->left / 4);
    relids = grow(dec->relids, &dec->relids_cap, nrelations, sizeof(uint32_t));
    if (relids == NULL)
        return fail(errbuf, errbuf_size, "Truncate", "out of memory");
    dec->relids = relids;
    for (uint32_t i = 0; i < nrelations; i++) {
        read_u32(c, &dec->relids[i]);
        /* pgoutput sends a Relation message for each table before truncating it. */
        if (pgo_relation_get(dec, dec->relids[i]) == NULL)
            return fail(errbuf, errbuf_size, "Truncate",
                        "relation oid %u was not described by a Relation message first",
                        dec->relids[i]);
    }
    out->kind = PGO_TRUNCATE;
    out->u.truncate.nrelations = nrelations;
    out->u.truncate.options = options;
    out->u.truncate.relids = dec->relids;
    return 0;
}

static int read_message(cursor *c, pgo_msg *out, char *errbuf, size_t errbuf_size)
{
    uint8_t flags;
    uint64_t lsn;
    const char *prefix;
    uint32_t len;
    const uint8_t *content;

    if (!read_u8(c, &flags))
        return TRUNC("Message", "flags");
    if (!read_u64(c, &lsn))
        return TRUNC("Message", "lsn");
    if (!read_cstring(c, &prefix))
        return TRUNC("Message", "prefix (no terminating NUL)");
    if (!read_u32(c, &len))
        return TRUNC("Message", "content length");
    if (len > INT32_MAX)
        return fail(errbuf, errbuf_size, "Message", "negative content length %d", as_i32(len));
    if (!read_bytes(c, len, &content))
        return fail(errbuf, errbuf_size, "Message",
                    "truncated in content (%u bytes announced, %zu left)", len, c->left);
    out->kind = PGO_MESSAGE;
    out->u.message.flags = flags;
    out->u.message.lsn = lsn;
    out->u.message.prefix = prefix;
    out->u.message.content = (const char *)content;
    out->u.message.content_len = len;
    return 0;
}

static const char *type_name(uint8_t type)
{
    switch (type) {
    case 'B':
        return "Begin";
    case 'C':
        return "Commit";
    case 'O':
        return "Origin";
    case 'R':
        return "Relation";
    case 'Y':
        return "Type";
    case 'I':
        return "Insert";
    case 'U':
        return "Update";
    case 'D':
        return "Delete";
    case 'T':
        return "Truncate";
    case 'M':
        return "Message";
    default:
        return NULL;
    }
}

int pgo_decode(pgo_decoder *dec, const uint8_t *buf, size_t len, pgo_msg *out, char *errbuf,
               size_t errbuf_size)
{
    cursor c = {buf, len};
    uint8_t type;
    int rc;

    if (errbuf != NULL && errbuf_size > 0)
        errbuf[0] = '\0';
    if (buf == NULL || !read_u8(&c, &type))
        return fail(errbuf, errbuf_size, "message", "empty (no type byte)");

    switch (type) {
    case 'B':
        rc = read_begin(&c, out, errbuf, errbuf_size);
        break;
    case 'C':
        rc = read_commit(&c, out, errbuf, errbuf_size);
        break;
    case 'O':
        rc = read_origin(&c, out, errbuf, errbuf_size);
        break;
    case 'R':
        rc = read_relation(dec, &c, out, errbuf, errbuf_size);
        break;
    case 'Y':
        rc = read_type(&c, out, errbuf, errbuf_size);
        break;
    case 'I':
        rc = read_insert(dec, &c, out, errbuf, errbuf_size);
        break;
    case 'U':
        rc = read_update(dec, &c, out, errbuf, errbuf_size);
        break;
    case 'D':
        rc = read_delete(dec, &c, out, errbuf, errbuf_size);
        break;
    case 'T':
        rc = read_truncate(dec, &c, out, errbuf, errbuf_size);
        break;
    case 'M':
        rc = read_message(&c, out, errbuf, errbuf_size);
        break;
    default:
        /* Streaming (S, E, c, A) and two-phase (b, P, K, r) messages need protocol
         * version 2 or 3 and options this client never sets. */
        if (type >= 0x20 && type < 0x7f)
            return fail(errbuf, errbuf_size, "message",
                        "unknown type '%c' (0x%02x) in protocol version 1", type, type);
        return fail(errbuf, errbuf_size, "message",
                    "unknown type 0x%02x in protocol version 1", type);
    }
    if (rc < 0)
        return -1;
    if (c.left != 0)
        return fail(errbuf, errbuf_size, type_name(type),
                    "%zu trailing bytes after a complete message of %zu bytes", c.left,
                    len - c.left);
    return 0;
}
