/* The metrics the loop reports: what a transaction adds when it commits, what an abort
 * forgets, histograms, lag, state, and the exposition text a scrape gets. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"
#include "policy.h"
#include "suites.h"

/* The value of the sample line starting with `line ` in text, or -1 when there is none. */
static double sample(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static char *render(relay_metrics *m)
{
    size_t len = 0;
    char *text = metrics_render(m, &len);

    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    return text;
}

START_TEST(commit_adds_what_the_transaction_carried_abort_forgets_it)
{
    relay_metrics m;
    publish_counts c = {0};
    int64_t now = 1800000000000;
    char *text;

    ck_assert_int_eq(metrics_init(&m, "run"), 0);
    /* Three events and a dead letter, committed. */
    c.events = 3;
    c.dead_letters = 1;
    c.dead_letter_reasons[POLICY_INVALID] = 1;
    for (int i = 0; i < 4; i++)
        metrics_record_pending(&m, now - 20); /* created 20 ms before the commit */
    metrics_txn_committed(&m, &c, 0.003, now);
    /* Five more produced, then aborted: none counts, and the replay counts them once. */
    c.events = 8;
    c.aborted_txns = 1;
    for (int i = 0; i < 5; i++)
        metrics_record_pending(&m, now - 5000);
    metrics_txn_aborted(&m, &c);
    c.events = 13;
    for (int i = 0; i < 5; i++)
        metrics_record_pending(&m, now - 2000);
    metrics_txn_committed(&m, &c, 0.2, now);
    /* A transaction with only a checkpoint. */
    metrics_txn_committed(&m, &c, 0.001, now);

    text = render(&m);
    ck_assert(sample(text, "outbox_relay_events_published_total") == 8);
    ck_assert(sample(text, "outbox_relay_dead_letters_total{reason=\"invalid\"}") == 1);
    ck_assert(sample(text, "outbox_relay_dead_letters_total{reason=\"too_large\"}") == 0);
    ck_assert(sample(text, "outbox_relay_dead_letters_total{reason=\"valid\"}") == -1);
    ck_assert(sample(text, "outbox_relay_kafka_transactions_total{result=\"committed\"}") == 3);
    ck_assert(sample(text, "outbox_relay_kafka_transactions_total{result=\"aborted\"}") == 1);
    ck_assert(sample(text, "outbox_relay_checkpoint_only_transactions_total") == 1);
    /* 4 records at 20 ms and 5 at 2 s; the 5 s ones were aborted. Buckets are cumulative. */
    ck_assert(sample(text, "outbox_relay_end_to_end_seconds_bucket{le=\"0.01\"}") == 0);
    ck_assert(sample(text, "outbox_relay_end_to_end_seconds_bucket{le=\"0.025\"}") == 4);
    ck_assert(sample(text, "outbox_relay_end_to_end_seconds_bucket{le=\"1\"}") == 4);
    ck_assert(sample(text, "outbox_relay_end_to_end_seconds_bucket{le=\"2.5\"}") == 9);
    ck_assert(sample(text, "outbox_relay_end_to_end_seconds_bucket{le=\"+Inf\"}") == 9);
    ck_assert(sample(text, "outbox_relay_end_to_end_seconds_count") == 9);
    ck_assert(sample(text, "outbox_relay_end_to_end_seconds_sum") > 10.07 &&
              sample(text, "outbox_relay_end_to_end_seconds_sum") < 10.09);
    ck_assert(sample(text, "outbox_relay_kafka_commit_seconds_count") == 3);
    ck_assert(sample(text, "outbox_relay_kafka_commit_seconds_bucket{le=\"0.0025\"}") == 1);
    ck_assert(sample(text, "outbox_relay_kafka_commit_seconds_bucket{le=\"0.25\"}") == 3);
    free(text);
    metrics_destroy(&m);
}
END_TEST

START_TEST(state_lag_and_slot_gauges)
{
    relay_metrics m;
    metrics_slot slot = {.have = true, .retained_wal_bytes = 4096, .wal_status = "unreserved",
                         .have_safe_wal_size = true, .safe_wal_size = -512};
    char *text;

    ck_assert_int_eq(metrics_init(&m, "run"), 0);
    text = render(&m);
    ck_assert(sample(text, "outbox_relay_state{state=\"starting\"}") == 1);
    ck_assert(sample(text, "outbox_relay_state{state=\"streaming\"}") == 0);
    ck_assert(sample(text, "outbox_relay_lag_seconds") == 0);
    /* Not known yet: absent rather than a made-up 0. */
    ck_assert(sample(text, "outbox_relay_slot_lag_bytes") == -1);
    ck_assert(sample(text, "outbox_relay_retained_wal_bytes") == -1);
    ck_assert(sample(text, "outbox_relay_build_info{version=\"" RELAY_VERSION "\",command=\"run\"}") == 1);
    free(text);

    metrics_set_state(&m, METRICS_STANDBY);
    metrics_lag_since(&m, clock_mono_ms() - 3000);
    metrics_lag_since(&m, clock_mono_ms() - 1000); /* a later change keeps the older start */
    metrics_slot_lag(&m, 1000, 400);
    metrics_set_slot(&m, &slot);
    text = render(&m);
    ck_assert(sample(text, "outbox_relay_state{state=\"standby\"}") == 1);
    ck_assert(sample(text, "outbox_relay_state{state=\"starting\"}") == 0);
    ck_assert(sample(text, "outbox_relay_lag_seconds") >= 3.0 &&
              sample(text, "outbox_relay_lag_seconds") < 10.0);
    ck_assert(sample(text, "outbox_relay_slot_lag_bytes") == 600);
    ck_assert(sample(text, "outbox_relay_retained_wal_bytes") == 4096);
    ck_assert(sample(text, "outbox_relay_slot_wal_status{wal_status=\"unreserved\"}") == 1);
    ck_assert(sample(text, "outbox_relay_slot_wal_status{wal_status=\"reserved\"}") == 0);
    ck_assert(sample(text, "outbox_relay_slot_safe_wal_size_bytes") == -512);
    ck_assert(sample(text, "process_open_fds") > 0);
    ck_assert(sample(text, "process_resident_memory_bytes") > 0);
    free(text);

    metrics_lag_clear(&m);
    metrics_slot_lag(&m, 100, 400); /* confirmed past what a keepalive said: 0, not negative */
    text = render(&m);
    ck_assert(sample(text, "outbox_relay_lag_seconds") == 0);
    ck_assert(sample(text, "outbox_relay_slot_lag_bytes") == 0);
    free(text);
    metrics_destroy(&m);
}
END_TEST

START_TEST(liveness_follows_the_heartbeat)
{
    relay_metrics m;

    ck_assert_int_eq(metrics_init(&m, "backfill"), 0);
    metrics_heartbeat(&m, 1000);
    ck_assert(metrics_alive(&m, 61000, 60000));
    ck_assert(!metrics_alive(&m, 61001, 60000));
    ck_assert_str_eq(metrics_state_name(METRICS_STOPPING), "stopping");
    metrics_destroy(&m);
}
END_TEST

Suite *suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, commit_adds_what_the_transaction_carried_abort_forgets_it);
    tcase_add_test(tc, state_lag_and_slot_gauges);
    tcase_add_test(tc, liveness_follows_the_heartbeat);
    suite_add_tcase(s, tc);
    return s;
}
