#include "selection.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "tables.h"

bool selection_parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* An age back from now: digits and one unit letter. */
static bool parse_age(const char *text, int64_t now_us, int64_t *out_us)
{
    static const struct {
        char unit;
        int64_t us;
    } units[] = {{'s', 1000000LL},
                 {'m', 60000000LL},
                 {'h', 3600000000LL},
                 {'d', 86400000000LL},
                 {'w', 604800000000LL}};
    int64_t n = 0;
    const char *p = text;

    for (; isdigit((unsigned char)*p) && p - text < 7; p++) /* up to 999999 weeks: no overflow */
        n = n * 10 + (*p - '0');
    if (p == text || p[0] == '\0' || p[1] != '\0')
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (units[i].unit == *p) {
            *out_us = now_us - n * units[i].us;
            return true;
        }
    return false;
}

/* A time on the command line: an age ("6h") or ISO 8601, read like created_at. */
bool selection_parse_time(const char *text, int64_t now_us, int64_t *out_us)
{
    return parse_age(text, now_us, out_us) || event_parse_time(text, strlen(text), out_us);
}

/* A selection string: 1..RECORD_VALUE_MAX bytes of UTF-8 (it goes into a JSON record). */
static bool value_ok(const char *s)
{
    size_t n = strlen(s);
    json_t *j;

    if (n == 0 || n > RECORD_VALUE_MAX)
        return false;
    j = json_stringn(s, n);
    json_decref(j);
    return j != NULL;
}

int selection_take(int opt, const char *arg, int64_t now_us, record_selection *s, char *errbuf,
                   size_t errbuf_size)
{
    switch (opt) {
    case SELECTION_OPT_FROM_ID:
    case SELECTION_OPT_TO_ID:
        if (!selection_parse_int(arg, opt == SELECTION_OPT_FROM_ID ? &s->from_id : &s->to_id)) {
            snprintf(errbuf, errbuf_size, "%s \"%s\" is not an integer id",
                     opt == SELECTION_OPT_FROM_ID ? "--from-id" : "--to-id", arg);
            return -1;
        }
        *(opt == SELECTION_OPT_FROM_ID ? &s->has_from_id : &s->has_to_id) = true;
        return 1;
    case SELECTION_OPT_SINCE:
    case SELECTION_OPT_UNTIL:
        if (!selection_parse_time(arg, now_us,
                                  opt == SELECTION_OPT_SINCE ? &s->since_us : &s->until_us)) {
            snprintf(errbuf, errbuf_size,
                     "%s \"%s\" is not a time (e.g. 2026-11-27, '2026-11-27 07:51:30+02:00', "
                     "2026-11-27T07:51:30Z, or an age: 30m, 6h, 2d)",
                     opt == SELECTION_OPT_SINCE ? "--since" : "--until", arg);
            return -1;
        }
        *(opt == SELECTION_OPT_SINCE ? &s->has_since : &s->has_until) = true;
        return 1;
    case SELECTION_OPT_EVENT_TYPE:
    case SELECTION_OPT_AGGREGATE_ID:
        if (!value_ok(arg)) {
            snprintf(errbuf, errbuf_size, "%s: expected 1-%d bytes of UTF-8 text",
                     opt == SELECTION_OPT_EVENT_TYPE ? "--event-type" : "--aggregate-id",
                     RECORD_VALUE_MAX);
            return -1;
        }
        if (opt == SELECTION_OPT_EVENT_TYPE) {
            snprintf(s->event_type, sizeof s->event_type, "%s", arg);
            s->has_event_type = true;
        } else {
            snprintf(s->aggregate_id, sizeof s->aggregate_id, "%s", arg);
            s->has_aggregate_id = true;
        }
        return 1;
    case SELECTION_OPT_TABLE: {
        tables_name t;
        char why[96];

        if (!tables_parse_name(arg, &t, why, sizeof why)) {
            snprintf(errbuf, errbuf_size, "--table \"%s\": %s; expected one table, SCHEMA.NAME",
                     arg, why);
            return -1;
        }
        tables_format(&t, s->table, sizeof s->table);
        s->has_table = true;
        return 1;
    }
    default:
        return 0;
    }
}

