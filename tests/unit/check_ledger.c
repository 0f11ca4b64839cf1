/* The batching/acknowledge ledger: skip decisions, splitting, what may be confirmed. */
#include "ledger.h"
#include "suites.h"

static const ledger_limits limits = {.max_events = 3, .max_bytes = 1000, .linger_ms = 100};

/* One Postgres transaction of n events of `bytes` each, committing at commit_lsn and
 * ending at commit_lsn + 10; returns how many were to be published. */
static int txn(ledger *l, relay_lsn commit_lsn, int n, size_t bytes, int64_t now)
{
    int published = 0;

    ledger_begin(l, commit_lsn);
    for (int i = 0; i < n; i++)
        published += ledger_event(l, bytes, now) == LEDGER_PUBLISH;
    ledger_commit(l, commit_lsn + 10);
    return published;
}

START_TEST(whole_transactions_are_batched_and_confirmed_after_commit)
{
    ledger l;

    ledger_init(&l, limits, (ledger_pos){100, 0, 0});
    ck_assert_int_eq(txn(&l, 200, 1, 10, 0), 1);
    ck_assert_int_eq(txn(&l, 300, 1, 10, 0), 1);
    ck_assert(l.batch_open);
    ck_assert(!ledger_batch_due(&l, 99, false));  /* under every limit, linger not over */
    ck_assert(ledger_batch_due(&l, 100, false));  /* linger passed at a transaction boundary */
    ledger_pos cp = ledger_batch_checkpoint(&l);
    ck_assert_uint_eq(cp.end_lsn, 310);
    ck_assert_uint_eq(cp.commit_lsn, 0);
    /* Nothing is confirmable before the Kafka commit. */
    ck_assert_uint_eq(l.committed.end_lsn, 100);
    ck_assert_uint_eq(ledger_batch_committed(&l), 310);
    ck_assert(!l.batch_open);
}
END_TEST

START_TEST(large_transaction_is_split_with_commit_lsn_and_index)
{
    ledger l;

    ledger_init(&l, limits, (ledger_pos){100, 0, 0});
    ledger_begin(&l, 500);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ledger_event(&l, 1, 0), LEDGER_PUBLISH);
    ck_assert(ledger_batch_due(&l, 0, false)); /* event limit, mid-transaction */
    ledger_pos cp = ledger_batch_checkpoint(&l);
    ck_assert_uint_eq(cp.end_lsn, 100); /* the split transaction is not whole yet */
    ck_assert_uint_eq(cp.commit_lsn, 500);
    ck_assert_uint_eq(cp.index, 3);
    ck_assert_uint_eq(ledger_batch_committed(&l), 100);
    ck_assert_int_eq(ledger_event(&l, 1, 0), LEDGER_PUBLISH);
    ck_assert_uint_eq(l.txn_index, 4);
    ledger_commit(&l, 510);
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).end_lsn, 510);
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).commit_lsn, 0);
}
END_TEST

START_TEST(transaction_ending_at_a_split_is_recorded_whole)
{
    ledger l;

    /* Transaction M has exactly as many events as a batch holds: the split commit comes at
     * its last event, before its Commit message. */
    ledger_init(&l, limits, (ledger_pos){100, 0, 0});
    ledger_begin(&l, 200);
    for (int i = 0; i < 3; i++)
        ledger_event(&l, 1, 0);
    ck_assert(ledger_batch_due(&l, 0, false));
    ck_assert_uint_eq(ledger_batch_committed(&l), 100);
    ck_assert_uint_eq(l.committed.commit_lsn, 200);
    ck_assert_uint_eq(l.committed.index, 3);
    ledger_commit(&l, 210);
    /* M's end is due in a checkpoint of its own, before N's events can open a batch that
     * would otherwise carry {100, N, k} and forget that M is whole. */
    ck_assert(l.batch_open);
    ck_assert(ledger_batch_due(&l, 0, false));
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).end_lsn, 210);
    ck_assert_uint_eq(ledger_batch_committed(&l), 210);
    ledger_begin(&l, 300);
    ck_assert_int_eq(ledger_event(&l, 1, 0), LEDGER_PUBLISH);
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).end_lsn, 210);
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).commit_lsn, 300);

    /* The same after a replay that skips all of M's events. */
    ledger_init(&l, limits, (ledger_pos){100, 200, 3});
    ck_assert_int_eq(txn(&l, 200, 3, 1, 0), 0);
    ck_assert(l.batch_open);
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).end_lsn, 210);
}
END_TEST

START_TEST(replay_skips_what_the_checkpoint_covers)
{
    ledger l;

    /* Crash after a split at event 3 of the transaction committing at 500. */
    ledger_init(&l, limits, (ledger_pos){310, 500, 3});
    ck_assert_int_eq(txn(&l, 200, 2, 1, 0), 0); /* before the checkpoint: all skipped */
    ck_assert(!l.batch_open);
    ledger_begin(&l, 500);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(ledger_event(&l, 1, 0), LEDGER_SKIP);
    ck_assert_int_eq(ledger_event(&l, 1, 0), LEDGER_PUBLISH);
    ck_assert_uint_eq(l.txn_index, 4);
    ledger_commit(&l, 510);
    ck_assert_int_eq(txn(&l, 600, 1, 1, 0), 1); /* after it: published */
}
END_TEST

START_TEST(transaction_committing_exactly_at_checkpoint_end_is_published)
{
    ledger l;

    /* end_lsn is the end of a commit record; the next transaction's commit record can
     * start right there and must not be skipped. */
    ledger_init(&l, limits, (ledger_pos){310, 0, 0});
    ck_assert_int_eq(txn(&l, 310, 1, 1, 0), 1);
}
END_TEST

