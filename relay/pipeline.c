#include "pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "exitcode.h"
#include "failpoint.h"
#include "kafka.h"
#include "ledger.h"
#include "pgoutput.h"
#include "pgrepl.h"
#include "route.h"

#define INIT_TIMEOUT_MS 60000
#define STATS_INTERVAL_MS 60000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STANDBY_POLL_MAX_MS 5000 /* a standby takes over at most this long after the slot frees */
#define POLL_EVERY 1000 /* serve librdkafka's delivery reports every N produced events */

typedef struct stats {
    uint64_t events, skipped, pg_txns, kafka_txns, idle_checkpoints;
    uint64_t other_tables, updates, deletes, truncates, messages;
    uint64_t dead_letters; /* events sent to dead_letter.topic instead (counted apart) */
} stats;

typedef struct pipeline {
    const relay_config *cfg;
    const pipeline_opts *opts;
    const log_ctx *lg;
    volatile sig_atomic_t *stop;
    event_mapper *mapper;
    route *route; /* schemas and policies: publish, dead-letter or stop */
    kafka_client *kafka;
    pgo_decoder *decoder;
    pgrepl_conn *pg;
    ledger ledger;
    pgrepl_system sys;   /* the server, as of the last connect */
    pgrepl_slot slot;    /* the slot, as of the last connect */
    kafka_checkpoint cp; /* system_id and slot stamped on every checkpoint */
    bool have_position;  /* the producer is ready and the ledger knows where we are */
    bool kafka_txn_open;
    int64_t txn_commit_time_us; /* commit time of the Postgres transaction being received */
    int64_t last_status_ms, last_idle_ms, last_stats_ms;
    stats st;
    char err[1024];
} pipeline;

/* What the loop does after a step. */
typedef enum {
    STEP_OK,
    STEP_REWIND, /* drop the batch and restart the stream from the slot */
    STEP_EXIT,   /* stop with p->exit_code */
} step;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exit_for_pg(pgrepl_status st)
{
    switch (st) {
    case PGREPL_ERR_AUTH: return EXIT_AUTH;
    case PGREPL_ERR_SETUP: return EXIT_CONFIG;
    case PGREPL_ERR_SLOT_BUSY: return EXIT_SLOT_BUSY;
    case PGREPL_ERR_CONNECT: return EXIT_UNAVAILABLE;
    default: return EXIT_INTERNAL;
    }
}

static void log_stats(pipeline *p)
{
    log_info(p->lg,
             "published %" PRIu64 " events from %" PRIu64 " Postgres transactions in %" PRIu64
             " Kafka transactions (%" PRIu64 " checkpoint-only); skipped %" PRIu64
             " already published; ignored: %" PRIu64 " rows of other tables, %" PRIu64
             " updates, %" PRIu64 " deletes, %" PRIu64 " truncates, %" PRIu64
             " messages; dead-lettered %" PRIu64 "; confirmed " LSN_FMT,
             p->st.events, p->st.pg_txns, p->st.kafka_txns, p->st.idle_checkpoints, p->st.skipped,
             p->st.other_tables, p->st.updates, p->st.deletes, p->st.truncates, p->st.messages,
             p->st.dead_letters, LSN_ARGS(p->ledger.committed.end_lsn));
}

static step send_status(pipeline *p, bool reply)
{
    if (p->pg == NULL)
        return STEP_OK;
    if (pgrepl_send_status(p->pg, p->ledger.seen_lsn, p->ledger.committed.end_lsn, reply, p->err,
                           sizeof p->err) != PGREPL_OK) {
        log_warn(p->lg, "%s", p->err);
        return STEP_REWIND;
    }
    p->last_status_ms = mono_ms();
    return STEP_OK;
}

