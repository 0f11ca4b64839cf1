/*
 * pipeline.h — the relay loop: replication stream → events → Kafka transactions →
 * confirmed slot position.
 *
 * Owns: the order of the exactly-once hand-off (DESIGN §5): take the slot (a second relay
 * waits as a standby), then init_transactions (fencing any older instance: only the slot's
 * holder may fence), read the checkpoint and check it against the slot, stream from where
 * it says; feed each inserted outbox row, as event.h's neutral row, to the publisher
 * (publish.h), which commits it in Kafka transactions together with the checkpoint; confirm
 * end_lsn only after the commit; idle advance; rewind after an aborted transaction or a
 * lost connection; graceful stop. The batching decisions are in ledger.c; wire details
 * elsewhere.
 */
#ifndef RELAY_PIPELINE_H
#define RELAY_PIPELINE_H

#include <signal.h>

#include <stdbool.h>

#include "config.h"
#include "failpoint.h"
#include "log.h"
#include "metrics.h"

/* Choices of one run, from the command line. */
typedef struct pipeline_opts {
    /* When the slot and the checkpoint disagree (slot ahead, recreated, another system),
     * continue from the slot's position instead of refusing (logged loudly). */
    bool accept_slot_position;
    failpoint *failpoint; /* crash points of test builds; never NULL */
    relay_metrics *metrics; /* what the loop reports to the HTTP endpoint; never NULL */
} pipeline_opts;

/*
 * Runs until *stop becomes non-zero (then finishes the open batch, confirms it and
 * returns EXIT_OK) or a failure that needs an operator (returns its exit code after
 * logging one line that says what and how to fix it). While another process holds the
 * slot it waits as a standby and takes over when the slot frees.
 */
int pipeline_run(const relay_config *cfg, const pipeline_opts *opts, const log_ctx *lg,
                 volatile sig_atomic_t *stop);

#endif
