/* Event mapping: outbox row → topic, key, value, headers, timestamp. */
#include <string.h>

#include "clock.h"
#include "event.h"
#include "suites.h"

/* A table's columns, as a row reader hands them over with each row. */
typedef struct table {
    int ncols;
    const char *const *names;
    uint64_t shape;
} table;

static const char *const outbox_columns[] = {"id",         "aggregate_type", "aggregate_id",
                                             "event_type", "payload",        "headers",
                                             "created_at"};
static const table outbox = {7, outbox_columns, 1};

/* The seed article's table: no aggregate_type, no headers. */
static const char *const seed_columns[] = {"id", "aggregate_id", "event_type", "payload",
                                           "created_at"};
static const table seed = {5, seed_columns, 2};

#define T(s) {s, sizeof(s) - 1}
#define NUL {NULL, 0}

/* event_map on one row of t; commit_time_pg_us counts from 2000-01-01, as on the wire. */
static int map(event_mapper *m, const table *t, const event_value *values, relay_lsn lsn,
               uint32_t index, int64_t commit_time_pg_us, event *ev, char *err, size_t size)
{
    event_row row = {"public", "outbox",  t->ncols, t->names, values,
                     t->shape, commit_time_pg_us + CLOCK_PG_EPOCH_OFFSET_US, NULL};

    return event_map(m, &row, lsn, index, ev, err, size);
}

/* The defaults map this file's outbox table: public.outbox, a template topic, the payload. */
static relay_config default_config(void)
{
    return *test_config_defaults();
}

static const char *header(const event *ev, const char *name, size_t *len)
{
    for (int i = 0; i < ev->nheaders; i++)
        if (strcmp(ev->headers[i].name, name) == 0) {
            *len = ev->headers[i].value_len;
            return ev->headers[i].value;
        }
    return NULL;
}

START_TEST(maps_a_row_with_template_topic_and_headers)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    event_value row[] = {T("42"), T("order"), T("order-7"), T("OrderCreated"),
                       T("{\"order_id\": 7, \"amount\": 19.99}"),
                       T("{\"traceparent\": \"00-abc-01\", \"tenant\": 3}"),
                       T("2026-11-27 07:51:30.123456+00")};
    event ev;
    size_t len;
    const char *v;

    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(map(m, &outbox, row, 0x16B3748, 3, 0, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "outbox.event.order");
    ck_assert_int_eq(ev.key_len, 7);
    ck_assert_int_eq(memcmp(ev.key, "order-7", 7), 0);
    ck_assert_str_eq(ev.id, "42");
    ck_assert_str_eq(ev.type, "OrderCreated");
    ck_assert_int_eq(ev.value_len, strlen("{\"order_id\": 7, \"amount\": 19.99}"));
    ck_assert_int_eq(memcmp(ev.value, "{\"order_id\": 7", 14), 0);
    ck_assert_int_eq(ev.timestamp_ms, 1795765890123LL);
    ck_assert_ptr_nonnull(v = header(&ev, EVENT_HDR_POSITION, &len));
    ck_assert_int_eq(len, strlen("00000000016B3748-00000003"));
    ck_assert_int_eq(memcmp(v, "00000000016B3748-00000003", len), 0);
    ck_assert_ptr_nonnull(v = header(&ev, EVENT_HDR_AGGREGATE_TYPE, &len));
    ck_assert_int_eq(memcmp(v, "order", len), 0);
    ck_assert_ptr_nonnull(v = header(&ev, "traceparent", &len));
    ck_assert_int_eq(memcmp(v, "00-abc-01", len), 0);
    ck_assert_ptr_nonnull(v = header(&ev, "tenant", &len)); /* non-strings as JSON text */
    ck_assert_int_eq(memcmp(v, "3", len), 0);
    ck_assert_ptr_nonnull(header(&ev, EVENT_HDR_ID, &len));
    ck_assert_ptr_nonnull(header(&ev, EVENT_HDR_TYPE, &len));
    event_mapper_free(m);
}
END_TEST