/* Maps a Kafka failure to the loop's next step. */
static step kafka_failed(pipeline *p, kafka_status st, int *exit_code)
{
    relay_lsn lsn;
    uint32_t index;
    size_t size;

    /* A record the broker refuses as too large dooms the whole Kafka transaction, and it
     * surfaces at whichever call comes next (a produce, the commit). Once the transaction is
     * aborted every delivery report is in: set the largest refused event aside and replay;
     * the replay routes it as too_large (route.h) and publishes the rest. A second refusal
     * of the same event ends as an error below. */
    if ((st == KAFKA_ABORT || st == KAFKA_REJECTED) && p->kafka_txn_open) {
        char why[512];

        if (kafka_abort(p->kafka, why, sizeof why) == KAFKA_OK)
            p->kafka_txn_open = false;
        kafka_poll(p->kafka);
    }
    if ((st == KAFKA_ABORT || st == KAFKA_REJECTED) &&
        kafka_rejected_record(p->kafka, &lsn, &index, &size) &&
        route_mark_too_large(p->route, lsn, index)) {
        log_warn(p->lg,
                 "%s; the broker refused the event at " LSN_FMT ":%u (%zu bytes) as too "
                 "large: aborted, replaying from " LSN_FMT " to dead-letter it",
                 p->err, LSN_ARGS(lsn), index, size, LSN_ARGS(p->ledger.committed.end_lsn));
        return STEP_REWIND;
    }
    if (st == KAFKA_FATAL || st == KAFKA_REJECTED) {
        *exit_code = st == KAFKA_REJECTED ? EXIT_DATA : EXIT_KAFKA;
        return STEP_EXIT;
    }
    log_warn(p->lg, "%s; aborting the Kafka transaction and restarting from " LSN_FMT, p->err,
             LSN_ARGS(p->ledger.committed.end_lsn));
    return STEP_REWIND;
}

static kafka_status ensure_kafka_txn(pipeline *p)
{
    kafka_status st;

    if (p->kafka_txn_open)
        return KAFKA_OK;
    st = kafka_begin(p->kafka, p->err, sizeof p->err);
    p->kafka_txn_open = st == KAFKA_OK;
    return st;
}

/* Writes the checkpoint into the open Kafka transaction, commits it, and only then
 * confirms the checkpoint's end_lsn to Postgres (DESIGN §5.3–4). */
static step commit_batch(pipeline *p, int *exit_code)
{
    kafka_status st;
    relay_lsn confirm;

    p->cp.pos = ledger_batch_checkpoint(&p->ledger);
    if ((st = ensure_kafka_txn(p)) != KAFKA_OK ||
        (st = kafka_produce_checkpoint(p->kafka, &p->cp, p->err, sizeof p->err)) != KAFKA_OK)
        return kafka_failed(p, st, exit_code);
    FAILPOINT(p->opts->failpoint, "after_produce_before_commit");
    for (;;) {
        st = kafka_commit(p->kafka, p->err, sizeof p->err);
        if (st != KAFKA_RETRY)
            break;
        if (*p->stop) {
            /* Stopping while the broker is away: give the batch up, it is replayed. */
            st = KAFKA_ABORT;
            break;
        }
        /* Still retriable after commit_timeout_ms (broker away): keep the replication
         * connection alive meanwhile, then try again. */
        log_warn(p->lg, "%s; retrying", p->err);
        send_status(p, false);
    }
    if (st != KAFKA_OK)
        return kafka_failed(p, st, exit_code);
    p->kafka_txn_open = false;
    p->st.kafka_txns++;
    FAILPOINT(p->opts->failpoint, "after_commit_before_status");
    if (p->cp.pos.commit_lsn != 0)
        FAILPOINT(p->opts->failpoint, "after_split_commit");
    confirm = ledger_batch_committed(&p->ledger);
    log_debug(p->lg, "committed Kafka transaction; checkpoint " LSN_FMT " (" LSN_FMT ":%u)",
              LSN_ARGS(confirm), LSN_ARGS(p->cp.pos.commit_lsn), p->cp.pos.index);
    return send_status(p, false);
}

/* Produces ev's dead-letter record into the open Kafka transaction, with the batch. A
 * record Kafka finds too large with the original value goes without it: the headers still
 * say which event it was and why. */
static step dead_letter(pipeline *p, const event *ev, const route_verdict *v, int *exit_code)
{
    event dl;
    kafka_status st;
    char line[1536];

    route_describe(p->route, ev, v, line, sizeof line);
    log_warn(p->lg, "dead-lettered %s", line);
    route_dead_letter(p->route, ev, v, false, &dl);
    st = kafka_produce(p->kafka, &dl, p->err, sizeof p->err);
    if (st == KAFKA_REJECTED) {
        route_dead_letter(p->route, ev, v, true, &dl);
        st = kafka_produce(p->kafka, &dl, p->err, sizeof p->err);
    }
    if (st == KAFKA_REJECTED) {
        *exit_code = EXIT_DATA;
        return STEP_EXIT;
    }
    if (st != KAFKA_OK)
        return kafka_failed(p, st, exit_code);
    p->st.dead_letters++;
    return STEP_OK;
}

