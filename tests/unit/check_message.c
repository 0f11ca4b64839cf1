/* Logical-message outbox: which messages are events, and a message's content → the neutral row
 * → the same event a table row gives (message.h, event.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "message.h"
#include "pgoutput.h"
#include "suites.h"

#ifndef RELAY_SOURCE_DIR
#error "RELAY_SOURCE_DIR must name the source tree (set by CMakeLists.txt)"
#endif

#define COMMIT_US 1795765890123456LL /* 2026-11-27 07:51:30.123456 UTC */

static relay_config messages_config(void)
{
    relay_config cfg = *test_config_defaults();

    cfg.outbox.source = CONFIG_SOURCE_MESSAGES;
    return cfg;
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

/* The value of the row's column called name, or NULL (SQL NULL or no such column). */
static const event_value *column(const event_row *row, const char *name)
{
    for (int i = 0; i < row->ncols; i++)
        if (strcmp(row->names[i], name) == 0)
            return row->values[i].data != NULL ? &row->values[i] : NULL;
    return NULL;
}

static void assert_text(const char *data, size_t len, const char *want)
{
    ck_assert_msg(data != NULL, "expected \"%s\", got NULL", want);
    ck_assert_msg(len == strlen(want) && memcmp(data, want, len) == 0,
                  "expected \"%s\", got \"%.*s\"", want, (int)len, data);
}

START_TEST(only_transactional_messages_with_the_prefix_are_events)
{
    relay_config cfg = messages_config();

    ck_assert_int_eq(message_classify(&cfg, true, "outbox"), MESSAGE_EVENT);
    ck_assert_int_eq(message_classify(&cfg, true, "outbox2"), MESSAGE_OTHER_PREFIX);
    ck_assert_int_eq(message_classify(&cfg, true, ""), MESSAGE_OTHER_PREFIX);
    ck_assert_int_eq(message_classify(&cfg, false, "outbox"), MESSAGE_NON_TRANSACTIONAL);
    cfg.outbox.message_prefix = "orders";
    ck_assert_int_eq(message_classify(&cfg, true, "orders"), MESSAGE_EVENT);
    ck_assert_int_eq(message_classify(&cfg, true, "outbox"), MESSAGE_OTHER_PREFIX);
    ck_assert_str_eq(message_kind_name(MESSAGE_OTHER_PREFIX), "other_prefix");
    ck_assert_str_eq(message_kind_name(MESSAGE_NON_TRANSACTIONAL), "non_transactional");
}
END_TEST

/* A whole message maps as a table row would: topic from the template, key, headers, the
 * payload with its digits as written, the commit time as the timestamp. */
START_TEST(message_maps_like_a_table_row)
{
    relay_config cfg = messages_config();
    char err[512] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    message_reader *r = message_reader_new(&cfg);
    const char *content =
        "{\"aggregate_type\": \"order\", \"aggregate_id\": \"order-7\", \"event_type\": "
        "\"OrderCreated\",\n \"payload\": {\"order_id\": 7, \"amount\": 19.10, \"big\": "
        "123456789012345678901234567890},\n \"headers\": {\"traceparent\": \"00-abc-01\"}, "
        "\"id\": 42}";
    event_row row;
    event ev;
    size_t len = 0;
    const char *v;

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(message_check_mapper(r, m, err, sizeof err), 0);
    ck_assert_int_eq(message_row(r, content, strlen(content), 0x16B3748, 3, COMMIT_US, &row, err,
                                 sizeof err),
                     0);
    ck_assert_int_eq(event_map(m, &row, 0x16B3748, 3, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "outbox.event.order");
    assert_text(ev.key, ev.key_len, "order-7");
    ck_assert_str_eq(ev.id, "42"); /* a number as written */
    ck_assert_str_eq(ev.type, "OrderCreated");
    assert_text(ev.value, ev.value_len,
                "{\"order_id\": 7, \"amount\": 19.10, \"big\": 123456789012345678901234567890}");
    ck_assert_int_eq(ev.timestamp_ms, COMMIT_US / 1000);
    v = header(&ev, EVENT_HDR_POSITION, &len);
    assert_text(v, len, "00000000016B3748-00000003");
    v = header(&ev, "traceparent", &len);
    assert_text(v, len, "00-abc-01");
    v = header(&ev, EVENT_HDR_AGGREGATE_TYPE, &len);
    assert_text(v, len, "order");
    message_reader_free(r);
    event_mapper_free(m);
}
END_TEST

/* Without "id" (or with "id": null) the event id is the position; a string id is kept. */
START_TEST(event_id_is_the_position_unless_the_message_has_one)
{
    relay_config cfg = messages_config();
    char err[512] = "";
    message_reader *r = message_reader_new(&cfg);
    static const char *const contents[] = {
        "{\"aggregate_id\": 5, \"event_type\": \"T\", \"payload\": {}}",
        "{\"aggregate_id\": 5, \"event_type\": \"T\", \"payload\": {}, \"id\": null}",
        "{\"aggregate_id\": 5, \"event_type\": \"T\", \"payload\": {}, \"id\": \"a-b\"}",
    };
    static const char *const ids[] = {"00000001000000A0-0000000C", "00000001000000A0-0000000C",
                                      "a-b"};
    event_row row;
    const event_value *v;

    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(message_row(r, contents[i], strlen(contents[i]), 0x1000000A0ULL, 12,
                                     COMMIT_US, &row, err, sizeof err),
                         0);
        v = column(&row, "id");
        assert_text(v->data, v->len, ids[i]);
        v = column(&row, "aggregate_id");
        assert_text(v->data, v->len, "5");
        ck_assert_ptr_null(column(&row, "aggregate_type"));
        ck_assert_ptr_null(column(&row, "headers"));
        v = column(&row, "created_at");
        assert_text(v->data, v->len, "2026-11-27 07:51:30.123456+00");
    }
    message_reader_free(r);
}
END_TEST

/* Keys written with escapes are the keys they decode to; a repeated key counts once, the last
 * (as the JSON reader keeps it); strings are decoded. */
START_TEST(escaped_and_repeated_keys)
{
    relay_config cfg = messages_config();
    char err[512] = "";
    message_reader *r = message_reader_new(&cfg);
    const char *content = "{\"aggregate_\\u0069d\": \"k\\\"1\", \"event_type\": \"T\", "
                          "\"payload\": [1], \"payload\": {\"x\": \"}]\"}}";
    event_row row;
    const event_value *v;

    ck_assert_int_eq(message_row(r, content, strlen(content), 1, 1, 0, &row, err, sizeof err), 0);
    v = column(&row, "aggregate_id");
    assert_text(v->data, v->len, "k\"1");
    v = column(&row, "payload");
    assert_text(v->data, v->len, "{\"x\": \"}]\"}");
    message_reader_free(r);
}
END_TEST

static const struct {
    const char *content;
    const char *reason; /* a part of the reason */
} bad_messages[] = {
    {"not json", "message content is not JSON"},
    {"{\"aggregate_id\": \"k\", ", "message content is not JSON"},
    {"[1, 2]", "message content is an array, not a JSON object"},
    {"\"text\"", "message content is a string, not a JSON object"},
    {"{\"event_type\": \"T\", \"payload\": {}}", "has no \"aggregate_id\""},
    {"{\"aggregate_id\": \"k\", \"payload\": {}}", "has no \"event_type\""},
    {"{\"aggregate_id\": \"k\", \"event_type\": \"T\"}", "has no \"payload\""},
    {"{\"aggregate_id\": \"k\", \"event_type\": \"T\", \"payload\": null}", "has no \"payload\""},
    {"{\"aggregate_id\": {\"a\": 1}, \"event_type\": \"T\", \"payload\": {}}",
     "message key \"aggregate_id\" is an object; expected a string or a number"},
    {"{\"aggregate_id\": \"k\", \"event_type\": true, \"payload\": {}}",
     "message key \"event_type\" is a boolean"},
};

/* A message that cannot become an event is a bad row: a reason, and a row with the whole
 * content as its payload that event_map salvages into a dead letter. */
START_TEST(bad_messages_are_bad_rows_with_a_reason)
{
    relay_config cfg = messages_config();
    char err[512] = "", map_err[512];
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    message_reader *r = message_reader_new(&cfg);
    const char *content = bad_messages[_i].content;
    event_row row;
    event ev;
    const event_value *v;

    ck_assert_int_eq(message_row(r, content, strlen(content), 0x20, 2, COMMIT_US, &row, err,
                                 sizeof err),
                     MESSAGE_BAD);
    ck_assert_msg(strstr(err, bad_messages[_i].reason) != NULL, "\"%s\": reason \"%s\"", content,
                  err);
    v = column(&row, "payload");
    assert_text(v->data, v->len, content);
    v = column(&row, "id");
    assert_text(v->data, v->len, "0000000000000020-00000002");
    ck_assert_int_ge(event_map(m, &row, 0x20, 2, &ev, map_err, sizeof map_err), 0);
    ck_assert_str_eq(ev.id, "0000000000000020-00000002");
    message_reader_free(r);
    event_mapper_free(m);
}
END_TEST

/* The seed article's shape (no aggregate_type or headers column, a fixed topic, the envelope)
 * and a version key named like schemas.version_column. */
START_TEST(configured_columns_decide_what_is_read)
{
    relay_config cfg = messages_config();
    char err[512] = "";
    event_mapper *m;
    message_reader *r;
    const char *content = "{\"aggregate_type\": \"ignored\", \"aggregate_id\": \"1000\", "
                          "\"event_type\": \"OrderCreated\", \"payload\": {\"amount\": 99.50}, "
                          "\"headers\": {\"h\": 1}, \"schema_version\": 2}";
    event_row row;
    event ev;

    cfg.outbox.topic = "orders";
    cfg.outbox.value = CONFIG_VALUE_ENVELOPE;
    cfg.outbox.columns.aggregate_type = "";
    cfg.outbox.columns.headers = "";
    cfg.schemas.version_column = "schema_version";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    r = message_reader_new(&cfg);
    ck_assert_int_eq(message_check_mapper(r, m, err, sizeof err), 0);
    ck_assert_int_eq(message_row(r, content, strlen(content), 0x30, 1, COMMIT_US, &row, err,
                                 sizeof err),
                     0);
    ck_assert_int_eq(event_map(m, &row, 0x30, 1, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "orders");
    ck_assert_str_eq(ev.value, "{\"event_id\":\"0000000000000030-00000001\",\"type\":"
                               "\"OrderCreated\",\"payload\":{\"amount\": 99.50}}");
    ck_assert_int_eq(ev.nheaders, 3); /* id, type, position */
    assert_text(ev.version, ev.version_len, "2");
    message_reader_free(r);
    event_mapper_free(m);
}
END_TEST

/* A topic placeholder no message key fills is refused at start, naming the setting. */
START_TEST(topic_placeholder_without_a_key_is_refused)
{
    relay_config cfg = messages_config();
    char err[512] = "";
    event_mapper *m;
    message_reader *r;

    cfg.outbox.topic = "events.${tenant}";
    m = event_mapper_new(&cfg, NULL, err, sizeof err);
    r = message_reader_new(&cfg);
    ck_assert_int_eq(message_check_mapper(r, m, err, sizeof err), -1);
    ck_assert_msg(
        strstr(err, "outbox.source = \"messages\": outbox.topic: placeholder ${tenant}") == err,
        "%s", err);
    message_reader_free(r);
    event_mapper_free(m);
}
END_TEST

/* The Message payload labelled label in fixtures/messages.txt (capture-messages.sh: a real
 * server's pgoutput with messages 'true'), decoded. buf keeps the bytes msg points into. */
static void captured(const char *label, uint8_t *buf, size_t size, pgo_msg *msg)
{
    FILE *f = fopen(RELAY_SOURCE_DIR "/tests/unit/fixtures/messages.txt", "r");
    char line[4096], err[256];
    size_t n = strlen(label), len = 0;
    pgo_decoder *dec = pgo_decoder_new();

    ck_assert_ptr_nonnull(f);
    while (len == 0 && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, label, n) != 0 || line[n] != ' ')
            continue;
        for (const char *h = line + n + 1; h[0] && h[1] && h[0] != '\n' && len < size; h += 2) {
            char pair[3] = {h[0], h[1], 0};
            buf[len++] = (uint8_t)strtoul(pair, NULL, 16);
        }
    }
    fclose(f);
    ck_assert_msg(len > 0, "no message labelled %s in fixtures/messages.txt", label);
    ck_assert_msg(pgo_decode(dec, buf, len, msg, err, sizeof err) == 0, "%s: %s", label, err);
    ck_assert_int_eq(msg->kind, PGO_MESSAGE);
    pgo_decoder_free(dec); /* a Message points into buf, not into the decoder */
}