void selection_bad_option(int c, char **argv, char *errbuf, size_t errbuf_size)
{
    if (c == ':')
        snprintf(errbuf, errbuf_size, "option %s needs a value", argv[optind - 1]);
    else if (optopt != 0 && optopt < SELECTION_OPT_FROM_ID)
        snprintf(errbuf, errbuf_size, "unknown option -%c (try --help)", optopt);
    else if (optopt >= SELECTION_OPT_FROM_ID)
        snprintf(errbuf, errbuf_size, "option %s takes no value", argv[optind - 1]);
    else
        snprintf(errbuf, errbuf_size, "unknown option %s (try --help)", argv[optind - 1]);
}

int selection_args_done(int argc, char **argv, const char *config, char *errbuf,
                        size_t errbuf_size)
{
    if (optind < argc) {
        snprintf(errbuf, errbuf_size, "unexpected argument \"%s\" (try --help)", argv[optind]);
        return -1;
    }
    if (config == NULL) {
        snprintf(errbuf, errbuf_size, "-c FILE is required (see etc/outbox-relay.conf)");
        return -1;
    }
    return 0;
}

int selection_check(const record_selection *s, char *errbuf, size_t errbuf_size)
{
    char since[40], until[40];

    if (s->has_from_id && s->has_to_id && s->from_id > s->to_id) {
        snprintf(errbuf, errbuf_size, "--from-id %" PRId64 " is greater than --to-id %" PRId64,
                 s->from_id, s->to_id);
        return -1;
    }
    if (s->has_since && s->has_until && s->since_us >= s->until_us) {
        record_format_time(s->since_us, since, sizeof since);
        record_format_time(s->until_us, until, sizeof until);
        snprintf(errbuf, errbuf_size, "--since '%s' is not before --until '%s'", since, until);
        return -1;
    }
    return 0;
}

void selection_describe(const record_selection *sel, char *buf, size_t size)
{
    char t[40];
    size_t n = 0;

#define ADD(...) n += (size_t)snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__)
    buf[0] = '\0';
    if (sel->has_table)
        ADD("--table %s", sel->table);
    if (sel->has_from_id)
        ADD("%s--from-id %" PRId64, n ? " " : "", sel->from_id);
    if (sel->has_to_id)
        ADD("%s--to-id %" PRId64, n ? " " : "", sel->to_id);
    if (sel->has_since) {
        record_format_time(sel->since_us, t, sizeof t);
        ADD("%s--since '%s'", n ? " " : "", t);
    }
    if (sel->has_until) {
        record_format_time(sel->until_us, t, sizeof t);
        ADD("%s--until '%s'", n ? " " : "", t);
    }
    if (sel->has_event_type)
        ADD("%s--event-type '%s'", n ? " " : "", sel->event_type);
    if (sel->has_aggregate_id)
        ADD("%s--aggregate-id '%s'", n ? " " : "", sel->aggregate_id);
    if (n == 0)
        ADD("no selection (every row)");
#undef ADD
}

bool selection_equal(const record_selection *a, const record_selection *b)
{
    return a->has_from_id == b->has_from_id && (!a->has_from_id || a->from_id == b->from_id) &&
           a->has_to_id == b->has_to_id && (!a->has_to_id || a->to_id == b->to_id) &&
           a->has_since == b->has_since && (!a->has_since || a->since_us == b->since_us) &&
           a->has_until == b->has_until && (!a->has_until || a->until_us == b->until_us) &&
           a->has_event_type == b->has_event_type &&
           (!a->has_event_type || strcmp(a->event_type, b->event_type) == 0) &&
           a->has_aggregate_id == b->has_aggregate_id &&
           (!a->has_aggregate_id || strcmp(a->aggregate_id, b->aggregate_id) == 0) &&
           a->has_table == b->has_table && (!a->has_table || strcmp(a->table, b->table) == 0);
}

bool selection_empty(const record_selection *sel)
{
    return !sel->has_from_id && !sel->has_to_id && !sel->has_since && !sel->has_until &&
           !sel->has_event_type && !sel->has_aggregate_id && !sel->has_table;
}
