/*
 * The policy module: which schema an event gets, the policies, the dead-letter record, and the
 * positions Kafka refused as too large. Schemas are written to a temporary directory, as an
 * operator's schemas.dir.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "suites.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char order_created[] =
    "{\"$schema\": \"http://json-schema.org/draft-07/schema#\",\n"
    " \"type\": \"object\", \"required\": [\"order_id\", \"amount\"],\n"
    " \"properties\": {\"order_id\": {\"type\": \"integer\"},\n"
    "                \"amount\": {\"$ref\": \"Common.json#/definitions/money\"}}}\n";
static const char order_created_v2[] =
    "{\"type\": \"object\", \"required\": [\"order_id\", \"currency\"]}\n";
static const char common[] =
    "{\"definitions\": {\"money\": {\"type\": \"number\", \"minimum\": 0}}}\n";
static const char envelope[] =
    "{\"type\": \"object\", \"required\": [\"event_id\", \"type\", \"payload\"],\n"
    " \"properties\": {\"type\": {\"const\": \"Envelope\"}}}\n";

static void make_schemas(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_policy_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_file("OrderCreated.json", order_created);
    write_file("OrderCreated.v2.json", order_created_v2);
    write_file("Common.json", common);
    write_file("Envelope.json", envelope);
    write_file("Paid.v3.json", "{\"required\": [\"paid\"]}");
    write_file("notes.txt", "not a schema");
}

static relay_config config(void)
{
    relay_config cfg = *test_config_defaults(); /* dead_letter, allow, payload, 2020-12 */

    cfg.schemas.dir = dir;
    cfg.dead_letter.topic = "dlq";
    return cfg;
}

/* An event as event_map would make it (payload form unless value is given). */
static event make_event(const char *type, const char *payload)
{
    event ev;

    memset(&ev, 0, sizeof ev);
    ev.topic = "orders";
    ev.key = "order-7";
    ev.key_len = 7;
    ev.value = ev.payload = payload;
    ev.value_len = ev.payload_len = strlen(payload);
    ev.id = "42";
    ev.type = type;
    ev.timestamp_ms = 1234;
    ev.commit_lsn = 0x16B3748;
    ev.index = 3;
    ev.headers[0] = (event_header){EVENT_HDR_ID, "42", 2};
    ev.headers[1] = (event_header){EVENT_HDR_TYPE, type, strlen(type)};
    ev.headers[2] = (event_header){EVENT_HDR_POSITION, "00000000016B3748-00000003", 25};
    ev.nheaders = 3;
    return ev;
}

static const char *header(const event *ev, const char *name)
{
    static char buf[1024];

    for (int i = 0; i < ev->nheaders; i++)
        if (strcmp(ev->headers[i].name, name) == 0) {
            snprintf(buf, sizeof buf, "%.*s", (int)ev->headers[i].value_len, ev->headers[i].value);
            return buf;
        }
    return NULL;
}

static policy *new_policy(const relay_config *cfg)
{
    char err[1024] = "";
    policy *r = policy_new(cfg, err, sizeof err);

    ck_assert_msg(r != NULL, "%s", err);
    return r;
}

START_TEST(without_schemas_everything_is_published)
{
    relay_config cfg = config();
    policy *r;
    policy_verdict v;
    event ev = make_event("Anything", "not even json");

    cfg.schemas.dir = "";
    r = new_policy(&cfg);
    ck_assert_int_eq(policy_schema_count(r), 0);
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    ck_assert_int_eq(v.reason, POLICY_VALID);
    /* Rows that cannot become records still follow on_invalid. */
    policy_refused(r, POLICY_BAD_ROW, "column \"aggregate_id\" is NULL", &v);
    ck_assert_int_eq(v.action, POLICY_DEAD_LETTER);
    ck_assert_str_eq(policy_reason_name(v.reason), "bad_row");
    policy_free(r);
}
END_TEST

