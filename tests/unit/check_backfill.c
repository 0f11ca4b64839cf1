/* Backfill's pure parts: options, command-line times, the job record, progress text. */
#include <string.h>

#include "backfill.h"
#include "selection.h"
#include "suites.h"

/* 2026-11-27 07:51:30 UTC, the clock of relative times in these tests. */
#define NOW_US 1795765890000000LL

/* Parses a command line given as one string of space-separated words. */
static int parse(const char *line, backfill_args *out, char *err, size_t err_size)
{
    static char buf[1024];
    char *argv[32];
    int argc = 0;

    snprintf(buf, sizeof buf, "%s", line);
    for (char *w = strtok(buf, " "); w != NULL && argc < 31; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc] = NULL;
    err[0] = '\0';
    return backfill_parse_args(argc, argv, NOW_US, out, err, err_size);
}

START_TEST(parses_a_full_command_line)
{
    backfill_args a;
    char err[256];

    ck_assert_int_eq(parse("backfill -c relay.conf --job replay-1 --from-id 10 --to-id 20 "
                           "--since 2026-11-01 --until 2026-11-02T00:00:00Z --event-type "
                           "OrderPaid --aggregate-id order-7 --topic scratch.replay --rate 500 "
                           "--restart",
                           &a, err, sizeof err),
                     0);
    ck_assert_str_eq(a.config, "relay.conf");
    ck_assert_str_eq(a.job, "replay-1");
    ck_assert(a.sel.has_from_id && a.sel.from_id == 10);
    ck_assert(a.sel.has_to_id && a.sel.to_id == 20);
    ck_assert(a.sel.has_since && a.sel.since_us == 1793491200000000LL);
    ck_assert(a.sel.has_until && a.sel.until_us == 1793577600000000LL);
    ck_assert(a.sel.has_event_type);
    ck_assert_str_eq(a.sel.event_type, "OrderPaid");
    ck_assert(a.sel.has_aggregate_id);
    ck_assert_str_eq(a.sel.aggregate_id, "order-7");
    ck_assert_str_eq(a.topic, "scratch.replay");
    ck_assert_int_eq(a.rate, 500);
    ck_assert(a.restart && !a.dry_run && !a.help);
}
END_TEST

START_TEST(minimal_and_dry_run_command_lines)
{
    backfill_args a;
    char err[256];

    ck_assert_int_eq(parse("backfill --config=x.conf --job=j", &a, err, sizeof err), 0);
    ck_assert_str_eq(a.job, "j");
    ck_assert(selection_empty(&a.sel));
    ck_assert_int_eq(a.rate, 0);
    ck_assert_str_eq(a.topic, "");
    /* A dry run needs no job name; --help needs nothing else. */
    ck_assert_int_eq(parse("backfill -c x.conf --dry-run", &a, err, sizeof err), 0);
    ck_assert(a.dry_run);
    ck_assert_int_eq(parse("backfill --help", &a, err, sizeof err), 0);
    ck_assert(a.help);
    /* Relative times count back from now. */
    ck_assert_int_eq(parse("backfill -c x --job j --since 6h --until 30m", &a, err, sizeof err), 0);
    ck_assert(a.sel.since_us == NOW_US - 6 * 3600000000LL);
    ck_assert(a.sel.until_us == NOW_US - 30 * 60000000LL);
    /* Equal id bounds select one row. */
    ck_assert_int_eq(parse("backfill -c x --job j --from-id 5 --to-id 5", &a, err, sizeof err), 0);
}
END_TEST