START_TEST(seed_table_with_fixed_topic_and_envelope)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m;
    event_value row[] = {T("5"), T("1000"), T("OrderCreated"), T("{\"order_id\": 1000, \"amount\": 99.5}"),
                       T("2026-01-02 03:04:05")};
    event ev;

    cfg.outbox.topic = "orders";
    cfg.outbox.value = CONFIG_VALUE_ENVELOPE;
    cfg.outbox.columns.aggregate_type = "";
    cfg.outbox.columns.headers = "";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    ck_assert_int_eq(map(m, &seed, row, 100, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "orders");
    ck_assert_str_eq(ev.value, "{\"event_id\":\"5\",\"type\":\"OrderCreated\",\"payload\":"
                               "{\"order_id\": 1000, \"amount\": 99.5}}");
    ck_assert_int_eq(ev.nheaders, 3); /* id, type, position: no aggregate_type column */
    ck_assert_int_eq(ev.timestamp_ms, 1767323045000LL);
    /* The payload inside the envelope, for schemas.applies_to = "payload". */
    ck_assert_int_eq(ev.payload_len, strlen("{\"order_id\": 1000, \"amount\": 99.5}"));
    ck_assert_int_eq(memcmp(ev.payload, "{\"order_id\": 1000, \"amount\": 99.5}", ev.payload_len), 0);
    ck_assert_ptr_null(ev.version);
    event_mapper_free(m);
}
END_TEST

/* schemas.version_column: the version travels with the event; NULL means none. */
START_TEST(version_column_is_mapped)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m;
    static const char *const cols[] = {"id", "aggregate_id", "event_type", "payload",
                                       "schema_version"};
    table rel = {5, cols, 3};
    event_value row[] = {T("5"), T("1000"), T("OrderCreated"), T("{}"), T("2")};
    event_value row_null[] = {T("6"), T("1000"), T("OrderCreated"), T("{}"), NUL};
    event ev;

    cfg.outbox.topic = "orders";
    cfg.outbox.columns.aggregate_type = "";
    cfg.outbox.columns.headers = "";
    cfg.outbox.columns.created_at = "";
    cfg.schemas.version_column = "schema_version";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    ck_assert_int_eq(map(m, &rel, row, 100, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.version_len, 1);
    ck_assert_int_eq(ev.version[0], '2');
    ck_assert_ptr_eq(ev.payload, ev.value);
    ck_assert_int_eq(map(m, &rel, row_null, 100, 2, 0, &ev, err, sizeof err), 0);
    ck_assert_ptr_null(ev.version);
    event_mapper_free(m);

    /* A version column the table lacks is a configuration error naming the setting. */
    cfg.schemas.version_column = "v";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    ck_assert_int_eq(map(m, &rel, row, 100, 1, 0, &ev, err, sizeof err), -1);
    ck_assert_str_eq(err, "outbox table public.outbox has no column \"v\": set "
                          "schemas.version_column to the right column (or \"\" if the table "
                          "has none)");
    event_mapper_free(m);
}
END_TEST

START_TEST(envelope_escapes_strings)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m;
    event_value row[] = {T("a\"b"), T("x"), T("k"), T("Odd\\Type"), T("[]"), NUL,
                       T("2026-01-02 03:04:05+00")};
    event ev;

    cfg.outbox.value = CONFIG_VALUE_ENVELOPE;
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    ck_assert_int_eq(map(m, &outbox, row, 1, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.value, "{\"event_id\":\"a\\\"b\",\"type\":\"Odd\\\\Type\",\"payload\":[]}");
    event_mapper_free(m);
}
END_TEST

/* A row re-published by backfill: the job in outbox_replay, no position (no commit LSN is
 * known to a reader of the table), the same headers otherwise and in the same number. */
START_TEST(replayed_row_names_its_job_not_a_position)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, "job-7", err, sizeof err);
    event_value row[] = {T("42"), T("order"), T("k"), T("T"), T("{}"), T("{\"tenant\": 3}"),
                         T("2026-11-27 07:51:30+00")};
    event ev;
    size_t len;
    const char *v;

    ck_assert_int_eq(map(m, &outbox, row, 0, 17, 0, &ev, err, sizeof err), 0);
    ck_assert_ptr_null(header(&ev, EVENT_HDR_POSITION, &len));
    ck_assert_ptr_nonnull(v = header(&ev, EVENT_HDR_REPLAY, &len));
    ck_assert_int_eq(len, 5);
    ck_assert_int_eq(memcmp(v, "job-7", 5), 0);
    ck_assert_ptr_nonnull(header(&ev, "tenant", &len));
    ck_assert_int_eq(ev.nheaders, 5);
    ck_assert_uint_eq(ev.index, 17);
    event_mapper_free(m);
}
END_TEST

/* A created_at of type timestamp (no zone) is read in the mapper's zone; one that carries
 * its offset is not affected. */
