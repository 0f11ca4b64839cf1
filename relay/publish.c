#include "publish.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "policy.h"

_Static_assert(POLICY_REJECTED + 1 == PUBLISH_REASONS, "publish_counts has a slot per reason");

#define POLL_EVERY 1000 /* serve librdkafka's delivery reports every N produced records */
#define SAME_FAILURES_MAX 3 /* transactions in a row failing alike at the broker before giving up */

/* An event produced into the open Kafka transaction, by its tag (index + 1): what the
 * replay must recognise when the broker refuses it for good (too large, rejected). */
typedef struct produced {
    relay_lsn commit_lsn;
    uint32_t index;
} produced;

struct publisher {
    const relay_config *cfg;
    kafka_client *kafka;
    publish_opts opts;
    const log_ctx *lg;
    policy *policy; /* verdicts: publish, dead-letter or stop */
    bool txn_open;
    produced *tags; /* events of the open transaction: batch.max_events at most */
    size_t ntags, cap;
    uint64_t records; /* produced, for polling */
    publish_counts counts;
    int exit_code;
    bool set_aside;         /* the last rewind set a refused event aside: progress */
    int same_failures;      /* transactions in a row the broker failed alike, since a commit */
    char last_failure[256]; /* how the last one failed, and where it began */
    char last_where[64];    /* where it began: its first event */
    char err[2048];
};

publisher *publish_new(const relay_config *cfg, kafka_client *kc, const publish_opts *opts,
                       const log_ctx *lg, char *errbuf, size_t errbuf_size)
{
    publisher *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    *p = (publisher){.cfg = cfg, .kafka = kc, .opts = *opts, .lg = lg};
    p->cap = (size_t)cfg->batch.max_events;
    p->tags = calloc(p->cap, sizeof(*p->tags));
    if (p->tags == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        free(p);
        return NULL;
    }
    p->policy = policy_new(cfg, errbuf, errbuf_size);
    if (p->policy == NULL) {
        publish_free(p);
        return NULL;
    }
    return p;
}

void publish_free(publisher *p)
{
    if (p == NULL)
        return;
    policy_free(p->policy);
    free(p->tags);
    free(p);
}

int publish_schema_count(const publisher *p)
{
    return policy_schema_count(p->policy);
}

bool publish_txn_open(const publisher *p)
{
    return p->txn_open;
}

const publish_counts *publish_get_counts(const publisher *p)
{
    return &p->counts;
}

const char *publish_error(const publisher *p)
{
    return p->err;
}

int publish_exit_code(const publisher *p)
{
    return p->exit_code;
}

bool publish_set_aside(const publisher *p)
{
    return p->set_aside;
}

static publish_step stop_with(publisher *p, int exit_code)
{
    p->exit_code = exit_code;
    return PUBLISH_EXIT;
}

static kafka_status begin(publisher *p)
{
    kafka_status st;

    if (p->txn_open)
        return KAFKA_OK;
    st = kafka_begin(p->kafka, p->err, sizeof p->err);
    p->txn_open = st == KAFKA_OK;
    p->ntags = 0;
    return st;
}

publish_step publish_abort(publisher *p)
{
    char why[sizeof p->err];

    while (p->txn_open) {
        kafka_status st = kafka_abort(p->kafka, why, sizeof why);
        if (st == KAFKA_OK) {
            p->txn_open = false;
            p->counts.aborted_txns++;
        } else if (st == KAFKA_RETRY && !*p->opts.stop) {
            log_warn(p->lg, "%s; retrying", why);
        } else if (st == KAFKA_RETRY) {
            return PUBLISH_OK;
        } else {
            snprintf(p->err, sizeof p->err, "%s", why);
            return stop_with(p, EXIT_KAFKA);
        }
    }
    p->ntags = 0;
    return PUBLISH_OK;
}

/* "event at 0/16B3748:7" (run) or "event of row 7 of the job" (backfill). */
static void position(const produced *ev, char *buf, size_t size)
{
    if (ev->commit_lsn != 0)
        snprintf(buf, size, "event at " LSN_FMT ":%u", LSN_ARGS(ev->commit_lsn), ev->index);
    else
        snprintf(buf, size, "event of row %u of the job", ev->index);
}

