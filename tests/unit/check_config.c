/*
 * check_config.c — the config loader: defaults, the example files in etc/, every kind of
 * error with its file:line, environment overrides and librdkafka pass-through properties.
 *
 * The expected defaults and variable names below are written out independently of the
 * table in config.c, so a changed default or name fails here.
 */
#include "config.h"
#include "suites.h"

#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RELAY_SOURCE_DIR
#error "RELAY_SOURCE_DIR must name the source tree (set by CMakeLists.txt)"
#endif

#define ETC(f) RELAY_SOURCE_DIR "/etc/" f

static char *no_env[] = {NULL};

/* ---- the settings as documented ---- */

typedef enum { S_STR, S_ENUM, S_INT, S_BOOL } spec_type;

typedef struct setting_spec {
    const char *path;
    const char *env;
    spec_type type;
    size_t offset;
    const char *def; /* the default, as text */
    const char *alt; /* another valid value, as text */
} setting_spec;

#define SPEC(p, e, t, f, d, a) {p, e, t, offsetof(relay_config, f), d, a}

static const setting_spec specs[] = {
    SPEC("name", "OUTBOX_RELAY_NAME", S_STR, name, "outbox-relay", "orders-relay.1"),
    SPEC("log.level", "OUTBOX_RELAY_LOG_LEVEL", S_ENUM, log.level, "info", "debug"),
    SPEC("log.format", "OUTBOX_RELAY_LOG_FORMAT", S_ENUM, log.format, "text", "json"),
    SPEC("postgres.conninfo", "OUTBOX_RELAY_POSTGRES_CONNINFO", S_STR, postgres.conninfo, "",
         "host=db dbname=app"),
    SPEC("postgres.slot", "OUTBOX_RELAY_POSTGRES_SLOT", S_STR, postgres.slot, "outbox_relay",
         "orders_slot"),
    SPEC("postgres.publication", "OUTBOX_RELAY_POSTGRES_PUBLICATION", S_STR,
         postgres.publication, "outbox_pub", "orders_pub"),
    SPEC("postgres.create_slot", "OUTBOX_RELAY_POSTGRES_CREATE_SLOT", S_BOOL,
         postgres.create_slot, "false", "true"),
    SPEC("postgres.status_interval_ms", "OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS", S_INT,
         postgres.status_interval_ms, "10000", "250"),
    SPEC("postgres.connect_timeout_s", "OUTBOX_RELAY_POSTGRES_CONNECT_TIMEOUT_S", S_INT,
         postgres.connect_timeout_s, "10", "3600"),
    SPEC("postgres.slot_warn_bytes", "OUTBOX_RELAY_POSTGRES_SLOT_WARN_BYTES", S_INT,
         postgres.slot_warn_bytes, "1073741824", "0"),
    SPEC("outbox.source", "OUTBOX_RELAY_OUTBOX_SOURCE", S_ENUM, outbox.source, "table",
         "messages"),
    SPEC("outbox.message_prefix", "OUTBOX_RELAY_OUTBOX_MESSAGE_PREFIX", S_STR,
         outbox.message_prefix, "outbox", "orders.v1"),
    SPEC("outbox.table", "OUTBOX_RELAY_OUTBOX_TABLE", S_STR, outbox.table, "public.outbox",
         "app.events"),
    SPEC("outbox.topic", "OUTBOX_RELAY_OUTBOX_TOPIC", S_STR, outbox.topic,
         "outbox.event.${aggregate_type}", "orders"),
    SPEC("outbox.value", "OUTBOX_RELAY_OUTBOX_VALUE", S_ENUM, outbox.value, "payload",
         "envelope"),
    SPEC("outbox.cloudevents_source", "OUTBOX_RELAY_OUTBOX_CLOUDEVENTS_SOURCE", S_STR,
         outbox.cloudevents_source, "/outbox-relay/outbox-relay", "/orders/outbox"),
    SPEC("outbox.cloudevents_headers", "OUTBOX_RELAY_OUTBOX_CLOUDEVENTS_HEADERS", S_BOOL,
         outbox.cloudevents_headers, "false", "true"),
    SPEC("outbox.columns.id", "OUTBOX_RELAY_OUTBOX_COLUMNS_ID", S_STR, outbox.columns.id, "id",
         "event_id"),
    SPEC("outbox.columns.aggregate_type", "OUTBOX_RELAY_OUTBOX_COLUMNS_AGGREGATE_TYPE", S_STR,
         outbox.columns.aggregate_type, "aggregate_type", "kind"),
    SPEC("outbox.columns.aggregate_id", "OUTBOX_RELAY_OUTBOX_COLUMNS_AGGREGATE_ID", S_STR,
         outbox.columns.aggregate_id, "aggregate_id", "order_id"),
    SPEC("outbox.columns.event_type", "OUTBOX_RELAY_OUTBOX_COLUMNS_EVENT_TYPE", S_STR,
         outbox.columns.event_type, "event_type", "type"),
    SPEC("outbox.columns.payload", "OUTBOX_RELAY_OUTBOX_COLUMNS_PAYLOAD", S_STR,
         outbox.columns.payload, "payload", "body"),
    SPEC("outbox.columns.headers", "OUTBOX_RELAY_OUTBOX_COLUMNS_HEADERS", S_STR,
         outbox.columns.headers, "headers", ""),
    SPEC("outbox.columns.created_at", "OUTBOX_RELAY_OUTBOX_COLUMNS_CREATED_AT", S_STR,
         outbox.columns.created_at, "created_at", ""),
    SPEC("kafka.brokers", "OUTBOX_RELAY_KAFKA_BROKERS", S_STR, kafka.brokers,
         "localhost:9092", "k1:9092,k2:9092"),
    SPEC("kafka.checkpoint_topic", "OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC", S_STR,
         kafka.checkpoint_topic, "outbox-relay.checkpoints", "relay.ckpt"),
    SPEC("kafka.create_topics", "OUTBOX_RELAY_KAFKA_CREATE_TOPICS", S_BOOL, kafka.create_topics,
         "true", "false"),
    SPEC("kafka.topic_partitions", "OUTBOX_RELAY_KAFKA_TOPIC_PARTITIONS", S_INT,
         kafka.topic_partitions, "3", "12"),
    SPEC("kafka.replication_factor", "OUTBOX_RELAY_KAFKA_REPLICATION_FACTOR", S_INT,
         kafka.replication_factor, "-1", "3"),
    SPEC("kafka.transaction_timeout_ms", "OUTBOX_RELAY_KAFKA_TRANSACTION_TIMEOUT_MS", S_INT,
         kafka.transaction_timeout_ms, "60000", "900000"),
    SPEC("kafka.commit_timeout_ms", "OUTBOX_RELAY_KAFKA_COMMIT_TIMEOUT_MS", S_INT,
         kafka.commit_timeout_ms, "30000", "1000"),
    SPEC("kafka.commit_pause_ms", "OUTBOX_RELAY_KAFKA_COMMIT_PAUSE_MS", S_INT,
         kafka.commit_pause_ms, "3", "0"),
    SPEC("batch.max_events", "OUTBOX_RELAY_BATCH_MAX_EVENTS", S_INT, batch.max_events, "10000",
         "1"),
    SPEC("batch.max_bytes", "OUTBOX_RELAY_BATCH_MAX_BYTES", S_INT, batch.max_bytes, "8388608",
         "1073741824"),
    SPEC("batch.adaptive", "OUTBOX_RELAY_BATCH_ADAPTIVE", S_BOOL, batch.adaptive, "true", "false"),
    SPEC("batch.linger_ms", "OUTBOX_RELAY_BATCH_LINGER_MS", S_INT, batch.linger_ms, "100", "0"),
    SPEC("schemas.dir", "OUTBOX_RELAY_SCHEMAS_DIR", S_STR, schemas.dir, "", "/etc/relay/schemas"),
    SPEC("schemas.on_invalid", "OUTBOX_RELAY_SCHEMAS_ON_INVALID", S_ENUM, schemas.on_invalid,
         "dead_letter", "stop"),
    SPEC("schemas.on_unknown_type", "OUTBOX_RELAY_SCHEMAS_ON_UNKNOWN_TYPE", S_ENUM,
         schemas.on_unknown_type, "allow", "dead_letter"),
    SPEC("schemas.applies_to", "OUTBOX_RELAY_SCHEMAS_APPLIES_TO", S_ENUM, schemas.applies_to,
         "payload", "value"),
    SPEC("schemas.version_column", "OUTBOX_RELAY_SCHEMAS_VERSION_COLUMN", S_STR,
         schemas.version_column, "", "schema_version"),
    SPEC("schemas.version_header", "OUTBOX_RELAY_SCHEMAS_VERSION_HEADER", S_STR,
         schemas.version_header, "", "schema-version"),
    SPEC("schemas.draft", "OUTBOX_RELAY_SCHEMAS_DRAFT", S_ENUM, schemas.draft, "2020-12", "7"),
    SPEC("schemas.format_assert", "OUTBOX_RELAY_SCHEMAS_FORMAT_ASSERT", S_BOOL,
         schemas.format_assert, "false", "true"),
    SPEC("dead_letter.topic", "OUTBOX_RELAY_DEAD_LETTER_TOPIC", S_STR, dead_letter.topic,
         "outbox-relay.dead-letter", "orders.dlq"),
    SPEC("http.listen", "OUTBOX_RELAY_HTTP_LISTEN", S_STR, http.listen, ":9490", ""),
};