START_TEST(valid_and_invalid_events)
{
    relay_config cfg = config();
    policy *r;
    policy_verdict v;
    event ok = make_event("OrderCreated", "{\"order_id\": 7, \"amount\": 19.99}");
    event bad = make_event("OrderCreated", "{\"order_id\": 7, \"amount\": \"free\"}");

    make_schemas();
    r = new_policy(&cfg);
    ck_assert_int_eq(policy_schema_count(r), 5);
    policy_event(r, &ok, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    ck_assert_str_eq(v.schema, "");
    policy_event(r, &bad, &v);
    ck_assert_int_eq(v.action, POLICY_DEAD_LETTER);
    ck_assert_int_eq(v.reason, POLICY_INVALID);
    ck_assert_str_eq(v.schema, "OrderCreated.json");
    ck_assert_str_eq(v.error, "/amount: type: expected number, got string");
    policy_free(r);

    cfg.schemas.on_invalid = CONFIG_ON_INVALID_STOP;
    r = new_policy(&cfg);
    policy_event(r, &bad, &v);
    ck_assert_int_eq(v.action, POLICY_STOP);
    policy_refused(r, POLICY_TOO_LARGE, "too big", &v);
    ck_assert_int_eq(v.action, POLICY_STOP);
    policy_free(r);
    remove_dir();
}
END_TEST

START_TEST(unknown_types_follow_their_policy)
{
    static const struct {
        config_on_unknown policy;
        policy_action action;
    } cases[] = {{CONFIG_ON_UNKNOWN_ALLOW, POLICY_PUBLISH},
                 {CONFIG_ON_UNKNOWN_DEAD_LETTER, POLICY_DEAD_LETTER},
                 {CONFIG_ON_UNKNOWN_STOP, POLICY_STOP}};
    relay_config cfg = config();
    event ev = make_event("OrderShipped", "{}");

    make_schemas();
    for (size_t i = 0; i < 3; i++) {
        policy *r;
        policy_verdict v;

        cfg.schemas.on_unknown_type = cases[i].policy;
        cfg.schemas.on_invalid = CONFIG_ON_INVALID_STOP; /* must not matter */
        r = new_policy(&cfg);
        policy_event(r, &ev, &v);
        ck_assert_int_eq(v.action, cases[i].action);
        ck_assert_int_eq(v.reason, POLICY_UNKNOWN_TYPE);
        ck_assert_msg(strstr(v.error, "no schema for event type \"OrderShipped\"") != NULL, "%s",
                      v.error);
        policy_free(r);
    }
    remove_dir();
}
END_TEST

START_TEST(versions_from_a_header_or_a_column)
{
    relay_config cfg = config();
    policy *r;
    policy_verdict v;
    event ev = make_event("OrderCreated", "{\"order_id\": 7, \"currency\": \"EUR\"}");

    make_schemas();
    cfg.schemas.version_header = "schema_version";
    cfg.schemas.on_unknown_type = CONFIG_ON_UNKNOWN_DEAD_LETTER;
    r = new_policy(&cfg);
    /* No header: the unversioned file, which wants an amount. */
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.reason, POLICY_INVALID);
    ev.headers[ev.nheaders++] = (event_header){"schema_version", "v2", 2};
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    /* v2 wants a currency: without one the verdict names the v2 file. */
    ev.headers[ev.nheaders - 1] = (event_header){"schema_version", "2", 1};
    ev.payload = ev.value = "{\"order_id\": 7, \"amount\": 1}";
    ev.payload_len = ev.value_len = strlen(ev.payload);
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.reason, POLICY_INVALID);
    ck_assert_str_eq(v.schema, "OrderCreated.v2.json");
    ev = make_event("OrderCreated", "{\"order_id\": 7, \"currency\": \"EUR\"}");
    ev.headers[ev.nheaders++] = (event_header){"schema_version", "2", 1};
    ev.headers[ev.nheaders - 1] = (event_header){"schema_version", "9", 1};
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_DEAD_LETTER);
    ck_assert_int_eq(v.reason, POLICY_UNKNOWN_TYPE);
    ck_assert_msg(strstr(v.error, "version 9") != NULL, "%s", v.error);
    ev.headers[ev.nheaders - 1] = (event_header){"schema_version", "two", 3};
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.reason, POLICY_UNKNOWN_TYPE);
    ck_assert_msg(strstr(v.error, "version \"two\" is not a schema version") != NULL, "%s",
                  v.error);
    policy_free(r);

    /* From a column (event_map puts it in ev.version); a type with only versioned files
     * resolves to its highest version without one. */
    cfg.schemas.version_header = "";
    cfg.schemas.version_column = "schema_version";
    r = new_policy(&cfg);
    ev = make_event("OrderCreated", "{\"order_id\": 7, \"currency\": \"EUR\"}");
    ev.version = "2";
    ev.version_len = 1;
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    ev.payload = ev.value = "{}";
    ev.payload_len = ev.value_len = 2;
    policy_event(r, &ev, &v);
    ck_assert_str_eq(v.schema, "OrderCreated.v2.json");
    ev = make_event("Paid", "{\"paid\": true}");
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    ev = make_event("Paid", "{}");
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.reason, POLICY_INVALID);
    ck_assert_str_eq(v.schema, "Paid.v3.json");
    policy_free(r);
    remove_dir();
}
END_TEST