static step on_insert(pipeline *p, const pgo_msg *m, int *exit_code)
{
    const pgo_relation *rel = m->u.change.rel;
    event ev;
    route_verdict v;
    kafka_status st;
    int mapped;

    if (!event_is_outbox(p->mapper, rel)) {
        p->st.other_tables++;
        return STEP_OK;
    }
    mapped = event_map(p->mapper, rel, m->u.change.new_tuple, m->u.change.nnew,
                       p->ledger.txn_commit_lsn, p->ledger.txn_index + 1, p->txn_commit_time_us,
                       &ev, p->err, sizeof p->err);
    if (mapped < 0) {
        /* Nothing of this transaction is confirmed: after the fix, a restart resumes here. */
        size_t n = strlen(p->err);
        snprintf(p->err + n, sizeof p->err - n, " (transaction " LSN_FMT ", event %u)",
                 LSN_ARGS(p->ledger.txn_commit_lsn), p->ledger.txn_index + 1);
        *exit_code = EXIT_DATA;
        return STEP_EXIT;
    }
    /* Skipped before routing: an event dead-lettered before is as published as any. */
    if (ledger_event(&p->ledger, ev.key_len + ev.value_len, mono_ms()) == LEDGER_SKIP) {
        p->st.skipped++;
        return STEP_OK;
    }
    if (mapped == EVENT_BAD_ROW)
        route_refused(p->route, ROUTE_BAD_ROW, p->err, &v);
    else
        route_event(p->route, &ev, &v);
    if (v.action != ROUTE_STOP && (st = ensure_kafka_txn(p)) != KAFKA_OK)
        return kafka_failed(p, st, exit_code);
    if (v.action == ROUTE_PUBLISH) {
        st = kafka_produce(p->kafka, &ev, p->err, sizeof p->err);
        /* Over the producer's message.max.bytes: refused before it joined the transaction,
         * so the batch is unharmed and the event follows schemas.on_invalid. */
        if (st == KAFKA_REJECTED)
            route_refused(p->route, ROUTE_TOO_LARGE, p->err, &v);
        else if (st != KAFKA_OK)
            return kafka_failed(p, st, exit_code);
        else
            p->st.events++;
    }
    if (v.action == ROUTE_STOP) {
        /* Nothing of this transaction is confirmed (the open Kafka transaction is aborted
         * on exit): after the fix, a restart resumes at this event. */
        route_describe(p->route, &ev, &v, p->err, sizeof p->err);
        *exit_code = EXIT_DATA;
        return STEP_EXIT;
    }
    if (v.action == ROUTE_DEAD_LETTER) {
        step s = dead_letter(p, &ev, &v, exit_code);
        if (s != STEP_OK)
            return s;
    }
    if ((p->st.events + p->st.dead_letters) % POLL_EVERY == 0)
        kafka_poll(p->kafka);
    return STEP_OK;
}

static step on_data(pipeline *p, const pgrepl_msg *msg, int *exit_code)
{
    pgo_msg m;

    if (pgo_decode(p->decoder, msg->data, msg->len, &m, p->err, sizeof p->err) != 0) {
        size_t n = strlen(p->err);
        snprintf(p->err + n, sizeof p->err - n, " (at " LSN_FMT ")", LSN_ARGS(msg->wal_start));
        *exit_code = EXIT_INTERNAL;
        return STEP_EXIT;
    }
    switch (m.kind) {
    case PGO_BEGIN:
        ledger_begin(&p->ledger, m.u.begin.final_lsn);
        p->txn_commit_time_us = m.u.begin.commit_time;
        return STEP_OK;
    case PGO_COMMIT:
        ledger_commit(&p->ledger, m.u.commit.end_lsn);
        p->st.pg_txns++;
        return STEP_OK;
    case PGO_INSERT: return on_insert(p, &m, exit_code);
    case PGO_UPDATE: p->st.updates++; return STEP_OK;
    case PGO_DELETE: p->st.deletes++; return STEP_OK;
    case PGO_TRUNCATE: p->st.truncates++; return STEP_OK;
    case PGO_MESSAGE: p->st.messages++; return STEP_OK;
    default: return STEP_OK; /* Relation, Type, Origin: the decoder keeps what matters */
    }
}