/* Every mistake gets one line naming the option. */
static const struct {
    const char *line;
    const char *message;
} bad_lines[] = {
    {"backfill -c x --job j --from-id 20 --to-id 10", "--from-id 20 is greater than --to-id 10"},
    {"backfill -c x --job j --since yesterday", "--since \"yesterday\" is not a time"},
    {"backfill -c x --job j --until 2026-02-30", "--until \"2026-02-30\" is not a time"},
    {"backfill -c x --job j --since 2026-11-02 --until 2026-11-01",
     "--since '2026-11-02 00:00:00.000000+00' is not before "
     "--until '2026-11-01 00:00:00.000000+00'"},
    {"backfill -c x --job j --bogus", "unknown option --bogus"},
    {"backfill -c x --job j -x", "unknown option -x"},
    {"backfill -c x --job j --dry-run=yes", "option --dry-run=yes takes no value"},
    {"backfill -c x --job", "option --job needs a value"},
    {"backfill -c x --job j extra", "unexpected argument \"extra\""},
    {"backfill --job j", "-c FILE is required"},
    {"backfill -c x", "--job NAME is required"},
    {"backfill -c x --job a/b", "--job \"a/b\": expected a name"},
    {"backfill -c x --job j --from-id 12abc", "--from-id \"12abc\" is not an integer id"},
    {"backfill -c x --job j --to-id 99999999999999999999", "--to-id \"99999999999999999999\""},
    {"backfill -c x --job j --rate 0", "--rate \"0\": expected events per second"},
    {"backfill -c x --job j --rate fast", "--rate \"fast\""},
    {"backfill -c x --job j --topic bad*topic", "--topic \"bad*topic\" is not a legal Kafka topic"},
};

START_TEST(rejects_bad_command_lines)
{
    backfill_args a;
    char err[256];

    ck_assert_int_eq(parse(bad_lines[_i].line, &a, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad_lines[_i].message) != NULL, "%s: got \"%s\"", bad_lines[_i].line,
                  err);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

static const struct {
    const char *text;
    long long us; /* -1: must be rejected */
} times[] = {
    {"2026-11-27", 1795737600000000LL},
    {"2026-11-27 07:51", 1795765860000000LL},
    {"2026-11-27 07:51:30", 1795765890000000LL},
    {"2026-11-27T07:51:30Z", 1795765890000000LL},
    {"2026-11-27t07:51:30z", 1795765890000000LL},
    {"2026-11-27 07:51:30.25", 1795765890250000LL},
    {"2026-11-27 07:51:30.1234567", 1795765890123456LL},
    {"2026-11-27 07:51:30+00", 1795765890000000LL},
    {"2026-11-27 09:51:30+02:00", 1795765890000000LL},
    {"2026-11-27 02:21:30-0530", 1795765890000000LL},
    {"2024-02-29", 1709164800000000LL},
    {"1969-12-31 23:59:59.5", -500000LL},
    {"90s", NOW_US - 90000000LL},
    {"2d", NOW_US - 2 * 86400000000LL},
    {"1w", NOW_US - 604800000000LL},
    {"", -1},
    {"2026-11-27 ", -1},
    {"2026-13-01", -1},
    {"2025-02-29", -1},
    {"2026-11-27 24:00", -1},
    {"2026-11-27 07:60", -1},
    {"2026-11-27 07:51:30.", -1},
    {"2026-11-27 07:51:30+2", -1},
    {"2026-11-27Z", -1},
    {"26-11-27", -1},
    {"6", -1},
    {"6y", -1},
    {"6hh", -1},
    {"-6h", -1},
    {"99999999w", -1},
};

START_TEST(parses_command_line_times)
{
    int64_t us = 0;
    bool ok = selection_parse_time(times[_i].text, NOW_US, &us);

    if (times[_i].us == -1) {
        ck_assert_msg(!ok, "\"%s\" accepted", times[_i].text);
    } else {
        ck_assert_msg(ok, "\"%s\" rejected", times[_i].text);
        ck_assert_msg(us == times[_i].us, "\"%s\": %lld, expected %lld", times[_i].text,
                      (long long)us, times[_i].us);
    }
}
END_TEST

START_TEST(formats_times_that_read_back)
{
    static const long long samples[] = {0, 1795765890123456LL, -500000LL, -62135596800000000LL,
                                        253402300799999999LL};
    char buf[64];

    record_format_time(1795765890250000LL, buf, sizeof buf);
    ck_assert_str_eq(buf, "2026-11-27 07:51:30.250000+00");
    record_format_time(-500000LL, buf, sizeof buf);
    ck_assert_str_eq(buf, "1969-12-31 23:59:59.500000+00");
    record_format_time(-62135596800000000LL, buf, sizeof buf);
    ck_assert_str_eq(buf, "0001-01-01 00:00:00.000000+00");
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        int64_t back = 0;
        record_format_time(samples[i], buf, sizeof buf);
        ck_assert_msg(selection_parse_time(buf, 0, &back) && back == samples[i], "%s", buf);
    }
}
END_TEST

