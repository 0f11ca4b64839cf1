#include "publish.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "policy.h"

#define POLL_EVERY 1000 /* serve librdkafka's delivery reports every N produced records */

/* An event produced into the open Kafka transaction, by its tag (index + 1): what the
 * replay must recognise when the broker refuses it as too large. */
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

/*
 * After a failed Kafka call (p->err says which): the next step. A record the broker refuses
 * as too large dooms the whole transaction, and it surfaces at whichever call comes next (a
 * produce, the commit). Once the transaction is aborted every delivery report is in: the
 * largest refused event is set aside and the caller replays; the replay routes it as
 * too_large and publishes the rest. A second refusal of the same event stops.
 */
static publish_step kafka_failed(publisher *p, kafka_status st)
{
    const produced *ev = NULL;
    uint64_t tag;
    size_t size, n;
    char where[64];

    if ((st == KAFKA_ABORT || st == KAFKA_REJECTED) && p->txn_open) {
        char why[512];

        if (kafka_abort(p->kafka, why, sizeof why) == KAFKA_OK)
            p->txn_open = false;
        kafka_poll(p->kafka);
    }
    tag = kafka_rejected_record(p->kafka, &size);
    if (tag > 0 && tag <= p->ntags)
        ev = &p->tags[tag - 1];
    if ((st == KAFKA_ABORT || st == KAFKA_REJECTED) && ev != NULL &&
        policy_mark_too_large(p->policy, ev->commit_lsn, ev->index)) {
        if (ev->commit_lsn != 0)
            snprintf(where, sizeof where, "event at " LSN_FMT ":%u", LSN_ARGS(ev->commit_lsn),
                     ev->index);
        else
            snprintf(where, sizeof where, "event of row %u of the job", ev->index);
        n = strlen(p->err);
        snprintf(p->err + n, sizeof p->err - n,
                 "; the broker refused the %s (%zu bytes) as too large: aborted, replaying to "
                 "dead-letter it",
                 where, size);
        return PUBLISH_REWIND;
    }
    if (st == KAFKA_FATAL || st == KAFKA_REJECTED)
        return stop_with(p, st == KAFKA_REJECTED ? EXIT_DATA : EXIT_KAFKA);
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

    policy_describe(p->policy, ev, v, p->opts.resume, line, sizeof line);
    log_warn(p->lg, "%s %s", p->opts.dry_run ? "would dead-letter" : "dead-lettered", line);
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
    p->counts.kafka_txns++;
    return PUBLISH_OK;
}