/* Timers that run whether or not data arrives: batch due, idle advance, status, stats. */
static step on_tick(pipeline *p, int *exit_code)
{
    int64_t now = mono_ms();
    step s;

    if (ledger_batch_due(&p->ledger, now) && (s = commit_batch(p, exit_code)) != STEP_OK)
        return s;
    /* Idle advance: other tables keep WAL moving while the outbox is quiet; a
     * checkpoint-only transaction lets the slot follow, at most once per interval. */
    if (ledger_idle_due(&p->ledger) && now - p->last_idle_ms >= p->cfg->postgres.status_interval_ms) {
        p->last_idle_ms = now;
        ledger_idle_open(&p->ledger, now);
        p->st.idle_checkpoints++;
        if ((s = commit_batch(p, exit_code)) != STEP_OK)
            return s;
    }
    if (now - p->last_status_ms >= p->cfg->postgres.status_interval_ms &&
        (s = send_status(p, false)) != STEP_OK)
        return s;
    if (now - p->last_stats_ms >= STATS_INTERVAL_MS) {
        p->last_stats_ms = now;
        log_stats(p);
    }
    return STEP_OK;
}

/* How long the next read may wait: until the batch's linger (which only ends at a
 * transaction boundary) or the next status update. */
static int read_timeout(const pipeline *p)
{
    int64_t now = mono_ms(), until = p->last_status_ms + p->cfg->postgres.status_interval_ms;

    if (p->ledger.batch_open && !p->ledger.in_txn &&
        p->ledger.batch_started_ms + p->cfg->batch.linger_ms < until)
        until = p->ledger.batch_started_ms + p->cfg->batch.linger_ms;
    if (until - now > 1000)
        return 1000;
    return until > now ? (int)(until - now) : 0;
}

/* The message for a slot that disagrees with the checkpoint, and what the override does. */
static int refuse_position(pipeline *p, const char *what)
{
    snprintf(p->err, sizeof p->err,
             "%s: events in between may never have reached Kafka; refusing to guess (run with "
             "--accept-slot-position to continue from the slot's position anyway)",
             what);
    return EXIT_POSITION;
}

/* Connects, checks the publication and the slot and starts streaming: at the committed
 * position once there is one, else where the slot stands (the checkpoint is read after
 * the slot is ours, see become_producer). A slot in use by another process gives
 * EXIT_SLOT_BUSY: the caller waits as a standby. */