#define NSPECS (sizeof(specs) / sizeof(specs[0]))

/* An enum setting's value by its name; NULL for a field that is no enum. */
static const char *enum_text(const relay_config *cfg, size_t offset)
{
    if (offset == offsetof(relay_config, log.level))
        return config_log_level_name(cfg->log.level);
    if (offset == offsetof(relay_config, log.format))
        return config_log_format_name(cfg->log.format);
    if (offset == offsetof(relay_config, outbox.value))
        return config_value_name(cfg->outbox.value);
    if (offset == offsetof(relay_config, outbox.source))
        return config_source_name(cfg->outbox.source);
    if (offset == offsetof(relay_config, schemas.on_invalid))
        return config_on_invalid_name(cfg->schemas.on_invalid);
    if (offset == offsetof(relay_config, schemas.on_unknown_type))
        return config_on_unknown_name(cfg->schemas.on_unknown_type);
    if (offset == offsetof(relay_config, schemas.applies_to))
        return config_applies_to_name(cfg->schemas.applies_to);
    if (offset == offsetof(relay_config, schemas.draft))
        return config_draft_name(cfg->schemas.draft);
    return NULL;
}

/* The field of cfg that spec describes, as text, for comparing with def/alt. */
static const char *field_text(const relay_config *cfg, const setting_spec *spec, char *buf,
                              size_t size)
{
    const char *field = (const char *)cfg + spec->offset;

    switch (spec->type) {
    case S_STR: return *(char *const *)(const void *)field;
    case S_ENUM: return enum_text(cfg, spec->offset);
    case S_INT: snprintf(buf, size, "%d", *(const int *)(const void *)field); return buf;
    default: return *(const bool *)(const void *)field ? "true" : "false";
    }
}

static void assert_field(const relay_config *cfg, const setting_spec *spec, const char *want,
                         const char *context)
{
    char buf[32];
    const char *got = field_text(cfg, spec, buf, sizeof buf);

    ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: %s is \"%s\", expected \"%s\"",
                  context, spec->path, got ? got : "(null)", want);
}

static void assert_same_config(const relay_config *a, const relay_config *b)
{
    char b1[32], b2[32];

    for (size_t i = 0; i < NSPECS; i++)
        ck_assert_msg(strcmp(field_text(a, &specs[i], b1, sizeof b1),
                             field_text(b, &specs[i], b2, sizeof b2)) == 0,
                      "%s differs: \"%s\" vs \"%s\"", specs[i].path, b1, b2);
    ck_assert_uint_eq(a->kafka.nproperties, b->kafka.nproperties);
    for (size_t i = 0; i < a->kafka.nproperties; i++) {
        ck_assert_str_eq(a->kafka.properties[i].name, b->kafka.properties[i].name);
        ck_assert_str_eq(a->kafka.properties[i].value, b->kafka.properties[i].value);
    }
}

/* ---- temp files ---- */

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/check_config_XXXXXX");
    int fd;
    size_t len = strlen(text);

    ck_assert_ptr_nonnull(path);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void remove_temp(char *path)
{
    unlink(path);
    free(path);
}

/* Loads text as a file; on failure err holds the message and path_out the file's name. */
static relay_config *load_text(const char *text, char *const *envp, char *err, size_t err_size,
                               char *path_out, size_t path_size)
{
    char *path = write_temp(text);
    relay_config *cfg = config_load(path, envp, err, err_size);

    snprintf(path_out, path_size, "%s", path);
    remove_temp(path);
    return cfg;
}

/* Expects loading text (with envp) to fail with "FILE:LINE: msg…", or "msg…" when line is 0
 * (errors about an environment variable name no file). */
static void expect_error(const char *text, char *const *envp, int line, const char *msg)
{
    char err[2048], path[64], want[2048];
    relay_config *cfg = load_text(text, envp, err, sizeof err, path, sizeof path);

    if (line > 0)
        snprintf(want, sizeof want, "%s:%d: %s", path, line, msg);
    else
        snprintf(want, sizeof want, "%s", msg);
    if (cfg != NULL)
        config_free(cfg);
    ck_assert_msg(cfg == NULL, "loaded without error:\n%s", text);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "for:\n%s\n got: %s\nwant: %s", text,
                  err, want);
    ck_assert_msg(strchr(err, '\n') == NULL, "message is not one line: %s", err);
}

/* "a.b.c", "x" → "a = { b = { c = x; }; };" */
static void nested(const char *path, const char *literal, char *out, size_t size)
{
    const char *dot = strchr(path, '.');
    char inner[512];

    if (dot == NULL) {
        ck_assert((size_t)snprintf(out, size, "%s = %s;", path, literal) < size);
        return;
    }
    nested(dot + 1, literal, inner, sizeof inner);
    ck_assert((size_t)snprintf(out, size, "%.*s = { %s };", (int)(dot - path), path, inner) <
              size);
}

/* ---- defaults and the example files ---- */

START_TEST(defaults_are_documented_values)
{
    char err[512];
    relay_config *cfg = config_load(NULL, no_env, err, sizeof err);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_null(cfg->source);
    for (size_t i = 0; i < NSPECS; i++)
        assert_field(cfg, &specs[i], specs[i].def, "defaults");
    ck_assert_uint_eq(cfg->kafka.nproperties, 0);
    config_free(cfg);
}
END_TEST

START_TEST(empty_file_gives_defaults)
{
    char err[512], path[64];
    relay_config *defaults = config_load(NULL, no_env, err, sizeof err);
    relay_config *cfg = load_text("# nothing\n", no_env, err, sizeof err, path, sizeof path);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->source, path);
    assert_same_config(cfg, defaults);
    config_free(cfg);
    config_free(defaults);
}
END_TEST

START_TEST(reference_file_sets_every_default)
{
    char err[512];
    relay_config *defaults = config_load(NULL, no_env, err, sizeof err);
    relay_config *cfg = config_load(ETC("outbox-relay.conf"), no_env, err, sizeof err);
    config_t lc;

    ck_assert_msg(cfg != NULL, "%s", err);
    assert_same_config(cfg, defaults);
    ck_assert_str_eq(cfg->source, ETC("outbox-relay.conf"));
    config_free(cfg);
    config_free(defaults);

    /* Every setting is written out in the file, not merely defaulted. */
    config_init(&lc);
    ck_assert_msg(config_read_file(&lc, ETC("outbox-relay.conf")), "%s",
                  config_error_text(&lc));
    for (size_t i = 0; i < NSPECS; i++)
        ck_assert_msg(config_lookup(&lc, specs[i].path) != NULL,
                      "etc/outbox-relay.conf does not document %s", specs[i].path);
    ck_assert_msg(config_lookup(&lc, "kafka.properties") != NULL,
                  "etc/outbox-relay.conf does not document kafka.properties");
    ck_assert_msg(config_lookup(&lc, "outbox.fields") != NULL,
                  "etc/outbox-relay.conf does not document outbox.fields");
    config_destroy(&lc);
}
END_TEST

START_TEST(minimal_file_loads)
{
    char err[512];
    relay_config *cfg = config_load(ETC("minimal.conf"), no_env, err, sizeof err);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->name, "orders-relay");
    ck_assert_str_ne(cfg->postgres.conninfo, "");
    ck_assert_str_eq(cfg->kafka.brokers, "localhost:9092");
    ck_assert_str_eq(cfg->outbox.topic, "outbox.event.${aggregate_type}");
    config_free(cfg);
}
END_TEST