START_TEST(zone_less_created_at_is_read_in_the_zone)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    event_value tokyo[] = {T("1"), T("x"), T("k"), T("T"), T("{}"), NUL, T("2026-11-27 16:51:30.5")};
    event_value zoned[] = {T("2"), T("x"), T("k"), T("T"), T("{}"), NUL,
                           T("2026-11-27 07:51:30.5+00")};
    event_value summer[] = {T("3"), T("x"), T("k"), T("T"), T("{}"), NUL, T("2026-07-01 05:00:00")};
    event ev;

    ck_assert_int_eq(event_mapper_set_zone(m, "Asia/Tokyo", err, sizeof err), 0);
    ck_assert_int_eq(map(m, &outbox, tokyo, 1, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.timestamp_ms, 1795765890500LL); /* 07:51:30.5 UTC */
    ck_assert_int_eq(map(m, &outbox, zoned, 1, 2, 0, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.timestamp_ms, 1795765890500LL);
    ck_assert_int_eq(event_mapper_set_zone(m, "America/Los_Angeles", err, sizeof err), 0);
    ck_assert_int_eq(map(m, &outbox, summer, 1, 3, 0, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.timestamp_ms, 1782907200000LL); /* 12:00 UTC: PDT is UTC-7 */
    ck_assert_int_eq(event_mapper_set_zone(m, "UTC", err, sizeof err), 0);
    ck_assert_int_eq(map(m, &outbox, tokyo, 1, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.timestamp_ms, 1795765890500LL + 9 * 3600 * 1000);
    ck_assert_int_eq(event_mapper_set_zone(m, "Mars/Olympus_Mons", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "time zone \"Mars/Olympus_Mons\" for created_at is not in") != NULL,
                  "%s", err);
    event_mapper_free(m);
}
END_TEST

/* The row's headers column cannot add a second event_id, event_type, aggregate_type,
 * outbox_position or outbox_replay: the relay's own headers are the only ones. */
START_TEST(row_headers_cannot_repeat_the_relays_own)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    event_value row[] = {T("42"), T("order"), T("k"), T("OrderCreated"), T("{}"),
                         T("{\"event_id\": \"1\", \"event_type\": \"Evil\", \"aggregate_type\": "
                           "\"x\", \"outbox_position\": \"0/0:1\", \"outbox_replay\": \"j\", "
                           "\"tenant\": \"t3\"}"),
                         T("2026-11-27 07:51:30+00")};
    event ev;
    size_t len;
    const char *v;

    ck_assert_int_eq(map(m, &outbox, row, 0x10, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.nheaders, 5); /* id, type, position, aggregate_type, tenant */
    for (int i = 0; i < ev.nheaders; i++)
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(ev.headers[i].name, ev.headers[j].name);
    ck_assert_ptr_nonnull(v = header(&ev, EVENT_HDR_ID, &len));
    ck_assert_int_eq(memcmp(v, "42", len), 0);
    ck_assert_ptr_nonnull(v = header(&ev, EVENT_HDR_TYPE, &len));
    ck_assert_int_eq(memcmp(v, "OrderCreated", len), 0);
    ck_assert_ptr_nonnull(v = header(&ev, EVENT_HDR_AGGREGATE_TYPE, &len));
    ck_assert_int_eq(memcmp(v, "order", len), 0);
    ck_assert_ptr_null(header(&ev, EVENT_HDR_REPLAY, &len));
    ck_assert_ptr_nonnull(header(&ev, "tenant", &len));
    event_mapper_free(m);
}
END_TEST

/* outbox.value = "envelope" embeds the payload as JSON: a text (or bytea) column whose value
 * is not JSON is a bad row, dead-lettered by policy; any JSON value is embedded. */
static const struct {
    const char *text;
    bool json;
} payload_texts[] = {
    {"{}", true}, {" [1, -2.5e+3, \"a\\u00fc\\n\", true, false, null, {\"k\": []}] ", true},
    {"\"Z\xc3\xbcrich\"", true}, {"0", true}, {"-0.5E-2", true}, {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", true},
    {"Zürich", false}, {"\\x7b7d", false}, {"", false}, {"{", false}, {"[1,]", false},
    {"{\"a\" 1}", false}, {"{\"a\":1,}", false}, {"01", false}, {"1.", false}, {"-", false},
    {"\"a", false}, {"\"\\x\"", false}, {"\"\\u12\"", false}, {"{} {}", false}, {"[1 2]", false},
    {"tru", false}, {"{1:2}", false}, {"[}", false}, {"\"\t\"", false},
};

START_TEST(envelope_refuses_a_payload_that_is_not_json)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m;
    event_value row[] = {T("9"), T("x"), T("k"), T("T"), {payload_texts[_i].text, strlen(payload_texts[_i].text)},
                         NUL, T("2026-01-01 00:00:00+00")};
    event ev;

    cfg.outbox.value = CONFIG_VALUE_ENVELOPE;
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    err[0] = '\0';
    ck_assert_msg(map(m, &outbox, row, 1, 1, 0, &ev, err, sizeof err) ==
                      (payload_texts[_i].json ? 0 : EVENT_BAD_ROW),
                  "[%s]: %s", payload_texts[_i].text, err);
    if (!payload_texts[_i].json)
        ck_assert_msg(strstr(err, "event 9: column \"payload\" is not JSON") != NULL, "%s", err);
    event_mapper_free(m);
}
END_TEST

START_TEST(no_created_at_uses_commit_time)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m;
    event_value row[] = {T("1"), T("x"), T("k"), T("T"), T("{}"), NUL, T("ignored")};
    event ev;

    cfg.outbox.columns.created_at = "";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    /* 1 s after the Postgres epoch (2000-01-01) */
    ck_assert_int_eq(map(m, &outbox, row, 1, 1, 1000000, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.timestamp_ms, 946684801000LL);
    event_mapper_free(m);
}
END_TEST

/* Rows that cannot become events, and the message that must say why. */
static const struct {
    const char *name;
    event_value row[7];
    const char *expect;
} bad_rows[] = {
    {"null key", {T("1"), T("x"), NUL, T("T"), T("{}"), NUL, T("2026-01-01 00:00:00+00")},
     "column \"aggregate_id\" is NULL"},
    {"illegal topic", {T("1"), T("a b"), T("k"), T("T"), T("{}"), NUL, T("2026-01-01 00:00:00+00")},
     "is not a legal Kafka topic name"},
    {"headers not an object", {T("1"), T("x"), T("k"), T("T"), T("{}"), T("[1]"), T("2026-01-01 00:00:00+00")},
     "is not a JSON object"},
    {"bad timestamp", {T("1"), T("x"), T("k"), T("T"), T("{}"), NUL, T("yesterday")},
     "is not a timestamp"},
};

START_TEST(bad_rows_are_refused_with_a_reason)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    event ev;

    err[0] = '\0';
    ck_assert_int_eq(map(m, &outbox, bad_rows[_i].row, 0x16B3748, 2, 1000000, &ev, err,
                               sizeof err),
                     EVENT_BAD_ROW);
    ck_assert_msg(strstr(err, bad_rows[_i].expect) != NULL, "%s: got \"%s\"", bad_rows[_i].name,
                  err);
    /* What the row offers is kept for its dead-letter record. */
    ck_assert_str_eq(ev.id, "1");
    ck_assert_str_eq(ev.type, "T");
    ck_assert_uint_eq(ev.commit_lsn, 0x16B3748);
    ck_assert_uint_eq(ev.index, 2);
    ck_assert_int_eq(ev.timestamp_ms, 946684800LL * 1000 + 1000);
    ck_assert_ptr_nonnull(ev.value);
    ck_assert_int_eq(ev.value_len, 2);
    ck_assert_int_eq(memcmp(ev.value, "{}", 2), 0);
    if (bad_rows[_i].row[2].data == NULL) {
        ck_assert_ptr_null(ev.key);
    } else {
        ck_assert_int_eq(ev.key_len, 1);
        ck_assert_int_eq(ev.key[0], 'k');
    }
    if (strcmp(bad_rows[_i].name, "illegal topic") == 0)
        ck_assert_str_eq(ev.topic, "outbox.event.a b");
    else if (strcmp(bad_rows[_i].name, "null key") == 0)
        ck_assert_str_eq(ev.topic, "");
    else
        ck_assert_str_eq(ev.topic, "outbox.event.x");
    {
        size_t len;
        const char *pos = header(&ev, EVENT_HDR_POSITION, &len);
        ck_assert_ptr_nonnull(pos);
        ck_assert_int_eq(len, LSN_POSITION_LEN);
        ck_assert_int_eq(memcmp(pos, "00000000016B3748-00000002", len), 0);
        ck_assert_ptr_nonnull(header(&ev, EVENT_HDR_ID, &len));
    }
    event_mapper_free(m);
}
END_TEST

START_TEST(missing_column_names_the_setting)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    event_value row[] = {T("5"), T("1000"), T("OrderCreated"), T("{}"), T("2026-01-02 03:04:05")};
    event ev;

    /* Default config (aggregate_type column) against the seed table. */
    ck_assert_int_eq(map(m, &seed, row, 1, 1, 0, &ev, err, sizeof err), -1);
    ck_assert_str_eq(err, "outbox table public.outbox has no column \"aggregate_type\": set "
                          "outbox.columns.aggregate_type to the right column (or \"\" if the "
                          "table has none)");
    event_mapper_free(m);
}
END_TEST

/* ${schema} and ${table} are the row's table (several outbox tables, tables.h), unless
 * the table has a column of that name, which keeps meaning the column. */
START_TEST(template_names_the_rows_table)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m;
    static const char *const with_schema_col[] = {"id",      "aggregate_type", "aggregate_id",
                                                  "event_type", "payload",     "schema"};
    event_value row[] = {T("1"), T("order"), T("k"), T("T"), T("{}"), T("h"), T("2026-01-02")};
    event_value row6[] = {T("1"), T("order"), T("k"), T("T"), T("{}"), T("v2")};
    event_row a = {"tenant_a", "outbox", 7, outbox.names, row, 10, 0, NULL};
    event_row b = {"tenant_b", "events", 7, outbox.names, row, 11, 0, NULL};
    event_row c = {"tenant_c", "outbox", 6, with_schema_col, row6, 12, 0, NULL};
    event ev;

    cfg.outbox.topic = "${schema}.${table}.${aggregate_type}";
    cfg.outbox.columns.headers = "";
    cfg.outbox.columns.created_at = "";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(event_map(m, &a, 1, 1, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "tenant_a.outbox.order");
    ck_assert_int_eq(event_map(m, &b, 1, 2, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "tenant_b.events.order");
    ck_assert_int_eq(event_map(m, &c, 1, 3, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "v2.outbox.order");
    /* Back to the first table: bound again, its own names again. */
    ck_assert_int_eq(event_map(m, &a, 1, 4, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "tenant_a.outbox.order");
    event_mapper_free(m);
}
END_TEST

/* A table's columns checked before any row of it (at start, or a table joining in the
 * stream): the same message as event_map's, and the mapper binds afresh afterwards. */
START_TEST(columns_are_checked_without_a_row)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    static const char *const reordered[] = {"created_at",   "headers",        "payload", "event_type",
                                            "aggregate_id", "aggregate_type", "id"};
    /* Same shape number as `outbox` below, other column order: a binding left behind would
     * read the wrong columns. */
    event_row good = {"tenant_a", "outbox", 7, reordered, NULL, outbox.shape, 0, NULL};
    event_row bad = {"tenant_c", "outbox", seed.ncols, seed.names, NULL, 0, 0, NULL};
    event_value row[] = {T("42"), T("order"), T("order-7"), T("OrderCreated"), T("{}"), NUL,
                         T("2026-11-27 07:51:30+00")};
    event ev;

    ck_assert_int_eq(event_check_columns(m, &good, err, sizeof err), 0);
    ck_assert_int_eq(event_check_columns(m, &bad, err, sizeof err), -1);
    ck_assert_str_eq(err, "outbox table tenant_c.outbox has no column \"aggregate_type\": set "
                          "outbox.columns.aggregate_type to the right column (or \"\" if the "
                          "table has none)");
    ck_assert_int_eq(event_check_columns(m, &good, err, sizeof err), 0);
    ck_assert_int_eq(map(m, &outbox, row, 1, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.id, "42");
    cfg.outbox.topic = "t.${tenant}";
    event_mapper_free(m);
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    ck_assert_int_eq(event_check_columns(m, &good, err, sizeof err), -1);
    ck_assert_str_eq(err, "outbox.topic: placeholder ${tenant} names no column of "
                          "tenant_a.outbox");
    event_mapper_free(m);
}
END_TEST

START_TEST(relation_change_rebinds_columns)
{
    relay_config cfg = default_config();
    char err[256] = "";
    event_mapper *m;
    static const char *const moved[] = {"extra",   "id",        "aggregate_id", "event_type",
                                        "payload", "created_at"};
    table altered = {6, moved, 4}; /* the seed table after ALTER TABLE: another shape */
    event_value row1[] = {T("5"), T("k1"), T("T"), T("{}"), T("2026-01-02 03:04:05")};
    event_value row2[] = {T("zz"), T("6"), T("k2"), T("T"), T("{}"), T("2026-01-02 03:04:05")};
    event ev;

    cfg.outbox.topic = "fixed";
    cfg.outbox.columns.aggregate_type = "";
    cfg.outbox.columns.headers = "";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    ck_assert_int_eq(map(m, &seed, row1, 1, 1, 0, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.id, "5");
    ck_assert_int_eq(map(m, &altered, row2, 1, 2, 0, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.id, "6");
    ck_assert_str_eq(ev.key, "k2");
    event_mapper_free(m);
}
END_TEST

START_TEST(timestamps)
{
    int64_t us = 0;

    ck_assert(event_parse_time("1970-01-01 00:00:00", 19, &us));
    ck_assert_int_eq(us, 0);
    ck_assert(event_parse_time("1970-01-01 02:00:00.5+02", 24, &us));
    ck_assert_int_eq(us, 500000);
    ck_assert(event_parse_time("1970-01-01 00:00:00-05:30", 25, &us));
    ck_assert_int_eq(us, 19800000000LL);
    ck_assert(event_parse_time("1970-01-01 00:00:00+00:53:28", 28, &us)); /* historical zone */
    ck_assert_int_eq(us, -3208000000LL);
    ck_assert(event_parse_time("1970-01-02", 10, &us));
    ck_assert_int_eq(us, 86400000000LL);
    ck_assert(event_parse_time("1970-01-01 00:00:00.123456789", 29, &us)); /* beyond µs: cut */
    ck_assert_int_eq(us, 123456);
    ck_assert(!event_parse_time("1970-01-01 00:00:00", 10 + 3, &us)); /* length is respected */
    ck_assert(!event_parse_time("1970-02-30", 10, &us));
    ck_assert(!event_parse_time("1970-01-01 00:00:00 BC", 22, &us));
    ck_assert(!event_parse_time("infinity", 8, &us));
}
END_TEST

/* check's census of event topics: which existing topics the template can name. */
START_TEST(topic_template_matches_the_topics_it_can_name)
{
    ck_assert(event_topic_matches("orders", "orders"));
    ck_assert(!event_topic_matches("orders", "orders2"));
    ck_assert(!event_topic_matches("orders", "order"));
    ck_assert(event_topic_matches("outbox.event.${aggregate_type}", "outbox.event.order"));
    ck_assert(event_topic_matches("outbox.event.${aggregate_type}", "outbox.event.a.b"));
    ck_assert(!event_topic_matches("outbox.event.${aggregate_type}", "outbox.events.order"));
    ck_assert(!event_topic_matches("outbox.event.${aggregate_type}", "outbox.checkpoints"));
    ck_assert(event_topic_matches("${schema}.${aggregate_type}.v1", "app.order.v1"));
    ck_assert(event_topic_matches("${schema}.${aggregate_type}.v1", "app.order.v1.v1"));
    ck_assert(!event_topic_matches("${schema}.${aggregate_type}.v1", "app.order.v2"));
}
END_TEST

Suite *suite_event(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("map");

    tcase_add_test(tc, maps_a_row_with_template_topic_and_headers);
    tcase_add_test(tc, seed_table_with_fixed_topic_and_envelope);
    tcase_add_test(tc, envelope_escapes_strings);
    tcase_add_test(tc, replayed_row_names_its_job_not_a_position);
    tcase_add_test(tc, zone_less_created_at_is_read_in_the_zone);
    tcase_add_test(tc, row_headers_cannot_repeat_the_relays_own);
    tcase_add_loop_test(tc, envelope_refuses_a_payload_that_is_not_json, 0,
                        sizeof payload_texts / sizeof payload_texts[0]);
    tcase_add_test(tc, no_created_at_uses_commit_time);
    tcase_add_loop_test(tc, bad_rows_are_refused_with_a_reason, 0,
                        (int)(sizeof bad_rows / sizeof bad_rows[0]));
    tcase_add_test(tc, missing_column_names_the_setting);
    tcase_add_test(tc, version_column_is_mapped);
    tcase_add_test(tc, relation_change_rebinds_columns);
    tcase_add_test(tc, template_names_the_rows_table);
    tcase_add_test(tc, columns_are_checked_without_a_row);
    tcase_add_test(tc, timestamps);
    tcase_add_test(tc, topic_template_matches_the_topics_it_can_name);
    suite_add_tcase(s, tc);
    return s;
}
