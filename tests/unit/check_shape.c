/* Record shapes: outbox.fields as headers and envelope members, CloudEvents in the
 * structured and binary content modes, through event_map as run and backfill call it. */
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "shape.h"
#include "suites.h"

#define T(s) {s, sizeof(s) - 1}
#define NUL {NULL, 0}

/* The outbox table with a few more columns, and their pg_type oids. */
static const char *const columns[] = {"id",      "aggregate_type", "aggregate_id", "event_type",
                                      "payload", "headers",        "created_at",   "tenant",
                                      "priority", "vip",           "meta",         "note"};
static const uint32_t types[] = {20, 25, 25, 25, 3802, 3802, 1184, 25, 23, 16, 3802, 25};
#define NCOLS_ (int)(sizeof columns / sizeof columns[0])

static const config_field fields[] = {
    {"tenant", CONFIG_PLACE_HEADER, "tenant_id"}, {"tenant", CONFIG_PLACE_ENVELOPE, "tenant"},
    {"priority", CONFIG_PLACE_ENVELOPE, "priority"}, {"vip", CONFIG_PLACE_ENVELOPE, "vip"},
    {"meta", CONFIG_PLACE_ENVELOPE, "meta"},         {"note", CONFIG_PLACE_ENVELOPE, "note"},
    {"note", CONFIG_PLACE_HEADER, "note"}};

/* One row: payload and the headers column as given, the extra columns filled in. */
static void row_of(event_value *v, const char *payload, const char *headers, const char *note)
{
    event_value fill[] = {T("42"),  T("order"), T("order-7"), T("OrderCreated"), NUL, NUL,
                          T("2026-11-27 07:51:30.25+00"), T("acme"), T("5"), T("t"),
                          T("{\"a\": [1, 2]}"), NUL};

    memcpy(v, fill, sizeof fill);
    v[4] = (event_value){payload, strlen(payload)};
    if (headers != NULL)
        v[5] = (event_value){headers, strlen(headers)};
    if (note != NULL)
        v[11] = (event_value){note, strlen(note)};
}

static int map(event_mapper *m, const event_value *values, bool typed, event *ev, char *err,
               size_t size)
{
    event_row row = {"public", "outbox", NCOLS_, columns, values, 7, 0, typed ? types : NULL};

    return event_map(m, &row, 0x16B3748, 3, ev, err, size);
}

static relay_config config(config_value value, bool ce_headers, size_t nfields)
{
    relay_config cfg = *test_config_defaults();

    cfg.outbox.value = value;
    cfg.outbox.cloudevents_headers = ce_headers;
    cfg.outbox.cloudevents_source = "/orders/outbox";
    cfg.outbox.fields = (config_field *)fields;
    cfg.outbox.nfields = nfields;
    return cfg;
}

/* The value of header name as a string ("" when absent), and how many carry the name. */
static const char *header(const event *ev, const char *name, int *count)
{
    static char buf[256];

    buf[0] = '\0';
    *count = 0;
    for (int i = 0; i < ev->nheaders; i++)
        if (strcmp(ev->headers[i].name, name) == 0) {
            snprintf(buf, sizeof buf, "%.*s", (int)ev->headers[i].value_len,
                     ev->headers[i].value);
            (*count)++;
        }
    return buf;
}

static void assert_header(const event *ev, const char *name, const char *want)
{
    int n;
    const char *got = header(ev, name, &n);

    ck_assert_msg(n == (want != NULL), "header %s appears %d times", name, n);
    if (want != NULL)
        ck_assert_str_eq(got, want);
}

