/*
 * config.c — one table of settings drives everything: defaults, reading the libconfig
 * file, OUTBOX_RELAY_<PATH> environment overrides, validation and the error text.
 *
 * Adding a setting means adding a field to relay_config and a row to `opts`; nothing
 * else (an enum setting also has its enum in config.h and its names table here). The only
 * code that knows a setting by name is the cross-field check at the end.
 */
#include "config.h"
#include "config_fields.h"
#include "tables.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define ENV_PREFIX "OUTBOX_RELAY_"
#define ENV_PROPS "KAFKA_PROPERTIES" /* env form of the kafka.properties group */
#define ENV_FILE "_FILE"             /* OUTBOX_RELAY_<X>_FILE: <X> from a file */
#define FILE_VALUE_MAX 65536         /* longest value read from such a file */
#define NAME_MAX_LEN 256             /* longest path or variable name we format */

typedef enum { OPT_STRING, OPT_INT, OPT_BOOL, OPT_ENUM, OPT_PROPS, OPT_FIELDS } opt_type;

/* Checks a string value; may write a short reason into why (shown in parentheses). */
typedef bool (*str_check)(const char *value, char *why, size_t why_size);

typedef struct opt_def {
    const char *path; /* "postgres.slot": file path; env name is derived from it */
    opt_type type;
    size_t offset; /* of the field in relay_config */
    const char *def_str;
    int def_int; /* ints, bools and enums */
    int min, max;
    bool minus_one;             /* -1 is accepted besides min..max */
    const char *const *allowed; /* enum names, indexed by value, NULL-terminated */
    str_check check;
    const char *expect; /* what check accepts, for "expected …" */
    bool secret;        /* never echo the value (conninfo may carry a password) */
    bool list;          /* a string, or a list of strings joined by ',' (outbox.table) */
    const char *doc;
} opt_def;

#define FIELD(f) offsetof(relay_config, f)
#define OPT_S(p, f, d, chk, exp, doc_)                                                       \
    {.path = p, .type = OPT_STRING, .offset = FIELD(f), .def_str = d, .check = chk,          \
     .expect = exp, .doc = doc_}
#define OPT_I(p, f, d, lo, hi, doc_)                                                          \
    {.path = p, .type = OPT_INT, .offset = FIELD(f), .def_int = d, .min = lo, .max = hi,       \
     .doc = doc_}
#define OPT_B(p, f, d, doc_)                                                                  \
    {.path = p, .type = OPT_BOOL, .offset = FIELD(f), .def_int = d, .doc = doc_}
#define OPT_E(p, f, d, vals, doc_)                                                            \
    {.path = p, .type = OPT_ENUM, .offset = FIELD(f), .def_int = d, .allowed = vals,          \
     .doc = doc_}

static bool check_name(const char *v, char *why, size_t why_size);
static bool check_slot(const char *v, char *why, size_t why_size);
static bool check_ident(const char *v, char *why, size_t why_size);
static bool check_table(const char *v, char *why, size_t why_size);
static bool check_column(const char *v, char *why, size_t why_size);
static bool check_opt_column(const char *v, char *why, size_t why_size);
static bool check_topic(const char *v, char *why, size_t why_size);
static bool check_template(const char *v, char *why, size_t why_size);
static bool check_zone(const char *v, char *why, size_t why_size);
static bool check_prefix(const char *v, char *why, size_t why_size);
static bool check_brokers(const char *v, char *why, size_t why_size);
static bool check_listen(const char *v, char *why, size_t why_size);
static bool check_source(const char *v, char *why, size_t why_size);

/* An enum setting is stored as an int; its names are listed in value order. */
_Static_assert(sizeof(log_level) == sizeof(int) && sizeof(log_format) == sizeof(int) && sizeof(config_value) == sizeof(int) &&
                   sizeof(config_source) == sizeof(int) &&
                   sizeof(config_on_invalid) == sizeof(int) &&
                   sizeof(config_on_unknown) == sizeof(int) &&
                   sizeof(config_applies_to) == sizeof(int) && sizeof(config_draft) == sizeof(int),
               "enum settings are stored through an int");
static const char *const log_levels[] = {
    [LVL_ERROR] = "error", [LVL_WARN] = "warn", [LVL_INFO] = "info", [LVL_DEBUG] = "debug", NULL};
static const char *const log_formats[] = {[LOG_TEXT] = "text", [LOG_JSON] = "json", NULL};
static const char *const value_formats[] = {
    [CONFIG_VALUE_PAYLOAD] = "payload", [CONFIG_VALUE_ENVELOPE] = "envelope",
    [CONFIG_VALUE_CLOUDEVENTS] = "cloudevents", NULL};
static const char *const outbox_sources[] = {
    [CONFIG_SOURCE_TABLE] = "table", [CONFIG_SOURCE_MESSAGES] = "messages", NULL};
static const char *const on_invalid_policies[] = {
    [CONFIG_ON_INVALID_DEAD_LETTER] = "dead_letter", [CONFIG_ON_INVALID_STOP] = "stop", NULL};
static const char *const on_unknown_policies[] = {[CONFIG_ON_UNKNOWN_ALLOW] = "allow",
                                                  [CONFIG_ON_UNKNOWN_DEAD_LETTER] = "dead_letter",
                                                  [CONFIG_ON_UNKNOWN_STOP] = "stop", NULL};
static const char *const schema_targets[] = {
    [CONFIG_APPLIES_TO_PAYLOAD] = "payload", [CONFIG_APPLIES_TO_VALUE] = "value", NULL};
static const char *const schema_drafts[] = {
    [CONFIG_DRAFT_2020_12] = "2020-12", [CONFIG_DRAFT_7] = "7", NULL};

#define TOPIC_CHARS "1-249 characters from A-Z, a-z, 0-9, '.', '_' and '-'"
#define COLUMN "a column name of 1-63 bytes"

