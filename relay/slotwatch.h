/*
 * slotwatch.h — the slot as the server sees it: retained WAL, wal_status and safe_wal_size
 * from pg_replication_slots, read on an ordinary SQL connection of its own, from a thread of
 * its own, every few seconds.
 *
 * Owns: that connection and that thread. It writes what it reads into relay_metrics
 * (metrics_set_slot); the run loop reads it back from there to warn and to stop when the
 * slot is lost. The replication connection cannot run SQL while it streams, and a slow
 * answer here must not hold up the stream: hence the thread.
 */
#ifndef RELAY_SLOTWATCH_H
#define RELAY_SLOTWATCH_H

#include <stddef.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

#define SLOTWATCH_MAX_INTERVAL_MS 5000 /* postgres.status_interval_ms, at most this */
#define SLOTWATCH_STATEMENT_TIMEOUT_MS 5000

typedef struct slotwatch slotwatch;

/* Starts the thread; cfg, lg and m must outlive it. NULL when out of memory or threads. It
 * looks only while the run loop streams or waits as a standby (not while it connects, whose
 * failures the loop reports). A server it cannot reach is retried each interval; the first
 * failure of a series is logged. */
slotwatch *slotwatch_start(const relay_config *cfg, const log_ctx *lg, relay_metrics *m);

/* Stops the thread (within a statement timeout) and closes the connection; NULL is fine. */
void slotwatch_stop(slotwatch *w);

#endif