START_TEST(seed_file_matches_seed_table)
{
    char err[512];
    relay_config *cfg = config_load(ETC("seed.conf"), no_env, err, sizeof err);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->outbox.topic, "orders");
    ck_assert_int_eq(cfg->outbox.value, CONFIG_VALUE_ENVELOPE);
    ck_assert_str_eq(cfg->outbox.columns.id, "id");
    ck_assert_str_eq(cfg->outbox.columns.aggregate_type, "");
    ck_assert_str_eq(cfg->outbox.columns.aggregate_id, "aggregate_id");
    ck_assert_str_eq(cfg->outbox.columns.event_type, "event_type");
    ck_assert_str_eq(cfg->outbox.columns.payload, "payload");
    ck_assert_str_eq(cfg->outbox.columns.headers, "");
    ck_assert_str_eq(cfg->outbox.columns.created_at, "created_at");
    config_free(cfg);
}
END_TEST

/* The logical-message example: messages with the default prefix, the seed's topic and
 * envelope. */
START_TEST(messages_file_reads_messages)
{
    char err[512];
    relay_config *cfg = config_load(ETC("messages.conf"), no_env, err, sizeof err);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->outbox.source, CONFIG_SOURCE_MESSAGES);
    ck_assert_str_eq(cfg->outbox.message_prefix, "outbox");
    ck_assert_str_eq(cfg->outbox.topic, "orders");
    ck_assert_int_eq(cfg->outbox.value, CONFIG_VALUE_ENVELOPE);
    config_free(cfg);
}
END_TEST

/* Several outbox tables (tables.h): a libconfig array or list is stored comma separated,
 * as the environment writes it; patterns pass; the environment's list wins. */
START_TEST(table_takes_a_list_or_a_pattern)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"outbox = { table = [\"tenant_a.outbox\", \"tenant_b.outbox\"]; };\n",
         "tenant_a.outbox,tenant_b.outbox"},
        {"outbox = { table = (\"tenant_a.outbox\", \"events\"); };\n", "tenant_a.outbox,events"},
        {"outbox = { table = [\"app.outbox\"]; };\n", "app.outbox"},
        {"outbox = { table = \"*.outbox\"; };\n", "*.outbox"},
        {"outbox = { table = [\"*.outbox\", \"legacy.events\"]; };\n", "*.outbox,legacy.events"},
    };
    char *envp[] = {"OUTBOX_RELAY_OUTBOX_TABLE=tenant_a.outbox, tenant_b.outbox", NULL};
    char err[512], path[64];
    relay_config *cfg;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg = load_text(cases[i].text, no_env, err, sizeof err, path, sizeof path);
        ck_assert_msg(cfg != NULL, "%s: %s", cases[i].text, err);
        ck_assert_str_eq(cfg->outbox.table, cases[i].want);
        config_free(cfg);
    }
    cfg = load_text(cases[3].text, envp, err, sizeof err, path, sizeof path);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->outbox.table, "tenant_a.outbox, tenant_b.outbox");
    config_free(cfg);
}
END_TEST

START_TEST(tenants_file_loads)
{
    char err[512];
    relay_config *cfg = config_load(ETC("tenants.conf"), no_env, err, sizeof err);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->outbox.table, "*.outbox");
    ck_assert_str_eq(cfg->outbox.topic, "${schema}.${aggregate_type}");
    config_free(cfg);
}
END_TEST

/* Each setting, written in a file with its alternative value, lands in its field. */
START_TEST(file_sets_each_setting)
{
    const setting_spec *spec = &specs[_i];
    char text[1024], literal[128], err[512], path[64];
    relay_config *cfg;

    if (spec->type == S_STR || spec->type == S_ENUM)
        snprintf(literal, sizeof literal, "\"%s\"", spec->alt);
    else
        snprintf(literal, sizeof literal, "%s", spec->alt);
    nested(spec->path, literal, text, sizeof text);
    cfg = load_text(text, no_env, err, sizeof err, path, sizeof path);
    ck_assert_msg(cfg != NULL, "%s: %s", text, err);
    assert_field(cfg, spec, spec->alt, text);
    config_free(cfg);
}
END_TEST

START_TEST(enum_values_are_stored_canonically)
{
    char err[512], path[64];
    relay_config *cfg = load_text("log = { level = \"DEBUG\"; };\noutbox = { value = \"Envelope\"; };\n",
                                  no_env, err, sizeof err, path, sizeof path);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->log.level, LVL_DEBUG);
    ck_assert_str_eq(config_log_level_name(cfg->log.level), "debug");
    ck_assert_int_eq(cfg->outbox.value, CONFIG_VALUE_ENVELOPE);
    ck_assert_str_eq(config_value_name(cfg->outbox.value), "envelope");
    config_free(cfg);
}
END_TEST

START_TEST(include_is_relative_to_the_file)
{
    char dir[] = "/tmp/check_config_dir_XXXXXX", main_path[128], part_path[128], err[512];
    char want[512];
    FILE *f;
    relay_config *cfg;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(main_path, sizeof main_path, "%s/main.conf", dir);
    snprintf(part_path, sizeof part_path, "%s/part.conf", dir);
    f = fopen(main_path, "w");
    fputs("name = \"a\";\n@include \"part.conf\"\n", f);
    fclose(f);
    f = fopen(part_path, "w");
    fputs("batch = { max_events = 7; };\n", f);
    fclose(f);
    cfg = config_load(main_path, no_env, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->batch.max_events, 7);
    config_free(cfg);

    /* An error in the included file names that file, as opened. */
    f = fopen(part_path, "w");
    fputs("\nbatch = { max_events = 0; };\n", f);
    fclose(f);
    cfg = config_load(main_path, no_env, err, sizeof err);
    ck_assert_ptr_null(cfg);
    snprintf(want, sizeof want,
             "%s:2: batch.max_events: expected an integer between 1 and 1000000, got 0",
             part_path);
    ck_assert_str_eq(err, want);
    unlink(part_path);
    unlink(main_path);
    rmdir(dir);
}
END_TEST

/* ---- file errors ---- */