static const opt_def opts[] = {
    OPT_S("name", name, "outbox-relay", check_name,
          "1-200 characters from A-Z, a-z, 0-9, '.', '_' and '-'",
          "Identity of this relay: the Kafka transactional.id and the checkpoint key derive "
          "from it, so two relays must never share a name."),
    OPT_E("log.level", log.level, LVL_INFO, log_levels, "Least severe message logged."),
    OPT_E("log.format", log.format, LOG_TEXT, log_formats,
          "Log lines on stderr: \"TIME LEVEL message\", or one JSON object per line (ts, "
          "level, msg and fields such as slot, lsn, event_id, topic, exit_code), librdkafka's "
          "and libpq's messages included."),

    {.path = "postgres.conninfo", .type = OPT_STRING, .offset = FIELD(postgres.conninfo),
     .def_str = "", .secret = true,
     .doc = "libpq connection URI or key/value string; empty uses libpq defaults and the PG* "
            "environment variables. Never echoed in messages."},
    OPT_S("postgres.slot", postgres.slot, "outbox_relay", check_slot,
          "1-63 characters from a-z, 0-9 and '_'", "Logical replication slot (plugin pgoutput)."),
    OPT_S("postgres.publication", postgres.publication, "outbox_pub", check_ident,
          "a publication name of 1-63 bytes", "Publication that contains the outbox table."),
    OPT_B("postgres.create_slot", postgres.create_slot, false,
          "Create the slot at start when it is missing (else stop and print the SQL)."),
    OPT_B("postgres.failover_slot", postgres.failover_slot, false,
          "Postgres 17+: create the slot as a failover slot (and make an existing one so), "
          "synchronized to standbys with sync_replication_slots, so the relay continues on a "
          "promoted standby."),
    OPT_I("postgres.status_interval_ms", postgres.status_interval_ms, 10000, 100, 3600000,
          "Period of standby status updates and idle checkpoints."),
    OPT_I("postgres.connect_timeout_s", postgres.connect_timeout_s, 10, 1, 3600,
          "Timeout for connecting to Postgres, and for the first contact with Kafka."),
    OPT_I("postgres.slot_warn_bytes", postgres.slot_warn_bytes, 1073741824, 0, 2147483647,
          "Warn (at most once a minute) when the slot's safe_wal_size, the WAL that may still "
          "be written before max_slot_wal_keep_size makes Postgres drop what the slot needs, "
          "falls below this; 0 never warns."),

    OPT_E("outbox.source", outbox.source, CONFIG_SOURCE_TABLE, outbox_sources,
          "Where events come from: inserts into the outbox table, or logical decoding "
          "messages (pg_logical_emit_message, Postgres 14+) whose content is the event as JSON."),
    OPT_S("outbox.message_prefix", outbox.message_prefix, "outbox", check_prefix,
          "1-255 printable bytes",
          "With outbox.source = \"messages\": the prefix of the messages that are events; "
          "messages with another prefix are counted and ignored."),
    {.path = "outbox.table", .type = OPT_STRING, .offset = FIELD(outbox.table),
     .def_str = "public.outbox", .check = check_table, .list = true,
     .expect = "[schema.]table or \"*.table\", or a list of them, each part 1-63 bytes",
     .doc = "Outbox table, [schema.]name (the schema defaults to public); or several: a list "
            "[\"a.outbox\", \"b.outbox\"] (comma separated in the environment), and "
            "\"*.outbox\" for every table of that name the publication includes."},
    OPT_S("outbox.topic", outbox.topic, "outbox.event.${aggregate_type}", check_template,
          "a topic name or a template such as \"outbox.event.${aggregate_type}\"",
          "Kafka topic: a fixed name, or a template whose ${column} placeholders are replaced "
          "by the row's column values."),
    OPT_E("outbox.value", outbox.value, CONFIG_VALUE_PAYLOAD, value_formats,
          "Record value: the payload column as is, an envelope "
          "{\"event_id\", \"type\", \"payload\"}, or a CloudEvents 1.0 JSON document "
          "(structured content mode)."),
    {.path = "outbox.fields", .type = OPT_FIELDS, .offset = FIELD(outbox.fields),
     .expect = CONFIG_FIELDS_EXPECT,
     .doc = "Columns copied into a record header or a top-level member of the envelope (or "
            "the CloudEvent), under name (the column's by default); NULL omits it."},
    OPT_S("outbox.cloudevents_source", outbox.cloudevents_source, "", check_source,
          "\"\", or a URI reference without spaces such as \"/orders/outbox\"",
          "CloudEvents source attribute; \"\" is \"/outbox-relay/<name>\"."),
    OPT_B("outbox.cloudevents_headers", outbox.cloudevents_headers, false,
          "CloudEvents binary content mode for any value shape: ce_specversion, ce_id, "
          "ce_source, ce_type, ce_subject, ce_time and content-type headers."),
    OPT_S("outbox.timestamp_zone", outbox.timestamp_zone, "", check_zone,
          "\"\", or a time zone name such as \"UTC\" or \"Asia/Tokyo\"",
          "Time zone of a created_at column of type timestamp (without time zone), as its "
          "writers meant it; \"\" reads the database's TimeZone setting at connect."),
    OPT_S("outbox.columns.id", outbox.columns.id, "id", check_column, COLUMN,
          "Event id column (a header; consumers deduplicate on it)."),
    OPT_S("outbox.columns.aggregate_type", outbox.columns.aggregate_type, "aggregate_type",
          check_opt_column, COLUMN ", or \"\" when the table has none",
          "Aggregate type column: a header, and the usual topic placeholder."),
    OPT_S("outbox.columns.aggregate_id", outbox.columns.aggregate_id, "aggregate_id",
          check_column, COLUMN, "Aggregate id column: the record key, so one aggregate's events "
                                "stay in order on one partition."),
    OPT_S("outbox.columns.event_type", outbox.columns.event_type, "event_type", check_column,
          COLUMN, "Event type column: a header, and selects the schema."),
    OPT_S("outbox.columns.payload", outbox.columns.payload, "payload", check_column, COLUMN,
          "Payload column (json or jsonb)."),
    OPT_S("outbox.columns.headers", outbox.columns.headers, "headers", check_opt_column,
          COLUMN ", or \"\" when the table has none",
          "Extra headers column, a JSON object (trace context, tenant)."),
    OPT_S("outbox.columns.created_at", outbox.columns.created_at, "created_at",
          check_opt_column, COLUMN ", or \"\" when the table has none",
          "Record timestamp column; without one the commit time is used."),

    OPT_S("kafka.brokers", kafka.brokers, "localhost:9092", check_brokers,
          "host:port[,host:port...]", "Bootstrap brokers, comma separated."),
    OPT_S("kafka.checkpoint_topic", kafka.checkpoint_topic, "outbox-relay.checkpoints",
          check_topic, "a topic name of " TOPIC_CHARS,
          "Compacted topic holding each relay's last published position."),
    OPT_B("kafka.create_topics", kafka.create_topics, true,
          "Create missing event topics (else stop, naming the topic)."),
    OPT_I("kafka.topic_partitions", kafka.topic_partitions, 3, 1, 10000,
          "Partitions of the event topics the relay creates."),
    {.path = "kafka.replication_factor", .type = OPT_INT, .offset = FIELD(kafka.replication_factor),
     .def_int = -1, .min = 1, .max = 100, .minus_one = true,
     .doc = "Replication factor of the topics the relay creates; -1 uses the broker default."},
    OPT_I("kafka.transaction_timeout_ms", kafka.transaction_timeout_ms, 60000, 1000, 900000,
          "Kafka transaction timeout (transaction.timeout.ms); at most the broker's "
          "transaction.max.timeout.ms."),
    OPT_I("kafka.commit_timeout_ms", kafka.commit_timeout_ms, 30000, 1000, 900000,
          "How long one commit may take before it counts as failed."),
    OPT_I("kafka.commit_pause_ms", kafka.commit_pause_ms, 3, 0, 1000,
          "Pause after a commit that found nothing more to read, before the next Kafka "
          "transaction, while the broker writes the commit's markers: one begun sooner is "
          "refused and librdkafka retries only after 20 ms (CONCURRENT_TRANSACTIONS). Not "
          "with a backlog, where that retry overlaps with producing; 0 does not pause."),
    {.path = "kafka.properties", .type = OPT_PROPS, .offset = FIELD(kafka.properties),
     .doc = "librdkafka properties passed through; '_' in a name stands for '.' "
            "(compression_type = \"lz4\" sets compression.type)."},

    OPT_I("batch.max_events", batch.max_events, 10000, 1, 1000000,
          "Most events in one Kafka transaction."),
    OPT_I("batch.max_bytes", batch.max_bytes, 8388608, 1024, 1073741824,
          "Most payload bytes in one Kafka transaction."),
    OPT_B("batch.adaptive", batch.adaptive, true,
          "Commit a batch as soon as the replication stream has no further transaction ready; "
          "false waits out batch.linger_ms every time (fewer, larger Kafka transactions, more "
          "latency)."),
    OPT_I("batch.linger_ms", batch.linger_ms, 100, 0, 60000,
          "The oldest a batch gets before it is committed at the next transaction boundary "
          "(with batch.adaptive = false: how long it waits for more transactions)."),

    OPT_S("schemas.dir", schemas.dir, "", NULL, NULL,
          "Directory of JSON Schemas, one per event type (OrderCreated.json, "
          "OrderCreated.v2.json); \"\" checks no schemas."),
    OPT_E("schemas.on_invalid", schemas.on_invalid, CONFIG_ON_INVALID_DEAD_LETTER,
          on_invalid_policies,
          "An event that fails its schema, a row that cannot become a record or a record "
          "Kafka refuses (too large, or rejected by the broker): to the dead-letter topic, or "
          "stop the relay."),
    OPT_E("schemas.on_unknown_type", schemas.on_unknown_type, CONFIG_ON_UNKNOWN_ALLOW,
          on_unknown_policies,
          "An event type (or version) without a schema: publish it, dead-letter it, or stop."),
    OPT_E("schemas.applies_to", schemas.applies_to, CONFIG_APPLIES_TO_PAYLOAD, schema_targets,
          "What the schema describes: the payload column, or the record value (the envelope "
          "with outbox.value = \"envelope\")."),
    OPT_S("schemas.version_column", schemas.version_column, "", check_opt_column,
          COLUMN ", or \"\"",
          "Outbox column holding the schema version (2 or \"v2\" selects OrderCreated.v2.json)."),
    OPT_S("schemas.version_header", schemas.version_header, "", NULL, NULL,
          "Key of the headers column holding the schema version, instead of a column."),
    OPT_E("schemas.draft", schemas.draft, CONFIG_DRAFT_2020_12, schema_drafts,
          "JSON Schema dialect of files without \"$schema\"."),
    OPT_B("schemas.format_assert", schemas.format_assert, false,
          "Check \"format\" (date-time, uuid, email, ...) as an assertion, not an annotation."),

    OPT_S("dead_letter.topic", dead_letter.topic, "outbox-relay.dead-letter", check_topic,
          "a topic name of " TOPIC_CHARS,
          "Topic of the events that schemas.on_invalid or on_unknown_type dead-letter."),

    OPT_S("http.listen", http.listen, ":9490", check_listen,
          "host:port, [ipv6]:port, :port (every address) or \"\" (off)",
          "Address of the HTTP endpoint (/metrics, /healthz, /readyz); \":9490\" listens on "
          "every address, as probes and scrapers reach a pod or host from outside; \"\" "
          "turns it off."),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* librdkafka properties the relay sets itself; a user value would break exactly-once. */
static const struct {
    const char *name;
    const char *advice;
} owned_props[] = {
    {"bootstrap.servers", "set kafka.brokers instead"},
    {"transactional.id", "it derives from name; set name instead"},
    {"enable.idempotence", "the transactional producer always enables it; remove it"},
    {"isolation.level", "the checkpoint reader is always read_committed; remove it"},
    {"transaction.timeout.ms", "set kafka.transaction_timeout_ms instead"},
};

/* Where a setting's value came from, for errors about two settings at once. */
typedef struct origin {
    enum { FROM_DEFAULT, FROM_FILE, FROM_ENV } kind;
    const char *file;
    int line;
    const char *env; /* "NAME=value" entry of envp; name runs to the '=' */
} origin;

typedef struct load_ctx {
    relay_config *cfg;
    const char *path; /* the file, for settings libconfig gives no file name */
    char *dir;        /* path's directory with '/', where @include looks; NULL if none */
    char *text;       /* the file's text, to re-read integer literals */
    char *err;
    size_t err_size;
    origin from[NOPTS];
    char **file_env; /* "OUTBOX_RELAY_<X>=text" made from <X>_FILE variables */
    size_t nfile_env;
    bool file_secret; /* the file sets a password */
} load_ctx;

/* ---- small helpers ---- */

static bool fail(load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(load_ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (c->err != NULL && c->err_size > 0) {
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool oom(load_ctx *c)
{
    return fail(c, "out of memory");
}

static char **str_field(relay_config *cfg, const opt_def *o)
{
    return (char **)(void *)((char *)cfg + o->offset);
}

static int *int_field(relay_config *cfg, const opt_def *o)
{
    return (int *)(void *)((char *)cfg + o->offset);
}

static bool *bool_field(relay_config *cfg, const opt_def *o)
{
    return (bool *)(void *)((char *)cfg + o->offset);
}

/* "s" with quotes, control characters escaped and long text cut, so an error stays one
 * readable line whatever the user wrote. */
static const char *quoted(const char *s, char *buf, size_t size)
{
    size_t n = 0, max_text = 80;
    size_t i;

    buf[n++] = '"';
    for (i = 0; s[i] != '\0' && n + 8 < size && i < max_text; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            n += (size_t)snprintf(buf + n, size - n, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    if (s[i] != '\0')
        n += (size_t)snprintf(buf + n, size - n, "...");
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

static const char *type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

/* What an option accepts, for "expected …". */
static const char *expectation(const opt_def *o, char *buf, size_t size)
{
    size_t n;

    switch (o->type) {
    case OPT_INT:
        snprintf(buf, size, "%san integer between %d and %d", o->minus_one ? "-1 or " : "",
                 o->min, o->max);
        return buf;
    case OPT_BOOL: return "true or false";
    case OPT_ENUM:
        n = (size_t)snprintf(buf, size, "one of");
        for (size_t i = 0; o->allowed[i] != NULL && n < size; i++)
            n += (size_t)snprintf(buf + n, size - n, "%s %s", i ? "," : "", o->allowed[i]);
        return buf;
    case OPT_PROPS: return "a group of librdkafka properties";
    default: return o->expect != NULL ? o->expect : "a string";
    }
}

/* Env name of a path: upper case, '.' → '_' ("postgres.slot" → "POSTGRES_SLOT"). */
static void env_suffix(const char *path, char *buf, size_t size)
{
    size_t i;

    for (i = 0; path[i] != '\0' && i + 1 < size; i++)
        buf[i] = path[i] == '.' ? '_' : (char)toupper((unsigned char)path[i]);
    buf[i] = '\0';
}

static const opt_def *find_opt(const char *path)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].path, path) == 0)
            return &opts[i];
    return NULL;
}

/* A group is any proper prefix of a setting's path; kafka.properties is one too. */
static bool is_group(const char *path)
{
    size_t len = strlen(path);

    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].type == OPT_PROPS && strcmp(opts[i].path, path) == 0)
            return true;
        if (strncmp(opts[i].path, path, len) == 0 && opts[i].path[len] == '.')
            return true;
    }
    return false;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[NAME_MAX_LEN + 1];

    if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) !=
                                  tolower((unsigned char)b[j - 1]));
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Keeps cand in out when it is the closest to the unknown name so far. */
static void consider(const char *unknown, const char *last, const char *cand,
                     const char *cand_last, size_t *best, char *out, size_t size)
{
    /* About one typo per four letters of the name; short names must match exactly. */
    size_t limit = (strlen(cand_last) + 1) / 4;
    size_t d = edit_distance(unknown, cand), d_last = edit_distance(last, cand_last);

    if (limit > 3)
        limit = 3;
    if (d_last < d)
        d = d_last;
    if (d <= limit && d < *best) {
        *best = d;
        snprintf(out, size, "%s", cand);
    }
}

