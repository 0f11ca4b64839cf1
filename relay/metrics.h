/*
 * metrics.h — what an operator sees of a running relay: counters, gauges and histograms in
 * the Prometheus text format, and the answers of the health and readiness probes.
 *
 * Owns: one relay_metrics struct, written by the driver's loop (pipeline.c, backfill.c) and
 * read by the HTTP thread (http.c). The split keeps the loop from ever waiting on a client:
 *   - the loop's hot path (one call per event) touches only loop-private fields;
 *   - per Kafka transaction, per keepalive and per state change the loop takes `lock` for a
 *     few stores;
 *   - a scrape takes `lock` only to copy `shared`, then formats and reads /proc unlocked;
 *   - the heartbeat, the state and the oldest unconfirmed change are atomics.
 * Nothing here does I/O except metrics_render's reads of /proc/self.
 */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publish.h"

typedef enum {
    METRICS_STARTING, /* connecting, reading the checkpoint, reconnecting after a loss */
    METRICS_STANDBY,  /* another process holds the slot: waiting to take over */
    METRICS_STREAMING,
    METRICS_STOPPING,
} metrics_state;

#define METRICS_REASONS 6 /* policy_reason values, POLICY_VALID (never counted) included */
#define METRICS_BUCKETS 15

typedef struct metrics_histogram {
    uint64_t buckets[METRICS_BUCKETS]; /* not cumulative: observations in (le[i-1], le[i]] */
    uint64_t count;                    /* all observations, +Inf included */
    double sum;
} metrics_histogram;

/* The slot as pg_replication_slots shows it (slot watch); have = false before the first
 * look or when it failed. */
typedef struct metrics_slot {
    bool have;
    int64_t retained_wal_bytes; /* current WAL LSN - restart_lsn */
    char wal_status[16];        /* reserved, extended, unreserved, lost */
    bool have_safe_wal_size;    /* NULL when max_slot_wal_keep_size = -1 */
    int64_t safe_wal_size;
} metrics_slot;

/* What a scrape shows, copied under the lock. */
typedef struct metrics_values {
    uint64_t events;                        /* committed to Kafka as mapped */
    uint64_t dead_letters[METRICS_REASONS]; /* committed to the dead-letter topic, by reason */
    uint64_t txns_committed, txns_aborted, checkpoint_only;
    uint64_t pg_reconnects;
    /* outbox.source = "messages": logical messages that were not events, as received */
    uint64_t messages_other_prefix, messages_non_transactional;
    bool have_slot_lag;
    uint64_t slot_lag_bytes; /* server WAL end - confirmed flush, from keepalives */
    metrics_slot slot;
    metrics_histogram end_to_end; /* created_at -> Kafka commit, seconds */
    metrics_histogram commit;     /* one Kafka commit, seconds */
    /* backfill only */
    bool backfill;
    uint64_t backfill_rows_total, backfill_rows_done;
} metrics_values;

typedef struct relay_metrics {
    pthread_mutex_t lock;
    metrics_values shared; /* under lock */
    _Atomic int state;                  /* metrics_state */
    _Atomic int64_t heartbeat_ms;       /* monotonic time the loop last turned */
    _Atomic int64_t oldest_unconfirmed; /* monotonic ms the oldest change waiting for Kafka
                                         * arrived; 0 when none waits */
    const char *command; /* "run" or "backfill": a label of build_info */
    int64_t start_wall_s;

    /* Loop-private: the open Kafka transaction, folded into `shared` when it commits. */
    publish_counts base; /* the publisher's counts at the last commit or abort */
    int64_t *created_ms; /* created_at of each record in the open transaction */
    size_t ncreated, cap;
} relay_metrics;

/* Starts empty, state starting. command is a static string. 0, or -1 when out of memory. */
int metrics_init(relay_metrics *m, const char *command);
void metrics_destroy(relay_metrics *m);

/* ---- the loop's side ---- */

void metrics_set_state(relay_metrics *m, metrics_state st);
metrics_state metrics_get_state(relay_metrics *m);
void metrics_heartbeat(relay_metrics *m, int64_t now_mono_ms);

/* A record (event or dead letter) joined the open Kafka transaction; created_ms is the
 * event's timestamp (ms since 1970). Loop-private, no lock. */
void metrics_record_pending(relay_metrics *m, int64_t created_ms);

/* The open Kafka transaction committed after commit_s seconds; c is the publisher's counts
 * now. Folds what the transaction carried into the totals (one without records counts as
 * checkpoint-only) and observes the end-to-end latency of each of its records against
 * now_wall_ms. */
void metrics_txn_committed(relay_metrics *m, const publish_counts *c, double commit_s,
                           int64_t now_wall_ms);

/* The open Kafka transaction was given up (aborted, or never began): forget what it
 * carried. c is the publisher's counts now. */
void metrics_txn_aborted(relay_metrics *m, const publish_counts *c);

/* Age of the oldest change waiting for Kafka: since_mono_ms, or 0 for none waiting. Only
 * an earlier-or-clear update moves it: metrics_lag_since keeps an older start. */
void metrics_lag_since(relay_metrics *m, int64_t since_mono_ms);
void metrics_lag_clear(relay_metrics *m);

void metrics_slot_lag(relay_metrics *m, uint64_t server_end, uint64_t confirmed);
void metrics_pg_reconnect(relay_metrics *m);

/* Logical messages ignored since the last call (another prefix, non-transactional). The
 * caller counts each once, not again when a rewind replays it. */
void metrics_messages_ignored(relay_metrics *m, uint64_t other_prefix,
                              uint64_t non_transactional);
void metrics_set_slot(relay_metrics *m, const metrics_slot *s);
metrics_slot metrics_get_slot(relay_metrics *m);
void metrics_backfill_rows(relay_metrics *m, uint64_t done, uint64_t total);

/* ---- the HTTP thread's side ---- */

/* The exposition text (Prometheus text format 0.0.4) in a malloc'ed buffer the caller
 * frees, *len bytes; NULL when out of memory. */
char *metrics_render(relay_metrics *m, size_t *len);

/* Whether the loop turned within window_ms of now. */
bool metrics_alive(relay_metrics *m, int64_t now_mono_ms, int64_t window_ms);

/* "starting", "standby", "streaming", "stopping". */
const char *metrics_state_name(metrics_state st);

#endif