static const struct file_error {
    const char *text;
    int line;
    const char *msg; /* after "FILE:LINE: "; a prefix of the message */
} file_errors[] = {
    /* The brief's examples, verbatim. */
    {"name = \"ok\";\npostgres = {\n  status_interval_ms = 5;\n};\n", 3,
     "postgres.status_interval_ms: expected an integer between 100 and 3600000, got 5"},
    {"postgres = {\n  slots = \"x\";\n};\n", 2,
     "unknown setting \"postgres.slots\" (did you mean \"postgres.slot\"?)"},
    {"\nkafka = { brokers = 5; };\n", 2, "kafka.brokers: expected a string, got an integer"},
    /* Types. */
    {"name = true;\n", 1, "name: expected a string, got a boolean"},
    {"batch = { linger_ms = 1.5; };\n", 1,
     "batch.linger_ms: expected an integer between 0 and 60000, got a float"},
    {"batch = { linger_ms = \"100\"; };\n", 1,
     "batch.linger_ms: expected an integer between 0 and 60000, got a string"},
    {"postgres = { create_slot = \"yes\"; };\n", 1,
     "postgres.create_slot: expected true or false, got a string"},
    {"kafka = { create_topics = 1; };\n", 1,
     "kafka.create_topics: expected true or false, got an integer"},
    {"postgres = { slot = [\"a\"]; };\n", 1, "postgres.slot: expected a string, got an array"},
    {"outbox = { table = (\"a\", 1); };\n", 1,
     "outbox.table: expected a string or a list of strings, got a list holding an integer"},
    {"outbox = { table = [\"a.outbox\", \"b.*\"]; };\n", 1,
     "outbox.table: expected [schema.]table or \"*.table\", or a list of them, each part 1-63 "
     "bytes, got \"a.outbox,b.*\" ('*' stands only for the whole schema, as in \"*.outbox\")"},
    {"outbox = { table = [ ]; };\n", 1, "outbox.table: expected [schema.]table or \"*.table\""},
    {"outbox = { table = \"a.outbox,,b.outbox\"; };\n", 1,
     "outbox.table: expected [schema.]table or \"*.table\", or a list of them, each part 1-63 "
     "bytes, got \"a.outbox,,b.outbox\" (an empty entry)"},
    {"outbox = { table = \"t*.outbox\"; };\n", 1,
     "outbox.table: expected [schema.]table"},
    {"outbox = { topic = { a = 1; }; };\n", 1, "outbox.topic: expected a string, got a group"},
    {"log = { level = 3; };\n", 1, "log.level: expected one of error, warn, info, debug, got an integer"},
    {"kafka = 3;\n", 1, "kafka: expected a group, got an integer"},
    {"outbox = { columns = \"id\"; };\n", 1, "outbox.columns: expected a group, got a string"},
    /* Ranges. */
    {"batch = { max_events = 0; };\n", 1,
     "batch.max_events: expected an integer between 1 and 1000000, got 0"},
    {"batch = { max_events = 1000001; };\n", 1,
     "batch.max_events: expected an integer between 1 and 1000000, got 1000001"},
    {"batch = { max_bytes = 1023; };\n", 1,
     "batch.max_bytes: expected an integer between 1024 and 1073741824, got 1023"},
    {"batch = { linger_ms = -1; };\n", 1,
     "batch.linger_ms: expected an integer between 0 and 60000, got -1"},
    {"postgres = { connect_timeout_s = 3601; };\n", 1,
     "postgres.connect_timeout_s: expected an integer between 1 and 3600, got 3601"},
    {"kafka = { topic_partitions = 0; };\n", 1,
     "kafka.topic_partitions: expected an integer between 1 and 10000, got 0"},
    {"kafka = { replication_factor = 0; };\n", 1,
     "kafka.replication_factor: expected -1 or an integer between 1 and 100, got 0"},
    {"kafka = { replication_factor = -2; };\n", 1,
     "kafka.replication_factor: expected -1 or an integer between 1 and 100, got -2"},
    {"kafka = { transaction_timeout_ms = 999; };\n", 1,
     "kafka.transaction_timeout_ms: expected an integer between 1000 and 900000, got 999"},
    {"kafka = { commit_timeout_ms = 900001; };\n", 1,
     "kafka.commit_timeout_ms: expected an integer between 1000 and 900000, got 900001"},
    /* libconfig 1.5 would read this as 1024 (mod 2^32) and pass the range check. */
    {"batch = {\n  max_events = 5; max_bytes = 4294968320;\n};\n", 2,
     "batch.max_bytes: expected an integer between 1024 and 1073741824, got 4294968320"},
    {"batch = { max_bytes = 4294968320L; };\n", 1,
     "batch.max_bytes: expected an integer between 1024 and 1073741824, got 4294968320"},
    /* Unknown names, at every depth, with a suggestion or the list of what is known. */
    {"# c\nslot = \"x\";\n", 2, "unknown setting \"slot\" (did you mean \"postgres.slot\"?)"},
    {"foo = 1;\n", 1,
     "unknown setting \"foo\" (known: name, log, postgres, outbox, kafka, batch, schemas, "
     "dead_letter, http)"},
    {"postgres = {\n  slot = \"a\";\n  foo = { bar = 1; };\n};\n", 3,
     "unknown setting \"postgres.foo\" (known in postgres: conninfo, slot, publication, "
     "create_slot, failover_slot, status_interval_ms, connect_timeout_s, slot_warn_bytes)"},
    {"outbox = {\n  columns = {\n    kind = \"k\";\n  };\n};\n", 3,
     "unknown setting \"outbox.columns.kind\" (known in outbox.columns: id, aggregate_type, "
     "aggregate_id, event_type, payload, headers, created_at)"},
    {"postgress = { slot = \"x\"; };\n", 1,
     "unknown setting \"postgress\" (did you mean \"postgres\"?)"},
    {"outbox = { column = { id = \"x\"; }; };\n", 1,
     "unknown setting \"outbox.column\" (did you mean \"outbox.columns\"?)"},
    {"kafka = { broker = \"a:1\"; };\n", 1,
     "unknown setting \"kafka.broker\" (did you mean \"kafka.brokers\"?)"},
    {"postgres = { status_interval = 100; };\n", 1,
     "unknown setting \"postgres.status_interval\" (did you mean "
     "\"postgres.status_interval_ms\"?)"},
    /* Enums and string formats. */
    {"log = { level = \"verbose\"; };\n", 1,
     "log.level: expected one of error, warn, info, debug, got \"verbose\""},
    {"outbox = { value = \"json\"; };\n", 1,
     "outbox.value: expected one of payload, envelope, cloudevents, got \"json\""},
    {"outbox = { source = \"wal\"; };\n", 1,
     "outbox.source: expected one of table, messages, got \"wal\""},
    {"outbox = { message_prefix = \"\"; };\n", 1,
     "outbox.message_prefix: expected 1-255 printable bytes, got \"\""},
    {"outbox = { message_prefix = \"a\\tb\"; };\n", 1,
     "outbox.message_prefix: expected 1-255 printable bytes, got \"a\\x09b\""},
    {"name = \"my relay\";\n", 1,
     "name: expected 1-200 characters from A-Z, a-z, 0-9, '.', '_' and '-', got \"my relay\""},
    {"name = \"\";\n", 1, "name: expected 1-200 characters"},
    {"name = \"a\\nb\";\n", 1,
     "name: expected 1-200 characters from A-Z, a-z, 0-9, '.', '_' and '-', got \"a\\x0ab\""},
    {"postgres = { slot = \"Outbox\"; };\n", 1,
     "postgres.slot: expected 1-63 characters from a-z, 0-9 and '_', got \"Outbox\""},
    {"postgres = { slot = \"a234567890123456789012345678901234567890123456789012345678901234\"; "
     "};\n",
     1, "postgres.slot: expected 1-63 characters"},
    {"postgres = { publication = \"\"; };\n", 1,
     "postgres.publication: expected a publication name of 1-63 bytes, got \"\""},
    {"outbox = { table = \"a.b.c\"; };\n", 1,
     "outbox.table: expected [schema.]table or \"*.table\", or a list of them, each part 1-63 "
     "bytes, got \"a.b.c\" (more than one '.')"},
    {"outbox = { table = \".outbox\"; };\n", 1, "outbox.table: expected [schema.]table"},
    {"outbox = { table = \"\"; };\n", 1, "outbox.table: expected [schema.]table"},
    {"outbox = { columns = { id = \"\"; }; };\n", 1,
     "outbox.columns.id: expected a column name of 1-63 bytes, got \"\""},
    {"outbox = { columns = { aggregate_id = \"\"; }; };\n", 1,
     "outbox.columns.aggregate_id: expected a column name of 1-63 bytes, got \"\""},
    {"outbox = { columns = { event_type = \"\"; }; };\n", 1,
     "outbox.columns.event_type: expected a column name"},
    {"outbox = { columns = { payload = \"\"; }; };\n", 1,
     "outbox.columns.payload: expected a column name"},
    {"kafka = { brokers = \"\"; };\n", 1,
     "kafka.brokers: expected host:port[,host:port...], got \"\" (empty)"},
    {"kafka = { brokers = \"a:1,,b:2\"; };\n", 1,
     "kafka.brokers: expected host:port[,host:port...], got \"a:1,,b:2\" (empty entry)"},
    {"kafka = { checkpoint_topic = \"..\"; };\n", 1,
     "kafka.checkpoint_topic: expected a topic name of 1-249 characters"},
    {"kafka = { checkpoint_topic = \"a/b\"; };\n", 1, "kafka.checkpoint_topic: expected a topic"},
    /* Topic templates. */
    {"outbox = { topic = \"a.${x\"; };\n", 1,
     "outbox.topic: expected a topic name or a template such as "
     "\"outbox.event.${aggregate_type}\", got \"a.${x\" (unclosed \"${\")"},
    {"outbox = { topic = \"a.${}\"; };\n", 1,
     "outbox.topic: expected a topic name or a template such as "
     "\"outbox.event.${aggregate_type}\", got \"a.${}\" (empty placeholder \"${}\")"},
    {"outbox = { topic = \"a}\"; };\n", 1, "outbox.topic: expected a topic name or a template"},
    {"outbox = { topic = \"a{b}\"; };\n", 1, "outbox.topic: expected a topic name or a template"},
    {"outbox = { topic = \"a${b${c}}\"; };\n", 1,
     "outbox.topic: expected a topic name or a template"},
    {"outbox = { topic = \"orders events\"; };\n", 1,
     "outbox.topic: expected a topic name or a template such as "
     "\"outbox.event.${aggregate_type}\", got \"orders events\" (' ' is not allowed in a topic "
     "name)"},
    {"outbox = { topic = \"\"; };\n", 1, "outbox.topic: expected a topic name or a template"},
    /* librdkafka properties. */
    {"kafka = { properties = 1; };\n", 1,
     "kafka.properties: expected a group of librdkafka properties, got an integer"},
    {"kafka = {\n  properties = {\n    a = [1];\n  };\n};\n", 3,
     "kafka.properties.a: expected a string, number or boolean, got an array"},
    {"kafka = { properties = { bootstrap_servers = \"x:1\"; }; };\n", 1,
     "kafka.properties.bootstrap_servers: \"bootstrap.servers\" is set by the relay; set "
     "kafka.brokers instead"},
    {"kafka = { properties = { transactional_id = \"x\"; }; };\n", 1,
     "kafka.properties.transactional_id: \"transactional.id\" is set by the relay; it derives "
     "from name; set name instead"},
    {"kafka = { properties = { enable_idempotence = false; }; };\n", 1,
     "kafka.properties.enable_idempotence: \"enable.idempotence\" is set by the relay"},
    {"kafka = { properties = { isolation_level = \"read_uncommitted\"; }; };\n", 1,
     "kafka.properties.isolation_level: \"isolation.level\" is set by the relay"},
    {"kafka = { properties = { transaction_timeout_ms = 5000; }; };\n", 1,
     "kafka.properties.transaction_timeout_ms: \"transaction.timeout.ms\" is set by the relay; "
     "set kafka.transaction_timeout_ms instead"},
    /* Schemas and the dead-letter topic. */
    {"schemas = { on_invalid = \"allow\"; };\n", 1,
     "schemas.on_invalid: expected one of dead_letter, stop, got \"allow\""},
    {"schemas = { on_unknown_type = \"ignore\"; };\n", 1,
     "schemas.on_unknown_type: expected one of allow, dead_letter, stop, got \"ignore\""},
    {"schemas = { applies_to = \"envelope\"; };\n", 1,
     "schemas.applies_to: expected one of payload, value, got \"envelope\""},
    {"schemas = { draft = \"2019-09\"; };\n", 1,
     "schemas.draft: expected one of 2020-12, 7, got \"2019-09\""},
    {"schemas = { format_assert = \"yes\"; };\n", 1,
     "schemas.format_assert: expected true or false, got a string"},
    {"dead_letter = { topic = \"dead letters\"; };\n", 1,
     "dead_letter.topic: expected a topic name of 1-249 characters"},
    {"schemas = {\n  version_column = \"v\";\n  version_header = \"v\";\n};\n", 3,
     "schemas.version_header and schemas.version_column are both set"},
    {"kafka = { checkpoint_topic = \"t\"; };\ndead_letter = { topic = \"t\"; };\n", 2,
     "dead_letter.topic is the checkpoint topic \"t\": choose another dead-letter topic"},
    /* libconfig's own errors. */
    {"name = \"x\"\nlog = { level = ; };\n", 2, "syntax error"},
    {"name = \"x\";\nname = \"y\";\n", 2, "duplicate setting name"},
    /* outbox.fields and CloudEvents: entries, placements and the names the relay keeps. */
    {"outbox = {\n  fields = ( { column = \"t\"; placement = \"side\"; } );\n};\n", 2,
     "outbox.fields[0]: placement: expected \"header\" or \"envelope\", got \"side\""},
    {"outbox = {\n  fields = ( { column = \"t\"; } );\n};\n", 2,
     "outbox.fields[0]: placement is missing: set placement = \"header\" or \"envelope\""},
    {"outbox = {\n  fields = ( { column = \"t\"; placement = \"header\"; alias = \"x\"; } );\n};\n",
     2, "outbox.fields[0]: unknown setting \"alias\" (known: column, placement, name)"},
    {"outbox = {\n  fields = { column = \"t\"; };\n};\n", 2, "outbox.fields: expected a list"},
    {"outbox = {\n  fields = ( { column = \"a\"; placement = \"header\"; name = \"t\"; },\n"
     "    { column = \"b\"; placement = \"header\"; name = \"t\"; } );\n};\n",
     2, "outbox.fields[1]: the header name \"t\" is already given by entry 0"},
    {"outbox = {\n  fields = ( { column = \"eid\"; placement = \"header\"; "
     "name = \"event_id\"; } );\n};\n",
     2, "outbox.fields: column \"eid\" goes to header \"event_id\", which the relay sets itself: "
        "give the entry another name"},
    {"outbox = {\n  fields = ( { column = \"tenant\"; placement = \"envelope\"; } );\n};\n", 2,
     "outbox.fields: column \"tenant\" has placement \"envelope\", but outbox.value = "
     "\"payload\" has no envelope"},
    {"outbox = {\n  value = \"envelope\";\n"
     "  fields = ( { column = \"x\"; placement = \"envelope\"; name = \"payload\"; } );\n};\n",
     3, "outbox.fields: column \"x\" goes to envelope member \"payload\", which the relay writes"},
    {"outbox = {\n  value = \"cloudevents\";\n"
     "  fields = ( { column = \"tenant\"; placement = \"envelope\"; "
     "name = \"Tenant_Id\"; } );\n};\n",
     3, "outbox.fields: column \"tenant\" becomes CloudEvents extension attribute \"Tenant_Id\", "
        "but such names are lower-case letters and digits only: set name = \"tenantid\""},
    {"outbox = {\n  value = \"cloudevents\";\n"
     "  fields = ( { column = \"t\"; placement = \"header\"; name = \"ce_tenant\"; } );\n};\n",
     3, "outbox.fields: column \"t\" goes to header \"ce_tenant\", which the relay sets itself "
        "(a structured CloudEvent has no ce_ headers)"},
    {"outbox = {\n  cloudevents_headers = true;\n"
     "  fields = ( { column = \"t\"; placement = \"header\"; name = \"ce_source\"; } );\n};\n",
     3, "outbox.fields: column \"t\" goes to header \"ce_source\", which the relay sets itself"},
    {"outbox = {\n  value = \"cloudevents\";\n  cloudevents_headers = true;\n};\n", 3,
     "outbox.cloudevents_headers = true with outbox.value = \"cloudevents\": a structured "
     "CloudEvent carries its attributes in the value and no ce_ headers; choose one content mode"},
    {"outbox = {\n  cloudevents_source = \"/a b\";\n};\n", 2,
     "outbox.cloudevents_source: expected \"\", or a URI reference without spaces"},
    /* The first problem in the file is the one reported. */
    {"name = \"ok\";\nlog = { level = \"loud\"; };\nbatch = { max_events = 0; };\n", 2,
     "log.level: expected"},
};