static int open_stream(pipeline *p)
{
    pgrepl_status st;
    pgrepl_slot *slot = &p->slot;
    const relay_config *cfg = p->cfg;
    char what[512];

    p->pg = pgrepl_connect(cfg->postgres.conninfo, cfg->postgres.connect_timeout_s, &st, p->err,
                           sizeof p->err);
    if (p->pg == NULL)
        return exit_for_pg(st);
    if ((st = pgrepl_identify(p->pg, &p->sys, p->err, sizeof p->err)) != PGREPL_OK ||
        (st = pgrepl_check_publication(p->pg, cfg->postgres.publication, cfg->outbox.table,
                                       p->err, sizeof p->err)) != PGREPL_OK ||
        (st = pgrepl_slot_info(p->pg, cfg->postgres.slot, slot, p->err, sizeof p->err)) !=
            PGREPL_OK)
        return exit_for_pg(st);
    if (!slot->exists) {
        if (p->have_position && !p->opts->accept_slot_position) {
            snprintf(what, sizeof what,
                     "replication slot \"%s\" disappeared while relay \"%s\" was at " LSN_FMT,
                     cfg->postgres.slot, cfg->name, LSN_ARGS(p->ledger.committed.end_lsn));
            return refuse_position(p, what);
        }
        if (!cfg->postgres.create_slot) {
            snprintf(p->err, sizeof p->err,
                     "replication slot \"%s\" does not exist: run SELECT "
                     "pg_create_logical_replication_slot('%s', 'pgoutput'); or set "
                     "postgres.create_slot = true",
                     cfg->postgres.slot, cfg->postgres.slot);
            return EXIT_CONFIG;
        }
        if ((st = pgrepl_create_slot(p->pg, cfg->postgres.slot, p->err, sizeof p->err)) !=
                PGREPL_OK ||
            (st = pgrepl_slot_info(p->pg, cfg->postgres.slot, slot, p->err, sizeof p->err)) !=
                PGREPL_OK)
            return exit_for_pg(st);
        log_info(p->lg, "created replication slot %s at " LSN_FMT, cfg->postgres.slot,
                 LSN_ARGS(slot->confirmed_flush));
    }
    if (strcmp(slot->plugin, "pgoutput") != 0 || strcmp(slot->database, p->sys.dbname) != 0) {
        snprintf(p->err, sizeof p->err,
                 "replication slot \"%s\" uses plugin %s on database %s; the relay needs "
                 "pgoutput on %s: drop it or choose another postgres.slot",
                 cfg->postgres.slot, slot->plugin, slot->database, p->sys.dbname);
        return EXIT_CONFIG;
    }
    if (slot->active) {
        snprintf(p->err, sizeof p->err, "replication slot \"%s\" is in use by process %d",
                 cfg->postgres.slot, slot->active_pid);
        return EXIT_SLOT_BUSY;
    }
    if (p->have_position && slot->confirmed_flush > p->ledger.committed.end_lsn) {
        snprintf(what, sizeof what,
                 "replication slot \"%s\" moved to " LSN_FMT ", ahead of the checkpoint at " LSN_FMT,
                 cfg->postgres.slot, LSN_ARGS(slot->confirmed_flush),
                 LSN_ARGS(p->ledger.committed.end_lsn));
        return refuse_position(p, what);
    }
    /* 0/0 before the checkpoint is known: the server starts at confirmed_flush, which is
     * never ahead of the checkpoint (checked in become_producer); the ledger skips what
     * the checkpoint covers. */
    st = pgrepl_start(p->pg, cfg->postgres.slot, cfg->postgres.publication,
                      p->have_position ? p->ledger.committed.end_lsn : 0, p->err, sizeof p->err);
    if (st != PGREPL_OK)
        return exit_for_pg(st);
    p->last_status_ms = mono_ms();
    return EXIT_OK;
}

/* With the slot held, becomes the one producer for this name: init_transactions fences
 * any older instance (DESIGN §5.1), then the checkpoint is read and checked against the
 * slot (§5.6). Done once; reconnects keep the producer. */
static int become_producer(pipeline *p)
{
    const relay_config *cfg = p->cfg;
    kafka_status kst;
    bool found = false;
    ledger_pos start = {p->slot.confirmed_flush, 0, 0};
    char what[512];

    kst = kafka_init_transactions(p->kafka, INIT_TIMEOUT_MS, p->err, sizeof p->err);
    if (kst != KAFKA_OK)
        return kst == KAFKA_FATAL ? EXIT_KAFKA : EXIT_UNAVAILABLE;
    if ((kst = kafka_ensure_checkpoint_topic(p->kafka, p->err, sizeof p->err)) != KAFKA_OK ||
        (kst = kafka_read_checkpoint(p->kafka, &p->cp, &found, p->err, sizeof p->err)) !=
            KAFKA_OK)
        return kst == KAFKA_FATAL ? EXIT_CONFIG : EXIT_UNAVAILABLE;
    what[0] = '\0';
    if (found && p->cp.system_id[0] && strcmp(p->cp.system_id, p->sys.system_id) != 0)
        snprintf(what, sizeof what,
                 "the checkpoint of relay \"%s\" belongs to Postgres system %s, but %s is system %s",
                 cfg->name, p->cp.system_id, pgrepl_describe(p->pg), p->sys.system_id);
    else if (found && p->slot.confirmed_flush > p->cp.pos.end_lsn)
        snprintf(what, sizeof what,
                 "replication slot \"%s\" is at " LSN_FMT ", ahead of relay \"%s\"'s checkpoint "
                 "at " LSN_FMT " (was the slot dropped and created again, or advanced by hand?)",
                 cfg->postgres.slot, LSN_ARGS(p->slot.confirmed_flush), cfg->name,
                 LSN_ARGS(p->cp.pos.end_lsn));
    if (what[0] != '\0' && !p->opts->accept_slot_position)
        return refuse_position(p, what);
    if (what[0] != '\0')
        log_warn(p->lg,
                 "--accept-slot-position: %s; continuing from the slot at " LSN_FMT
                 ": events between the checkpoint and the slot may be MISSING from Kafka",
                 what, LSN_ARGS(p->slot.confirmed_flush));
    else if (found)
        start = p->cp.pos;
    snprintf(p->cp.system_id, sizeof p->cp.system_id, "%s", p->sys.system_id);
    snprintf(p->cp.slot, sizeof p->cp.slot, "%s", cfg->postgres.slot);
    ledger_init(&p->ledger, p->ledger.limits, start);
    p->have_position = true;
    log_info(p->lg, "streaming from %s, slot %s at " LSN_FMT ", checkpoint %s" LSN_FMT " (" LSN_FMT
                    ":%u)",
             pgrepl_describe(p->pg), cfg->postgres.slot, LSN_ARGS(p->slot.confirmed_flush),
             found ? "" : "(none yet) ", LSN_ARGS(start.end_lsn), LSN_ARGS(start.commit_lsn),
             start.index);
    return EXIT_OK;
}