/*
 * The known path (file) or variable suffix (env) closest to what the user wrote, by whole
 * name or by last component, so both "postgres.slots" and a top-level "slot" find
 * "postgres.slot". Returns false when nothing is close enough to be a likely typo.
 */
static bool suggest(const char *unknown, const char *last, bool env, char *out, size_t size)
{
    size_t best = SIZE_MAX;

    for (size_t i = 0; i < NOPTS; i++) {
        char cand[NAME_MAX_LEN], cand_last[NAME_MAX_LEN];
        const char *path = opts[i].path, *dot = strrchr(path, '.');

        if (env) {
            if (opts[i].type == OPT_PROPS)
                continue;
            env_suffix(path, cand, sizeof cand);
            env_suffix(dot ? dot + 1 : path, cand_last, sizeof cand_last);
            consider(unknown, last, cand, cand_last, &best, out, size);
            continue;
        }
        consider(unknown, last, path, dot ? dot + 1 : path, &best, out, size);
        /* Groups too: "postgress = { … }" is a typo of "postgres". */
        for (const char *end = strchr(path, '.'); end != NULL; end = strchr(end + 1, '.')) {
            const char *start = end;
            while (start > path && start[-1] != '.')
                start--;
            snprintf(cand, sizeof cand, "%.*s", (int)(end - path), path);
            snprintf(cand_last, sizeof cand_last, "%.*s", (int)(end - start), start);
            consider(unknown, last, cand, cand_last, &best, out, size);
        }
    }
    return best != SIZE_MAX;
}