START_TEST(file_error)
{
    expect_error(file_errors[_i].text, no_env, file_errors[_i].line, file_errors[_i].msg);
}
END_TEST

START_TEST(missing_file)
{
    char err[512];

    ck_assert_ptr_null(config_load("/nonexistent/relay.conf", no_env, err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent/relay.conf: cannot read: No such file or directory");
    ck_assert_ptr_null(config_load(RELAY_SOURCE_DIR "/etc", no_env, err, sizeof err));
    ck_assert_str_eq(err, RELAY_SOURCE_DIR "/etc: cannot read: Is a directory");
}
END_TEST

START_TEST(small_or_missing_errbuf)
{
    char err[8];

    ck_assert_ptr_null(config_load("/nonexistent/relay.conf", no_env, err, sizeof err));
    ck_assert_str_eq(err, "/nonexi");
    ck_assert_ptr_null(config_load("/nonexistent/relay.conf", no_env, NULL, 0));
}
END_TEST

/* ---- environment ---- */

/* Each setting, set by its variable with its alternative value, lands in its field. */
START_TEST(env_sets_each_setting)
{
    const setting_spec *spec = &specs[_i];
    char var[256], err[512];
    char *envp[] = {"PATH=/usr/bin", var, "HOME=/root", NULL};
    relay_config *cfg;

    snprintf(var, sizeof var, "%s=%s", spec->env, spec->alt);
    cfg = config_load(NULL, envp, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s: %s", var, err);
    assert_field(cfg, spec, spec->alt, var);
    config_free(cfg);
}
END_TEST

START_TEST(env_wins_over_file)
{
    char err[512], path[64];
    char *envp[] = {"OUTBOX_RELAY_POSTGRES_SLOT=from_env", "OUTBOX_RELAY_BATCH_LINGER_MS=7",
                    "OUTBOX_RELAY_KAFKA_CREATE_TOPICS=no", NULL};
    relay_config *cfg =
        load_text("postgres = { slot = \"from_file\"; publication = \"file_pub\"; };\n"
                  "batch = { linger_ms = 5; };\nkafka = { create_topics = true; };\n",
                  envp, err, sizeof err, path, sizeof path);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->postgres.slot, "from_env");
    ck_assert_str_eq(cfg->postgres.publication, "file_pub");
    ck_assert_int_eq(cfg->batch.linger_ms, 7);
    ck_assert(!cfg->kafka.create_topics);
    config_free(cfg);
}
END_TEST

START_TEST(env_bool_spellings)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {{"true", true}, {"TRUE", true},  {"yes", true},   {"on", true},
                 {"1", true},    {"false", false}, {"No", false}, {"off", false},
                 {"0", false}};
    char var[128], err[512];
    char *envp[] = {var, NULL};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        relay_config *cfg;
        snprintf(var, sizeof var, "OUTBOX_RELAY_POSTGRES_CREATE_SLOT=%s", cases[i].text);
        cfg = config_load(NULL, envp, err, sizeof err);
        ck_assert_msg(cfg != NULL, "%s: %s", var, err);
        ck_assert_msg(cfg->postgres.create_slot == cases[i].value, "%s", var);
        config_free(cfg);
    }
}
END_TEST