/* Appends to p->err. */
static void say_more(publisher *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say_more(publisher *p, const char *fmt, ...)
{
    size_t n = strlen(p->err);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->err + n, sizeof p->err - n, fmt, ap);
    va_end(ap);
}

/* Counts the transactions in a row that failed alike (same delivery error, same first event;
 * which topic's report came first varies): the
 * broker answering the same records the same way is not going to change its mind. */
static int failed_alike(publisher *p, const char *code)
{
    char now[sizeof p->last_failure], where[sizeof p->last_where] = "state record alone";

    if (p->ntags > 0)
        position(&p->tags[0], where, sizeof where);
    snprintf(now, sizeof now, "%s|%s", where, code);
    if (strcmp(now, p->last_failure) != 0) {
        snprintf(p->last_failure, sizeof p->last_failure, "%s", now);
        snprintf(p->last_where, sizeof p->last_where, "%s", where);
        p->same_failures = 0;
    }
    return ++p->same_failures;
}

/*
 * After a failed Kafka call (p->err says which): the next step. A record the broker refuses
 * for good (too large, a timestamp out of the topic's bounds, an invalid record) dooms the
 * whole transaction, and it surfaces at whichever call comes next (a produce, the commit).
 * Once the transaction is aborted every delivery report is in: the refused event is set aside
 * and the caller replays; the replay routes it as too_large or rejected (schemas.on_invalid)
 * and publishes the rest. A second refusal of the same event stops, as does missing write
 * authorization, and the same broker failure SAME_FAILURES_MAX times in a row.
 */
static publish_step kafka_failed(publisher *p, kafka_status st)
{
    bool doomed = st == KAFKA_ABORT || st == KAFKA_REJECTED;
    const produced *ev = NULL;
    kafka_refusal why;
    uint64_t tag;
    char where[64];

    p->set_aside = false;
    if (doomed && p->txn_open) {
        char abort_why[512];

        if (kafka_abort(p->kafka, abort_why, sizeof abort_why) == KAFKA_OK) {
            p->txn_open = false;
            p->counts.aborted_txns++;
        }
        kafka_poll(p->kafka);
    }
    tag = kafka_rejected_record(p->kafka, &why);
    if (doomed && why.unauthorized) {
        say_more(p,
                 "; Kafka refused the relay's writes to topic %s: grant WRITE on topic %s to the "
                 "relay's principal (kafka-acls.sh --add --allow-principal User:<relay> "
                 "--operation Write --topic %s) and restart",
                 why.topic, why.topic, why.topic);
        return stop_with(p, EXIT_KAFKA);
    }
    if (tag > 0 && tag <= p->ntags)
        ev = &p->tags[tag - 1];
    if (doomed && ev != NULL) {
        position(ev, where, sizeof where);
        if (!policy_mark(p->policy, ev->commit_lsn, ev->index,
                         why.too_large ? POLICY_TOO_LARGE : POLICY_REJECTED, why.error)) {
            say_more(p, "; the broker refused the %s again after the replay set it aside", where);
            return stop_with(p, EXIT_DATA);
        }
        if (why.too_large)
            say_more(p, "; the broker refused the %s (%zu bytes) as too large", where, why.size);
        else
            say_more(p, "; the broker refused the %s: %s", where, why.error);
        say_more(p, ": aborted, replaying to dead-letter it");
        p->set_aside = true;
        return PUBLISH_REWIND;
    }
    if (st == KAFKA_FATAL || st == KAFKA_REJECTED)
        return stop_with(p, st == KAFKA_REJECTED ? EXIT_DATA : EXIT_KAFKA);
    if (doomed && why.broker && failed_alike(p, why.code) >= SAME_FAILURES_MAX) {
        say_more(p,
                 " (%d Kafka transactions in a row from the %s failed alike): stopping rather "
                 "than replaying forever; the broker's log says why it refuses them",
                 p->same_failures, p->last_where);
        return stop_with(p, EXIT_KAFKA);
    }
    return PUBLISH_REWIND;
}

/* Produces one record into the open transaction; an event's position is kept under its
 * tag (tagged false: a dead letter, whose event is already in the list). The drivers close
 * a batch at batch.max_events records, so every event finds a tag. */
static kafka_status produce(publisher *p, const event *rec, bool tagged)
{
    uint64_t tag = 0;

    if (tagged && p->ntags < p->cap) {
        p->tags[p->ntags++] = (produced){rec->commit_lsn, rec->index};
        tag = p->ntags;
    }
    if (++p->records % POLL_EVERY == 0)
        kafka_poll(p->kafka);
    return kafka_produce(p->kafka, rec, tag, p->err, sizeof p->err);
}