/* Direct members of group ("" for the top level), in table order: "conninfo, slot, …". */
static void list_members(const char *group, bool env, char *out, size_t size)
{
    size_t glen = strlen(group), n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < NOPTS && n < size; i++) {
        const char *rest = opts[i].path + (glen ? glen + 1 : 0);
        size_t len;
        bool seen = false, sub;
        char name[NAME_MAX_LEN], envname[NAME_MAX_LEN];

        if (glen && (strncmp(opts[i].path, group, glen) != 0 || opts[i].path[glen] != '.'))
            continue;
        len = strcspn(rest, ".");
        sub = rest[len] == '.';
        for (size_t j = 0; j < i && !seen; j++) {
            const char *r2 = opts[j].path + (glen ? glen + 1 : 0);
            seen = (!glen || (strncmp(opts[j].path, group, glen) == 0 &&
                              opts[j].path[glen] == '.')) &&
                   strncmp(r2, rest, len) == 0 && (r2[len] == '.' || r2[len] == '\0');
        }
        if (seen)
            continue;
        snprintf(name, sizeof name, "%.*s", (int)len, rest);
        if (env) {
            char upto[NAME_MAX_LEN]; /* the path up to this member: "kafka.properties" */
            snprintf(upto, sizeof upto, "%.*s", (int)(rest + len - opts[i].path), opts[i].path);
            env_suffix(upto, envname, sizeof envname);
            n += (size_t)snprintf(out + n, size - n, "%s" ENV_PREFIX "%s%s", n ? ", " : "",
                                  envname,
                                  opts[i].type == OPT_PROPS ? "_<NAME>" : sub ? "_*" : "");
        } else {
            n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "", name);
        }
    }
}

/* ---- validators for string settings ---- */