START_TEST(env_empty_string_and_unrelated_variables)
{
    char err[512];
    char *envp[] = {"OUTBOX_RELAY_OUTBOX_TOPIC=orders",
                    "OUTBOX_RELAY_OUTBOX_COLUMNS_AGGREGATE_TYPE=",
                    "outbox_relay_name=ignored",
                    "OUTBOX_RELAYNAME=ignored",
                    "RELAY_NAME=ignored",
                    "OUTBOX_RELAY_NO_EQUALS_SIGN",
                    NULL};
    relay_config *cfg = config_load(NULL, envp, err, sizeof err);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->outbox.topic, "orders");
    ck_assert_str_eq(cfg->outbox.columns.aggregate_type, "");
    ck_assert_str_eq(cfg->name, "outbox-relay");
    config_free(cfg);
}
END_TEST

static const struct env_error {
    char *env;
    const char *msg; /* a prefix of the message */
} env_errors[] = {
    {"OUTBOX_RELAY_BATCH_MAX_EVENTS=ten",
     "OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer between 1 and 1000000, got \"ten\""},
    {"OUTBOX_RELAY_BATCH_MAX_EVENTS=0",
     "OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer between 1 and 1000000, got \"0\""},
    {"OUTBOX_RELAY_BATCH_MAX_EVENTS=", "OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer"},
    {"OUTBOX_RELAY_BATCH_MAX_EVENTS=10s",
     "OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer between 1 and 1000000, got \"10s\""},
    {"OUTBOX_RELAY_BATCH_MAX_EVENTS= 10", "OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer"},
    {"OUTBOX_RELAY_BATCH_MAX_EVENTS=1e3", "OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer"},
    {"OUTBOX_RELAY_BATCH_MAX_EVENTS=99999999999999999999",
     "OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer"},
    {"OUTBOX_RELAY_BATCH_MAX_BYTES=4294968320",
     "OUTBOX_RELAY_BATCH_MAX_BYTES: expected an integer between 1024 and 1073741824, got "
     "\"4294968320\""},
    {"OUTBOX_RELAY_KAFKA_REPLICATION_FACTOR=0",
     "OUTBOX_RELAY_KAFKA_REPLICATION_FACTOR: expected -1 or an integer between 1 and 100"},
    {"OUTBOX_RELAY_KAFKA_CREATE_TOPICS=maybe",
     "OUTBOX_RELAY_KAFKA_CREATE_TOPICS: expected true or false (or yes/no, on/off, 1/0), got "
     "\"maybe\""},
    {"OUTBOX_RELAY_LOG_LEVEL=loud",
     "OUTBOX_RELAY_LOG_LEVEL: expected one of error, warn, info, debug, got \"loud\""},
    {"OUTBOX_RELAY_POSTGRES_SLOT=Bad-Slot",
     "OUTBOX_RELAY_POSTGRES_SLOT: expected 1-63 characters from a-z, 0-9 and '_', got "
     "\"Bad-Slot\""},
    {"OUTBOX_RELAY_OUTBOX_COLUMNS_ID=", "OUTBOX_RELAY_OUTBOX_COLUMNS_ID: expected a column name"},
    {"OUTBOX_RELAY_OUTBOX_TOPIC=x.${", "OUTBOX_RELAY_OUTBOX_TOPIC: expected a topic name"},
    {"OUTBOX_RELAY_OUTBOX_TABLE=tenant_a.outbox,", "OUTBOX_RELAY_OUTBOX_TABLE: expected "
     "[schema.]table or \"*.table\", or a list of them, each part 1-63 bytes, got "
     "\"tenant_a.outbox,\" (an empty entry)"},
    {"OUTBOX_RELAY_SLOTT=x",
     "OUTBOX_RELAY_SLOTT: unknown setting (did you mean OUTBOX_RELAY_POSTGRES_SLOT?)"},
    {"OUTBOX_RELAY_KAFKA_BROKER=x",
     "OUTBOX_RELAY_KAFKA_BROKER: unknown setting (did you mean OUTBOX_RELAY_KAFKA_BROKERS?)"},
    {"OUTBOX_RELAY_FOO=x",
     "OUTBOX_RELAY_FOO: unknown setting; known: OUTBOX_RELAY_NAME, OUTBOX_RELAY_LOG_*, "
     "OUTBOX_RELAY_POSTGRES_*, OUTBOX_RELAY_OUTBOX_*, OUTBOX_RELAY_KAFKA_*, "
     "OUTBOX_RELAY_BATCH_*, OUTBOX_RELAY_SCHEMAS_*, OUTBOX_RELAY_DEAD_LETTER_*, "
     "OUTBOX_RELAY_HTTP_*"},
    {"OUTBOX_RELAY_POSTGRES_FOO=x",
     "OUTBOX_RELAY_POSTGRES_FOO: unknown setting; known: OUTBOX_RELAY_POSTGRES_CONNINFO, "
     "OUTBOX_RELAY_POSTGRES_SLOT,"},
    {"OUTBOX_RELAY_KAFKA_XYZZY=x",
     "OUTBOX_RELAY_KAFKA_XYZZY: unknown setting; known: OUTBOX_RELAY_KAFKA_BROKERS,"},
    {"OUTBOX_RELAY_=x", "OUTBOX_RELAY_: unknown setting; known:"},
    {"OUTBOX_RELAY_KAFKA_PROPERTIES=x",
     "OUTBOX_RELAY_KAFKA_PROPERTIES: set one property per variable, e.g. "
     "OUTBOX_RELAY_KAFKA_PROPERTIES_COMPRESSION_TYPE=lz4"},
    {"OUTBOX_RELAY_KAFKA_PROPERTIES_=x",
     "OUTBOX_RELAY_KAFKA_PROPERTIES_: expected a librdkafka property name"},
    {"OUTBOX_RELAY_KAFKA_PROPERTIES_BOOTSTRAP_SERVERS=x:1",
     "OUTBOX_RELAY_KAFKA_PROPERTIES_BOOTSTRAP_SERVERS: \"bootstrap.servers\" is set by the "
     "relay; set kafka.brokers instead"},
    {"OUTBOX_RELAY_KAFKA_PROPERTIES_ISOLATION_LEVEL=read_uncommitted",
     "OUTBOX_RELAY_KAFKA_PROPERTIES_ISOLATION_LEVEL: \"isolation.level\" is set by the relay"},
    /* The cross check blames the variable that made the pair inconsistent. */
    {"OUTBOX_RELAY_OUTBOX_COLUMNS_AGGREGATE_TYPE=",
     "OUTBOX_RELAY_OUTBOX_COLUMNS_AGGREGATE_TYPE: outbox.topic "
     "\"outbox.event.${aggregate_type}\" uses ${aggregate_type} but "
     "outbox.columns.aggregate_type is \"\""},
};

START_TEST(env_error)
{
    char *envp[] = {"HOME=/root", env_errors[_i].env, NULL};

    expect_error("# empty\n", envp, 0, env_errors[_i].msg);
}
END_TEST

/* ---- librdkafka properties ---- */