START_TEST(applies_to_value_checks_the_envelope)
{
    relay_config cfg = config();
    policy *r;
    policy_verdict v;
    event ev = make_event("Envelope", "{\"x\": 1}");

    make_schemas();
    cfg.schemas.applies_to = CONFIG_APPLIES_TO_VALUE;
    r = new_policy(&cfg);
    ev.value = "{\"event_id\": \"42\", \"type\": \"Envelope\", \"payload\": {\"x\": 1}}";
    ev.value_len = strlen(ev.value);
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    ev.value = "{\"event_id\": \"42\", \"payload\": {\"x\": 1}}";
    ev.value_len = strlen(ev.value);
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.reason, POLICY_INVALID);
    ck_assert_str_eq(v.error, "(root): required: missing property \"type\"");
    policy_free(r);
    remove_dir();
}
END_TEST

START_TEST(dead_letter_record_keeps_key_value_and_says_why)
{
    relay_config cfg = config();
    policy *r;
    policy_verdict v;
    event ev = make_event("OrderCreated", "{\"order_id\": \"seven\", \"amount\": 1}");
    event dl;
    char line[2048];

    make_schemas();
    r = new_policy(&cfg);
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_DEAD_LETTER);
    policy_dead_letter(r, &ev, &v, false, &dl);
    ck_assert_str_eq(dl.topic, "dlq");
    ck_assert_ptr_eq(dl.key, ev.key);
    ck_assert_int_eq(dl.key_len, 7);
    ck_assert_ptr_eq(dl.value, ev.value);
    ck_assert_int_eq(dl.value_len, ev.value_len);
    ck_assert_int_eq(dl.timestamp_ms, 1234);
    ck_assert_str_eq(header(&dl, POLICY_HDR_REASON), "invalid");
    ck_assert_str_eq(header(&dl, POLICY_HDR_ERROR), "/order_id: type: expected integer, got string");
    ck_assert_str_eq(header(&dl, POLICY_HDR_SCHEMA), "OrderCreated.json");
    ck_assert_str_eq(header(&dl, POLICY_HDR_TOPIC), "orders");
    ck_assert_str_eq(header(&dl, EVENT_HDR_ID), "42");
    ck_assert_str_eq(header(&dl, EVENT_HDR_POSITION), "00000000016B3748-00000003");
    ck_assert_ptr_null(header(&dl, POLICY_HDR_OMITTED));
    policy_describe(r, &ev, &v, "the relay resumes there", line, sizeof line);
    ck_assert_str_eq(line, "event 42 of type OrderCreated at 0/16B3748:3 (schema "
                           "OrderCreated.json): invalid: /order_id: type: expected integer, got "
                           "string; sent to dlq");

    /* Too large: the value is left out, its size said. */
    policy_refused(r, POLICY_TOO_LARGE, "record is 2000000 bytes", &v);
    policy_dead_letter(r, &ev, &v, false, &dl);
    ck_assert_ptr_null(dl.value);
    ck_assert_int_eq(dl.value_len, 0);
    ck_assert_str_eq(header(&dl, POLICY_HDR_REASON), "too_large");
    snprintf(line, sizeof line, "%zu", ev.value_len);
    ck_assert_str_eq(header(&dl, POLICY_HDR_OMITTED), line);
    policy_free(r);
    remove_dir();
}
END_TEST

