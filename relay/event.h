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
    const char *value;
    size_t value_len;
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

/*
 * Maps one inserted row of the outbox relation rel (ncols values, as decoded) to *out.
 * commit_time_us is the transaction's commit time (µs since 2000-01-01), used as the
 * timestamp when the table has no created_at column. Returns 0, or -1 with a one-line
 * message for a row that cannot become an event (a configured column missing from the
 * table, NULL id/key/type/payload, a topic name Kafka would refuse, a bad created_at).
 */
int event_map(event_mapper *m, const pgo_relation *rel, const pgo_value *cols, int ncols,
              relay_lsn commit_lsn, uint32_t index, int64_t commit_time_us, event *out,
              char *errbuf, size_t errbuf_size);

/* Parses a Postgres timestamp in ISO DateStyle ("2026-11-27 07:51:30.123456+00", zone
 * optional = UTC) into milliseconds since the Unix epoch. Returns false on bad text. */
bool event_parse_timestamp(const char *text, size_t len, int64_t *out_ms);

#endif
