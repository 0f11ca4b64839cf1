/*
 * check_pgoutput.c — the pgoutput decoder against messages captured from a real
 * PostgreSQL 15 (tests/unit/fixtures/pgoutput.txt, made by capture-pgoutput.sh), and from
 * the other majors (pgoutput-<major>.txt, with PGOUTPUT_FIXTURE).
 *
 * The fixture is one decoding session in stream order. A test that needs a message
 * decodes the stream from the start up to it with a fresh decoder, as a walsender
 * client would, so the relation cache holds what the server had described by then.
 * LSNs, xids and oids change whenever the fixture is regenerated: assertions compare
 * fields with each other, never with literal positions.
 */
#include "pgoutput.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RELAY_SOURCE_DIR
#error "RELAY_SOURCE_DIR must name the source tree (the build sets it)"
#endif

#define OID_INT8 20
#define OID_TEXT 25
#define OID_INT4 23
#define OID_JSONB 3802
#define OID_TIMESTAMPTZ 1184

typedef struct fixture_msg {
    char label[64];
    uint8_t *bytes;
    size_t len;
} fixture_msg;

typedef struct fixture {
    fixture_msg *msgs;
    size_t n;
} fixture;

/* Loaded before and freed after each test (Check checked fixture). */
static fixture *fx;

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0, got;

    ck_assert_msg(f != NULL, "%s: cannot open (run from a configured source tree)", path);
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            text = realloc(text, cap + 1);
            ck_assert_ptr_nonnull(text);
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    ck_assert_msg(!ferror(f), "%s: read error", path);
    fclose(f);
    text[len] = '\0';
    return text;
}

/* Parses "<label> <hex>" lines; '#' lines and blank lines are comments. */
static fixture *fixture_load(const char *path)
{
    char *text = read_file(path);
    fixture *f = calloc(1, sizeof(*f));
    size_t cap = 0;
    int lineno = 0;

    ck_assert_ptr_nonnull(f);
    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        char *sp, *hex;
        size_t hexlen;
        fixture_msg *m;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        sp = strchr(line, ' ');
        ck_assert_msg(sp != NULL, "%s:%d: expected '<label> <hex>'", path, lineno);
        *sp = '\0';
        hex = sp + 1;
        hexlen = strlen(hex);
        ck_assert_msg(hexlen > 0 && hexlen % 2 == 0, "%s:%d: odd or empty hex", path, lineno);
        ck_assert_msg(strlen(line) < sizeof(m->label), "%s:%d: label too long", path, lineno);
        if (f->n == cap) {
            cap = cap ? cap * 2 : 64;
            f->msgs = realloc(f->msgs, cap * sizeof(*f->msgs));
            ck_assert_ptr_nonnull(f->msgs);
        }
        m = &f->msgs[f->n++];
        strcpy(m->label, line);
        m->len = hexlen / 2;
        m->bytes = malloc(m->len);
        ck_assert_ptr_nonnull(m->bytes);
        for (size_t i = 0; i < m->len; i++) {
            int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

            ck_assert_msg(hi >= 0 && lo >= 0, "%s:%d: bad hex digit", path, lineno);
            m->bytes[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    free(text);
    ck_assert_msg(f->n > 0, "%s: no messages", path);
    return f;
}

static void fixture_free(fixture *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->msgs[i].bytes);
    free(f->msgs);
    free(f);
}

/* PGOUTPUT_FIXTURE names another capture (fixtures/pgoutput-<major>.txt): ctest runs this
 * suite once per Postgres major captured. */
static void setup(void)
{
    const char *other = getenv("PGOUTPUT_FIXTURE");
    char path[1024];

    snprintf(path, sizeof path, "%s/tests/unit/fixtures/%s", RELAY_SOURCE_DIR,
             other != NULL && other[0] != '\0' ? other : "pgoutput.txt");
    fx = fixture_load(path);
}

static void teardown(void)
{
    fixture_free(fx);
    fx = NULL;
}

static size_t index_of(const char *label)
{
    for (size_t i = 0; i < fx->n; i++) {
        if (strcmp(fx->msgs[i].label, label) == 0)
            return i;
    }
    ck_abort_msg("fixture has no message labelled %s (regenerate with capture-pgoutput.sh?)",
                 label);
    return 0;
}

/* Decodes fixture messages [from, to) with dec; each must succeed. */
static void decode_range(pgo_decoder *dec, size_t from, size_t to)
{
    char err[256];
    pgo_msg msg;

    for (size_t i = from; i < to; i++) {
        int rc = pgo_decode(dec, fx->msgs[i].bytes, fx->msgs[i].len, &msg, err, sizeof err);

        ck_assert_msg(rc == 0, "%s: %s", fx->msgs[i].label, err);
    }
}

/* Decodes the stream from the start through label into *msg. */
static void decode_through(pgo_decoder *dec, const char *label, pgo_msg *msg)
{
    size_t i = index_of(label);
    char err[256];

    decode_range(dec, 0, i);
    ck_assert_msg(pgo_decode(dec, fx->msgs[i].bytes, fx->msgs[i].len, msg, err, sizeof err) == 0,
                  "%s: %s", label, err);
}

/* Decodes the messages after prev up to label; the message labelled label into *msg. */
static void decode_after(pgo_decoder *dec, const char *prev, const char *label, pgo_msg *msg)
{
    size_t i = index_of(label);
    char err[256];

    decode_range(dec, index_of(prev) + 1, i);
    ck_assert_msg(pgo_decode(dec, fx->msgs[i].bytes, fx->msgs[i].len, msg, err, sizeof err) == 0,
                  "%s: %s", label, err);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Index of a column that must exist (a -1 would index before the tuple). */
static int col(const pgo_relation *rel, const char *name)
{
    int i = pgo_relation_column(rel, name);

    ck_assert_msg(i >= 0, "relation %s has no column %s", rel->relname, name);
    return i;
}

/* The message kind a fixture label names: "<step>.<type>[N]". */
static pgo_kind label_kind(const char *label)
{
    static const struct {
        const char *name;
        pgo_kind kind;
    } kinds[] = {
        {"begin", PGO_BEGIN},       {"commit", PGO_COMMIT}, {"origin", PGO_ORIGIN},
        {"relation", PGO_RELATION}, {"type", PGO_TYPE},     {"insert", PGO_INSERT},
        {"update", PGO_UPDATE},     {"delete", PGO_DELETE}, {"truncate", PGO_TRUNCATE},
        {"message", PGO_MESSAGE},
    };
    const char *dot = strchr(label, '.');
    size_t n;

    ck_assert_ptr_nonnull(dot);
    dot++;
    n = strcspn(dot, "0123456789");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strlen(kinds[i].name) == n && strncmp(dot, kinds[i].name, n) == 0)
            return kinds[i].kind;
    }
    ck_abort_msg("label %s names no message type", label);
    return PGO_BEGIN;
}