START_TEST(properties_map_names_keep_order_and_stringify)
{
    char err[512], path[64];
    relay_config *cfg = load_text("kafka = {\n"
                                  "  properties = {\n"
                                  "    compression_type = \"lz4\";\n"
                                  "    linger_ms = 5;\n"
                                  "    message_max_bytes = 2000000000L;\n"
                                  "    enable_ssl_certificate_verification = false;\n"
                                  "    queue_buffering_backpressure_threshold = 0.5;\n"
                                  "    client_id = \"relay\";\n"
                                  "  };\n"
                                  "};\n",
                                  no_env, err, sizeof err, path, sizeof path);
    static const char *const want[][2] = {
        {"compression.type", "lz4"},
        {"linger.ms", "5"},
        {"message.max.bytes", "2000000000"},
        {"enable.ssl.certificate.verification", "false"},
        {"queue.buffering.backpressure.threshold", "0.5"},
        {"client.id", "relay"},
    };

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->kafka.nproperties, 6);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_str_eq(cfg->kafka.properties[i].name, want[i][0]);
        ck_assert_str_eq(cfg->kafka.properties[i].value, want[i][1]);
    }
    config_free(cfg);
}
END_TEST

START_TEST(properties_env_overrides_in_place_and_appends)
{
    char err[512], path[64];
    char *envp[] = {"OUTBOX_RELAY_KAFKA_PROPERTIES_LINGER_MS=20",
                    "OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_MECHANISMS=PLAIN",
                    "OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_PASSWORD=a=b", NULL};
    relay_config *cfg = load_text("kafka = { properties = { compression_type = \"lz4\"; "
                                  "linger_ms = 5; acks = \"all\"; }; };\n",
                                  envp, err, sizeof err, path, sizeof path);
    static const char *const want[][2] = {
        {"compression.type", "lz4"}, {"linger.ms", "20"},         {"acks", "all"},
        {"sasl.mechanisms", "PLAIN"}, {"sasl.password", "a=b"},
    };

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->kafka.nproperties, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(cfg->kafka.properties[i].name, want[i][0]);
        ck_assert_str_eq(cfg->kafka.properties[i].value, want[i][1]);
    }
    config_free(cfg);
}
END_TEST

/* ---- cross-field checks ---- */

START_TEST(template_needs_aggregate_type_column)
{
    char err[512], path[64];
    relay_config *cfg;

    /* The default template with the column removed: blame the column's line. */
    expect_error("name = \"a\";\noutbox = {\n  columns = { aggregate_type = \"\"; };\n};\n",
                 no_env, 3,
                 "outbox.topic \"outbox.event.${aggregate_type}\" uses ${aggregate_type} but "
                 "outbox.columns.aggregate_type is \"\" (the table has no such column); set a "
                 "fixed outbox.topic or name the column");
    /* A template the user wrote: blame the template's line. */
    expect_error("outbox = {\n  columns = { aggregate_type = \"\"; };\n"
                 "  topic = \"t.${aggregate_type}.v1\";\n};\n",
                 no_env, 3, "outbox.topic \"t.${aggregate_type}.v1\" uses ${aggregate_type}");

    /* A fixed topic, or a template over other columns, needs no aggregate_type. */
    cfg = load_text("outbox = { topic = \"orders\"; columns = { aggregate_type = \"\"; }; };\n",
                    no_env, err, sizeof err, path, sizeof path);
    ck_assert_msg(cfg != NULL, "%s", err);
    config_free(cfg);
    cfg = load_text("outbox = { topic = \"events.${event_type}\"; "
                    "columns = { aggregate_type = \"\"; }; };\n",
                    no_env, err, sizeof err, path, sizeof path);
    ck_assert_msg(cfg != NULL, "%s", err);
    config_free(cfg);
    /* ... and a file mistake can be repaired from the environment. */
    {
        char *envp[] = {"OUTBOX_RELAY_OUTBOX_TOPIC=orders", NULL};
        cfg = load_text("outbox = { columns = { aggregate_type = \"\"; }; };\n", envp, err,
                        sizeof err, path, sizeof path);
        ck_assert_msg(cfg != NULL, "%s", err);
        ck_assert_str_eq(cfg->outbox.topic, "orders");
        config_free(cfg);
    }
}
END_TEST

/* ---- secrets ---- */

START_TEST(conninfo_is_never_echoed)
{
    char *bad_type[] = {"OUTBOX_RELAY_POSTGRES_CONNINFO=password=s3cret",
                        "OUTBOX_RELAY_BATCH_LINGER_MS=x", NULL};
    char *typo[] = {"OUTBOX_RELAY_POSTGRES_CONINFO=password=s3cret", NULL};
    char *cross[] = {"OUTBOX_RELAY_POSTGRES_CONNINFO=password=s3cret",
                     "OUTBOX_RELAY_OUTBOX_COLUMNS_AGGREGATE_TYPE=", NULL};
    static const char *const files[] = {
        "postgres = { conninfo = \"password=s3cret\"; slot = \"Bad\"; };\n",
        "postgres = { conninfo = \"password=s3cret\"; };\nfoo = 1;\n",
        "postgres = { conninfo = \"password=s3cret\"; conninfo2 = 1; };\n",
        "postgres = { conninfo = \"password=s3cret\" slot = ; };\n",
    };
    char *const *envs[] = {bad_type, typo, cross};
    char err[2048], path[64];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ck_assert_ptr_null(load_text(files[i], no_env, err, sizeof err, path, sizeof path));
        ck_assert_msg(strstr(err, "s3cret") == NULL, "leaked: %s", err);
    }
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        ck_assert_ptr_null(config_load(NULL, envs[i], err, sizeof err));
        ck_assert_msg(strstr(err, "s3cret") == NULL, "leaked: %s", err);
    }
    /* The typo is still pointed out, without its value. */
    ck_assert_ptr_null(config_load(NULL, typo, err, sizeof err));
    ck_assert_str_eq(err, "OUTBOX_RELAY_POSTGRES_CONINFO: unknown setting (did you mean "
                          "OUTBOX_RELAY_POSTGRES_CONNINFO?)");
}
END_TEST

const relay_config *test_config_defaults(void)
{
    static relay_config *defaults;
    char err[512];

    if (defaults == NULL) {
        defaults = config_load(NULL, no_env, err, sizeof err);
        ck_assert_msg(defaults != NULL, "%s", err);
    }
    return defaults;
}

/* ---- OUTBOX_RELAY_<X>_FILE and exposed config files ---- */

START_TEST(env_file_sets_each_setting)
{
    const setting_spec *spec = &specs[_i];
    char text[256], var[320], err[512];
    char *path, *envp[] = {var, NULL};
    relay_config *cfg;

    snprintf(text, sizeof text, "%s\n", spec->alt);
    path = write_temp(text);
    snprintf(var, sizeof var, "%s_FILE=%s", spec->env, path);
    cfg = config_load(NULL, envp, err, sizeof err);
    remove_temp(path);
    ck_assert_msg(cfg != NULL, "%s: %s", var, err);
    assert_field(cfg, spec, spec->alt, var);
    config_free(cfg);
}
END_TEST

/* The value of the librdkafka property name, or NULL. */
static const char *prop_value(const relay_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->kafka.nproperties; i++)
        if (strcmp(cfg->kafka.properties[i].name, name) == 0)
            return cfg->kafka.properties[i].value;
    return NULL;
}

START_TEST(env_file_drops_one_trailing_newline)
{
    static const struct {
        const char *text, *value;
    } cases[] = {{"s3cret\n", "s3cret"}, {"s3cret", "s3cret"},   {"s3cret\r\n", "s3cret"},
                 {"s3cret\n\n", "s3cret\n"}, {"", ""},         {"\n", ""},
                 {"a b\tc\n", "a b\tc"}};
    char var[128], err[512];
    char *envp[] = {var, NULL};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_temp(cases[i].text);
        relay_config *cfg;

        snprintf(var, sizeof var, "OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_PASSWORD_FILE=%s", path);
        cfg = config_load(NULL, envp, err, sizeof err);
        remove_temp(path);
        ck_assert_msg(cfg != NULL, "case %zu: %s", i, err);
        ck_assert_str_eq(prop_value(cfg, "sasl.password"), cases[i].value);
        config_free(cfg);
    }
}
END_TEST

