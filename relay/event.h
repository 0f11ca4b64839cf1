/*
 * event.h — one outbox row becomes one event: topic, key, value, headers, timestamp.
 *
 * Owns: which relation is the outbox table, which of its columns hold the id, key, type,
 * payload, headers and time (from the config), the topic template, the value format
 * (payload as is, or the seed article's envelope) and the record headers (DESIGN §4).
 * Knows nothing of sockets or Kafka.
 */
#ifndef RELAY_EVENT_H
#define RELAY_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lsn.h"
#include "pgoutput.h"

/* Headers every event carries; the row's own headers column adds more. */
#define EVENT_HDR_ID "event_id"
#define EVENT_HDR_TYPE "event_type"
#define EVENT_HDR_AGGREGATE_TYPE "aggregate_type"
#define EVENT_HDR_POSITION "outbox_position" /* "COMMIT_LSN:INDEX", e.g. "0/16B3748:3" */
#define EVENT_HDR_REPLAY "outbox_replay"     /* backfill job that re-published the row */

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
    relay_lsn commit_lsn;
    uint32_t index; /* 1-based, among the outbox events of its Postgres transaction */
    int nheaders;
    event_header headers[EVENT_MAX_HEADERS];
} event;

typedef struct event_mapper event_mapper;

/* Returns NULL with a message when the topic template cannot be parsed. The mapper keeps
 * a pointer to cfg, which must outlive it. */
event_mapper *event_mapper_new(const relay_config *cfg, char *errbuf, size_t errbuf_size);
void event_mapper_free(event_mapper *m);

/* Whether rel is the configured outbox table (schema and name compared exactly). */
bool event_is_outbox(const event_mapper *m, const pgo_relation *rel);

/* event_map: the row cannot become a record, but *out holds what it offers. */
#define EVENT_BAD_ROW 1

/*
 * Maps one inserted row of the outbox relation rel (ncols values, as decoded) to *out.
 * commit_time_us is the transaction's commit time (µs since 2000-01-01), used as the
 * timestamp when the table has no created_at column. Returns
 *   0              mapped;
 *   EVENT_BAD_ROW  this row cannot become a record (NULL id/key/type/payload, a topic name
 *                  Kafka would refuse, a bad headers or created_at column): errbuf says why,
 *                  and *out is filled as far as the row allows, for a dead-letter record —
 *                  key and value (the payload as stored) may be NULL, id and type "", topic
 *                  "" when it could not be computed, timestamp the commit time;
 *   -1             the table does not fit the configuration (a configured column missing)
 *                  or out of memory: a one-line message, nothing in *out.
 */
int event_map(event_mapper *m, const pgo_relation *rel, const pgo_value *cols, int ncols,
              relay_lsn commit_lsn, uint32_t index, int64_t commit_time_us, event *out,
              char *errbuf, size_t errbuf_size);

/* Parses an ISO 8601 time of len bytes — "2026-11-27", "2026-11-27T07:51", "2026-11-27
 * 07:51:30.123456+00" (Postgres's ISO DateStyle), offsets +hh[:mm[:ss]] or Z, none = UTC —
 * into microseconds since the Unix epoch. Returns false on bad text. */
bool event_parse_time(const char *text, size_t len, int64_t *out_us);

/* Whether a topic name is one Kafka accepts: 1-249 of [A-Za-z0-9._-], not "." or "..". */
bool event_topic_legal(const char *topic, size_t len);

/* Marks a mapped event as re-published by backfill job `job` (which must outlive ev): adds
 * the EVENT_HDR_REPLAY header and drops EVENT_HDR_POSITION, whose commit LSN is unknown
 * when a row is read with SQL. Returns 0, or -1 with a message when no header slot is left. */
int event_mark_replay(event *ev, const char *job, char *errbuf, size_t errbuf_size);

#endif
