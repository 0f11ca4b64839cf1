#include "backfill.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "clock.h"
#include "event.h"
#include "exitcode.h"
#include "kafka.h"
#include "publish.h"
#include "scan.h"
#include "selection.h"

#define PROGRESS_TTY_MS 200  /* redraw of the progress bar */
#define PROGRESS_LOG_MS 5000 /* progress line when stderr is not a terminal */
#define INIT_TIMEOUT_MS 60000
#define KAFKA_ATTEMPTS 5    /* aborted transactions in a row before giving up */
#define JOB_RECORD_MAX 8192 /* the job record: selection strings escaped, ids, counters */
#define RATE_MAX 10000000

/* ---- pure parts: options, times, the job record, progress text -------------------- */

static void format_duration(double s, char *buf, size_t size)
{
    long n = s < 0 ? 0 : (long)(s + 0.5);

    if (n < 60)
        snprintf(buf, size, "%lds", n);
    else if (n < 3600)
        snprintf(buf, size, "%ldm%02lds", n / 60, n % 60);
    else
        snprintf(buf, size, "%ldh%02ldm", n / 3600, n % 3600 / 60);
}

int backfill_format_progress(const backfill_progress *p, int bar_width, char *buf, size_t size)
{
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 1.0;
    double rate = p->elapsed_s > 0.001 ? (double)p->run_done / p->elapsed_s : 0.0;
    double pct;
    char eta[32], bar[208];

    if (frac > 1.0)
        frac = 1.0;
    /* Rounded down: "100.0%" only when it is. */
    pct = floor(frac * 1000.0) / 10.0;
    if (p->done >= p->total)
        snprintf(eta, sizeof eta, "0s");
    else if (rate <= 0.0)
        snprintf(eta, sizeof eta, "--");
    else
        format_duration((double)(p->total - p->done) / rate, eta, sizeof eta);
    if (bar_width <= 0)
        return snprintf(buf, size, "%" PRIu64 "/%" PRIu64 " events (%.1f%%), %.0f events/s, ETA %s",
                        p->done, p->total, pct, rate, eta);
    if (bar_width > 200)
        bar_width = 200;
    int cells = (int)(frac * bar_width);
    memset(bar, '#', (size_t)cells);
    memset(bar + cells, '.', (size_t)(bar_width - cells));
    bar[bar_width] = '\0';
    return snprintf(buf, size,
                    "[%s] %5.1f%%  %" PRIu64 "/%" PRIu64 " events  %.0f events/s  ETA %s", bar, pct,
                    p->done, p->total, rate, eta);
}

void backfill_usage(FILE *f)
{
    fputs(
        "usage: outbox-relay backfill -c FILE --job NAME [SELECTION] [--topic T] [--rate N]\n"
        "                             [--dry-run] [--restart]\n"
        "\n"
        "Re-publishes outbox rows read with SQL (not the replication slot) through the same\n"
        "mapping as `run`, exactly once per job: after a crash or a stop, the same --job\n"
        "continues after the last row Kafka committed. A finished job publishes nothing more.\n"
        "Records keep their event_id and headers and get the header outbox_replay=NAME.\n"
        "\n"
        SELECTION_USAGE
        "options\n"
        "  -c, --config FILE   the relay's configuration (Postgres, Kafka, outbox mapping)\n"
        "  --job NAME          the job, [A-Za-z0-9._-]; its cursor lives in the checkpoint topic\n"
        "  --topic T           publish to T instead of outbox.topic (replay into a scratch topic)\n"
        "  --rate N            publish at most N events per second\n"
        "  --dry-run           map and count the selection, publish nothing (--job optional)\n"
        "  --restart           run a job again from its beginning, even a finished one\n"
        "  --http-listen ADDR  serve /metrics, /healthz, /readyz on ADDR (host:port) meanwhile\n"
        "\n"
        "exit codes: 0 published (or finished before), 64 usage, 65 a row cannot become a\n"
        "record, 69 server unreachable, 70 internal error, 77 Postgres refused the user or\n"
        "the SELECT, 78 configuration, 80 Kafka fenced or refused, 81 stopped by\n"
        "SIGTERM/SIGINT (run the same command again to continue)\n",
        f);
}

