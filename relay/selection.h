/*
 * selection.h — which outbox rows a command works on: the options `backfill` and `audit`
 * share (--table, --from-id, --to-id, --since, --until, --event-type, --aggregate-id), read into a
 * record_selection and described back for messages, and the command-line checks both make.
 * Pure: no I/O.
 */
#ifndef RELAY_SELECTION_H
#define RELAY_SELECTION_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* getopt_long values of the selection options; a command's own start at SELECTION_OPT_END. */
enum {
    SELECTION_OPT_FROM_ID = 256,
    SELECTION_OPT_TO_ID,
    SELECTION_OPT_SINCE,
    SELECTION_OPT_UNTIL,
    SELECTION_OPT_EVENT_TYPE,
    SELECTION_OPT_AGGREGATE_ID,
    SELECTION_OPT_TABLE,
    SELECTION_OPT_END,
};

/* The selection's entries of a struct option table. */
#define SELECTION_LONG_OPTIONS                                                                 \
    {"from-id", required_argument, NULL, SELECTION_OPT_FROM_ID},                               \
        {"to-id", required_argument, NULL, SELECTION_OPT_TO_ID},                               \
        {"since", required_argument, NULL, SELECTION_OPT_SINCE},                               \
        {"until", required_argument, NULL, SELECTION_OPT_UNTIL},                               \
        {"event-type", required_argument, NULL, SELECTION_OPT_EVENT_TYPE},                     \
        {"aggregate-id", required_argument, NULL, SELECTION_OPT_AGGREGATE_ID},                 \
        {"table", required_argument, NULL, SELECTION_OPT_TABLE}

/* The options' help lines, for a command's usage text. */
#define SELECTION_USAGE                                                                        \
    "selection (every option given must hold; none: every row)\n"                              \
    "  --table SCHEMA.NAME which outbox table (needed when outbox.table names several)\n"     \
    "  --from-id N         id >= N\n"                                                          \
    "  --to-id N           id <= N\n"                                                          \
    "  --since TIME        created_at >= TIME\n"                                               \
    "  --until TIME        created_at < TIME\n"                                                \
    "  --event-type T      event_type = T\n"                                                   \
    "  --aggregate-id K    aggregate_id = K\n"                                                 \
    "  TIME: 2026-11-27, '2026-11-27 07:51:30+02:00', 2026-11-27T07:51:30Z (no zone:\n"      \
    "        UTC), or an age back from now: 90s, 30m, 6h, 2d, 1w\n"

/*
 * Takes getopt's option opt with its argument into s: 1 when it was a selection option, 0
 * when not (the caller's own), -1 with a one-line message when its value is wrong.
 */
int selection_take(int opt, const char *arg, int64_t now_us, record_selection *s, char *errbuf,
                   size_t errbuf_size);

/* getopt_long's answer that no option takes (':' a value missing, '?' an unknown option or
 * a value given to one that takes none) as one line. Options numbered below
 * SELECTION_OPT_FROM_ID are short ones. */
void selection_bad_option(int c, char **argv, char *errbuf, size_t errbuf_size);

/* After the options: no stray argument, and -c FILE given. 0, or -1 with a message. */
int selection_args_done(int argc, char **argv, const char *config, char *errbuf,
                        size_t errbuf_size);

/* The checks across options (from-id <= to-id, since < until): 0, or -1 with a message. */
int selection_check(const record_selection *s, char *errbuf, size_t errbuf_size);

/* A decimal integer, the whole string. */
bool selection_parse_int(const char *s, int64_t *out);

/*
 * Parses a time given on the command line into µs since 1970 UTC: "2026-11-27",
 * "2026-11-27 07:51", "2026-11-27T07:51:30.25Z", "2026-11-27 07:51:30+02:00" (no zone =
 * UTC), or an age back from now_us: "90s", "30m", "6h", "2d", "1w". Returns false on
 * anything else, including dates that do not exist.
 */
bool selection_parse_time(const char *text, int64_t now_us, int64_t *out_us);

/* The selection as command-line options ("--from-id 1 --to-id 9"), for messages. */
void selection_describe(const record_selection *sel, char *buf, size_t size);

bool selection_equal(const record_selection *a, const record_selection *b);

/* Whether no selection option was given. */
bool selection_empty(const record_selection *sel);

#endif