#define ck_assert_value_text(v, text)                                                          \
    do {                                                                                       \
        const pgo_value *v_ = (v);                                                             \
        const char *t_ = (text);                                                               \
        ck_assert_int_eq(v_->kind, 't');                                                       \
        ck_assert_ptr_nonnull(v_->data);                                                       \
        ck_assert_msg(v_->len == strlen(t_) && memcmp(v_->data, t_, v_->len) == 0,             \
                      "value is '%.*s', expected '%s'", (int)v_->len, v_->data, t_);           \
    } while (0)

#define ck_assert_value_null(v)                                                                \
    do {                                                                                       \
        ck_assert_int_eq((v)->kind, 'n');                                                      \
        ck_assert_ptr_null((v)->data);                                                         \
        ck_assert_uint_eq((v)->len, 0);                                                        \
    } while (0)

/* ---- the captured stream, decoded as a whole ---- */

START_TEST(stream_decodes_in_order)
{
    pgo_decoder *dec = pgo_decoder_new();
    relay_lsn final_lsn = 0, last_end = 0;
    int64_t begin_time = 0;
    bool in_txn = false;
    int ntxn = 0, nchanges = 0, txn_content = 0;
    char err[256];

    ck_assert_ptr_nonnull(dec);
    for (size_t i = 0; i < fx->n; i++) {
        const fixture_msg *m = &fx->msgs[i];
        pgo_msg msg;

        ck_assert_msg(pgo_decode(dec, m->bytes, m->len, &msg, err, sizeof err) == 0, "%s: %s",
                      m->label, err);
        ck_assert_msg(msg.kind == label_kind(m->label), "%s decoded as kind %d", m->label,
                      (int)msg.kind);
        switch (msg.kind) {
        case PGO_BEGIN:
            ck_assert_msg(!in_txn, "%s: Begin inside a transaction", m->label);
            in_txn = true;
            txn_content = 0;
            final_lsn = msg.u.begin.final_lsn;
            begin_time = msg.u.begin.commit_time;
            ck_assert_uint_ne(msg.u.begin.xid, 0);
            ck_assert_uint_gt(final_lsn, last_end);
            break;
        case PGO_COMMIT:
            ck_assert_msg(in_txn, "%s: Commit outside a transaction", m->label);
            in_txn = false;
            /* Up to Postgres 14 a transaction without changes (a DDL one) is sent empty. */
            ntxn += txn_content > 0;
            ck_assert_uint_eq(msg.u.commit.flags, 0);
            /* Begin announces the commit record's position; Commit confirms it. */
            ck_assert_uint_eq(msg.u.commit.commit_lsn, final_lsn);
            ck_assert_uint_gt(msg.u.commit.end_lsn, msg.u.commit.commit_lsn);
            ck_assert_int_eq(msg.u.commit.commit_time, begin_time);
            /* 2020-01-01 < commit_time < 2100-01-01, in microseconds since 2000-01-01 */
            ck_assert_int_gt(msg.u.commit.commit_time, INT64_C(631152000000000));
            ck_assert_int_lt(msg.u.commit.commit_time, INT64_C(3155760000000000));
            last_end = msg.u.commit.end_lsn;
            break;
        case PGO_INSERT:
        case PGO_UPDATE:
        case PGO_DELETE:
        case PGO_TRUNCATE:
            ck_assert_msg(in_txn, "%s: change outside a transaction", m->label);
            nchanges++;
            txn_content++;
            break;
        case PGO_MESSAGE:
            /* Only transactional messages come between Begin and Commit. */
            ck_assert_int_eq(msg.u.message.flags & 1, in_txn ? 1 : 0);
            txn_content++;
            break;
        default:
            break;
        }
    }
    ck_assert(!in_txn);
    ck_assert_int_eq(ntxn, 11);
    ck_assert_int_eq(nchanges, 11);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(relation_describes_outbox)
{
    static const struct {
        const char *name;
        uint32_t type_oid;
        uint8_t flags;
    } want[] = {
        {"id", OID_INT8, 1},          {"aggregate_type", OID_TEXT, 0},
        {"aggregate_id", OID_TEXT, 0}, {"event_type", OID_TEXT, 0},
        {"payload", OID_JSONB, 0},    {"headers", OID_JSONB, 0},
        {"created_at", OID_TIMESTAMPTZ, 0},
    };
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_relation *rel;
    pgo_msg msg;

    ck_assert_ptr_null(pgo_relation_get(dec, 0));
    decode_through(dec, "insert_two.relation", &msg);
    ck_assert_int_eq(msg.kind, PGO_RELATION);
    rel = msg.u.relation.rel;
    ck_assert_ptr_nonnull(rel);
    ck_assert_ptr_eq(pgo_relation_get(dec, rel->oid), rel);
    ck_assert_ptr_null(pgo_relation_get(dec, rel->oid + 1));
    ck_assert_uint_ne(rel->oid, 0);
    ck_assert_uint_eq(rel->version, 1);
    ck_assert_str_eq(rel->nspname, "public");
    ck_assert_str_eq(rel->relname, "outbox");
    ck_assert_int_eq(rel->replident, 'd');
    ck_assert_int_eq(rel->ncolumns, 7);
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(rel->columns[i].name, want[i].name);
        ck_assert_uint_eq(rel->columns[i].type_oid, want[i].type_oid);
        ck_assert_int_eq(rel->columns[i].type_mod, -1);
        ck_assert_uint_eq(rel->columns[i].flags, want[i].flags);
    }
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(insert_values)
{
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_relation *rel;
    const pgo_value *v;
    pgo_msg msg;

    decode_through(dec, "insert_two.insert", &msg);
    ck_assert_int_eq(msg.kind, PGO_INSERT);
    rel = msg.u.change.rel;
    ck_assert_str_eq(rel->relname, "outbox");
    ck_assert_int_eq(msg.u.change.nnew, 7);
    ck_assert_int_eq(msg.u.change.nold, 0);
    ck_assert_ptr_null(msg.u.change.old_tuple);
    ck_assert_int_eq(msg.u.change.old_kind, 0);
    v = msg.u.change.new_tuple;
    ck_assert_value_text(&v[col(rel, "id")], "1");
    ck_assert_value_text(&v[col(rel, "aggregate_type")], "Order");
    ck_assert_value_text(&v[col(rel, "aggregate_id")], "o-1");
    ck_assert_value_text(&v[col(rel, "event_type")], "OrderPlaced");
    ck_assert_value_text(&v[col(rel, "payload")], "{\"total\": 42}");
    ck_assert_value_text(&v[col(rel, "headers")], "{\"trace\": \"abc\"}");
    ck_assert_int_eq(v[6].kind, 't');
    ck_assert_uint_gt(v[6].len, 18); /* "2026-01-01 00:00:00..." */

    /* The second insert reuses the decoder's value array. */
    decode_after(dec, "insert_two.insert", "insert_two.insert2", &msg);
    v = msg.u.change.new_tuple;
    ck_assert_ptr_eq(msg.u.change.rel, rel);
    ck_assert_value_text(&v[0], "2");
    ck_assert_value_text(&v[4], "{\"total\": 7}");
    ck_assert_value_null(&v[5]); /* headers NULL */
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(type_and_identity_full_relation)
{
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_relation *rel;
    uint32_t mood_oid;
    pgo_msg msg;

    decode_through(dec, "insert_other.type", &msg);
    ck_assert_int_eq(msg.kind, PGO_TYPE);
    ck_assert_str_eq(msg.u.type.nspname, "public");
    ck_assert_str_eq(msg.u.type.typname, "mood");
    mood_oid = msg.u.type.oid;
    ck_assert_uint_ge(mood_oid, 16384); /* a user type: FirstNormalObjectId */

    decode_after(dec, "insert_other.type", "insert_other.relation", &msg);
    rel = msg.u.relation.rel;
    ck_assert_uint_eq(rel->oid, be32(fx->msgs[index_of("insert_other.relation")].bytes + 1));
    ck_assert_ptr_eq(pgo_relation_get(dec, rel->oid), rel);
    ck_assert_str_eq(rel->relname, "other");
    ck_assert_int_eq(rel->replident, 'f');
    ck_assert_int_eq(rel->ncolumns, 4);
    ck_assert_uint_eq(rel->columns[0].type_oid, OID_INT4);
    ck_assert_uint_eq(rel->columns[col(rel, "m")].type_oid, mood_oid);
    for (int i = 0; i < rel->ncolumns; i++)
        ck_assert_uint_eq(rel->columns[i].flags, 1); /* FULL: every column identifies */

    decode_after(dec, "insert_other.relation", "insert_other.insert", &msg);
    ck_assert_ptr_eq(msg.u.change.rel, rel);
    ck_assert_int_eq(msg.u.change.nnew, 4);
    ck_assert_value_text(&msg.u.change.new_tuple[1], "ok");
    ck_assert_int_eq(msg.u.change.new_tuple[2].kind, 't');
    ck_assert_uint_eq(msg.u.change.new_tuple[2].len, 3000);
    ck_assert_int_eq(msg.u.change.new_tuple[2].data[2999], 'x');
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(update_without_old_tuple)
{
    pgo_decoder *dec = pgo_decoder_new();
    pgo_msg msg;

    decode_through(dec, "update_plain.update", &msg);
    ck_assert_int_eq(msg.kind, PGO_UPDATE);
    ck_assert_int_eq(msg.u.change.old_kind, 0);
    ck_assert_int_eq(msg.u.change.nold, 0);
    ck_assert_ptr_null(msg.u.change.old_tuple);
    ck_assert_int_eq(msg.u.change.nnew, 7);
    ck_assert_value_text(&msg.u.change.new_tuple[0], "1");
    ck_assert_value_text(&msg.u.change.new_tuple[3], "OrderShipped");
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(update_with_old_key)
{
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_value *old, *new;
    pgo_msg msg;

    decode_through(dec, "update_key.update", &msg);
    ck_assert_int_eq(msg.u.change.old_kind, 'K');
    ck_assert_int_eq(msg.u.change.nold, 7);
    ck_assert_int_eq(msg.u.change.nnew, 7);
    old = msg.u.change.old_tuple;
    new = msg.u.change.new_tuple;
    ck_assert_ptr_ne(old, new);
    ck_assert_value_text(&old[0], "2");
    for (int i = 1; i < 7; i++)
        ck_assert_value_null(&old[i]); /* only the key is sent */
    ck_assert_value_text(&new[0], "100");
    ck_assert_value_text(&new[2], "o-2");
    ck_assert_value_null(&new[5]);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(update_with_old_row_and_unchanged_toast)
{
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_value *old, *new;
    int big, note;
    pgo_msg msg;

    decode_through(dec, "update_full_toast.update", &msg);
    big = col(msg.u.change.rel, "big");
    note = col(msg.u.change.rel, "note");
    ck_assert_int_eq(msg.u.change.old_kind, 'O');
    old = msg.u.change.old_tuple;
    new = msg.u.change.new_tuple;
    /* FULL logs the old row detoasted... */
    ck_assert_int_eq(old[big].kind, 't');
    ck_assert_uint_eq(old[big].len, 3000);
    ck_assert_value_text(&old[note], "first");
    /* ...while the new row leaves the unchanged out-of-line value out. */
    ck_assert_int_eq(new[big].kind, 'u');
    ck_assert_ptr_null(new[big].data);
    ck_assert_uint_eq(new[big].len, 0);
    ck_assert_value_text(&new[note], "second");
    ck_assert_value_text(&new[0], "1");
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(delete_key_and_full)
{
    pgo_decoder *dec = pgo_decoder_new();
    pgo_msg msg;

    decode_through(dec, "delete_key.delete", &msg);
    ck_assert_int_eq(msg.kind, PGO_DELETE);
    ck_assert_str_eq(msg.u.change.rel->relname, "outbox");
    ck_assert_int_eq(msg.u.change.old_kind, 'K');
    ck_assert_int_eq(msg.u.change.nnew, 0);
    ck_assert_ptr_null(msg.u.change.new_tuple);
    ck_assert_int_eq(msg.u.change.nold, 7);
    ck_assert_value_text(&msg.u.change.old_tuple[0], "1");
    ck_assert_value_null(&msg.u.change.old_tuple[1]);

    decode_after(dec, "delete_key.delete", "delete_full.delete", &msg);
    ck_assert_str_eq(msg.u.change.rel->relname, "other");
    ck_assert_int_eq(msg.u.change.old_kind, 'O');
    ck_assert_int_eq(msg.u.change.nold, 4);
    ck_assert_value_text(&msg.u.change.old_tuple[1], "ok");
    ck_assert_uint_eq(msg.u.change.old_tuple[2].len, 3000);
    ck_assert_value_text(&msg.u.change.old_tuple[3], "second");
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(truncate_two_tables)
{
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_relation *a, *b;
    pgo_msg msg;

    decode_through(dec, "truncate.truncate", &msg);
    ck_assert_int_eq(msg.kind, PGO_TRUNCATE);
    ck_assert_uint_eq(msg.u.truncate.nrelations, 2);
    ck_assert_uint_eq(msg.u.truncate.options, 1 | 2); /* CASCADE, RESTART IDENTITY */
    a = pgo_relation_get(dec, msg.u.truncate.relids[0]);
    b = pgo_relation_get(dec, msg.u.truncate.relids[1]);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg((strcmp(a->relname, "outbox") == 0 && strcmp(b->relname, "other") == 0) ||
                      (strcmp(a->relname, "other") == 0 && strcmp(b->relname, "outbox") == 0),
                  "truncated %s and %s", a->relname, b->relname);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(logical_messages)
{
    pgo_decoder *dec = pgo_decoder_new();
    relay_lsn tx_lsn, commit_lsn;
    pgo_msg msg;

    decode_through(dec, "message_tx.message", &msg);
    ck_assert_int_eq(msg.kind, PGO_MESSAGE);
    ck_assert_uint_eq(msg.u.message.flags, 1);
    ck_assert_str_eq(msg.u.message.prefix, "relay-test");
    ck_assert_uint_eq(msg.u.message.content_len, 5);
    ck_assert(memcmp(msg.u.message.content, "hello", 5) == 0);
    tx_lsn = msg.u.message.lsn;

    decode_after(dec, "message_tx.message", "message_tx.commit", &msg);
    commit_lsn = msg.u.commit.commit_lsn;
    ck_assert_uint_gt(tx_lsn, 0);
    ck_assert_uint_le(tx_lsn, commit_lsn);

    decode_after(dec, "message_tx.commit", "message_nontx.message", &msg);
    ck_assert_uint_eq(msg.u.message.flags, 0);
    ck_assert_str_eq(msg.u.message.prefix, "relay-test");
    ck_assert_uint_eq(msg.u.message.content_len, 3);
    ck_assert(memcmp(msg.u.message.content, "now", 3) == 0);
    ck_assert_uint_gt(msg.u.message.lsn, commit_lsn);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(relation_version_bumps_on_alter)
{
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_relation *rel;
    int trace;
    pgo_msg msg;

    decode_through(dec, "insert_two.relation", &msg);
    rel = msg.u.relation.rel;
    ck_assert_uint_eq(rel->version, 1);
    ck_assert_int_eq(rel->ncolumns, 7);
    ck_assert_int_eq(pgo_relation_column(rel, "trace_id"), -1);

    /* TRUNCATE invalidates the server's relation cache: described again, unchanged. */
    decode_after(dec, "insert_two.relation", "truncate.relation", &msg);
    ck_assert_ptr_eq(msg.u.relation.rel, rel);
    ck_assert_ptr_eq(pgo_relation_get(dec, rel->oid), rel); /* same entry, same address */
    ck_assert_uint_eq(rel->version, 2);
    ck_assert_int_eq(rel->ncolumns, 7);

    decode_after(dec, "truncate.relation", "alter_insert.relation", &msg);
    ck_assert_ptr_eq(msg.u.relation.rel, rel);
    ck_assert_ptr_eq(pgo_relation_get(dec, rel->oid), rel);
    ck_assert_uint_eq(rel->version, 3);
    ck_assert_int_eq(rel->ncolumns, 8);
    trace = col(rel, "trace_id");
    ck_assert_int_eq(trace, 7);
    ck_assert_uint_eq(rel->columns[trace].type_oid, OID_TEXT);
    ck_assert_str_eq(rel->columns[0].name, "id");

    decode_after(dec, "alter_insert.relation", "alter_insert.insert", &msg);
    ck_assert_ptr_eq(msg.u.change.rel, rel);
    ck_assert_int_eq(msg.u.change.nnew, 8);
    ck_assert_value_text(&msg.u.change.new_tuple[trace], "t-9");
    ck_assert_value_null(&msg.u.change.new_tuple[5]);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(origin_message)
{
    pgo_decoder *dec = pgo_decoder_new();
    const char *name;
    size_t n;
    pgo_msg msg;

    decode_through(dec, "origin.origin", &msg);
    ck_assert_int_eq(msg.kind, PGO_ORIGIN);
    ck_assert_uint_eq(msg.u.origin.lsn, 0xABCDEF); /* pg_replication_origin_xact_setup */
    name = msg.u.origin.name;
    n = strlen(name);
    ck_assert_msg(strncmp(name, "pgo_capture_", 12) == 0 && n > 7 &&
                      strcmp(name + n - 7, "_origin") == 0,
                  "origin name %s", name);
    decode_after(dec, "origin.origin", "origin.insert", &msg);
    ck_assert_value_text(&msg.u.change.new_tuple[3], "from origin");
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(relation_column_lookup)
{
    pgo_decoder *dec = pgo_decoder_new();
    const pgo_relation *rel;
    pgo_msg msg;

    decode_through(dec, "insert_two.relation", &msg);
    rel = msg.u.relation.rel;
    for (int i = 0; i < rel->ncolumns; i++)
        ck_assert_int_eq(pgo_relation_column(rel, rel->columns[i].name), i);
    ck_assert_int_eq(pgo_relation_column(rel, "payload"), 4);
    ck_assert_int_eq(pgo_relation_column(rel, "Payload"), -1); /* names are exact */
    ck_assert_int_eq(pgo_relation_column(rel, "payloa"), -1);
    ck_assert_int_eq(pgo_relation_column(rel, ""), -1);
    ck_assert_int_eq(pgo_relation_column(rel, NULL), -1);
    ck_assert_int_eq(pgo_relation_column(NULL, "id"), -1);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(binary_column_kind)
{
    pgo_decoder *dec = pgo_decoder_new();
    size_t i = index_of("insert_two.insert");
    uint8_t *buf = malloc(fx->msgs[i].len);
    char err[256];
    pgo_msg msg;

    decode_range(dec, 0, i);
    memcpy(buf, fx->msgs[i].bytes, fx->msgs[i].len);
    ck_assert_int_eq(buf[8], 't');
    buf[8] = 'b'; /* same layout: Int32 length, bytes */
    ck_assert_msg(pgo_decode(dec, buf, fx->msgs[i].len, &msg, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(msg.u.change.new_tuple[0].kind, 'b');
    ck_assert_uint_eq(msg.u.change.new_tuple[0].len, 1);
    ck_assert_int_eq(msg.u.change.new_tuple[0].data[0], '1');
    free(buf);
    pgo_decoder_free(dec);
}
END_TEST

/* ---- malformed input ---- */

/*
 * Every strict prefix of every captured message is refused with a message, and refusing
 * it leaves the decoder as it was: the whole message still decodes afterwards (for
 * Relation, with the version bumped once, not once per attempt). Each prefix is copied
 * into a buffer of exactly its size, so AddressSanitizer catches any read past it.
 */
START_TEST(every_prefix_is_refused)
{
    pgo_decoder *dec = pgo_decoder_new();
    char err[256];
    size_t nprefixes = 0;

    for (size_t i = 0; i < fx->n; i++) {
        const fixture_msg *m = &fx->msgs[i];
        const pgo_relation *rel = NULL;
        uint32_t version = 0;
        pgo_msg msg;

        if (label_kind(m->label) == PGO_RELATION) {
            uint32_t oid = (uint32_t)m->bytes[1] << 24 | (uint32_t)m->bytes[2] << 16 |
                           (uint32_t)m->bytes[3] << 8 | m->bytes[4];

            rel = pgo_relation_get(dec, oid);
            version = rel ? rel->version : 0;
        }
        for (size_t k = 0; k < m->len; k++) {
            uint8_t *prefix = malloc(k ? k : 1);

            memcpy(prefix, m->bytes, k);
            strcpy(err, "unchanged");
            ck_assert_msg(pgo_decode(dec, k ? prefix : NULL, k, &msg, err, sizeof err) == -1,
                          "%s: prefix of %zu of %zu bytes accepted", m->label, k, m->len);
            ck_assert_msg(err[0] != '\0' && strcmp(err, "unchanged") != 0 &&
                              strchr(err, '\n') == NULL,
                          "%s: prefix %zu: errbuf '%s'", m->label, k, err);
            ck_assert_msg(strncmp(err, "pgoutput ", 9) == 0, "%s", err);
            if (k == 0)
                ck_assert_str_eq(err, "pgoutput message: empty (no type byte)");
            free(prefix);
            nprefixes++;
        }
        if (rel != NULL)
            ck_assert_uint_eq(rel->version, version);
        ck_assert_msg(pgo_decode(dec, m->bytes, m->len, &msg, err, sizeof err) == 0, "%s: %s",
                      m->label, err);
        if (rel != NULL)
            ck_assert_uint_eq(rel->version, version + 1);
    }
    ck_assert_uint_gt(nprefixes, 10000);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(trailing_bytes_are_refused)
{
    pgo_decoder *dec = pgo_decoder_new();
    char err[256];
    pgo_msg msg;

    for (size_t i = 0; i < fx->n; i++) {
        const fixture_msg *m = &fx->msgs[i];
        uint8_t *buf = malloc(m->len + 1);

        memcpy(buf, m->bytes, m->len);
        buf[m->len] = 0;
        ck_assert_msg(pgo_decode(dec, buf, m->len + 1, &msg, err, sizeof err) == -1,
                      "%s with a trailing byte accepted", m->label);
        ck_assert_msg(strstr(err, "1 trailing bytes") != NULL, "%s: %s", m->label, err);
        free(buf);
        /* Keep the cache as the stream had it for the next message. */
        decode_range(dec, i, i + 1);
    }
    pgo_decoder_free(dec);
}
END_TEST

/* What fills the %u in a corrupt_case's expected message: run-specific values. */
typedef enum { ARG_NONE, ARG_BE32_AT, ARG_BYTES_AFTER } want_arg;

/* One byte-level corruption of a captured message and the error it must produce. */
typedef struct corrupt_case {
    const char *label; /* fixture message to corrupt */
    bool primed;       /* decode the stream before it first (relations cached) */
    size_t offset;     /* where to write patch */
    size_t npatch;
    uint8_t patch[8];
    const char *want; /* expected errbuf, exactly; %u per arg */
    want_arg arg;
    size_t arg_offset; /* of the oid in the message, or where the remaining bytes start */
} corrupt_case;

/* Offsets: Insert 'I' relid[1..4] 'N'[5] ncols[6..7] kind[8] len[9..12] data[13..];
 * Update 'U' relid 'K'[5] ncols[6..7] 't'[8] len[9..12] "2"[13] 'n' x6 [14..19] 'N'[20];
 * Relation 'R' oid[1..4] "public\0"[5..11] "outbox\0"[12..18] replident[19] natts[20..21];
 * Message 'M' flags[1] lsn[2..9] "relay-test\0"[10..20] len[21..24];
 * Truncate 'T' nrelations[1..4] options[5] relids[6..]. */
static const corrupt_case corrupt_cases[] = {
    {"insert_two.begin", false, 0, 1, {'Z'},
     "pgoutput message: unknown type 'Z' (0x5a) in protocol version 1", ARG_NONE, 0},
    {"insert_two.begin", false, 0, 1, {'S'}, /* Stream Start needs protocol version 2 */
     "pgoutput message: unknown type 'S' (0x53) in protocol version 1", ARG_NONE, 0},
    {"insert_two.begin", false, 0, 1, {0x00},
     "pgoutput message: unknown type 0x00 in protocol version 1", ARG_NONE, 0},
    {"insert_two.begin", false, 1, 8, {0}, "pgoutput Begin: final_lsn is 0/0", ARG_NONE, 0},
    {"insert_two.commit", true, 1, 1, {0x01},
     "pgoutput Commit: unknown flags 0x01 (expected 0)", ARG_NONE, 0},
    {"insert_two.insert", false, 0, 0, {0},
     "pgoutput Insert: relation oid %u was not described by a Relation message first",
     ARG_BE32_AT, 1},
    {"insert_two.insert", true, 5, 1, {'K'},
     "pgoutput Insert: unknown tuple action 0x4b (expected N)", ARG_NONE, 0},
    {"insert_two.insert", true, 8, 1, {'x'},
     "pgoutput Insert: new tuple has unknown column kind 0x78 at column 1 of 7 (expected n, "
     "u, t or b)",
     ARG_NONE, 0},
    {"insert_two.insert", true, 9, 4, {0xff, 0xff, 0xff, 0xff},
     "pgoutput Insert: new tuple has negative length -1 at column 1 of 7", ARG_NONE, 0},
    {"insert_two.insert", true, 9, 4, {0x00, 0x10, 0x00, 0x00},
     "pgoutput Insert: new tuple truncated at column 1 of 7 (1048576 value bytes, %u left)",
     ARG_BYTES_AFTER, 13},
    {"insert_two.insert", true, 6, 2, {0x00, 0x06},
     "pgoutput Insert: new tuple has 6 columns but relation outbox (oid %u) has 7", ARG_BE32_AT,
     1},
    {"insert_two.insert", true, 6, 2, {0xff, 0xff},
     "pgoutput Insert: new tuple has negative column count -1", ARG_NONE, 0},
    {"update_key.update", true, 5, 1, {'X'},
     "pgoutput Update: unknown tuple action 0x58 (expected K, O or N)", ARG_NONE, 0},
    {"update_key.update", true, 20, 1, {'K'},
     "pgoutput Update: unknown tuple action 0x4b after old tuple (expected N)", ARG_NONE, 0},
    {"update_key.update", true, 14, 1, {'q'},
     "pgoutput Update: old tuple has unknown column kind 0x71 at column 2 of 7 (expected n, "
     "u, t or b)",
     ARG_NONE, 0},
    {"update_key.update", true, 6, 2, {0x00, 0x08},
     "pgoutput Update: old tuple has 8 columns but relation outbox (oid %u) has 7",
     ARG_BE32_AT, 1},
    {"delete_key.delete", true, 5, 1, {'N'},
     "pgoutput Delete: unknown tuple action 0x4e (expected K or O)", ARG_NONE, 0},
    {"insert_two.relation", false, 19, 1, {'x'},
     "pgoutput Relation: oid %u: unknown replica identity 0x78 (expected d, n, f or i)",
     ARG_BE32_AT, 1},
    {"insert_two.relation", false, 20, 2, {0x80, 0x00},
     "pgoutput Relation: oid %u: negative column count -32768", ARG_BE32_AT, 1},
    {"insert_two.relation", false, 20, 2, {0x00, 0x08},
     "pgoutput Relation: oid %u: truncated at column 8 of 8", ARG_BE32_AT, 1},
    {"message_tx.message", false, 21, 4, {0xff, 0xff, 0xff, 0xfe},
     "pgoutput Message: negative content length -2", ARG_NONE, 0},
    {"message_tx.message", false, 21, 4, {0x00, 0x00, 0x00, 0x06},
     "pgoutput Message: truncated in content (6 bytes announced, 5 left)", ARG_NONE, 0},
    {"truncate.truncate", true, 1, 4, {0x7f, 0xff, 0xff, 0xff},
     "pgoutput Truncate: truncated in relation oids (2147483647 announced, room for 2)",
     ARG_NONE, 0},
    {"truncate.truncate", true, 1, 4, {0x80, 0x00, 0x00, 0x00},
     "pgoutput Truncate: negative relation count -2147483648", ARG_NONE, 0},
    {"truncate.truncate", false, 0, 0, {0},
     "pgoutput Truncate: relation oid %u was not described by a Relation message first",
     ARG_BE32_AT, 6},
};

START_TEST(corrupt_messages_are_refused)
{
    const corrupt_case *tc = &corrupt_cases[_i];
    size_t idx = index_of(tc->label);
    const fixture_msg *m = &fx->msgs[idx];
    pgo_decoder *dec = pgo_decoder_new();
    uint8_t *buf = malloc(m->len);
    unsigned arg = 0;
    char want[256], err[256];
    pgo_msg msg;

    if (tc->primed)
        decode_range(dec, 0, idx);
    memcpy(buf, m->bytes, m->len);
    ck_assert_uint_le(tc->offset + tc->npatch, m->len);
    memcpy(buf + tc->offset, tc->patch, tc->npatch);
    if (tc->arg == ARG_BE32_AT)
        arg = be32(m->bytes + tc->arg_offset);
    else if (tc->arg == ARG_BYTES_AFTER)
        arg = (unsigned)(m->len - tc->arg_offset);
    snprintf(want, sizeof want, tc->want, arg);

    ck_assert_int_eq(pgo_decode(dec, buf, m->len, &msg, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    /* A refused Relation message leaves nothing behind. */
    if (m->bytes[0] == 'R')
        ck_assert_ptr_null(pgo_relation_get(dec, be32(m->bytes + 1)));
    free(buf);
    pgo_decoder_free(dec);
}
END_TEST

START_TEST(errbuf_may_be_small_or_absent)
{
    pgo_decoder *dec = pgo_decoder_new();
    const uint8_t junk[] = {'Z', 1, 2, 3};
    char small[12];
    pgo_msg msg;

    ck_assert_int_eq(pgo_decode(dec, junk, sizeof junk, &msg, NULL, 0), -1);
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(pgo_decode(dec, junk, sizeof junk, &msg, small, sizeof small), -1);
    ck_assert_str_eq(small, "pgoutput me");
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(pgo_decode(dec, junk, sizeof junk, &msg, small, 1), -1);
    ck_assert_int_eq(small[0], '\0');
    ck_assert_int_eq(small[1], 'x');
    pgo_decoder_free(dec);
    pgo_decoder_free(NULL);
}
END_TEST

Suite *suite_pgoutput(void)
{
    Suite *s = suite_create("pgoutput");
    TCase *captured = tcase_create("captured");
    TCase *malformed = tcase_create("malformed");

    tcase_add_checked_fixture(captured, setup, teardown);
    tcase_add_test(captured, stream_decodes_in_order);
    tcase_add_test(captured, relation_describes_outbox);
    tcase_add_test(captured, insert_values);
    tcase_add_test(captured, type_and_identity_full_relation);
    tcase_add_test(captured, update_without_old_tuple);
    tcase_add_test(captured, update_with_old_key);
    tcase_add_test(captured, update_with_old_row_and_unchanged_toast);
    tcase_add_test(captured, delete_key_and_full);
    tcase_add_test(captured, truncate_two_tables);
    tcase_add_test(captured, logical_messages);
    tcase_add_test(captured, relation_version_bumps_on_alter);
    tcase_add_test(captured, origin_message);
    tcase_add_test(captured, relation_column_lookup);
    tcase_add_test(captured, binary_column_kind);
    suite_add_tcase(s, captured);

    tcase_add_checked_fixture(malformed, setup, teardown);
    tcase_set_timeout(malformed, 60); /* every prefix, under sanitizers */
    tcase_add_test(malformed, every_prefix_is_refused);
    tcase_add_test(malformed, trailing_bytes_are_refused);
    tcase_add_loop_test(malformed, corrupt_messages_are_refused, 0,
                        (int)(sizeof(corrupt_cases) / sizeof(corrupt_cases[0])));
    tcase_add_test(malformed, errbuf_may_be_small_or_absent);
    suite_add_tcase(s, malformed);
    return s;
}