START_TEST(env_file_errors)
{
    char var[128], err[512], want[256];
    char *envp[] = {var, NULL}, *path = write_temp("ten\n");

    snprintf(var, sizeof var, "OUTBOX_RELAY_BATCH_LINGER_MS_FILE=%s", path);
    ck_assert_ptr_null(config_load(NULL, envp, err, sizeof err));
    ck_assert_str_eq(err, "OUTBOX_RELAY_BATCH_LINGER_MS: expected an integer between 0 and "
                          "60000, got \"ten\" (the value of OUTBOX_RELAY_BATCH_LINGER_MS_FILE)");
    remove_temp(path);
    snprintf(var, sizeof var, "OUTBOX_RELAY_POSTGRES_CONNINFO_FILE=/nonexistent/pw");
    ck_assert_ptr_null(config_load(NULL, envp, err, sizeof err));
    snprintf(want, sizeof want, "OUTBOX_RELAY_POSTGRES_CONNINFO_FILE: cannot read /nonexistent/pw: "
                                "No such file or directory");
    ck_assert_str_eq(err, want);
    snprintf(var, sizeof var, "OUTBOX_RELAY_NO_SUCH_FILE=/dev/null");
    ck_assert_ptr_null(config_load(NULL, envp, err, sizeof err));
    ck_assert_msg(strstr(err, "OUTBOX_RELAY_NO_SUCH: unknown setting") == err, "%s", err);
}
END_TEST

START_TEST(exposed_config_file_is_warned_about)
{
    static const struct {
        const char *text;
        int mode;
        bool exposed;
    } cases[] = {
        {"postgres = { conninfo = \"host=db password=x\"; };", 0644, true},
        {"postgres = { conninfo = \"postgresql://u:pw@db/app\"; };", 0640, true},
        {"postgres = { conninfo = \"postgresql://u:pw@db/app\"; };", 0600, false},
        {"postgres = { conninfo = \"postgresql://u@db/app\"; };", 0644, false},
        {"kafka = { properties = { sasl_password = \"x\"; }; };", 0604, true},
        {"kafka = { properties = { ssl_key_password = \"x\"; }; };", 0400, false},
        {"kafka = { properties = { compression_type = \"lz4\"; }; };", 0666, false},
    };
    char err[512], warning[1024];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_temp(cases[i].text);
        relay_config *cfg;

        ck_assert_int_eq(chmod(path, (mode_t)cases[i].mode), 0);
        cfg = config_load(path, no_env, err, sizeof err);
        ck_assert_msg(cfg != NULL, "case %zu: %s", i, err);
        ck_assert_msg(cfg->source_exposed == cases[i].exposed, "case %zu", i);
        config_exposed_warning(cfg, warning, sizeof warning);
        if (cases[i].exposed) {
            ck_assert_msg(strstr(warning, path) == warning, "%s", warning);
            ck_assert_msg(strstr(warning, "holds a password and group or others may read it: "
                                          "run chmod 600") != NULL,
                          "%s", warning);
        } else {
            ck_assert_str_eq(warning, "");
        }
        config_free(cfg);
        remove_temp(path);
    }
}
END_TEST

/* The record shape examples in etc/ load as their comments say. */
START_TEST(shape_examples_load)
{
    char err[512];
    relay_config *ce = config_load(ETC("cloudevents.conf"), no_env, err, sizeof err);
    relay_config *fields;

    ck_assert_msg(ce != NULL, "%s", err);
    ck_assert_int_eq(ce->outbox.value, CONFIG_VALUE_CLOUDEVENTS);
    ck_assert_str_eq(ce->outbox.cloudevents_source, "/orders/outbox");
    ck_assert_uint_eq(ce->outbox.nfields, 2);
    ck_assert_int_eq(ce->outbox.fields[0].placement, CONFIG_PLACE_ENVELOPE);
    ck_assert_str_eq(ce->outbox.fields[1].name, "tenant_id");
    config_free(ce);
    fields = config_load(ETC("fields.conf"), no_env, err, sizeof err);
    ck_assert_msg(fields != NULL, "%s", err);
    ck_assert_int_eq(fields->outbox.value, CONFIG_VALUE_ENVELOPE);
    ck_assert_uint_eq(fields->outbox.nfields, 3);
    ck_assert_str_eq(fields->outbox.fields[2].column, "priority");
    ck_assert_str_eq(fields->outbox.cloudevents_source, "/outbox-relay/orders-relay");
    config_free(fields);
}
END_TEST

/* outbox.fields from the file and from the environment; a binary-mode extension header. */
START_TEST(fields_from_file_and_env)
{
    char err[512], path[64];
    char *envp[] = {"OUTBOX_RELAY_OUTBOX_FIELDS=region:header,tenant:envelope:tenantid", NULL};
    char *bad_env[] = {"OUTBOX_RELAY_OUTBOX_FIELDS=region", NULL};
    relay_config *cfg = load_text(
        "name = \"orders\";\noutbox = {\n  value = \"envelope\";\n  cloudevents_headers = true;\n"
        "  fields = ( { column = \"tenant\"; placement = \"header\"; name = \"ce_tenant\"; },\n"
        "             { column = \"region\"; placement = \"envelope\"; } );\n};\n",
        no_env, err, sizeof err, path, sizeof path);

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->outbox.nfields, 2);
    ck_assert_str_eq(cfg->outbox.fields[0].column, "tenant");
    ck_assert_int_eq(cfg->outbox.fields[0].placement, CONFIG_PLACE_HEADER);
    ck_assert_str_eq(cfg->outbox.fields[0].name, "ce_tenant");
    ck_assert_str_eq(cfg->outbox.fields[1].name, "region"); /* the column's by default */
    ck_assert_int_eq(cfg->outbox.fields[1].placement, CONFIG_PLACE_ENVELOPE);
    ck_assert_str_eq(cfg->outbox.cloudevents_source, "/outbox-relay/orders");
    config_free(cfg);

    cfg = load_text("outbox = { value = \"cloudevents\"; fields = []; };\n", envp, err,
                    sizeof err, path, sizeof path);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->outbox.nfields, 2);
    ck_assert_str_eq(cfg->outbox.fields[0].column, "region");
    ck_assert_str_eq(cfg->outbox.fields[0].name, "region");
    ck_assert_str_eq(cfg->outbox.fields[1].name, "tenantid");
    ck_assert_int_eq(cfg->outbox.fields[1].placement, CONFIG_PLACE_ENVELOPE);
    config_free(cfg);

    ck_assert_ptr_null(config_load(NULL, bad_env, err, sizeof err));
    ck_assert_str_eq(err, "OUTBOX_RELAY_OUTBOX_FIELDS[0]: placement is missing: set placement "
                          "= \"header\" or \"envelope\"");
}
END_TEST

Suite *suite_config(void)
{
    Suite *s = suite_create("config");
    TCase *files = tcase_create("files");
    TCase *errors = tcase_create("errors");
    TCase *env = tcase_create("env");
    TCase *props = tcase_create("properties");

    tcase_add_test(files, defaults_are_documented_values);
    tcase_add_test(files, empty_file_gives_defaults);
    tcase_add_test(files, reference_file_sets_every_default);
    tcase_add_test(files, minimal_file_loads);
    tcase_add_test(files, messages_file_reads_messages);
    tcase_add_test(files, seed_file_matches_seed_table);
    tcase_add_test(files, table_takes_a_list_or_a_pattern);
    tcase_add_test(files, tenants_file_loads);
    tcase_add_loop_test(files, file_sets_each_setting, 0, (int)NSPECS);
    tcase_add_test(files, enum_values_are_stored_canonically);
    tcase_add_test(files, include_is_relative_to_the_file);
    tcase_add_test(files, fields_from_file_and_env);
    tcase_add_test(files, shape_examples_load);
    suite_add_tcase(s, files);

    tcase_add_loop_test(errors, file_error, 0, (int)(sizeof file_errors / sizeof file_errors[0]));
    tcase_add_test(errors, missing_file);
    tcase_add_test(errors, small_or_missing_errbuf);
    tcase_add_test(errors, template_needs_aggregate_type_column);
    tcase_add_test(errors, conninfo_is_never_echoed);
    suite_add_tcase(s, errors);

    tcase_add_loop_test(env, env_sets_each_setting, 0, (int)NSPECS);
    tcase_add_test(env, env_wins_over_file);
    tcase_add_test(env, env_bool_spellings);
    tcase_add_test(env, env_empty_string_and_unrelated_variables);
    tcase_add_loop_test(env, env_error, 0, (int)(sizeof env_errors / sizeof env_errors[0]));
    tcase_add_loop_test(env, env_file_sets_each_setting, 0, (int)NSPECS);
    tcase_add_test(env, env_file_drops_one_trailing_newline);
    tcase_add_test(env, env_file_errors);
    tcase_add_test(env, exposed_config_file_is_warned_about);
    suite_add_tcase(s, env);

    tcase_add_test(props, properties_map_names_keep_order_and_stringify);
    tcase_add_test(props, properties_env_overrides_in_place_and_appends);
    suite_add_tcase(s, props);
    return s;
}