START_TEST(fields_become_headers_and_typed_envelope_members)
{
    relay_config cfg = config(CONFIG_VALUE_ENVELOPE, false, 7);
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    event_value v[NCOLS_];
    event ev;

    ck_assert_msg(m != NULL, "%s", err);
    /* The row's own tenant_id header gives way to the field's. */
    row_of(v, "{\"n\": 1}", "{\"tenant_id\": \"spoofed\", \"trace\": \"t1\"}", NULL);
    ck_assert_int_eq(map(m, v, true, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.value, "{\"event_id\":\"42\",\"type\":\"OrderCreated\",\"payload\":"
                               "{\"n\": 1},\"tenant\":\"acme\",\"priority\":5,\"vip\":true,"
                               "\"meta\":{\"a\": [1, 2]}}");
    ck_assert_int_eq(ev.payload_len, strlen("{\"n\": 1}"));
    assert_header(&ev, "tenant_id", "acme");
    assert_header(&ev, "trace", "t1");
    assert_header(&ev, "note", NULL); /* NULL omits the header and the member */
    assert_header(&ev, "content-type", NULL);
    assert_header(&ev, "ce_id", NULL);

    /* A reader without types (none known): every member is its text as a string. */
    row_of(v, "{}", NULL, "hi \"you\"");
    ck_assert_int_eq(map(m, v, false, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.value, "{\"event_id\":\"42\",\"type\":\"OrderCreated\",\"payload\":{},"
                               "\"tenant\":\"acme\",\"priority\":\"5\",\"vip\":\"t\",\"meta\":"
                               "\"{\\\"a\\\": [1, 2]}\",\"note\":\"hi \\\"you\\\"\"}");
    assert_header(&ev, "note", "hi \"you\"");
    event_mapper_free(m);
}
END_TEST

START_TEST(field_column_missing_is_refused_naming_it)
{
    relay_config cfg = config(CONFIG_VALUE_PAYLOAD, false, 1);
    config_field missing = {"region", CONFIG_PLACE_HEADER, "region"};
    char err[256] = "";
    event_mapper *m;
    event_value v[NCOLS_];
    event ev;

    cfg.outbox.fields = &missing;
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    row_of(v, "{}", NULL, NULL);
    ck_assert_int_eq(map(m, v, true, &ev, err, sizeof err), -1);
    ck_assert_str_eq(err, "outbox table public.outbox has no column \"region\", which "
                          "outbox.fields names: add the column or remove the entry");
    event_mapper_free(m);
}
END_TEST

START_TEST(structured_cloudevent_is_the_value)
{
    relay_config cfg = config(CONFIG_VALUE_CLOUDEVENTS, false, 0);
    config_field ext[] = {{"tenant", CONFIG_PLACE_ENVELOPE, "tenant"},
                          {"tenant", CONFIG_PLACE_HEADER, "tenant_id"}};
    char err[256] = "";
    event_mapper *m;
    event_value v[NCOLS_];
    event ev;

    cfg.outbox.fields = ext;
    cfg.outbox.nfields = 2;
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    /* The row's content-type and ce_ headers give way: a structured event has none. */
    row_of(v, "{\"n\": 1}", "{\"content-type\": \"x\", \"ce_id\": \"9\", \"trace\": \"t1\"}",
           NULL);
    ck_assert_int_eq(map(m, v, true, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.value,
                     "{\"specversion\":\"1.0\",\"id\":\"42\",\"source\":\"/orders/outbox\","
                     "\"type\":\"OrderCreated\",\"subject\":\"order-7\",\"time\":"
                     "\"2026-11-27T07:51:30.250000Z\",\"datacontenttype\":\"application/json\","
                     "\"data\":{\"n\": 1},\"tenant\":\"acme\"}");
    ck_assert_int_eq(ev.value_len, strlen(ev.value));
    /* Schemas with applies_to = "payload" still see the payload alone. */
    ck_assert_int_eq(ev.payload_len, strlen("{\"n\": 1}"));
    ck_assert_int_eq(memcmp(ev.payload, "{\"n\": 1}", ev.payload_len), 0);
    assert_header(&ev, "content-type", "application/cloudevents+json");
    assert_header(&ev, "ce_id", NULL);
    assert_header(&ev, "trace", "t1");
    assert_header(&ev, "tenant_id", "acme");
    assert_header(&ev, EVENT_HDR_ID, "42");

    /* A payload that is not JSON is the data as a string, and says so. */
    row_of(v, "plain \"text\"", NULL, NULL);
    ck_assert_int_eq(map(m, v, true, &ev, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(ev.value, "\"datacontenttype\":\"text/plain; charset=utf-8\","
                                           "\"data\":\"plain \\\"text\\\"\",\"tenant\""));
    event_mapper_free(m);
}
END_TEST

START_TEST(binary_cloudevent_is_headers)
{
    relay_config cfg = config(CONFIG_VALUE_PAYLOAD, true, 0);
    char err[256] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    event_value v[NCOLS_];
    event ev;

    row_of(v, "{\"n\": 1}", "{\"ce_id\": \"9\", \"ce_tenant\": \"x\", \"content-type\": \"y\"}",
           NULL);
    ck_assert_int_eq(map(m, v, true, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.value, "{\"n\": 1}");
    assert_header(&ev, "content-type", "application/json");
    assert_header(&ev, "ce_specversion", "1.0");
    assert_header(&ev, "ce_id", "42");
    assert_header(&ev, "ce_source", "/orders/outbox");
    assert_header(&ev, "ce_type", "OrderCreated");
    assert_header(&ev, "ce_subject", "order-7");
    assert_header(&ev, "ce_time", "2026-11-27T07:51:30.250000Z");
    assert_header(&ev, "ce_tenant", "x"); /* an extension the row may set */

    row_of(v, "not json", NULL, NULL);
    ck_assert_int_eq(map(m, v, true, &ev, err, sizeof err), 0);
    assert_header(&ev, "content-type", "text/plain; charset=utf-8");
    event_mapper_free(m);

    /* The envelope as the data: JSON. */
    cfg.outbox.value = CONFIG_VALUE_ENVELOPE;
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    row_of(v, "{}", NULL, NULL);
    ck_assert_int_eq(map(m, v, true, &ev, err, sizeof err), 0);
    assert_header(&ev, "content-type", "application/json");
    ck_assert_str_eq(ev.value, "{\"event_id\":\"42\",\"type\":\"OrderCreated\",\"payload\":{}}");
    event_mapper_free(m);
}
END_TEST

START_TEST(times_are_rfc3339_utc)
{
    char t[48];

    shape_format_time(1795765890250000LL, t, sizeof t);
    ck_assert_str_eq(t, "2026-11-27T07:51:30.250000Z");
    shape_format_time(0, t, sizeof t);
    ck_assert_str_eq(t, "1970-01-01T00:00:00.000000Z");
    shape_format_time(-1, t, sizeof t);
    ck_assert_str_eq(t, "1969-12-31T23:59:59.999999Z");
}
END_TEST

Suite *suite_shape(void)
{
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("shape");

    tcase_add_test(tc, fields_become_headers_and_typed_envelope_members);
    tcase_add_test(tc, field_column_missing_is_refused_naming_it);
    tcase_add_test(tc, structured_cloudevent_is_the_value);
    tcase_add_test(tc, binary_cloudevent_is_headers);
    tcase_add_test(tc, times_are_rfc3339_utc);
    suite_add_tcase(s, tc);
    return s;
}
