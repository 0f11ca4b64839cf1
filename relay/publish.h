/*
 * publish.h — one event's way into Kafka, the same for `run` and `backfill`.
 *
 * Owns: the verdict on each mapped event (policy.h: publish, dead-letter or stop),
 * producing the event or its dead-letter record into the open Kafka transaction (begun on
 * the first record), the records Kafka refuses (too large for the producer: routed at once;
 * refused by the broker — too large, a timestamp out of bounds, an invalid record: the
 * transaction is aborted and the replay routes just that event; no write right: stop),
 * committing a transaction together with its state record (run's checkpoint, a backfill
 * job's cursor), and what each Kafka failure means for the caller.
 *
 * The drivers (pipeline.c, backfill.c) read rows, map them (event.h), feed the events here
 * in order and commit when their batch is due; they act on one step protocol:
 *   PUBLISH_OK      go on;
 *   PUBLISH_REWIND  the Kafka transaction was given up (it is aborted, or publish_abort
 *                   finishes that): go back to the last committed state and replay;
 *   PUBLISH_EXIT    stop with publish_exit_code() after logging publish_error().
 */
#ifndef RELAY_PUBLISH_H
#define RELAY_PUBLISH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "failpoint.h"
#include "kafka.h"
#include "log.h"

typedef enum { PUBLISH_OK, PUBLISH_REWIND, PUBLISH_EXIT } publish_step;

typedef struct publish_opts {
    const char *state_key;       /* key of the state record in kafka.checkpoint_topic */
    const char *resume;          /* where a stopped run resumes, for the stop line */
    bool dry_run;                /* decide and count, produce nothing (backfill --dry-run) */
    failpoint *failpoint;        /* crash points of test builds; may be NULL */
    volatile sig_atomic_t *stop; /* once set, a commit the broker keeps refusing is given up */
} publish_opts;

#define PUBLISH_REASONS 6 /* policy_reason values */

typedef struct publish_counts {
    uint64_t events;       /* produced as mapped */
    uint64_t dead_letters; /* produced to dead_letter.topic instead */
    uint64_t dead_letter_reasons[PUBLISH_REASONS]; /* the same, by policy_reason */
    uint64_t kafka_txns;   /* committed */
    uint64_t aborted_txns; /* aborted (replayed, or given up at a stop) */
} publish_counts;

typedef struct publisher publisher;

/*
 * Loads the policies and schemas (policy_new) and takes kc (NULL only with dry_run), which
 * must outlive the publisher, as must cfg, opts' strings and lg. NULL with one line in
 * errbuf on a broken schema.
 */
publisher *publish_new(const relay_config *cfg, kafka_client *kc, const publish_opts *opts,
                       const log_ctx *lg, char *errbuf, size_t errbuf_size);
void publish_free(publisher *p);

/* Number of event-type schemas loaded (0 without schemas.dir). */
int publish_schema_count(const publisher *p);

/*
 * Decides ev and produces what the verdict says into the open Kafka transaction. bad_row
 * is NULL for an event event_map returned 0 for, else its EVENT_BAD_ROW reason. *bytes (may
 * be NULL) gets the size of the record produced, 0 when none. A stop verdict gives
 * PUBLISH_EXIT with EXIT_DATA and the line that names the event, the reason and the fix.
 */
publish_step publish_event(publisher *p, const event *ev, const char *bad_row, size_t *bytes);

/*
 * Writes the state record (value, len bytes) into the open Kafka transaction, beginning one
 * when none is open, and commits it: the state is in Kafka exactly when the records before
 * it are. A commit the broker cannot take yet is retried (the wait hook of kafka.h keeps
 * the caller's other connections alive) until *stop.
 */
publish_step publish_commit(publisher *p, const char *value, size_t len);

/* Aborts the open Kafka transaction, if any, waiting while the broker is away unless
 * *stop. PUBLISH_OK also when stopping with the broker still away (the coordinator aborts
 * it when it times out; nothing of it was committed). */
publish_step publish_abort(publisher *p);

bool publish_txn_open(const publisher *p);
const publish_counts *publish_get_counts(const publisher *p);

/* After PUBLISH_EXIT or PUBLISH_REWIND: the one line that says what happened, and after
 * PUBLISH_EXIT the exit code. */
const char *publish_error(const publisher *p);
int publish_exit_code(const publisher *p);

/* After PUBLISH_REWIND: true when it set an event the broker refused aside for the replay to
 * dead-letter (progress, not a failure to count against retries). */
bool publish_set_aside(const publisher *p);

#endif
