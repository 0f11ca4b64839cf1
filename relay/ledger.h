/*
 * ledger.h — the batching and acknowledge ledger: which events to skip, when a Kafka
 * transaction is full, what its checkpoint says and which LSN may be confirmed.
 *
 * Pure: it is fed the positions of the replication stream and answers questions; it does
 * no I/O, so every rule of DESIGN §5 is unit-tested here.
 *
 * Positions. A checkpoint {end_lsn, commit_lsn, index} means: every Postgres transaction
 * whose commit record ends at or before end_lsn is published; and when commit_lsn is not
 * 0, the first `index` outbox events of the transaction committing at commit_lsn are
 * published too (a transaction split over several Kafka transactions). Only end_lsn is
 * ever confirmed to Postgres, and only once the Kafka transaction carrying it committed:
 * so the slot is never ahead of the checkpoint.
 */
#ifndef RELAY_LEDGER_H
#define RELAY_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsn.h"

typedef struct ledger_pos {
    relay_lsn end_lsn;    /* whole transactions up to here are out */
    relay_lsn commit_lsn; /* 0, or the transaction partly out */
    uint32_t index;       /* events of commit_lsn that are out */
} ledger_pos;

typedef struct ledger_limits {
    uint32_t max_events;
    size_t max_bytes;
    int64_t linger_ms; /* the oldest a batch gets (adaptive), or how long each waits */
    bool adaptive;     /* due as soon as the stream has nothing more ready */
} ledger_limits;

typedef struct ledger {
    ledger_limits limits;
    ledger_pos committed; /* as of the last Kafka commit (or the checkpoint read at start) */
    ledger_pos pending;   /* what the open Kafka transaction's checkpoint will say */
    relay_lsn seen_lsn;   /* everything before it was received (commit ends, keepalives) */

    /* The Postgres transaction being received. */
    bool in_txn;
    relay_lsn txn_commit_lsn;
    uint32_t txn_index;     /* outbox events seen so far in it */
    uint32_t txn_skip_upto; /* events up to this index were published before */

    /* The open Kafka transaction. */
    bool batch_open;
    uint32_t batch_events;
    size_t batch_bytes;
    int64_t batch_started_ms;
} ledger;

typedef enum {
    LEDGER_PUBLISH, /* produce it into the open batch */
    LEDGER_SKIP,    /* the checkpoint says it is already in Kafka */
} ledger_verdict;

void ledger_init(ledger *l, ledger_limits limits, ledger_pos checkpoint);

/* Starts again from checkpoint with the same limits: nothing open, nothing received. */
void ledger_restart(ledger *l, ledger_pos checkpoint);

/* Forgets the open batch and the transaction being received: back to `committed`, as
 * after an aborted Kafka transaction (the stream is then restarted from the slot). */
void ledger_rewind(ledger *l);

/* A Postgres transaction begins; final_lsn is the LSN of its commit record. */
void ledger_begin(ledger *l, relay_lsn final_lsn);

/* An outbox event of the current transaction, bytes large. Returns whether to publish
 * it; a published event opens the batch if needed and is counted into it. The event's
 * 1-based index in its transaction is l->txn_index afterwards. */
ledger_verdict ledger_event(ledger *l, size_t bytes, int64_t now_ms);

/* The current transaction's commit record ends at end_lsn. When the batch is open, its
 * checkpoint moves to end_lsn (the transaction is whole in it). */
void ledger_commit(ledger *l, relay_lsn end_lsn);

/* The server says it has sent everything before server_lsn (a keepalive). */
void ledger_server_position(ledger *l, relay_lsn server_lsn);

/* Whether the open batch must be committed now: a limit reached (also in the middle of a
 * Postgres transaction, which splits it); or, at a transaction boundary, the linger time
 * passed, the batch carries only a position (no events), or (limits.adaptive) the stream
 * is drained: nothing more was ready to read. A batch is never closed for time or a
 * drained stream in the middle of a transaction: its rest is on the way. */
bool ledger_batch_due(const ledger *l, int64_t now_ms, bool drained);

/* The checkpoint to write into the open Kafka transaction. */
ledger_pos ledger_batch_checkpoint(const ledger *l);

/* The Kafka transaction committed: its checkpoint becomes `committed`. Returns the LSN
 * that may now be confirmed to Postgres (flush). */
relay_lsn ledger_batch_committed(ledger *l);

/* The end LSN of the last committed checkpoint: what may be confirmed to Postgres. */
relay_lsn ledger_committed_lsn(const ledger *l);

/* Everything before it was received (commit ends, keepalives): the write position of a
 * status update. */
relay_lsn ledger_seen_lsn(const ledger *l);

/* Whether a Postgres transaction is being received (its Begin came, its Commit not yet). */
bool ledger_in_txn(const ledger *l);

/* Whether a Kafka transaction is being filled (events, or a position only). */
bool ledger_batch_open(const ledger *l);

/* The position of the next outbox event of the transaction being received. */
void ledger_next_event(const ledger *l, relay_lsn *commit_lsn, uint32_t *index);

/* When the open batch's linger ends, or false when no linger is running (no batch open, or
 * in the middle of a Postgres transaction, where a batch is never closed for time). */
bool ledger_linger_deadline(const ledger *l, int64_t *deadline_ms);

/* Idle advance (DESIGN §5.5): true when no batch is open, no transaction is being
 * received and the stream is known to be past the committed position, so a
 * checkpoint-only Kafka transaction can move the slot on. The caller decides how often;
 * ledger_idle_open then opens that (empty) batch at the seen position. */
bool ledger_idle_due(const ledger *l);
void ledger_idle_open(ledger *l, int64_t now_ms);

#endif