/* Messages as a real server sends them: only the transactional one with the prefix is an
 * event, and it maps with its bytes as written (UTF-8 and digits included). */
START_TEST(captured_messages)
{
    relay_config cfg = messages_config();
    char err[512] = "";
    event_mapper *m = event_mapper_new(&cfg, NULL, err, sizeof err);
    message_reader *r = message_reader_new(&cfg);
    uint8_t buf[2048];
    pgo_msg msg;
    event_row row;
    event ev;
    size_t len = 0;
    const char *v;

    captured("non_transactional", buf, sizeof buf, &msg);
    ck_assert_int_eq(message_classify(&cfg, msg.u.message.flags & 1, msg.u.message.prefix),
                     MESSAGE_NON_TRANSACTIONAL);
    captured("other_prefix", buf, sizeof buf, &msg);
    ck_assert_int_eq(message_classify(&cfg, msg.u.message.flags & 1, msg.u.message.prefix),
                     MESSAGE_OTHER_PREFIX);

    captured("bad", buf, sizeof buf, &msg);
    ck_assert_int_eq(message_classify(&cfg, msg.u.message.flags & 1, msg.u.message.prefix),
                     MESSAGE_EVENT);
    ck_assert_int_eq(message_row(r, msg.u.message.content, msg.u.message.content_len, 0x50, 2,
                                 COMMIT_US, &row, err, sizeof err),
                     MESSAGE_BAD);
    ck_assert_msg(strstr(err, "message content is not JSON") == err, "%s", err);

    captured("event", buf, sizeof buf, &msg);
    ck_assert_int_eq(message_classify(&cfg, msg.u.message.flags & 1, msg.u.message.prefix),
                     MESSAGE_EVENT);
    ck_assert_int_eq(message_row(r, msg.u.message.content, msg.u.message.content_len, 0x50, 1,
                                 COMMIT_US, &row, err, sizeof err),
                     0);
    ck_assert_int_eq(event_map(m, &row, 0x50, 1, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev.topic, "outbox.event.order");
    assert_text(ev.key, ev.key_len, "o-1");
    ck_assert_str_eq(ev.type, "OrderPaid");
    ck_assert_str_eq(ev.id, "0000000000000050-00000001");
    assert_text(ev.value, ev.value_len, "{\"amount\": 19.10, \"note\": \"caf\xc3\xa9\"}");
    v = header(&ev, "traceparent", &len);
    assert_text(v, len, "00-abc-01");
    message_reader_free(r);
    event_mapper_free(m);
}
END_TEST

Suite *suite_message(void)
{
    Suite *s = suite_create("message");
    TCase *tc = tcase_create("message");

    tcase_add_test(tc, only_transactional_messages_with_the_prefix_are_events);
    tcase_add_test(tc, message_maps_like_a_table_row);
    tcase_add_test(tc, event_id_is_the_position_unless_the_message_has_one);
    tcase_add_test(tc, escaped_and_repeated_keys);
    tcase_add_loop_test(tc, bad_messages_are_bad_rows_with_a_reason, 0,
                        (int)(sizeof bad_messages / sizeof bad_messages[0]));
    tcase_add_test(tc, configured_columns_decide_what_is_read);
    tcase_add_test(tc, topic_placeholder_without_a_key_is_refused);
    tcase_add_test(tc, captured_messages);
    suite_add_tcase(s, tc);
    return s;
}