/* Produces ev's dead-letter record. A record Kafka finds too large with the original value
 * goes without it: the headers still say which event it was and why. */
static publish_step dead_letter(publisher *p, const event *ev, const policy_verdict *v,
                                size_t *bytes)
{
    event dl;
    kafka_status st;
    char line[1536];

    log_field fields[] = {{"event_id", ev->id != NULL ? ev->id : "", 0},
                          {"topic", p->cfg->dead_letter.topic, 0}};

    policy_describe(p->policy, ev, v, p->opts.resume, line, sizeof line);
    log_write_fields(p->lg, LVL_WARN, fields, 2, "%s %s",
                     p->opts.dry_run ? "would dead-letter" : "dead-lettered", line);
    if (!p->opts.dry_run) {
        policy_dead_letter(p->policy, ev, v, false, &dl);
        st = produce(p, &dl, false);
        if (st == KAFKA_REJECTED) {
            policy_dead_letter(p->policy, ev, v, true, &dl);
            st = produce(p, &dl, false);
        }
        if (st == KAFKA_REJECTED)
            return stop_with(p, EXIT_DATA);
        if (st != KAFKA_OK)
            return kafka_failed(p, st);
        *bytes = dl.key_len + dl.value_len;
    }
    p->counts.dead_letters++;
    p->counts.dead_letter_reasons[v->reason]++;
    return PUBLISH_OK;
}

publish_step publish_event(publisher *p, const event *ev, const char *bad_row, size_t *bytes)
{
    policy_verdict v;
    kafka_status st;
    size_t ignored;

    if (bytes == NULL)
        bytes = &ignored;
    *bytes = 0;
    if (bad_row != NULL)
        policy_refused(p->policy, POLICY_BAD_ROW, bad_row, &v);
    else
        policy_event(p->policy, ev, &v);
    if (v.action != POLICY_STOP && !p->opts.dry_run && (st = begin(p)) != KAFKA_OK)
        return kafka_failed(p, st);
    if (v.action == POLICY_PUBLISH && !p->opts.dry_run) {
        st = produce(p, ev, true);
        /* Over the producer's message.max.bytes: refused before it joined the transaction,
         * so the batch is unharmed and the event follows schemas.on_invalid. */
        if (st == KAFKA_REJECTED)
            policy_refused(p->policy, POLICY_TOO_LARGE, p->err, &v);
        else if (st != KAFKA_OK)
            return kafka_failed(p, st);
        else
            *bytes = ev->key_len + ev->value_len;
    }
    if (v.action == POLICY_STOP) {
        policy_describe(p->policy, ev, &v, p->opts.resume, p->err, sizeof p->err);
        return stop_with(p, EXIT_DATA);
    }
    if (v.action == POLICY_DEAD_LETTER)
        return dead_letter(p, ev, &v, bytes);
    p->counts.events++;
    return PUBLISH_OK;
}

publish_step publish_commit(publisher *p, const char *value, size_t len)
{
    kafka_status st;

    if ((st = begin(p)) != KAFKA_OK ||
        (st = kafka_produce_state(p->kafka, p->opts.state_key, value, len, p->err,
                                  sizeof p->err)) != KAFKA_OK)
        return kafka_failed(p, st);
    if (p->opts.failpoint != NULL)
        FAILPOINT(p->opts.failpoint, "after_produce_before_commit");
    for (;;) {
        st = kafka_commit(p->kafka, p->err, sizeof p->err);
        if (st != KAFKA_RETRY)
            break;
        if (*p->opts.stop) {
            /* Stopping while the broker is away: give the batch up, it is replayed. */
            st = KAFKA_ABORT;
            break;
        }
        /* Still retriable after commit_timeout_ms (broker away): the wait hook kept the
         * caller's connections alive meanwhile; try again. */
        log_warn(p->lg, "%s; retrying", p->err);
    }
    if (st != KAFKA_OK)
        return kafka_failed(p, st);
    p->txn_open = false;
    p->ntags = 0;
    p->same_failures = 0;
    p->last_failure[0] = '\0';
    p->counts.kafka_txns++;
    return PUBLISH_OK;
}
