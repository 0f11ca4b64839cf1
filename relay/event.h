/*
 * event.h — one outbox row becomes one event: topic, key, value, headers, timestamp.
 *
 * Owns: which of an outbox table's columns hold the id, key, type, payload, headers and
 * time (from the config; which tables are the outbox is tables.h's), the topic template
 * (${column}, and ${schema} and ${table} for the row's table), the value format (payload as
 * is, the seed article's envelope, or a CloudEvent) and the record headers (DESIGN §4); what
 * outbox.fields and CloudEvents add is shape.h's. Takes a neutral row (event_row), whoever
 * read it: knows nothing of sockets, pgoutput or Kafka.
 */
#ifndef RELAY_EVENT_H
#define RELAY_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lsn.h"

/* Headers every event carries; the row's own headers column adds more. */
#define EVENT_HDR_ID "event_id"
#define EVENT_HDR_TYPE "event_type"
#define EVENT_HDR_AGGREGATE_TYPE "aggregate_type"
#define EVENT_HDR_POSITION "outbox_position" /* LSN_POSITION_FMT: "00000000016B3748-00000003" */
#define EVENT_HDR_REPLAY "outbox_replay"     /* backfill job that re-published the row,
                                                instead of the position */

#define EVENT_MAX_HEADERS 64

typedef struct event_header {
    const char *name; /* NUL-terminated */
    const char *value;
    size_t value_len;
} event_header;

/* All pointers refer to the mapper's scratch memory: valid until the next event_map. */
typedef struct event {
    const char *topic;
    const char *key;
    size_t key_len;
    const char *value; /* NULL only in what event_map salvages from a row with a NULL payload */
    size_t value_len;
    const char *payload; /* the payload column's JSON text: value, or inside the envelope */
    size_t payload_len;
    const char *version; /* schemas.version_column's value; NULL when none or NULL */
    size_t version_len;
    const char *id;   /* NUL-terminated */
    const char *type; /* NUL-terminated */
    int64_t timestamp_ms; /* created_at, or the commit time without such a column */
    /* Where the event comes from. From the replication stream: the commit LSN of its
     * transaction and its 1-based index among the transaction's outbox events. Re-published
     * by backfill (read with SQL, no LSN known): commit_lsn 0 and index the row's 1-based
     * ordinal in the job, which only tells the row apart within the job. */
    relay_lsn commit_lsn;
    uint32_t index;
    int nheaders;
    event_header headers[EVENT_MAX_HEADERS];
} event;

/* One column value of a row, as text; data is NULL for SQL NULL. */
typedef struct event_value {
    const char *data;
    size_t len;
} event_value;

/*
 * One row of the outbox table, whatever read it: the replication stream (pipeline.c) or a
 * SQL query (backfill.c). Everything points into the reader's memory.
 */
typedef struct event_row {
    const char *nspname, *relname; /* the table: for messages, ${schema} and ${table} */
    int ncols;
    const char *const *names; /* column names, as the table has them */
    const event_value *values;
    uint64_t shape; /* equal while names stay the same: the mapper binds once per shape */
    int64_t commit_time_us; /* µs since 1970: the timestamp when there is no created_at */
    const uint32_t *types;  /* pg_type oid of each column, or NULL when the reader has none:
                               an outbox.fields envelope member then renders as a string */
} event_row;

typedef struct event_mapper event_mapper;

/* Returns NULL with a message when the topic template cannot be parsed. The mapper keeps
 * a pointer to cfg, which must outlive it. replay_job: the backfill job re-publishing the
 * rows (their events carry EVENT_HDR_REPLAY instead of EVENT_HDR_POSITION, whose commit
 * LSN a reader of the table does not know), or NULL. */
event_mapper *event_mapper_new(const relay_config *cfg, const char *replay_job, char *errbuf,
                               size_t errbuf_size);
void event_mapper_free(event_mapper *m);

/*
 * The zone of created_at values written without one (a `timestamp` column): "UTC" (the
 * default) or a zone name of the system's time zone database, typically the database's
 * TimeZone setting or outbox.timestamp_zone. Call before mapping: another zone than UTC
 * becomes the process's TZ. Returns -1 with a message for a zone not in the database.
 */
int event_mapper_set_zone(event_mapper *m, const char *zone, char *errbuf, size_t errbuf_size);

/* Whether a table with row's columns (values unused) fits the configuration: every
 * configured column and topic placeholder found. 0, or -1 with the message event_map would
 * give, naming the table and the setting to fix. */
int event_check_columns(event_mapper *m, const event_row *row, char *errbuf, size_t errbuf_size);

/* event_map: the row cannot become a record, but *out holds what it offers. */
#define EVENT_BAD_ROW 1

/*
 * Maps one inserted row of the outbox table to *out, at position (commit_lsn, index).
 * Returns
 *   0              mapped;
 *   EVENT_BAD_ROW  this row cannot become a record (NULL id/key/type/payload, a topic name
 *                  Kafka would refuse, a bad headers or created_at column): errbuf says why,
 *                  and *out is filled as far as the row allows, for a dead-letter record —
 *                  key and value (the payload as stored) may be NULL, id and type "", topic
 *                  "" when it could not be computed, timestamp the commit time;
 *   -1             the table does not fit the configuration (a configured column missing)
 *                  or out of memory: a one-line message, nothing in *out.
 */
int event_map(event_mapper *m, const event_row *row, relay_lsn commit_lsn, uint32_t index,
              event *out, char *errbuf, size_t errbuf_size);

/* Parses an ISO 8601 time of len bytes — "2026-11-27", "2026-11-27T07:51", "2026-11-27
 * 07:51:30.123456+00" (Postgres's ISO DateStyle), offsets +hh[:mm[:ss]] or Z, none = UTC —
 * into microseconds since the Unix epoch. Returns false on bad text. */
bool event_parse_time(const char *text, size_t len, int64_t *out_us);

/* Whether a topic name is one Kafka accepts: 1-249 of [A-Za-z0-9._-], not "." or "..". */
bool event_topic_legal(const char *topic, size_t len);

/* Whether topic is one that the topic template tmpl (outbox.topic) can name: its literal
 * parts as they are, each ${column} standing for any text. */
bool event_topic_matches(const char *tmpl, const char *topic);

#endif