START_TEST(byte_limit_closes_the_batch)
{
    ledger l;

    ledger_init(&l, limits, (ledger_pos){0, 0, 0});
    txn(&l, 10, 1, 999, 0);
    ck_assert(!ledger_batch_due(&l, 0, false));
    txn(&l, 30, 1, 1, 0);
    ck_assert(ledger_batch_due(&l, 0, false));
}
END_TEST

START_TEST(linger_waits_for_the_transaction_boundary)
{
    ledger l;

    ledger_init(&l, limits, (ledger_pos){0, 0, 0});
    ledger_begin(&l, 10);
    ledger_event(&l, 1, 0);
    ck_assert(!ledger_batch_due(&l, 1000, false)); /* inside a transaction, under limits */
    ledger_commit(&l, 20);
    ck_assert(ledger_batch_due(&l, 1000, false));
}
END_TEST

START_TEST(idle_advance_follows_the_server_but_not_inside_a_transaction)
{
    ledger l;

    ledger_init(&l, limits, (ledger_pos){100, 0, 0});
    ck_assert(!ledger_idle_due(&l));
    ledger_server_position(&l, 90); /* behind: nothing to do */
    ck_assert(!ledger_idle_due(&l));
    ledger_begin(&l, 400);
    ledger_server_position(&l, 300);
    ck_assert(!ledger_idle_due(&l)); /* a transaction is being received */
    ledger_commit(&l, 410);          /* no outbox events in it */
    ck_assert(ledger_idle_due(&l));
    ledger_idle_open(&l, 5);
    ck_assert(l.batch_open);
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).end_lsn, 410);
    ck_assert_uint_eq(ledger_batch_committed(&l), 410);
    ck_assert(!ledger_idle_due(&l));
}
END_TEST

START_TEST(no_idle_advance_over_a_partly_published_transaction)
{
    ledger l;

    /* Restarted after a split of the transaction committing at 300; the server reports
     * progress (250) before resending it. */
    ledger_init(&l, limits, (ledger_pos){100, 300, 5});
    ledger_server_position(&l, 250);
    ck_assert(!ledger_idle_due(&l));
    ledger_begin(&l, 300);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ledger_event(&l, 1, 0), LEDGER_SKIP);
    ck_assert_int_eq(ledger_event(&l, 1, 0), LEDGER_PUBLISH);
}
END_TEST

/* Adaptive batching: a drained stream closes the batch at once, but only at a transaction
 * boundary; while transactions keep coming the batch grows until a limit or its age. */
START_TEST(adaptive_commits_when_drained_at_a_transaction_boundary)
{
    ledger l;
    ledger_limits adaptive = limits;

    adaptive.max_events = 100;
    adaptive.adaptive = true;
    ledger_init(&l, adaptive, (ledger_pos){100, 0, 0});
    ck_assert(!ledger_batch_due(&l, 0, true)); /* nothing batched */
    ledger_begin(&l, 200);
    ck_assert_int_eq(ledger_event(&l, 10, 0), LEDGER_PUBLISH);
    ck_assert(!ledger_batch_due(&l, 0, true)); /* drained inside a transaction: its rest comes */
    ledger_commit(&l, 210);
    ck_assert(!ledger_batch_due(&l, 0, false)); /* more is ready: keep batching */
    ck_assert(ledger_batch_due(&l, 0, true));   /* nothing more ready: commit now */
    ck_assert_int_eq(txn(&l, 300, 1, 10, 50), 1);
    ck_assert(!ledger_batch_due(&l, 99, false));
    ck_assert(ledger_batch_due(&l, 100, false)); /* a busy stream: linger bounds the age */
    ck_assert_uint_eq(ledger_batch_checkpoint(&l).end_lsn, 310);

    /* Not adaptive: a drained stream waits out the linger as before. */
    ledger_init(&l, limits, (ledger_pos){100, 0, 0});
    ck_assert_int_eq(txn(&l, 200, 1, 10, 0), 1);
    ck_assert(!ledger_batch_due(&l, 50, true));
    ck_assert(ledger_batch_due(&l, 100, true));
}
END_TEST

START_TEST(rewind_forgets_the_batch)
{
    ledger l;

    ledger_init(&l, limits, (ledger_pos){100, 0, 0});
    txn(&l, 200, 2, 1, 0);
    ledger_begin(&l, 300);
    ledger_event(&l, 1, 0);
    ledger_rewind(&l);
    ck_assert(!l.batch_open);
    ck_assert(!l.in_txn);
    ck_assert_uint_eq(l.committed.end_lsn, 100);
    ck_assert_uint_eq(l.seen_lsn, 100);
    /* The replayed stream publishes everything again. */
    ck_assert_int_eq(txn(&l, 200, 2, 1, 0), 2);
}
END_TEST

Suite *suite_ledger(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("ledger");

    tcase_add_test(tc, whole_transactions_are_batched_and_confirmed_after_commit);
    tcase_add_test(tc, large_transaction_is_split_with_commit_lsn_and_index);
    tcase_add_test(tc, transaction_ending_at_a_split_is_recorded_whole);
    tcase_add_test(tc, replay_skips_what_the_checkpoint_covers);
    tcase_add_test(tc, transaction_committing_exactly_at_checkpoint_end_is_published);
    tcase_add_test(tc, byte_limit_closes_the_batch);
    tcase_add_test(tc, linger_waits_for_the_transaction_boundary);
    tcase_add_test(tc, idle_advance_follows_the_server_but_not_inside_a_transaction);
    tcase_add_test(tc, no_idle_advance_over_a_partly_published_transaction);
    tcase_add_test(tc, adaptive_commits_when_drained_at_a_transaction_boundary);
    tcase_add_test(tc, rewind_forgets_the_batch);
    suite_add_tcase(s, tc);
    return s;
}
