/*
 * record.h — the state records the relay keeps in kafka.checkpoint_topic, and their JSON.
 *
 * Owns: the checkpoint of `run` (key: the relay's name) and the record of a backfill job
 * (key "<relay>/backfill/<job>"): what they hold, how they are written and read back. Each
 * is produced inside the Kafka transaction of the records it speaks for (publish.h), so it
 * is in Kafka exactly when they are. Pure: no I/O.
 */
#ifndef RELAY_RECORD_H
#define RELAY_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

#define RECORD_VALUE_MAX 256 /* --event-type, --aggregate-id: bytes at most */
#define RECORD_ID_MAX 128    /* an outbox id as text (bigint, uuid, …), NUL included */
#define RECORD_TOPIC_MAX 250 /* a Kafka topic name, NUL included */
#define RECORD_TABLE_MAX 128 /* "schema.name": two names of 63 bytes, the dot, the NUL */

/* The checkpoint of `run`: where the relay stands (ledger.h), and what it stands on. */
typedef struct record_checkpoint {
    ledger_pos pos;
    char system_id[32]; /* Postgres system identifier the positions belong to ("" unknown) */
    char slot[64];      /* slot name the positions belong to */
    uint32_t timeline;  /* the server's timeline when it was written (0: unknown, older records) */
} record_checkpoint;

/* Which rows a job publishes. Every bound that is set must hold. */
typedef struct record_selection {
    bool has_from_id, has_to_id, has_since, has_until, has_event_type, has_aggregate_id;
    bool has_table;
    int64_t from_id, to_id;     /* id >= from_id, id <= to_id (numeric ids) */
    int64_t since_us, until_us; /* created_at >= since, created_at < until; µs since 1970 UTC */
    char event_type[RECORD_VALUE_MAX + 1];
    char aggregate_id[RECORD_VALUE_MAX + 1];
    char table[RECORD_TABLE_MAX]; /* --table: which outbox table, "schema.name" */
} record_selection;

/* A job as recorded in the checkpoint topic, in the Kafka transaction of its last events. */
typedef struct record_job {
    record_selection sel;
    char topic[RECORD_TOPIC_MAX]; /* "" = outbox.topic */
    char max_id[RECORD_ID_MAX];   /* highest id of the selection when the job began; "" none */
    char cursor[RECORD_ID_MAX];   /* id of the last row published; "" none yet */
    uint64_t published;           /* rows done by the job, all runs together ... */
    uint64_t dead_lettered;       /* ... of which dead-lettered (schemas.on_invalid, …) */
    int64_t started_us;           /* when the job began, µs since 1970 UTC */
    bool done;                    /* every row of the selection is published */
} record_job;

/* "2026-11-27 07:51:30.250000+00": how times are sent to Postgres and stored in a job. */
void record_format_time(int64_t us, char *buf, size_t size);

/* The checkpoint record (JSON) and its parser. */
int record_checkpoint_format(const char *relay, const record_checkpoint *cp, char *buf,
                             size_t size);
int record_checkpoint_parse(const char *json, size_t len, record_checkpoint *out, char *errbuf,
                            size_t errbuf_size);

/* The job record (JSON) and its parser. format returns the length written, or -1 when it
 * does not fit in size. */
int record_job_format(const char *relay, const char *job, const record_job *j, char *buf,
                      size_t size);
int record_job_parse(const char *json, size_t len, record_job *out, char *errbuf,
                     size_t errbuf_size);

#endif
