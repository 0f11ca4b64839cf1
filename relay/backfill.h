/*
 * backfill.h — `outbox-relay backfill`: re-publishes a chosen range of outbox rows, read
 * with plain SQL (never the slot), through the same mapping (event.h) and the same publish
 * path as `run` (publish.h: schema check, dead letters, too-large records, Kafka
 * transactions with a state record).
 *
 * Owns: the command's options; a job's selection and cursor (their record is record.h's,
 * key "<relay>/backfill/<job>" in the checkpoint topic); the keyset scan of the outbox inside
 * one REPEATABLE READ snapshot, each row handed over as event.h's neutral row; when the
 * job's Kafka transaction (transactional.id "<relay>.backfill.<job>") is due, by the same
 * batch limits as `run`, each carrying the cursor of its last row, so that running the job
 * again continues exactly after what Kafka committed; the rate limit and the progress
 * display. Knows nothing of replication: it runs beside `run` without touching the slot.
 *
 * The pure parts (options, times, progress text) are exported for the unit tests.
 */
#ifndef RELAY_BACKFILL_H
#define RELAY_BACKFILL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "record.h"

#define BACKFILL_JOB_MAX 100   /* job name: [A-Za-z0-9._-], this many bytes at most */

typedef struct backfill_args {
    const char *config;             /* -c FILE: points into argv */
    char job[BACKFILL_JOB_MAX + 1]; /* "" only with --dry-run */
    record_selection sel;
    char topic[RECORD_TOPIC_MAX]; /* --topic: "" keeps outbox.topic */
    int64_t rate;                   /* --rate: events per second, 0 = no limit */
    const char *http_listen;        /* --http-listen: points into argv; NULL = no endpoint */
    bool dry_run, restart, help;
} backfill_args;

/* What a progress display shows. */
typedef struct backfill_progress {
    uint64_t done;     /* events of the job out so far, earlier runs included */
    uint64_t total;    /* events of the job */
    uint64_t run_done; /* of `done`, by this run (the rate is computed from these) */
    double elapsed_s;  /* of this run */
} backfill_progress;

/*
 * Parses `backfill` and its options (argv[0] is "backfill"). now_us (µs since 1970) resolves
 * relative times such as "--since 6h". Returns 0, or -1 with one line in errbuf for
 * anything an operator mistyped: an unknown option, a missing or malformed value,
 * --from-id above --to-id, --since not before --until, no -c or no --job.
 */
int backfill_parse_args(int argc, char **argv, int64_t now_us, backfill_args *out, char *errbuf,
                        size_t errbuf_size);

void backfill_usage(FILE *f);

/* One progress line: with bar_width > 0 a bar of that many cells for a terminal
 * ("[####......]  40.0%  4000/10000 events  2000 events/s  ETA 3s"), else plain text for a
 * log ("4000/10000 events (40.0%), 2000 events/s, ETA 3s"). Returns snprintf's count. */
int backfill_format_progress(const backfill_progress *p, int bar_width, char *buf, size_t size);

/*
 * Runs the job of args against the servers of cfg, reporting to m (metrics.h: rows of the
 * job, committed transactions, the state; never NULL), until its selection is published, or
 * *stop becomes non-zero (then it commits what is open and returns EXIT_INTERRUPTED).
 * Returns an exit code after logging one line that says what failed and how to fix it.
 */
int backfill_run(const backfill_args *args, const relay_config *cfg, const log_ctx *lg,
                 relay_metrics *m, volatile sig_atomic_t *stop);

#endif