static bool only_chars(const char *v, size_t min, size_t max, const char *extra, bool upper)
{
    size_t len = strlen(v);

    if (len < min || len > max)
        return false;
    for (const char *p = v; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  (upper && ch >= 'A' && ch <= 'Z') || (ch != '\0' && strchr(extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

static bool check_name(const char *v, char *why, size_t why_size)
{
    (void)why, (void)why_size;
    return only_chars(v, 1, 200, "._-", true);
}

static bool check_slot(const char *v, char *why, size_t why_size)
{
    (void)why, (void)why_size;
    return only_chars(v, 1, 63, "_", false);
}

/* Postgres names are at most NAMEDATALEN-1 = 63 bytes; longer ones are silently cut. */
static bool check_ident(const char *v, char *why, size_t why_size)
{
    (void)why, (void)why_size;
    return v[0] != '\0' && strlen(v) <= 63;
}

static bool check_table(const char *v, char *why, size_t why_size)
{
    return tables_spec_valid(v, why, why_size);
}

/* An IANA name ("America/Argentina/Buenos_Aires", "Etc/GMT+3", "UTC"); whether the zone
 * exists is known only where it is used (event_mapper_set_zone). */
static bool check_zone(const char *v, char *why, size_t why_size)
{
    (void)why, (void)why_size;
    return v[0] == '\0' || (only_chars(v, 1, 64, "/_+-", true) && v[0] != '/' &&
                            strstr(v, "..") == NULL);
}

/* A message prefix goes into log lines: printable, so they stay one line. */
static bool check_prefix(const char *v, char *why, size_t why_size)
{
    (void)why, (void)why_size;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return v[0] != '\0' && strlen(v) <= 255;
}

static bool check_column(const char *v, char *why, size_t why_size)
{
    return check_ident(v, why, why_size);
}

static bool check_opt_column(const char *v, char *why, size_t why_size)
{
    return v[0] == '\0' || check_ident(v, why, why_size);
}

/* Kafka's own rule for topic names. */
static bool check_topic(const char *v, char *why, size_t why_size)
{
    (void)why, (void)why_size;
    return only_chars(v, 1, 249, "._-", true) && strcmp(v, ".") != 0 && strcmp(v, "..") != 0;
}

/*
 * A fixed topic name, or literal topic characters and ${column} placeholders. Literal
 * parts are checked now, since no column value can make an illegal literal legal.
 */
static bool check_template(const char *v, char *why, size_t why_size)
{
    bool placeholders = false;

    for (const char *p = v; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            size_t bad = strcspn(p + 2, "${");
            if (close == NULL) {
                snprintf(why, why_size, "unclosed \"${\"");
                return false;
            }
            if (close == p + 2) {
                snprintf(why, why_size, "empty placeholder \"${}\"");
                return false;
            }
            if (p + 2 + bad < close) {
                snprintf(why, why_size, "'%c' inside a placeholder", p[2 + bad]);
                return false;
            }
            placeholders = true;
            p = close + 1;
            continue;
        }
        if (*p == '}') {
            snprintf(why, why_size, "\"}\" without \"${\"");
            return false;
        }
        if (!only_chars((char[]){*p, '\0'}, 1, 1, "._-", true)) {
            if (*p == '{' || *p == '$')
                snprintf(why, why_size, "'%c' outside a \"${column}\" placeholder", *p);
            else if (isprint((unsigned char)*p))
                snprintf(why, why_size, "'%c' is not allowed in a topic name", *p);
            else
                snprintf(why, why_size, "byte 0x%02x is not allowed in a topic name",
                         (unsigned char)*p);
            return false;
        }
        p++;
    }
    if (!placeholders && !check_topic(v, why, why_size)) {
        snprintf(why, why_size, v[0] ? "not a legal topic name" : "empty");
        return false;
    }
    return true;
}

/* A CloudEvents source: a URI reference; "" derives it from name. */
static bool check_source(const char *v, char *why, size_t why_size)
{
    (void)why;
    (void)why_size;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    return strlen(v) <= 1024;
}

/* "", or host:port / [v6]:port / :port with a decimal port; http.c resolves the host. */
static bool check_listen(const char *v, char *why, size_t why_size)
{
    const char *colon = strrchr(v, ':');
    long port;
    char *end;

    if (v[0] == '\0')
        return true;
    if (colon == NULL || (v[0] == '[' && (colon == v || colon[-1] != ']'))) {
        snprintf(why, why_size, "no port");
        return false;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 || port > 65535) {
        snprintf(why, why_size, "port is not a number between 0 and 65535");
        return false;
    }
    return true;
}

static bool check_brokers(const char *v, char *why, size_t why_size)
{
    if (v[0] == '\0') {
        snprintf(why, why_size, "empty");
        return false;
    }
    for (const char *p = v;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0) {
            snprintf(why, why_size, "empty entry");
            return false;
        }
        for (size_t i = 0; i < len; i++) {
            if (isspace((unsigned char)p[i])) {
                snprintf(why, why_size, "white space");
                return false;
            }
        }
        p += len;
        if (*p == '\0')
            return true;
    }
}

/* Templates name columns; only a missing aggregate_type column is knowable here. */
static bool template_uses(const char *tmpl, const char *column)
{
    size_t len = strlen(column);

    for (const char *p = strstr(tmpl, "${"); p != NULL; p = strstr(p + 2, "${"))
        if (strncmp(p + 2, column, len) == 0 && p[2 + len] == '}')
            return true;
    return false;
}

/* ---- assigning values ---- */

static bool replace_str(char **field, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return false;
    free(*field);
    *field = copy;
    return true;
}

/* Validates and stores a string or enum. where = "FILE:LINE: path" or "OUTBOX_RELAY_X". */
static bool set_string(load_ctx *c, const opt_def *o, const char *value, const char *where)
{
    char exp[256], why[96] = "", q[128];

    if (o->type == OPT_ENUM) {
        /* Any case names the value; *_name() gives back the canonical spelling. */
        for (size_t i = 0; o->allowed[i] != NULL; i++)
            if (strcasecmp(value, o->allowed[i]) == 0)
                return *int_field(c->cfg, o) = (int)i, true;
        return fail(c, "%s: expected %s, got %s", where, expectation(o, exp, sizeof exp),
                    quoted(value, q, sizeof q));
    }
    if (o->check != NULL && !o->check(value, why, sizeof why))
        return fail(c, "%s: expected %s, got %s%s%s%s", where, expectation(o, exp, sizeof exp),
                    o->secret ? "an invalid value" : quoted(value, q, sizeof q),
                    why[0] ? " (" : "", why, why[0] ? ")" : "");
    return replace_str(str_field(c->cfg, o), value) || oom(c);
}

/* got = how to show the value: "5" from a file, "\"5\"" from the environment. */
static bool set_int(load_ctx *c, const opt_def *o, long long v, const char *where,
                    const char *got)
{
    char exp[128];

    if ((v < o->min || v > o->max) && !(o->minus_one && v == -1))
        return fail(c, "%s: expected %s, got %s", where, expectation(o, exp, sizeof exp), got);
    *int_field(c->cfg, o) = (int)v;
    return true;
}

static bool owned_prop(load_ctx *c, const char *prop, const char *where)
{
    for (size_t i = 0; i < sizeof owned_props / sizeof owned_props[0]; i++)
        if (strcasecmp(prop, owned_props[i].name) == 0)
            return !fail(c, "%s: \"%s\" is set by the relay; %s", where, owned_props[i].name,
                         owned_props[i].advice);
    return false;
}

/* Sets a librdkafka property: replaces an earlier value, else appends (file order). */
static bool set_prop(load_ctx *c, const char *name, const char *value)
{
    relay_config *cfg = c->cfg;
    config_prop *grown;
    char *n, *v;

    for (size_t i = 0; i < cfg->kafka.nproperties; i++)
        if (strcmp(cfg->kafka.properties[i].name, name) == 0)
            return replace_str(&cfg->kafka.properties[i].value, value) || oom(c);
    grown = realloc(cfg->kafka.properties, (cfg->kafka.nproperties + 1) * sizeof(*grown));
    if (grown == NULL)
        return oom(c);
    cfg->kafka.properties = grown;
    n = strdup(name);
    v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return oom(c);
    }
    grown[cfg->kafka.nproperties++] = (config_prop){n, v};
    return true;
}

/* ---- the file ---- */

/* "FILE:LINE". libconfig names an @include'd file as written, but opened it relative to
 * the including file's directory: show the path it opened. */
static const char *place(const load_ctx *c, const char *file, int line, char *buf, size_t size)
{
    if (file == NULL)
        file = c->path;
    if (file[0] != '/' && c->dir != NULL && strcmp(file, c->path) != 0)
        snprintf(buf, size, "%s%s:%d", c->dir, file, line);
    else
        snprintf(buf, size, "%s:%d", file, line);
    return buf;
}

static const char *place_of(const load_ctx *c, const config_setting_t *s, char *buf,
                            size_t size)
{
    return place(c, config_setting_source_file(s), (int)config_setting_source_line(s), buf,
                 size);
}

/* librdkafka properties that hold a secret (sasl.password, ssl.key.password, ...). */
static bool secret_prop(const char *name)
{
    return strstr(name, "password") != NULL || strstr(name, "secret") != NULL ||
           strcmp(name, "sasl.oauthbearer.config") == 0;
}

/* A libpq conninfo with a password: password=... or a URI's user:password@. */
static bool conninfo_has_password(const char *v)
{
    const char *auth = strstr(v, "://"), *at;

    if (strstr(v, "password") != NULL)
        return true;
    if (auth == NULL)
        return false;
    auth += 3;
    at = auth + strcspn(auth, "@/?");
    return *at == '@' && memchr(auth, ':', (size_t)(at - auth)) != NULL;
}

static bool read_props(load_ctx *c, const config_setting_t *group, const char *gpath)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        char at[PATH_MAX + 32], where[PATH_MAX + NAME_MAX_LEN * 2], prop[NAME_MAX_LEN];
        char value[64];
        const char *text = value;
        double d;
        size_t k;

        snprintf(where, sizeof where, "%s: %s.%s", place_of(c, s, at, sizeof at), gpath,
                 config_setting_name(s));
        for (k = 0; config_setting_name(s)[k] != '\0' && k + 1 < sizeof prop; k++)
            prop[k] = config_setting_name(s)[k] == '_' ? '.' : config_setting_name(s)[k];
        prop[k] = '\0';
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_STRING: text = config_setting_get_string(s); break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
            snprintf(value, sizeof value, "%lld", config_setting_get_int64(s));
            break;
        case CONFIG_TYPE_BOOL:
            text = config_setting_get_bool(s) ? "true" : "false";
            break;
        case CONFIG_TYPE_FLOAT:
            /* Shortest text that reads back as the same double. */
            d = config_setting_get_float(s);
            snprintf(value, sizeof value, "%.15g", d);
            if (strtod(value, NULL) != d)
                snprintf(value, sizeof value, "%.17g", d);
            break;
        default:
            return fail(c, "%s: expected a string, number or boolean, got %s", where,
                        type_name(config_setting_type(s)));
        }
        if (owned_prop(c, prop, where) || !set_prop(c, prop, text))
            return false;
        c->file_secret |= secret_prop(prop);
    }
    return true;
}

