/*
 * config.h — the relay's configuration: a libconfig file, overridden by environment
 * variables, validated into one immutable struct.
 *
 * Owns: the table of every setting (path, type, default, bounds), parsing, the
 * OUTBOX_RELAY_<PATH> environment overrides and error messages that name file:line or
 * the variable. Knows nothing of libpq or librdkafka: the librdkafka pass-through
 * properties are kept as plain name/value strings.
 */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

/* The enum-like settings, parsed at load time; each *_name() gives the text a user writes. */
typedef enum { CONFIG_VALUE_PAYLOAD, CONFIG_VALUE_ENVELOPE, CONFIG_VALUE_CLOUDEVENTS } config_value;
typedef enum { CONFIG_SOURCE_TABLE, CONFIG_SOURCE_MESSAGES } config_source;
typedef enum { CONFIG_ON_INVALID_DEAD_LETTER, CONFIG_ON_INVALID_STOP } config_on_invalid;
typedef enum {
    CONFIG_ON_UNKNOWN_ALLOW,
    CONFIG_ON_UNKNOWN_DEAD_LETTER,
    CONFIG_ON_UNKNOWN_STOP
} config_on_unknown;
typedef enum { CONFIG_APPLIES_TO_PAYLOAD, CONFIG_APPLIES_TO_VALUE } config_applies_to;
typedef enum { CONFIG_DRAFT_2020_12, CONFIG_DRAFT_7 } config_draft;

typedef enum { CONFIG_PLACE_HEADER, CONFIG_PLACE_ENVELOPE } config_placement;

/* One entry of outbox.fields: a column copied into a header or the envelope (config_fields.h). */
typedef struct config_field {
    char *column;
    config_placement placement;
    char *name; /* header or envelope member name; the column's when not given */
} config_field;

typedef struct config_prop {
    char *name;  /* librdkafka property name, e.g. "compression.type" */
    char *value; /* as text */
} config_prop;

typedef struct relay_config {
    char *source; /* path of the file it was read from */
    /* The file sets a password (in postgres.conninfo, or a kafka.properties secret) and
     * group or others may read it: config_exposed_warning says so. */
    bool source_exposed;

    char *name; /* identity: transactional.id and checkpoint key derive from it */
    struct {
        log_level level;   /* "error" | "warn" | "info" | "debug" */
        log_format format; /* "text" | "json" */
    } log;

    struct {
        char *conninfo; /* libpq URI or key/value string, as the user wrote it */
        char *slot;
        char *publication;
        bool create_slot;        /* create the slot at start when missing */
        bool failover_slot;      /* Postgres 17+: the slot is synchronized to standbys */
        int status_interval_ms;  /* standby status update and idle checkpoint period */
        int connect_timeout_s;
        int slot_warn_bytes; /* warn when the slot's safe_wal_size falls below; 0 = never */
    } postgres;

    struct {
        config_source source;  /* "table" | "messages" (pg_logical_emit_message, PG 14+) */
        char *message_prefix;  /* prefix of the logical messages that are events */
        char *table;    /* [schema.]name or *.name, comma separated: see tables.h */
        char *topic;    /* fixed name or template with ${column} */
        config_value value; /* "payload" | "envelope" | "cloudevents" */
        config_field *fields; /* outbox.fields, in file order */
        size_t nfields;
        char *cloudevents_source; /* CloudEvents source; set at load ("/outbox-relay/<name>") */
        bool cloudevents_headers; /* CloudEvents binary content mode: ce_* headers */
        char *timestamp_zone; /* zone of a zone-less created_at; "" = the database's TimeZone */
        struct {
            char *id;
            char *aggregate_type; /* "" when the table has no such column */
            char *aggregate_id;
            char *event_type;
            char *payload;
            char *headers;    /* "" when absent */
            char *created_at; /* "" when absent: record timestamp = commit time */
        } columns;
    } outbox;

    struct {
        char *brokers;
        char *checkpoint_topic;
        bool create_topics;    /* create missing event topics (else: error naming the topic) */
        int topic_partitions;  /* for created event topics */
        int replication_factor; /* for created topics; -1 = broker default */
        int transaction_timeout_ms;
        int commit_timeout_ms;
        int commit_pause_ms; /* after a commit, before the next transaction may begin */
        config_prop *properties; /* librdkafka pass-through, in file order */
        size_t nproperties;
    } kafka;

    struct {
        int max_events;
        int max_bytes;
        bool adaptive; /* commit when nothing more is ready, not only after linger_ms */
        int linger_ms;
    } batch;

    struct {
        char *dir; /* "" = no schema checks */
        /* "dead_letter" | "stop" (also bad rows, too large records) */
        config_on_invalid on_invalid;
        config_on_unknown on_unknown_type; /* "allow" | "dead_letter" | "stop" */
        config_applies_to applies_to;      /* "payload" | "value" */
        char *version_column;              /* "" = none */
        char *version_header;              /* key of the headers column; "" = none */
        config_draft draft;                /* "7" | "2020-12": dialect of files without $schema */
        bool format_assert;
    } schemas;

    struct {
        char *topic;
    } dead_letter;

    struct {
        char *listen; /* "host:port" of /metrics, /healthz, /readyz; "" = no endpoint */
    } http;
} relay_config;

/*
 * Reads path, applies environment overrides from envp (NULL-terminated "K=V" array,
 * normally environ; OUTBOX_RELAY_<X>_FILE=/path sets <X> to that file's text, one
 * trailing newline dropped) and validates. Returns a config the caller owns (config_free), or
 * NULL with a one-line message in errbuf: "FILE:LINE: …", or "OUTBOX_RELAY_X: …".
 * path NULL: defaults and environment only (source is then NULL); envp NULL: no overrides.
 * Never reads the process environment itself. Messages never contain postgres.conninfo.
 */
relay_config *config_load(const char *path, char *const *envp, char *errbuf, size_t errbuf_size);

void config_free(relay_config *cfg);

/* The warning to log when cfg->source_exposed ("" when not): names the file and the fix. */
const char *config_exposed_warning(const relay_config *cfg, char *buf, size_t size);

/* Bytes of a buffer for a Postgres name (NAMEDATALEN): 63 and the NUL. */
#define CONFIG_NAME_SIZE 64

/* The canonical spelling of each enum value, as written in a file and printed in logs. */
const char *config_log_level_name(log_level v);
const char *config_log_format_name(log_format v);
const char *config_value_name(config_value v);
const char *config_source_name(config_source v);
const char *config_on_invalid_name(config_on_invalid v);
const char *config_on_unknown_name(config_on_unknown v);
const char *config_applies_to_name(config_applies_to v);
const char *config_draft_name(config_draft v);

#endif