enum {
    OPT_JOB = SELECTION_OPT_END,
    OPT_TOPIC,
    OPT_RATE,
    OPT_DRY_RUN,
    OPT_RESTART,
    OPT_HTTP_LISTEN,
};

static bool job_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > BACKFILL_JOB_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

int backfill_parse_args(int argc, char **argv, int64_t now_us, backfill_args *out, char *errbuf,
                        size_t errbuf_size)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"job", required_argument, NULL, OPT_JOB},
        SELECTION_LONG_OPTIONS,
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"rate", required_argument, NULL, OPT_RATE},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"restart", no_argument, NULL, OPT_RESTART},
        {"http-listen", required_argument, NULL, OPT_HTTP_LISTEN},
        {NULL, 0, NULL, 0},
    };
    int c, taken;

    memset(out, 0, sizeof(*out));
    /* Our own one-line messages instead of getopt's; optind 0 restarts the scan (the unit
     * tests parse many command lines in one process). */
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        if ((taken = selection_take(c, optarg, now_us, &out->sel, errbuf, errbuf_size)) != 0) {
            if (taken < 0)
                return -1;
            continue;
        }
        switch (c) {
        case 'c':
            out->config = optarg;
            break;
        case 'h':
            out->help = true;
            break;
        case OPT_JOB:
            if (!job_name_ok(optarg)) {
                snprintf(errbuf, errbuf_size,
                         "--job \"%s\": expected a name of 1-%d characters of [A-Za-z0-9._-]",
                         optarg, BACKFILL_JOB_MAX);
                return -1;
            }
            snprintf(out->job, sizeof out->job, "%s", optarg);
            break;
        case OPT_TOPIC:
            if (!event_topic_legal(optarg, strlen(optarg))) {
                snprintf(errbuf, errbuf_size,
                         "--topic \"%s\" is not a legal Kafka topic name (1-249 of [A-Za-z0-9._-])",
                         optarg);
                return -1;
            }
            snprintf(out->topic, sizeof out->topic, "%s", optarg);
            break;
        case OPT_RATE:
            if (!selection_parse_int(optarg, &out->rate) || out->rate < 1 || out->rate > RATE_MAX) {
                snprintf(errbuf, errbuf_size, "--rate \"%s\": expected events per second, 1-%d",
                         optarg, RATE_MAX);
                return -1;
            }
            break;
        case OPT_DRY_RUN:
            out->dry_run = true;
            break;
        case OPT_HTTP_LISTEN:
            out->http_listen = optarg;
            break;
        case OPT_RESTART:
            out->restart = true;
            break;
        default:
            selection_bad_option(c, argv, errbuf, errbuf_size);
            return -1;
        }
    }
    if (out->help)
        return 0;
    if (selection_args_done(argc, argv, out->config, errbuf, errbuf_size) != 0)
        return -1;
    if (out->job[0] == '\0' && !out->dry_run) {
        snprintf(errbuf, errbuf_size,
                 "--job NAME is required: it names the job's cursor, so a rerun continues it");
        return -1;
    }
    if (selection_check(&out->sel, errbuf, errbuf_size) != 0)
        return -1;
    return 0;
}

/* ---- the job run -------------------------------------------------------------------- */

typedef struct backfill {
    const backfill_args *args;
    const relay_config *cfg;
    const log_ctx *lg;
    volatile sig_atomic_t *stop;
    const char *name; /* the job's name; "dry-run" for an unnamed dry run */
    char key[320];    /* the job record's key: "<relay>/backfill/<job>" */
    char txn_id[320]; /* "<relay>/backfill/<job>": fences an older run of the same job; no
                       * relay is called that, '/' is not allowed in names */
    scan *scan;           /* the outbox, read in the job's snapshot */
    publish_step page_ps; /* how a commit during the page query went */
    relay_metrics *m;     /* shared with the HTTP thread (metrics.h) */
    event_mapper *mapper;
    publisher *pub; /* verdict, produce or dead-letter, commit with the job record: as `run` */
    kafka_client *kafka;
    record_job job;        /* as it stands, with the open Kafka transaction */
    record_job committed;  /* as of the last Kafka commit */
    uint32_t batch_events; /* of the open Kafka transaction */
    size_t batch_bytes;
    int64_t batch_started_ms;
    int exit_code;         /* after PUBLISH_EXIT */
    int kafka_failures;    /* aborted transactions in a row */
    bool kafka_broken;     /* a Kafka failure ends the run: nothing more can be committed */
    uint64_t total;        /* events of the job */
    uint64_t resumed_at;   /* rows done by earlier runs */
    uint64_t resumed_dead; /* of which dead-lettered */
    uint64_t run_done;     /* published (or counted) by this run */
    int64_t start_ms, next_progress_ms;
    int64_t rate_t0_us;
    uint64_t rate_n;
    bool tty, bar_shown;
    int bar_width;
    char err[4096]; /* room for two selections and topics in one message */
} backfill;