/*
 * libconfig 1.5 reads an integer literal too large for an int (and without the L suffix)
 * modulo 2^32: 4294968320 becomes 1024 and would pass a range check. So re-read the
 * literal from the source line and return the number as written. Settings from an
 * @include'd file, or split over lines, keep libconfig's value.
 */
static long long int_as_written(const load_ctx *c, const config_setting_t *s)
{
    long long v = config_setting_get_int64(s);
    const char *p = c->text, *name = config_setting_name(s), *eol;
    size_t len = strlen(name);

    if (p == NULL || config_setting_source_file(s) != NULL ||
        config_setting_type(s) != CONFIG_TYPE_INT)
        return v;
    for (unsigned line = 1; line < config_setting_source_line(s) && p != NULL; line++)
        if ((p = strchr(p, '\n')) != NULL)
            p++;
    if (p == NULL)
        return v;
    eol = p + strcspn(p, "\n");
    for (const char *q = p; (q = strstr(q, name)) != NULL && q < eol; q += len) {
        const char *r = q + len;
        char *end;
        long long written;

        if (q > p && (isalnum((unsigned char)q[-1]) || strchr("_-*", q[-1]) != NULL))
            continue;
        r += strspn(r, " \t");
        if (*r != '=' && *r != ':')
            continue;
        r++;
        r += strspn(r, " \t");
        errno = 0;
        written = strtoll(r, &end, 0);
        if (end > r && (errno == ERANGE || (int)written == (int)v))
            return written;
        return v;
    }
    return v;
}

/* A list setting written as a list ("a.outbox", "b.outbox"): its strings joined by ',', as
 * the environment writes it, then checked as one value. */
static bool read_list(load_ctx *c, const opt_def *o, const config_setting_t *s,
                      const char *where)
{
    int n = config_setting_length(s);
    size_t len = 0;
    char *joined;
    bool ok;

    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail(c, "%s: expected a string or a list of strings, got a list holding %s",
                        where, type_name(config_setting_type(e)));
        len += strlen(config_setting_get_string(e)) + 1;
    }
    if ((joined = calloc(1, len + 1)) == NULL)
        return oom(c);
    for (int i = 0; i < n; i++)
        strcat(strcat(joined, i ? "," : ""),
                config_setting_get_string(config_setting_get_elem(s, (unsigned)i)));
    ok = set_string(c, o, joined, where);
    free(joined);
    return ok;
}

static bool read_setting(load_ctx *c, const opt_def *o, const config_setting_t *s,
                         const char *where)
{
    int type = config_setting_type(s);
    char exp[256], got[32];

    c->from[o - opts] = (origin){FROM_FILE, config_setting_source_file(s),
                                 (int)config_setting_source_line(s), NULL};
    switch (o->type) {
    case OPT_STRING:
    case OPT_ENUM:
        if (type == CONFIG_TYPE_STRING) {
            c->file_secret |= o->secret && conninfo_has_password(config_setting_get_string(s));
            return set_string(c, o, config_setting_get_string(s), where);
        }
        if (o->list && (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST))
            return read_list(c, o, s, where);
        break;
    case OPT_INT:
        if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
            long long v = int_as_written(c, s);
            snprintf(got, sizeof got, "%lld", v);
            return set_int(c, o, v, where, got);
        }
        break;
    case OPT_BOOL:
        if (type == CONFIG_TYPE_BOOL) {
            *bool_field(c->cfg, o) = config_setting_get_bool(s) != 0;
            return true;
        }
        break;
    case OPT_PROPS: break;
    case OPT_FIELDS:
        return config_fields_read(s, where, &c->cfg->outbox.fields, &c->cfg->outbox.nfields,
                                  c->err, c->err_size);
    }
    /* A string's format is explained once its type is right. */
    return fail(c, "%s: expected %s, got %s", where,
                o->type == OPT_STRING ? "a string" : expectation(o, exp, sizeof exp),
                type_name(type));
}

/* Walks the file in order, so the first problem reported is the first in the file. */
static bool read_group(load_ctx *c, const config_setting_t *group, const char *gpath)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        const opt_def *o;
        char path[NAME_MAX_LEN], at[PATH_MAX + 32], where[PATH_MAX + NAME_MAX_LEN * 2];
        char hint[1024];
        int type = config_setting_type(s);

        if (name == NULL) /* list elements have none; lists are rejected by type */
            continue;
        snprintf(path, sizeof path, "%s%s%s", gpath, gpath[0] ? "." : "", name);
        snprintf(where, sizeof where, "%s: %s", place_of(c, s, at, sizeof at), path);
        o = find_opt(path);
        if (o != NULL && o->type == OPT_PROPS) {
            if (type != CONFIG_TYPE_GROUP)
                return fail(c, "%s: expected a group of librdkafka properties, got %s", where,
                            type_name(type));
            if (!read_props(c, s, path))
                return false;
        } else if (o != NULL) {
            if (!read_setting(c, o, s, where))
                return false;
        } else if (is_group(path)) {
            if (type != CONFIG_TYPE_GROUP)
                return fail(c, "%s: expected a group, got %s", where, type_name(type));
            if (!read_group(c, s, path))
                return false;
        } else {
            if (suggest(path, name, false, hint, sizeof hint))
                return fail(c, "%s: unknown setting \"%s\" (did you mean \"%s\"?)", at, path,
                            hint);
            list_members(gpath, false, hint, sizeof hint);
            return fail(c, "%s: unknown setting \"%s\" (known%s%s: %s)", at, path,
                        gpath[0] ? " in " : "", gpath, hint);
        }
    }
    return true;
}

/* Reads path into lc, which the caller destroys after the cross-field checks: origins
 * point at its file names (an @include'd file has its own). */
