#include "ledger.h"

#include <string.h>

void ledger_init(ledger *l, ledger_limits limits, ledger_pos checkpoint)
{
    memset(l, 0, sizeof(*l));
    l->limits = limits;
    l->committed = checkpoint;
    l->seen_lsn = checkpoint.end_lsn;
}

void ledger_restart(ledger *l, ledger_pos checkpoint)
{
    ledger_init(l, l->limits, checkpoint);
}

static void batch_clear(ledger *l)
{
    l->batch_open = false;
    l->batch_events = 0;
    l->batch_bytes = 0;
    l->batch_started_ms = 0;
    l->pending = l->committed;
}

void ledger_rewind(ledger *l)
{
    batch_clear(l);
    l->in_txn = false;
    l->seen_lsn = l->committed.end_lsn;
}

void ledger_begin(ledger *l, relay_lsn final_lsn)
{
    l->in_txn = true;
    l->txn_commit_lsn = final_lsn;
    l->txn_index = 0;
    /* A commit record lies wholly before or after any confirmed position (positions are
     * record ends), so "starts before end_lsn" means "published whole". */
    if (final_lsn < l->committed.end_lsn)
        l->txn_skip_upto = UINT32_MAX;
    else if (final_lsn == l->committed.commit_lsn)
        l->txn_skip_upto = l->committed.index;
    else
        l->txn_skip_upto = 0;
}

static void batch_open(ledger *l, int64_t now_ms)
{
    if (l->batch_open)
        return;
    l->batch_open = true;
    l->batch_started_ms = now_ms;
    l->pending = l->committed;
}

ledger_verdict ledger_event(ledger *l, size_t bytes, int64_t now_ms)
{
    l->txn_index++;
    if (l->txn_index <= l->txn_skip_upto)
        return LEDGER_SKIP;
    batch_open(l, now_ms);
    l->batch_events++;
    l->batch_bytes += bytes;
    l->pending.commit_lsn = l->txn_commit_lsn;
    l->pending.index = l->txn_index;
    return LEDGER_PUBLISH;
}

void ledger_commit(ledger *l, relay_lsn end_lsn)
{
    l->in_txn = false;
    if (end_lsn > l->seen_lsn)
        l->seen_lsn = end_lsn;
    /* Every event of this transaction is already committed in Kafka (a split ended at its
     * last event, or a replay skipped them all), but the checkpoint still names it as
     * partial. Its end must reach a checkpoint before any other transaction's events do:
     * a position-only batch, due at once. */
    if (!l->batch_open && l->committed.commit_lsn != 0 &&
        l->committed.commit_lsn == l->txn_commit_lsn) {
        batch_open(l, 0);
        l->pending = (ledger_pos){end_lsn, 0, 0};
        return;
    }
    if (l->batch_open && end_lsn > l->pending.end_lsn)
        l->pending = (ledger_pos){end_lsn, 0, 0};
}

void ledger_server_position(ledger *l, relay_lsn server_lsn)
{
    if (server_lsn > l->seen_lsn)
        l->seen_lsn = server_lsn;
}

bool ledger_batch_due(const ledger *l, int64_t now_ms, bool drained)
{
    if (!l->batch_open)
        return false;
    if (l->batch_events >= l->limits.max_events || l->batch_bytes >= l->limits.max_bytes)
        return true;
    if (l->in_txn)
        return false;
    /* A batch without events only carries a position: nothing to wait for. */
    return l->batch_events == 0 || (l->limits.adaptive && drained) ||
           now_ms - l->batch_started_ms >= l->limits.linger_ms;
}

ledger_pos ledger_batch_checkpoint(const ledger *l)
{
    return l->pending;
}

relay_lsn ledger_batch_committed(ledger *l)
{
    l->committed = l->pending;
    batch_clear(l);
    return l->committed.end_lsn;
}

bool ledger_idle_due(const ledger *l)
{
    /* Not while the checkpoint names a partly published transaction: a position before
     * its commit would drop how many of its events are out (it is replayed whole). */
    return !l->batch_open && !l->in_txn && l->committed.commit_lsn == 0 &&
           l->seen_lsn > l->committed.end_lsn;
}

void ledger_idle_open(ledger *l, int64_t now_ms)
{
    batch_open(l, now_ms);
    l->pending = (ledger_pos){l->seen_lsn, 0, 0};
}

void ledger_next_event(const ledger *l, relay_lsn *commit_lsn, uint32_t *index)
{
    *commit_lsn = l->txn_commit_lsn;
    *index = l->txn_index + 1;
}

bool ledger_linger_deadline(const ledger *l, int64_t *deadline_ms)
{
    if (!l->batch_open || l->in_txn)
        return false;
    *deadline_ms = l->batch_started_ms + l->limits.linger_ms;
    return true;
}

relay_lsn ledger_committed_lsn(const ledger *l)
{
    return l->committed.end_lsn;
}

relay_lsn ledger_seen_lsn(const ledger *l)
{
    return l->seen_lsn;
}

bool ledger_in_txn(const ledger *l)
{
    return l->in_txn;
}

bool ledger_batch_open(const ledger *l)
{
    return l->batch_open;
}