START_TEST(job_record_round_trip)
{
    record_job j, back;
    char buf[4096], err[256] = "";
    int n;

    memset(&j, 0, sizeof j);
    j.sel.has_from_id = j.sel.has_since = j.sel.has_event_type = true;
    j.sel.from_id = -3;
    j.sel.since_us = 1795765890250000LL;
    snprintf(j.sel.event_type, sizeof j.sel.event_type, "Order \"Paid\"\n\xc3\xa9");
    snprintf(j.topic, sizeof j.topic, "scratch");
    snprintf(j.max_id, sizeof j.max_id, "110000");
    snprintf(j.cursor, sizeof j.cursor, "54321");
    j.published = 44321;
    j.dead_lettered = 21;
    j.started_us = 1795765890000001LL;
    n = record_job_format("relay-a", "replay-1", &j, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq((int)strlen(buf), n);
    ck_assert_ptr_nonnull(strstr(buf, "\"job\":\"replay-1\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"done\":false"));
    ck_assert_int_eq(record_job_parse(buf, (size_t)n, &back, err, sizeof err), 0);
    ck_assert(selection_equal(&j.sel, &back.sel));
    ck_assert(!back.sel.has_to_id && !back.sel.has_until && !back.sel.has_aggregate_id);
    ck_assert_str_eq(back.topic, "scratch");
    ck_assert_str_eq(back.max_id, "110000");
    ck_assert_str_eq(back.cursor, "54321");
    ck_assert(back.published == 44321 && back.dead_lettered == 21 && !back.done);
    ck_assert(back.started_us == j.started_us);

    /* Too small a buffer is an error, not a cut record. */
    ck_assert_int_eq(record_job_format("relay-a", "replay-1", &j, buf, 40), -1);
    /* Broken records are refused with a reason. */
    ck_assert_int_eq(record_job_parse("{", 1, &back, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not JSON"));
    ck_assert_int_eq(record_job_parse("{\"done\":true}", 13, &back, err, sizeof err), -1);
    ck_assert_int_eq(record_job_parse("{\"published\":1,\"done\":true,\"topic\":\"\",\"max_id\":"
                                        "\"\",\"cursor\":\"\",\"started\":\"soon\"}",
                                        85, &back, err, sizeof err),
                     -1);
}
END_TEST

START_TEST(selection_equality_and_description)
{
    record_selection a, b;
    char buf[512];

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    ck_assert(selection_equal(&a, &b));
    selection_describe(&a, buf, sizeof buf);
    ck_assert_str_eq(buf, "no selection (every row)");
    /* Unset fields do not count, set ones must match. */
    a.to_id = 5;
    ck_assert(selection_equal(&a, &b));
    a.has_to_id = true;
    ck_assert(!selection_equal(&a, &b));
    b.has_to_id = true;
    b.to_id = 5;
    ck_assert(selection_equal(&a, &b));
    a.has_aggregate_id = b.has_aggregate_id = true;
    snprintf(a.aggregate_id, sizeof a.aggregate_id, "k1");
    snprintf(b.aggregate_id, sizeof b.aggregate_id, "k2");
    ck_assert(!selection_equal(&a, &b));
    a.has_until = true;
    a.until_us = 1795737600000000LL;
    selection_describe(&a, buf, sizeof buf);
    ck_assert_str_eq(buf, "--to-id 5 --until '2026-11-27 00:00:00.000000+00' --aggregate-id 'k1'");
    ck_assert(!selection_empty(&a));
}
END_TEST

/* --table (several outbox tables): spelled schema.name, part of the selection and of the
 * job record, so a job continues on its table. */
START_TEST(table_option_is_part_of_the_job)
{
    backfill_args a, b;
    record_job j, back;
    char err[256], buf[4096];
    int n;

    ck_assert_int_eq(parse("backfill -c x --job j --table outbox", &a, err, sizeof err), 0);
    ck_assert(a.sel.has_table);
    ck_assert_str_eq(a.sel.table, "public.outbox");
    ck_assert_int_eq(
        parse("backfill -c x --job j --table tenant_a.outbox --from-id 3", &a, err, sizeof err), 0);
    ck_assert_str_eq(a.sel.table, "tenant_a.outbox");
    selection_describe(&a.sel, buf, sizeof buf);
    ck_assert_str_eq(buf, "--table tenant_a.outbox --from-id 3");
    ck_assert_int_eq(parse("backfill -c x --job j --table *.outbox", &b, err, sizeof err), -1);
    ck_assert_str_eq(err, "--table \"*.outbox\": a pattern; expected one table, SCHEMA.NAME");
    ck_assert_int_eq(parse("backfill -c x --job j --table a.b.c", &b, err, sizeof err), -1);
    ck_assert_str_eq(err, "--table \"a.b.c\": more than one '.'; expected one table, SCHEMA.NAME");

    memset(&j, 0, sizeof j);
    j.sel = a.sel;
    n = record_job_format("relay-a", "replay-1", &j, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_ptr_nonnull(strstr(buf, "\"table\":\"tenant_a.outbox\""));
    ck_assert_int_eq(record_job_parse(buf, (size_t)n, &back, err, sizeof err), 0);
    ck_assert(selection_equal(&j.sel, &back.sel));
    ck_assert_int_eq(
        parse("backfill -c x --job j --table tenant_b.outbox --from-id 3", &b, err, sizeof err), 0);
    ck_assert(!selection_equal(&b.sel, &back.sel));
}
END_TEST

START_TEST(formats_progress)
{
    char buf[256];
    backfill_progress p = {4000, 10000, 3000, 1.5};

    backfill_format_progress(&p, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "4000/10000 events (40.0%), 2000 events/s, ETA 3s");
    backfill_format_progress(&p, 10, buf, sizeof buf);
    ck_assert_str_eq(buf, "[####......]  40.0%  4000/10000 events  2000 events/s  ETA 3s");
    /* Long ETAs, unknown rate, rounding down, nothing to do. */
    p = (backfill_progress){9999, 10000000, 1, 1.0};
    backfill_format_progress(&p, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "9999/10000000 events (0.0%), 1 events/s, ETA 2775h00m");
    p = (backfill_progress){9999, 10000, 100, 1.0};
    backfill_format_progress(&p, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "9999/10000 events (99.9%), 100 events/s, ETA 0s");
    p = (backfill_progress){0, 600, 0, 0.0};
    backfill_format_progress(&p, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "0/600 events (0.0%), 0 events/s, ETA --");
    p = (backfill_progress){300, 600, 300, 1.0};
    backfill_format_progress(&p, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "300/600 events (50.0%), 300 events/s, ETA 1s");
    p = (backfill_progress){100, 50000, 100, 1.0};
    backfill_format_progress(&p, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "100/50000 events (0.2%), 100 events/s, ETA 8m19s");
    p = (backfill_progress){0, 0, 0, 0.2};
    backfill_format_progress(&p, 4, buf, sizeof buf);
    ck_assert_str_eq(buf, "[####] 100.0%  0/0 events  0 events/s  ETA 0s");
}
END_TEST

Suite *suite_backfill(void)
{
    Suite *s = suite_create("backfill");
    TCase *tc = tcase_create("backfill");

    tcase_add_test(tc, parses_a_full_command_line);
    tcase_add_test(tc, minimal_and_dry_run_command_lines);
    tcase_add_loop_test(tc, rejects_bad_command_lines, 0,
                        (int)(sizeof bad_lines / sizeof bad_lines[0]));
    tcase_add_loop_test(tc, parses_command_line_times, 0, (int)(sizeof times / sizeof times[0]));
    tcase_add_test(tc, formats_times_that_read_back);
    tcase_add_test(tc, job_record_round_trip);
    tcase_add_test(tc, selection_equality_and_description);
    tcase_add_test(tc, formats_progress);
    tcase_add_test(tc, table_option_is_part_of_the_job);
    suite_add_tcase(s, tc);
    return s;
}