static bool read_file(load_ctx *c, config_t *lc, const char *path)
{
    FILE *fp;
    struct stat st;
    char *slash, at[PATH_MAX + 32];
    size_t len = 0, cap = 0, got;
    bool ok = false;

    fp = fopen(path, "r");
    if (fp == NULL)
        return fail(c, "%s: cannot read: %s", path, strerror(errno));
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return fail(c, "%s: cannot read: %s", path, strerror(EISDIR));
    }
    /* @include "x.conf" is relative to the including file, not the working directory. */
    if (strchr(path, '/') != NULL) {
        c->dir = strdup(path);
        if (c->dir == NULL) {
            oom(c);
            goto out;
        }
        slash = strrchr(c->dir, '/');
        slash[1] = '\0';
        config_set_include_dir(lc, c->dir); /* libconfig keeps its own copy */
    }
    /* Read the text ourselves: int_as_written looks at it again. */
    do {
        if (cap - len < 4096) {
            char *grown = realloc(c->text, cap + 65536);
            if (grown == NULL) {
                oom(c);
                goto out;
            }
            c->text = grown;
            cap += 65536;
        }
        got = fread(c->text + len, 1, cap - len - 1, fp);
        len += got;
    } while (got > 0);
    c->text[len] = '\0';
    if (ferror(fp)) {
        fail(c, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (!config_read_string(lc, c->text)) {
        /* Its texts name the problem ("syntax error", "cannot open include file"). */
        fail(c, "%s: %s", place(c, config_error_file(lc), config_error_line(lc), at, sizeof at),
             config_error_text(lc));
        goto out;
    }
    ok = read_group(c, config_root_setting(lc), "");
    c->cfg->source_exposed = ok && c->file_secret && fstat(fileno(fp), &st) == 0 &&
                             (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
out:
    fclose(fp);
    return ok;
}

/* ---- the environment ---- */

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, true;
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

/* Decimal only, no spaces, no trailing text: "10s" or "1e3" are mistakes to report. */
static bool parse_int(const char *v, long long *out)
{
    char *end;

    if (!(isdigit((unsigned char)v[0]) ||
          ((v[0] == '-' || v[0] == '+') && isdigit((unsigned char)v[1]))))
        return false;
    errno = 0;
    *out = strtoll(v, &end, 10);
    return errno == 0 && *end == '\0';
}

static bool apply_env(load_ctx *c, const char *entry)
{
    const char *eq = strchr(entry, '=');
    const char *value = eq + 1;
    const char *suffix = entry + strlen(ENV_PREFIX);
    char var[NAME_MAX_LEN], want[NAME_MAX_LEN], exp[256], q[128], hint[1024];
    size_t slen = (size_t)(eq - suffix);

    snprintf(var, sizeof var, "%.*s", (int)(eq - entry), entry);
    if (strncmp(suffix, ENV_PROPS "_", strlen(ENV_PROPS) + 1) == 0) {
        const char *p = suffix + strlen(ENV_PROPS) + 1;
        char prop[NAME_MAX_LEN];
        size_t k;

        for (k = 0; p + k < eq && k + 1 < sizeof prop; k++)
            prop[k] = p[k] == '_' ? '.' : (char)tolower((unsigned char)p[k]);
        prop[k] = '\0';
        if (k == 0)
            return fail(c, "%s: expected a librdkafka property name after " ENV_PREFIX ENV_PROPS
                           "_, e.g. " ENV_PREFIX ENV_PROPS "_COMPRESSION_TYPE=lz4",
                        var);
        return !owned_prop(c, prop, var) && set_prop(c, prop, value);
    }
    for (size_t i = 0; i < NOPTS; i++) {
        const opt_def *o = &opts[i];
        bool b;
        long long n;

        env_suffix(o->path, want, sizeof want);
        if (strlen(want) != slen || strncmp(want, suffix, slen) != 0)
            continue;
        c->from[i] = (origin){FROM_ENV, NULL, 0, entry};
        switch (o->type) {
        case OPT_STRING:
        case OPT_ENUM: return set_string(c, o, value, var);
        case OPT_INT:
            if (!parse_int(value, &n))
                return fail(c, "%s: expected %s, got %s", var, expectation(o, exp, sizeof exp),
                            quoted(value, q, sizeof q));
            return set_int(c, o, n, var, quoted(value, q, sizeof q));
        case OPT_BOOL:
            if (!parse_bool(value, &b))
                return fail(c, "%s: expected true or false (or yes/no, on/off, 1/0), got %s",
                            var, quoted(value, q, sizeof q));
            *bool_field(c->cfg, o) = b;
            return true;
        case OPT_FIELDS:
            return config_fields_parse(value, var, &c->cfg->outbox.fields,
                                       &c->cfg->outbox.nfields, c->err, c->err_size);
        case OPT_PROPS:
            return fail(c, "%s: set one property per variable, e.g. " ENV_PREFIX ENV_PROPS
                           "_COMPRESSION_TYPE=lz4",
                        var);
        }
    }
    {
        char unknown[NAME_MAX_LEN], group[NAME_MAX_LEN] = "";
        size_t glen = 0;

        snprintf(unknown, sizeof unknown, "%.*s", (int)slen, suffix);
        if (suggest(unknown, unknown, true, hint, sizeof hint))
            return fail(c, "%s: unknown setting (did you mean " ENV_PREFIX "%s?)", var, hint);
        /* List the deepest group the name starts with, else the top level. */
        for (size_t i = 0; i < NOPTS; i++) {
            for (const char *dot = strchr(opts[i].path, '.'); dot; dot = strchr(dot + 1, '.')) {
                size_t len = (size_t)(dot - opts[i].path);
                char g[NAME_MAX_LEN], genv[NAME_MAX_LEN];
                snprintf(g, sizeof g, "%.*s", (int)len, opts[i].path);
                env_suffix(g, genv, sizeof genv);
                if (len > glen && strncmp(unknown, genv, len) == 0 && unknown[len] == '_') {
                    snprintf(group, sizeof group, "%s", g);
                    glen = len;
                }
            }
        }
        list_members(group, true, hint, sizeof hint);
        return fail(c, "%s: unknown setting; known: %s", var, hint);
    }
}

/* OUTBOX_RELAY_<X>_FILE=/path: applies "OUTBOX_RELAY_<X>=<the file's text>", without one
 * trailing newline (as `echo` and editors leave it), for secrets mounted as files. */
static bool apply_env_file(load_ctx *c, const char *entry, size_t name_len)
{
    const char *path = strchr(entry, '=') + 1;
    size_t base = name_len - strlen(ENV_FILE), len = 0;
    char var[NAME_MAX_LEN], **grown, *made;
    FILE *fp;
    int ch;

    snprintf(var, sizeof var, "%.*s", (int)name_len, entry);
    if ((fp = fopen(path, "r")) == NULL)
        return fail(c, "%s: cannot read %s: %s", var, path, strerror(errno));
    grown = realloc(c->file_env, (c->nfile_env + 1) * sizeof(*grown));
    made = malloc(base + 1 + FILE_VALUE_MAX + 1);
    if (grown != NULL)
        c->file_env = grown;
    if (grown == NULL || made == NULL) {
        fclose(fp);
        free(made);
        return oom(c);
    }
    c->file_env[c->nfile_env++] = made;
    memcpy(made, entry, base);
    made[base] = '=';
    while ((ch = fgetc(fp)) != EOF && len <= FILE_VALUE_MAX && ch != '\0')
        made[base + 1 + len++] = (char)ch;
    fclose(fp);
    if (ch == '\0')
        return fail(c, "%s: %s holds a NUL byte; a setting is text", var, path);
    if (len > FILE_VALUE_MAX)
        return fail(c, "%s: %s is longer than %d bytes", var, path, FILE_VALUE_MAX);
    if (len > 0 && made[base + len] == '\n' && len-- > 1 && made[base + len] == '\r')
        len--;
    made[base + 1 + len] = '\0';
    if (apply_env(c, made))
        return true;
    /* The message names OUTBOX_RELAY_<X>; say where its value came from. */
    if (c->err != NULL && (len = strlen(c->err)) + 1 < c->err_size)
        snprintf(c->err + len, c->err_size - len, " (the value of %s)", var);
    return false;
}

static bool read_env(load_ctx *c, char *const *envp)
{
    for (char *const *e = envp; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - *e) : 0;
        bool from_file;

        if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 || eq == NULL)
            continue;
        from_file = name_len > strlen(ENV_PREFIX ENV_FILE) &&
                    strncmp(eq - strlen(ENV_FILE), ENV_FILE, strlen(ENV_FILE)) == 0;
        if (!(from_file ? apply_env_file(c, *e, name_len) : apply_env(c, *e)))
            return false;
    }
    return true;
}