/* After an aborted Kafka transaction or a lost connection: abort the open transaction,
 * forget the batch and start the stream again from the slot, which replays exactly what
 * was not committed. The abort must finish before a new transaction can begin, so a
 * broker away is waited for. Returns EXIT_OK to go on, or an exit code. */
static int rewind_stream(pipeline *p)
{
    while (p->kafka_txn_open) {
        kafka_status st = kafka_abort(p->kafka, p->err, sizeof p->err);
        if (st == KAFKA_OK) {
            p->kafka_txn_open = false;
        } else if (st == KAFKA_RETRY && !*p->stop) {
            log_warn(p->lg, "%s; retrying", p->err);
        } else if (st == KAFKA_RETRY) {
            /* Stopping with the broker away: the coordinator aborts the transaction when
             * it times out; nothing of it was confirmed. */
            p->err[0] = '\0';
            return EXIT_OK;
        } else {
            return EXIT_KAFKA;
        }
    }
    ledger_rewind(&p->ledger);
    pgrepl_close(p->pg);
    p->pg = NULL;
    return EXIT_OK;
}

/* Streams until stop, a rewind or a final error. Returns the exit code, or -1 to rewind. */
static int stream(pipeline *p)
{
    pgrepl_msg msg;
    pgrepl_status st;
    step s = STEP_OK;
    int exit_code = EXIT_OK;

    while (!*p->stop) {
        st = pgrepl_read(p->pg, read_timeout(p), &msg, p->err, sizeof p->err);
        if (st != PGREPL_OK) {
            log_warn(p->lg, "%s", p->err);
            return -1;
        }
        if (msg.kind == PGREPL_MSG_DATA) {
            s = on_data(p, &msg, &exit_code);
        } else if (msg.kind == PGREPL_MSG_KEEPALIVE) {
            ledger_server_position(&p->ledger, msg.wal_end);
            if (msg.reply_requested)
                s = send_status(p, false);
        }
        if (s == STEP_OK)
            s = on_tick(p, &exit_code);
        if (s == STEP_REWIND)
            return -1;
        if (s == STEP_EXIT)
            return exit_code;
    }
    /* Graceful stop: publish what is open (a partial transaction is recorded as such in
     * the checkpoint), confirm it, leave. A standby never gets here: it has no stream. */
    if (p->ledger.batch_open) {
        s = commit_batch(p, &exit_code);
        if (s == STEP_EXIT)
            return exit_code;
        if (s == STEP_REWIND)
            return rewind_stream(p);
    }
    send_status(p, false);
    return EXIT_OK;
}

/* Sleeps ms unless a stop is requested (a signal interrupts the sleep). */
static bool pause_unless_stopped(pipeline *p, int ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};

    if (!*p->stop)
        nanosleep(&pause, NULL);
    return !*p->stop;
}