START_TEST(dead_letter_headers_fit)
{
    relay_config cfg = config();
    policy *r;
    policy_verdict v;
    event ev = make_event("X", "{}"), dl;

    cfg.schemas.dir = "";
    r = new_policy(&cfg);
    while (ev.nheaders < EVENT_MAX_HEADERS)
        ev.headers[ev.nheaders++] = (event_header){"h", "v", 1};
    policy_refused(r, POLICY_BAD_ROW, "why", &v);
    policy_dead_letter(r, &ev, &v, false, &dl);
    ck_assert_int_eq(dl.nheaders, EVENT_MAX_HEADERS);
    ck_assert_str_eq(header(&dl, POLICY_HDR_REASON), "bad_row");
    ck_assert_str_eq(header(&dl, EVENT_HDR_ID), "42");
    policy_free(r);
}
END_TEST

START_TEST(too_large_marks)
{
    relay_config cfg = config();
    policy *r;
    policy_verdict v;
    event ev = make_event("OrderCreated", "{}"), other = make_event("OrderCreated", "{}");
    char line[2048];

    cfg.schemas.dir = "";
    cfg.batch.max_events = 1; /* the ring's least size, 32 */
    r = new_policy(&cfg);
    other.index = 4;
    ck_assert(policy_mark(r, ev.commit_lsn, ev.index, POLICY_TOO_LARGE, ""));
    ck_assert(!policy_mark(r, ev.commit_lsn, ev.index, POLICY_TOO_LARGE, "")); /* replay did not help */
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_DEAD_LETTER);
    ck_assert_int_eq(v.reason, POLICY_TOO_LARGE);
    policy_event(r, &other, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    /* The ring keeps the newest marks. */
    for (uint32_t i = 100; i < 200; i++)
        ck_assert(policy_mark(r, 1, i, POLICY_TOO_LARGE, ""));
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_PUBLISH);
    policy_free(r);

    cfg.schemas.on_invalid = CONFIG_ON_INVALID_STOP;
    r = new_policy(&cfg);
    policy_mark(r, ev.commit_lsn, ev.index, POLICY_TOO_LARGE, "");
    policy_event(r, &ev, &v);
    ck_assert_int_eq(v.action, POLICY_STOP);
    policy_describe(r, &ev, &v, "the relay resumes there", line, sizeof line);
    ck_assert_msg(strncmp(line, "too_large: the Kafka broker refused the record", 46) == 0, "%s",
                  line);
    ck_assert_msg(strstr(line, "schemas.on_invalid is \"stop\": raise "
                               "kafka.properties.message_max_bytes") != NULL,
                  "%s", line);
    policy_free(r);
}
END_TEST

START_TEST(broken_schema_directories_stop_the_start)
{
    relay_config cfg = config();
    char err[1024] = "";

    make_schemas();
    write_file("Broken.json", "{\"type\": \"object\",\n \"properties\": {\"a\": {\"type\": 5}}}\n");
    ck_assert_ptr_null(policy_new(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "/Broken.json: /properties/a/type:") != NULL, "%s", err);
    ck_assert_msg(strncmp(err, "schemas.dir: ", 13) == 0, "%s", err);
    write_file("Broken.json", "{\"type\": \"object\",\n \"properties\": }\n");
    ck_assert_ptr_null(policy_new(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "/Broken.json:2:") != NULL, "%s", err);
    remove_dir();

    ck_assert_ptr_null(policy_new(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "cannot open schema directory") != NULL, "%s", err);
    ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/check_policy_XXXXXX")));
    ck_assert_ptr_null(policy_new(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "holds no *.json schema") != NULL, "%s", err);
    remove_dir();
}
END_TEST

Suite *suite_policy(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");

    tcase_add_test(tc, without_schemas_everything_is_published);
    tcase_add_test(tc, valid_and_invalid_events);
    tcase_add_test(tc, unknown_types_follow_their_policy);
    tcase_add_test(tc, versions_from_a_header_or_a_column);
    tcase_add_test(tc, applies_to_value_checks_the_envelope);
    tcase_add_test(tc, dead_letter_record_keeps_key_value_and_says_why);
    tcase_add_test(tc, dead_letter_headers_fit);
    tcase_add_test(tc, too_large_marks);
    tcase_add_test(tc, broken_schema_directories_stop_the_start);
    suite_add_tcase(s, tc);
    return s;
}