/* ---- cross-field checks ---- */

static void where_from(const load_ctx *c, size_t i, char *buf, size_t size)
{
    const origin *o = &c->from[i];

    char at[PATH_MAX + 32];

    if (o->kind == FROM_FILE)
        snprintf(buf, size, "%s: ", place(c, o->file, o->line, at, sizeof at));
    else if (o->kind == FROM_ENV)
        snprintf(buf, size, "%.*s: ", (int)strcspn(o->env, "="), o->env);
    else
        buf[0] = '\0';
}

/* The record shape's settings together (config_fields.h says what fits); the CloudEvents source
 * derived from name when not set. */
static bool shape_settings(load_ctx *c)
{
    const char *blame = "outbox.value";
    char where[PATH_MAX + NAME_MAX_LEN], why[512];

    if (c->cfg->outbox.cloudevents_source[0] == '\0') {
        size_t size = strlen(c->cfg->name) + sizeof "/outbox-relay/";
        char *src = malloc(size);
        if (src == NULL)
            return oom(c);
        snprintf(src, size, "/outbox-relay/%s", c->cfg->name);
        free(c->cfg->outbox.cloudevents_source);
        c->cfg->outbox.cloudevents_source = src;
    }
    if (config_fields_check(c->cfg, &blame, why, sizeof why))
        return true;
    where_from(c, (size_t)(find_opt(blame) - opts), where, sizeof where);
    return fail(c, "%s%s", where, why);
}

static bool cross_check(load_ctx *c)
{
    const opt_def *topic = find_opt("outbox.topic");
    const opt_def *agg = find_opt("outbox.columns.aggregate_type");
    const char *t = *str_field(c->cfg, topic);
    char where[PATH_MAX + NAME_MAX_LEN], q[128];

    if ((*str_field(c->cfg, agg))[0] == '\0' && template_uses(t, "aggregate_type")) {
        /* Blame the setting the user wrote; the other one is its default. */
        size_t i = (size_t)(c->from[topic - opts].kind != FROM_DEFAULT ? topic - opts
                                                                        : agg - opts);
        where_from(c, i, where, sizeof where);
        return fail(c,
                    "%soutbox.topic %s uses ${aggregate_type} but outbox.columns.aggregate_type "
                    "is \"\" (the table has no such column); set a fixed outbox.topic or name "
                    "the column",
                    where, quoted(t, q, sizeof q));
    }
    if (c->cfg->schemas.version_column[0] != '\0' && c->cfg->schemas.version_header[0] != '\0') {
        where_from(c, (size_t)(find_opt("schemas.version_header") - opts), where, sizeof where);
        return fail(c,
                    "%sschemas.version_header and schemas.version_column are both set; the "
                    "version comes from one place: set the other to \"\"",
                    where);
    }
    /* Checkpoint readers expect only checkpoints there; one topic for both would mix them. */
    if (strcmp(c->cfg->dead_letter.topic, c->cfg->kafka.checkpoint_topic) == 0) {
        where_from(c, (size_t)(find_opt("dead_letter.topic") - opts), where, sizeof where);
        return fail(c,
                    "%sdead_letter.topic is the checkpoint topic %s: choose another dead-letter "
                    "topic",
                    where, quoted(c->cfg->dead_letter.topic, q, sizeof q));
    }
    return shape_settings(c);
}

/* ---- public ---- */

void config_free(relay_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == OPT_STRING)
            free(*str_field(cfg, &opts[i]));
    for (size_t i = 0; i < cfg->kafka.nproperties; i++) {
        free(cfg->kafka.properties[i].name);
        free(cfg->kafka.properties[i].value);
    }
    free(cfg->kafka.properties);
    config_fields_free(cfg->outbox.fields, cfg->outbox.nfields);
    free(cfg->source);
    free(cfg);
}

static void load_ctx_free(load_ctx *c, config_t *lc)
{
    config_destroy(lc);
    free(c->dir);
    free(c->text);
    for (size_t i = 0; i < c->nfile_env; i++)
        free(c->file_env[i]);
    free(c->file_env);
}

relay_config *config_load(const char *path, char *const *envp, char *errbuf, size_t errbuf_size)
{
    load_ctx c = {.path = path, .err = errbuf, .err_size = errbuf_size};
    config_t lc;

    config_init(&lc);
    if (errbuf != NULL && errbuf_size > 0)
        errbuf[0] = '\0';
    c.cfg = calloc(1, sizeof(*c.cfg));
    if (c.cfg == NULL) {
        oom(&c);
        goto fail;
    }
    for (size_t i = 0; i < NOPTS; i++) {
        const opt_def *o = &opts[i];
        switch (o->type) {
        case OPT_STRING:
            if (!replace_str(str_field(c.cfg, o), o->def_str)) {
                oom(&c);
                goto fail;
            }
            break;
        case OPT_INT:
        case OPT_ENUM: *int_field(c.cfg, o) = o->def_int; break;
        case OPT_BOOL: *bool_field(c.cfg, o) = o->def_int != 0; break;
        case OPT_PROPS:
        case OPT_FIELDS: break;
        }
    }
    if (path != NULL) {
        c.cfg->source = strdup(path);
        if (c.cfg->source == NULL) {
            oom(&c);
            goto fail;
        }
        if (!read_file(&c, &lc, path))
            goto fail;
    }
    if (!read_env(&c, envp) || !cross_check(&c))
        goto fail;
    load_ctx_free(&c, &lc);
    return c.cfg;
fail:
    load_ctx_free(&c, &lc);
    config_free(c.cfg);
    return NULL;
}

const char *config_exposed_warning(const relay_config *cfg, char *buf, size_t size)
{
    if (!cfg->source_exposed)
        snprintf(buf, size, "%s", "");
    else
        snprintf(buf, size,
                 "%s holds a password and group or others may read it: run chmod 600 %s "
                 "(or chmod 640 with a group only the relay's user is in), or move the "
                 "secret to a file named by OUTBOX_RELAY_<SETTING>_FILE",
                 cfg->source, cfg->source);
    return buf;
}

/* names: one of the tables above, NULL-terminated. */
static const char *enum_name(const char *const *names, int v)
{
    for (int i = 0; names[i] != NULL; i++)
        if (i == v)
            return names[i];
    return "?";
}

/* Defines name_fn, the name of a value of enum type from its table. */
#define ENUM_NAME(name_fn, type, names)                                                       \
    const char *name_fn(type v)                                                               \
    {                                                                                         \
        return enum_name(names, (int)v);                                                      \
    }

ENUM_NAME(config_log_level_name, log_level, log_levels)
ENUM_NAME(config_log_format_name, log_format, log_formats)
ENUM_NAME(config_value_name, config_value, value_formats)
ENUM_NAME(config_source_name, config_source, outbox_sources)
ENUM_NAME(config_on_invalid_name, config_on_invalid, on_invalid_policies)
ENUM_NAME(config_on_unknown_name, config_on_unknown, on_unknown_policies)
ENUM_NAME(config_applies_to_name, config_applies_to, schema_targets)
ENUM_NAME(config_draft_name, config_draft, schema_drafts)