/* A log line; on a terminal the progress bar is wiped first, so the two do not mix. */
static void say(backfill *b, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(backfill *b, log_level level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    if (b->bar_shown) {
        fputs("\r\033[K", stderr);
        b->bar_shown = false;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_write(b->lg, level, "%s", line);
}

static void progress(backfill *b, bool final)
{
    int64_t now = clock_mono_ms();
    backfill_progress p = {b->job.published, b->total, b->run_done,
                           (double)(now - b->start_ms) / 1000.0};
    char line[512];

    metrics_heartbeat(b->m, now);
    if (!final && now < b->next_progress_ms)
        return;
    b->next_progress_ms = now + (b->tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS);
    if (p.done > p.total)
        p.total = p.done; /* rows committed late into the job's id range (see README) */
    if (b->tty) {
        backfill_format_progress(&p, b->bar_width, line, sizeof line);
        fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
        fflush(stderr);
        b->bar_shown = !final;
    } else if (!final) {
        backfill_format_progress(&p, 0, line, sizeof line);
        say(b, LVL_INFO, "backfill job %s: %s", b->name, line);
    }
}

/* The scan's failure as the run's. */
static int scan_failed(backfill *b, int rc)
{
    snprintf(b->err, sizeof b->err, "%s", scan_error(b->scan));
    return rc;
}

/* The job's extent in the snapshot: for a new job its highest id (every later page stops
 * there, also after a resume in another snapshot), and the number of events to go. */
static int plan(backfill *b)
{
    uint64_t n = 0;
    int rc;

    if (b->job.max_id[0] == '\0' && b->job.cursor[0] == '\0') {
        if ((rc = scan_last_id(b->scan, &b->job.sel, b->job.max_id, sizeof b->job.max_id)) !=
            EXIT_OK)
            return scan_failed(b, rc);
        if (b->job.max_id[0] == '\0')
            return EXIT_OK; /* an empty selection: nothing to count */
    }
    if ((rc = scan_count(b->scan, &b->job.sel, b->job.cursor, b->job.max_id, &n)) != EXIT_OK)
        return scan_failed(b, rc);
    b->total = b->job.published + n;
    return EXIT_OK;
}

static void reset_batch(backfill *b)
{
    b->batch_events = 0;
    b->batch_bytes = 0;
}

/* After the publisher's step: go on, stop with b->exit_code, or go back to the committed
 * cursor (the snapshot still holds every row after it) after a pause; Kafka failing
 * KAFKA_ATTEMPTS transactions in a row ends the run. */
static publish_step after_publish(backfill *b, publish_step ps)
{
    if (ps == PUBLISH_OK)
        return ps;
    snprintf(b->err, sizeof b->err, "%s", publish_error(b->pub));
    /* A rewind that set a refused event aside is progress: each one isolates another. */
    if (ps == PUBLISH_REWIND && !publish_set_aside(b->pub) &&
        ++b->kafka_failures >= KAFKA_ATTEMPTS) {
        size_t n = strlen(b->err);
        snprintf(b->err + n, sizeof b->err - n, " (%d transactions in a row failed)",
                 b->kafka_failures);
        b->exit_code = EXIT_UNAVAILABLE;
        b->kafka_broken = true;
        return PUBLISH_EXIT;
    }
    if (ps == PUBLISH_REWIND) {
        say(b, LVL_WARN, "%s; the Kafka transaction is given up, continuing after id %s", b->err,
            b->committed.cursor[0] ? b->committed.cursor : "(start)");
        ps = publish_abort(b->pub);
        metrics_txn_aborted(b->m, publish_get_counts(b->pub));
    }
    if (ps == PUBLISH_EXIT) {
        snprintf(b->err, sizeof b->err, "%s", publish_error(b->pub));
        b->exit_code = publish_exit_code(b->pub);
        /* Fenced means another run of this same job started (its transactional id). */
        if (b->exit_code == EXIT_KAFKA) {
            size_t n = strlen(b->err);
            b->kafka_broken = true;
            snprintf(b->err + n, sizeof b->err - n, " (backfill job %s, transactional.id %s)",
                     b->name, b->txn_id);
        }
        return PUBLISH_EXIT;
    }
    b->run_done -= b->job.published - b->committed.published;
    b->job = b->committed;
    reset_batch(b);
    clock_sleep_ms(500LL << b->kafka_failures);
    return PUBLISH_REWIND;
}

/* Writes the job record (cursor = last row of the batch) into the open transaction and
 * commits both: the cursor is in Kafka exactly when the events before it are. */
static publish_step commit_batch(backfill *b, bool done)
{
    char rec[JOB_RECORD_MAX];
    publish_step ps;
    int64_t t0;
    int n;

    b->job.done = done;
    n = record_job_format(b->cfg->name, b->name, &b->job, rec, sizeof rec);
    if (n < 0) {
        snprintf(b->err, sizeof b->err, "the record of job %s does not fit in %d bytes", b->name,
                 JOB_RECORD_MAX);
        b->exit_code = EXIT_INTERNAL;
        return PUBLISH_EXIT;
    }
    t0 = clock_mono_us();
    if ((ps = after_publish(b, publish_commit(b->pub, rec, (size_t)n))) != PUBLISH_OK)
        return ps;
    metrics_txn_committed(b->m, publish_get_counts(b->pub), (double)(clock_mono_us() - t0) / 1e6,
                          clock_wall_us() / 1000);
    metrics_backfill_rows(b->m, b->job.published, b->total);
    if (b->batch_events > 0)
        say(b, LVL_DEBUG, "committed Kafka transaction: %u events up to id %s, open %" PRId64 " ms",
            b->batch_events, b->job.cursor, clock_mono_ms() - b->batch_started_ms);
    b->committed = b->job;
    b->kafka_failures = 0;
    reset_batch(b);
    return PUBLISH_OK;
}

/* The same limits as `run`'s batches: events, bytes, and batch.linger_ms since the
 * transaction's first row (rows never stop coming here, so the linger bounds its age). */
static bool batch_due(const backfill *b)
{
    return b->batch_events >= (uint32_t)b->cfg->batch.max_events ||
           b->batch_bytes >= (size_t)b->cfg->batch.max_bytes ||
           clock_mono_ms() - b->batch_started_ms >= b->cfg->batch.linger_ms;
}

/* Milliseconds until the open transaction is due by its age; -1 when none is open. Waits
 * (--rate, a slow page query) end there, so no wait keeps a transaction open past its bound. */
static int64_t batch_due_in_ms(const backfill *b)
{
    int64_t left;

    if (b->batch_events == 0 || b->args->dry_run)
        return -1;
    left = b->batch_started_ms + b->cfg->batch.linger_ms - clock_mono_ms();
    return left > 0 ? left : 0;
}

/* Holds the pace of --rate: event n is due n/rate seconds after the scan began. A batch
 * that comes due meanwhile is committed. */
static publish_step wait_rate(backfill *b)
{
    int64_t due, left, batch_left;

    if (b->args->rate <= 0)
        return PUBLISH_OK;
    due = b->rate_t0_us + (int64_t)((double)b->rate_n++ * 1e6 / (double)b->args->rate);
    while ((left = due - clock_mono_us()) > 0 && !*b->stop) {
        if ((batch_left = batch_due_in_ms(b)) == 0) {
            publish_step ps = commit_batch(b, false);
            if (ps != PUBLISH_OK)
                return ps;
            continue;
        }
        if (left > 100000)
            left = 100000;
        if (batch_left > 0 && left > batch_left * 1000)
            left = batch_left * 1000;
        nanosleep(&(struct timespec){0, left * 1000}, NULL);
        if (b->kafka != NULL)
            kafka_poll(b->kafka);
        progress(b, false);
    }
    return PUBLISH_OK;
}

/* While a page query runs: the open transaction is committed when it comes due (a slow
 * query must not hold it open past batch.linger_ms); how that went is in b->page_ps. */
static int64_t page_wait(void *arg)
{
    backfill *b = arg;
    int64_t due_in = b->page_ps == PUBLISH_OK ? batch_due_in_ms(b) : -1;

    if (due_in == 0) {
        b->page_ps = commit_batch(b, false);
        due_in = b->page_ps == PUBLISH_OK ? batch_due_in_ms(b) : -1;
    }
    if (b->kafka != NULL)
        kafka_poll(b->kafka);
    return due_in;
}

/* One row: mapped as a replay, then decided and produced by the publisher, as `run` treats
 * an inserted row; then it becomes the cursor. */
static publish_step publish_row(backfill *b, const PGresult *res, int r)
{
    const char *id;
    size_t id_len, bytes;
    event_row row;
    event ev;
    publish_step ps;
    uint64_t dead;
    int mapped;

    if ((b->exit_code = scan_row(b->scan, res, r, &row, &id, &id_len)) != EXIT_OK) {
        scan_failed(b, b->exit_code);
        return PUBLISH_EXIT;
    }
    if (id_len >= sizeof b->job.cursor) {
        snprintf(b->err, sizeof b->err, "ids longer than %d bytes are not supported",
                 RECORD_ID_MAX - 1);
        b->exit_code = EXIT_CONFIG;
        return PUBLISH_EXIT;
    }
    /* SQL knows no commit LSN: the row's ordinal in the job tells it apart (event.h). */
    mapped =
        event_map(b->mapper, &row, 0, (uint32_t)(b->job.published + 1), &ev, b->err, sizeof b->err);
    if (mapped < 0) {
        size_t n = strlen(b->err);
        snprintf(b->err + n, sizeof b->err - n, " (backfill job %s, row id %s)", b->name, id);
        b->exit_code = EXIT_CONFIG;
        return PUBLISH_EXIT;
    }
    if (mapped == 0 && b->job.topic[0] != '\0')
        ev.topic = b->job.topic;
    if ((ps = wait_rate(b)) != PUBLISH_OK)
        return ps;
    if (b->batch_events == 0)
        b->batch_started_ms = clock_mono_ms();
    dead = publish_get_counts(b->pub)->dead_letters;
    ps = publish_event(b->pub, &ev, mapped == EVENT_BAD_ROW ? b->err : NULL, &bytes);
    /* A stop verdict: what came before the row is committed by the caller, and after the
     * fix the same job resumes at this row. */
    if ((ps = after_publish(b, ps)) != PUBLISH_OK) {
        if (ps == PUBLISH_EXIT && b->exit_code == EXIT_DATA) {
            size_t n = strlen(b->err);
            snprintf(b->err + n, sizeof b->err - n, " (backfill job %s, row id %s)", b->name, id);
        }
        return ps;
    }
    b->batch_events++;
    b->batch_bytes += bytes;
    b->job.dead_lettered += publish_get_counts(b->pub)->dead_letters - dead;
    memcpy(b->job.cursor, id, id_len + 1);
    b->job.published++;
    b->run_done++;
    if (!b->args->dry_run && batch_due(b))
        return commit_batch(b, false);
    return PUBLISH_OK;
}

/* Stops the scan with rc: commits what the open transaction holds when Kafka is still
 * usable (a bad row, a lost Postgres, a signal), so a rerun does not redo it. */
static int stop_scan(backfill *b, int rc)
{
    char why[sizeof b->err];

    if (publish_txn_open(b->pub) && !b->kafka_broken) {
        snprintf(why, sizeof why, "%s", b->err);
        if (commit_batch(b, false) != PUBLISH_OK)
            say(b, LVL_WARN, "committing the last batch: %s", b->err);
        snprintf(b->err, sizeof b->err, "%s", why);
    }
    return rc;
}

/* Keyset pages over the id, each "after the cursor, up to max_id", all in the snapshot. A
 * page read while a rewind gave up the cursor is not used: it follows that cursor. */
static int scan_job(backfill *b)
{
    publish_step ps;

    b->rate_t0_us = clock_mono_us();
    for (;;) {
        PGresult *res;
        int rows, rc = EXIT_OK;

        if (*b->stop)
            return stop_scan(b, EXIT_INTERRUPTED);
        b->page_ps = PUBLISH_OK;
        res = scan_page(b->scan, &b->job.sel, b->job.cursor, b->job.max_id,
                        b->args->dry_run ? NULL : page_wait, b, &rc);
        if ((ps = b->page_ps) == PUBLISH_REWIND) {
            PQclear(res);
            continue;
        }
        if (res == NULL || ps == PUBLISH_EXIT) {
            PQclear(res);
            return stop_scan(b, ps == PUBLISH_EXIT ? b->exit_code : scan_failed(b, rc));
        }
        rows = PQntuples(res);
        for (int r = 0; r < rows && ps == PUBLISH_OK && !*b->stop; r++) {
            ps = publish_row(b, res, r);
            progress(b, false);
        }
        PQclear(res);
        if (ps == PUBLISH_EXIT)
            return stop_scan(b, b->exit_code);
        if (ps == PUBLISH_REWIND || *b->stop || rows == SCAN_PAGE_ROWS)
            continue;
        /* The last page: the record says the job is done, with its last events. */
        if (b->args->dry_run)
            return EXIT_OK;
        ps = commit_batch(b, true);
        if (ps != PUBLISH_REWIND)
            return ps == PUBLISH_OK ? EXIT_OK : b->exit_code;
    }
}

static int open_kafka(backfill *b)
{
    kafka_status st;

    b->kafka = kafka_new(b->cfg, b->txn_id, b->lg, b->err, sizeof b->err);
    if (b->kafka == NULL)
        return EXIT_CONFIG;
    if (kafka_broker_count(b->kafka, b->cfg->postgres.connect_timeout_s * 1000, b->err,
                           sizeof b->err) < 0)
        return kafka_refused(b->kafka) ? EXIT_KAFKA : EXIT_UNAVAILABLE;
    /* Fences an older run of this job (a crashed or still running one) and aborts its open
     * transaction: the job record read next is then final. */
    if ((st = kafka_init_transactions(b->kafka, INIT_TIMEOUT_MS, b->err, sizeof b->err)) !=
            KAFKA_OK ||
        (st = kafka_ensure_checkpoint_topic(b->kafka, b->err, sizeof b->err)) != KAFKA_OK)
        return st == KAFKA_FATAL ? EXIT_KAFKA : EXIT_UNAVAILABLE;
    return EXIT_OK;
}

/* Decides what this run does: a new job (or a restarted one), the rest of an unfinished
 * one, or nothing (*finished) for a job that is done. */
static int load_job(backfill *b, bool *finished)
{
    const backfill_args *a = b->args;
    char rec[JOB_RECORD_MAX], was[600], now[600];
    size_t len = 0;
    bool found = false;
    record_job stored;
    kafka_status st;

    memset(&b->job, 0, sizeof b->job);
    b->job.sel = a->sel;
    snprintf(b->job.topic, sizeof b->job.topic, "%s", a->topic);
    b->job.started_us = clock_wall_us();
    if (a->dry_run)
        return EXIT_OK;
    st = kafka_read_latest(b->kafka, b->key, rec, sizeof rec, &len, &found, b->err, sizeof b->err);
    if (st != KAFKA_OK)
        return st == KAFKA_FATAL ? EXIT_KAFKA : EXIT_UNAVAILABLE;
    if (!found)
        return EXIT_OK;
    if (record_job_parse(rec, len, &stored, b->err, sizeof b->err) != 0) {
        size_t n = strlen(b->err);
        snprintf(b->err + n, sizeof b->err - n, " (key %s in %s): choose another --job name",
                 b->key, b->cfg->kafka.checkpoint_topic);
        return EXIT_CONFIG;
    }
    selection_describe(&stored.sel, was, sizeof was);
    if (a->restart) {
        say(b, LVL_INFO,
            "restarting job %s from its beginning (it had published %" PRIu64 " events%s)", b->name,
            stored.published, stored.done ? " and finished" : "");
        return EXIT_OK;
    }
    if (stored.done) {
        say(b, LVL_INFO,
            "job %s finished already: %" PRIu64 " events published (%s); nothing to do "
            "(--restart publishes it again)",
            b->name, stored.published, was);
        *finished = true;
        return EXIT_OK;
    }
    /* Resuming with another selection or topic would publish a mix of two jobs. Options
     * left out mean the stored ones, so `--job NAME` alone always continues a job (also
     * one started with a relative time such as --since 6h). */
    selection_describe(&a->sel, now, sizeof now);
    if ((!selection_empty(&a->sel) && !selection_equal(&a->sel, &stored.sel)) ||
        (a->topic[0] != '\0' && strcmp(a->topic, stored.topic) != 0)) {
        snprintf(b->err, sizeof b->err,
                 "job %s was started with %s%s%s, not %s%s%s: rerun it with the same options (or "
                 "just --job %s) to continue, with --restart to start it over, or use another "
                 "--job",
                 b->name, was, stored.topic[0] ? " --topic " : "", stored.topic, now,
                 a->topic[0] ? " --topic " : "", a->topic, b->name);
        return EXIT_USAGE;
    }
    b->job = stored;
    b->resumed_at = stored.published;
    b->resumed_dead = stored.dead_lettered;
    say(b, LVL_INFO, "resuming job %s after id %s (%" PRIu64 " events published by earlier runs)",
        b->name, stored.cursor[0] ? stored.cursor : "(start)", stored.published);
    return EXIT_OK;
}

static void summary(backfill *b, int rc)
{
    double secs = (double)(clock_mono_ms() - b->start_ms) / 1000.0;
    double rate = secs > 0.001 ? (double)b->run_done / secs : 0.0;
    uint64_t dead = b->job.dead_lettered - b->resumed_dead;
    char dest[300], dead_text[400] = "";

    if (b->job.topic[0] != '\0')
        snprintf(dest, sizeof dest, "topic %s", b->job.topic);
    else
        snprintf(dest, sizeof dest, "outbox.topic %s", b->cfg->outbox.topic);
    if (dead > 0)
        snprintf(dead_text, sizeof dead_text, ", %" PRIu64 " of them dead-lettered to %s", dead,
                 b->cfg->dead_letter.topic);
    if (b->args->dry_run && rc == EXIT_OK)
        say(b, LVL_INFO,
            "dry run%s%s: %" PRIu64 " events would be published to %s%s (mapped in %.1f s, "
            "%.0f events/s); nothing was published",
            b->args->job[0] ? " of job " : "", b->args->job, b->run_done, dest, dead_text, secs,
            rate);
    else if (rc == EXIT_OK)
        say(b, LVL_INFO,
            "job %s finished: published %" PRIu64 " events to %s%s in %.1f s (%.0f events/s); "
            "skipped %" PRIu64 " published by earlier runs; last id %s",
            b->name, b->run_done, dest, dead_text, secs, rate, b->resumed_at,
            b->job.cursor[0] ? b->job.cursor : "(none)");
    else if (b->args->dry_run)
        say(b, LVL_INFO, "dry run stopped after id %s: %" PRIu64 " events mapped",
            b->job.cursor[0] ? b->job.cursor : "(start)", b->run_done);
    else
        say(b, LVL_INFO,
            "job %s stopped%s after id %s: %" PRIu64 " of %" PRIu64 " events published (%" PRIu64
            " by this run, %.1f s)%s",
            b->name, rc == EXIT_INTERRUPTED ? " by a signal" : "",
            b->committed.cursor[0] ? b->committed.cursor : "(start)", b->committed.published,
            b->total, b->committed.published - b->resumed_at, secs,
            /* Fenced: another run of the job continues it already. */
            rc == EXIT_KAFKA ? "" : "; run the same command again to continue");
}

int backfill_run(const backfill_args *args, const relay_config *cfg, const log_ctx *lg,
                 relay_metrics *m, volatile sig_atomic_t *stop)
{
    backfill b = {.args = args, .cfg = cfg, .lg = lg, .stop = stop, .m = m};
    bool finished = false;
    publish_opts popts;
    struct winsize ws;
    int rc;

    b.name = args->job[0] ? args->job : "dry-run";
    snprintf(b.key, sizeof b.key, "%s/backfill/%s", cfg->name, b.name);
    snprintf(b.txn_id, sizeof b.txn_id, "%s/backfill/%s", cfg->name, b.name);
    b.tty = isatty(STDERR_FILENO);
    /* The bar takes what the rest of the line (about 70 columns) leaves, 10 to 50 cells. */
    b.bar_width = b.tty && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col - 70 : 10;
    b.bar_width = b.bar_width < 10 ? 10 : b.bar_width > 50 ? 50 : b.bar_width;
    if ((args->sel.has_since || args->sel.has_until) && cfg->outbox.columns.created_at[0] == '\0') {
        snprintf(b.err, sizeof b.err,
                 "--since and --until select on outbox.columns.created_at, which is \"\" here");
        rc = EXIT_USAGE;
        goto out;
    }
    b.mapper = event_mapper_new(cfg, b.name, b.err, sizeof b.err);
    if (b.mapper == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
    if (!args->dry_run && (rc = open_kafka(&b)) != EXIT_OK)
        goto out;
    popts = (publish_opts){.state_key = b.key,
                           .resume = "what came before it is committed, so the job resumes at "
                                     "this row",
                           .dry_run = args->dry_run,
                           .stop = stop};
    if ((b.pub = publish_new(cfg, b.kafka, &popts, lg, b.err, sizeof b.err)) == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
    if ((rc = load_job(&b, &finished)) != EXIT_OK || finished)
        goto out;
    b.committed = b.job;
    if ((rc = scan_open(&b.scan, cfg, "outbox-relay backfill", b.mapper, b.job.started_us,
                        b.job.sel.has_table ? b.job.sel.table : NULL)) != EXIT_OK) {
        scan_failed(&b, rc);
        goto out;
    }
    if ((rc = plan(&b)) != EXIT_OK)
        goto out;
    b.committed = b.job; /* with the bounds from plan: a rewind keeps them */
    /* Rates and times count from here: connecting and fencing are not publishing. */
    b.start_ms = clock_mono_ms();
    b.next_progress_ms = b.start_ms + (b.tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS);
    {
        char sel[512], from[256];
        selection_describe(&b.job.sel, sel, sizeof sel);
        scan_describe(b.scan, from, sizeof from);
        say(&b, LVL_INFO,
            "backfill job %s: %" PRIu64 " events to publish (%s, ids up to %s), reading %s on %s",
            b.name, b.total - b.job.published, sel, b.job.max_id[0] ? b.job.max_id : "(none)",
            scan_table(b.scan), from);
    }
    metrics_set_state(m, METRICS_STREAMING);
    metrics_backfill_rows(m, b.job.published, b.total);
    if (b.job.max_id[0] != '\0') {
        rc = scan_job(&b);
    } else if (!args->dry_run) {
        /* Nothing selected: the job is done at once, and recorded so. */
        publish_step ps;
        while ((ps = commit_batch(&b, true)) == PUBLISH_REWIND)
            ;
        rc = ps == PUBLISH_OK ? EXIT_OK : b.exit_code;
    }
    progress(&b, true);
    summary(&b, rc);
out:
    metrics_set_state(m, METRICS_STOPPING);
    if (rc != EXIT_OK && b.err[0] != '\0')
        say(&b, LVL_ERROR, "%s", b.err);
    /* After a fatal error (fenced) the abort fails too, and was explained already. */
    if (b.pub != NULL && publish_txn_open(b.pub) && publish_abort(b.pub) != PUBLISH_OK &&
        !b.kafka_broken)
        say(&b, LVL_WARN, "%s", publish_error(b.pub));
    scan_close(b.scan);
    kafka_free(b.kafka);
    publish_free(b.pub);
    event_mapper_free(b.mapper);
    return rc;
}