static int run(pipeline *p)
{
    int rc, backoff_ms = BACKOFF_MIN_MS;
    bool standby_logged = false;

    if (kafka_broker_count(p->kafka, p->cfg->postgres.connect_timeout_s * 1000, p->err,
                           sizeof p->err) < 0)
        return EXIT_UNAVAILABLE;
    for (;;) {
        rc = open_stream(p);
        if (rc == EXIT_OK && !p->have_position)
            rc = become_producer(p);
        else if (rc == EXIT_OK)
            log_info(p->lg, "streaming again from " LSN_FMT, LSN_ARGS(p->ledger.committed.end_lsn));
        if (rc == EXIT_OK) {
            if (standby_logged)
                log_info(p->lg, "slot %s is free: taking over", p->cfg->postgres.slot);
            standby_logged = false;
            backoff_ms = BACKOFF_MIN_MS;
            rc = stream(p);
            if (rc >= 0)
                return rc;
            if ((rc = rewind_stream(p)) != EXIT_OK || *p->stop)
                return rc;
        } else {
            pgrepl_close(p->pg);
            p->pg = NULL;
            /* Only what may pass by itself is retried: the slot held by another relay (we
             * are its standby) or by our own old walsender, a server away once we were
             * streaming. At start an unreachable server is an error for the operator. */
            if (rc != EXIT_SLOT_BUSY && (rc != EXIT_UNAVAILABLE || !p->have_position))
                return rc;
            if (rc == EXIT_SLOT_BUSY && !p->have_position) {
                if (!standby_logged)
                    log_info(p->lg, "standby: %s; waiting to take over when it frees", p->err);
                standby_logged = true;
                if (backoff_ms > STANDBY_POLL_MAX_MS)
                    backoff_ms = STANDBY_POLL_MAX_MS;
            } else {
                log_warn(p->lg, "%s; retrying in %d ms", p->err, backoff_ms);
            }
        }
        if (!pause_unless_stopped(p, backoff_ms))
            return EXIT_OK;
        backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    }
}

/* Kafka is slow or away: keep the replication connection alive with status updates. */
static void on_kafka_wait(void *arg)
{
    pipeline *p = arg;

    if (mono_ms() - p->last_status_ms >= p->cfg->postgres.status_interval_ms)
        send_status(p, false);
}

int pipeline_run(const relay_config *cfg, const pipeline_opts *opts, const log_ctx *lg,
                 volatile sig_atomic_t *stop)
{
    pipeline p = {.cfg = cfg, .opts = opts, .lg = lg, .stop = stop};
    int rc = EXIT_INTERNAL;

    p.last_stats_ms = p.last_idle_ms = mono_ms();
    p.decoder = pgo_decoder_new();
    p.mapper = event_mapper_new(cfg, p.err, sizeof p.err);
    if (p.decoder == NULL || p.mapper == NULL) {
        rc = p.mapper == NULL ? EXIT_CONFIG : EXIT_INTERNAL;
        goto out;
    }
    /* Schemas are compiled before anything connects: a broken one stops the start. */
    if ((p.route = route_new(cfg, p.err, sizeof p.err)) == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
    if (route_schema_count(p.route) > 0)
        log_info(lg, "schemas: %d from %s (applies to the %s; invalid: %s, unknown type: %s)",
                 route_schema_count(p.route), cfg->schemas.dir,
                 config_applies_to_name(cfg->schemas.applies_to),
                 config_on_invalid_name(cfg->schemas.on_invalid),
                 config_on_unknown_name(cfg->schemas.on_unknown_type));
    p.kafka = kafka_new(cfg, cfg->name, lg, p.err, sizeof p.err);
    if (p.kafka == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
    kafka_set_wait_hook(p.kafka, on_kafka_wait, &p);
    ledger_init(&p.ledger,
                (ledger_limits){(uint32_t)cfg->batch.max_events, (size_t)cfg->batch.max_bytes,
                                cfg->batch.linger_ms},
                (ledger_pos){0, 0, 0});
    rc = run(&p);
out:
    if (rc != EXIT_OK && p.err[0] != '\0')
        log_error(lg, "%s", p.err);
    if (p.kafka_txn_open && kafka_abort(p.kafka, p.err, sizeof p.err) != KAFKA_OK)
        log_warn(lg, "%s", p.err);
    if (p.kafka != NULL)
        log_stats(&p);
    pgrepl_close(p.pg);
    kafka_free(p.kafka);
    event_mapper_free(p.mapper);
    route_free(p.route);
    pgo_decoder_free(p.decoder);
    return rc;
}
