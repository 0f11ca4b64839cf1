#include "pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "exitcode.h"
#include "kafka.h"
#include "ledger.h"
#include "pgoutput.h"
#include "pgrepl.h"

#define INIT_TIMEOUT_MS 60000
#define STATS_INTERVAL_MS 60000
#define BACKOFF_MAX_MS 30000
#define POLL_EVERY 1000 /* serve librdkafka's delivery reports every N produced events */

typedef struct stats {
    uint64_t events, skipped, pg_txns, kafka_txns, idle_checkpoints;
    uint64_t other_tables, updates, deletes, truncates, messages;
} stats;

typedef struct pipeline {
    const relay_config *cfg;
    const log_ctx *lg;
    volatile sig_atomic_t *stop;
    event_mapper *mapper;
    kafka_client *kafka;
    pgo_decoder *decoder;
    pgrepl_conn *pg;
    ledger ledger;
    kafka_checkpoint cp; /* system_id and slot stamped on every checkpoint */
    bool have_position;  /* a checkpoint was read, or the stream has started once */
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
             " messages; confirmed " LSN_FMT,
             p->st.events, p->st.pg_txns, p->st.kafka_txns, p->st.idle_checkpoints, p->st.skipped,
             p->st.other_tables, p->st.updates, p->st.deletes, p->st.truncates, p->st.messages,
             LSN_ARGS(p->ledger.committed.end_lsn));
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
    confirm = ledger_batch_committed(&p->ledger);
    log_debug(p->lg, "committed Kafka transaction; checkpoint " LSN_FMT " (" LSN_FMT ":%u)",
              LSN_ARGS(confirm), LSN_ARGS(p->cp.pos.commit_lsn), p->cp.pos.index);
    return send_status(p, false);
}

static step on_insert(pipeline *p, const pgo_msg *m, int *exit_code)
{
    const pgo_relation *rel = m->u.change.rel;
    event ev;
    kafka_status st;

    if (!event_is_outbox(p->mapper, rel)) {
        p->st.other_tables++;
        return STEP_OK;
    }
    if (event_map(p->mapper, rel, m->u.change.new_tuple, m->u.change.nnew,
                  p->ledger.txn_commit_lsn, p->ledger.txn_index + 1, p->txn_commit_time_us, &ev,
                  p->err, sizeof p->err) != 0) {
        /* Nothing of this transaction is confirmed: after the fix, a restart resumes here. */
        size_t n = strlen(p->err);
        snprintf(p->err + n, sizeof p->err - n, " (transaction " LSN_FMT ", event %u)",
                 LSN_ARGS(p->ledger.txn_commit_lsn), p->ledger.txn_index + 1);
        *exit_code = EXIT_DATA;
        return STEP_EXIT;
    }
    if (ledger_event(&p->ledger, ev.key_len + ev.value_len, mono_ms()) == LEDGER_SKIP) {
        p->st.skipped++;
        return STEP_OK;
    }
    if ((st = ensure_kafka_txn(p)) != KAFKA_OK ||
        (st = kafka_produce(p->kafka, &ev, p->err, sizeof p->err)) != KAFKA_OK)
        return kafka_failed(p, st, exit_code);
    if (++p->st.events % POLL_EVERY == 0)
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

/* Connects, checks the publication and the slot against the committed position
 * (refusing to guess when they disagree) and starts streaming there. */
static int start_stream(pipeline *p)
{
    pgrepl_status st;
    pgrepl_system sys;
    pgrepl_slot slot;
    const relay_config *cfg = p->cfg;

    p->pg = pgrepl_connect(cfg->postgres.conninfo, cfg->postgres.connect_timeout_s, &st, p->err,
                           sizeof p->err);
    if (p->pg == NULL)
        return exit_for_pg(st);
    if ((st = pgrepl_identify(p->pg, &sys, p->err, sizeof p->err)) != PGREPL_OK ||
        (st = pgrepl_check_publication(p->pg, cfg->postgres.publication, cfg->outbox.table,
                                       p->err, sizeof p->err)) != PGREPL_OK ||
        (st = pgrepl_slot_info(p->pg, cfg->postgres.slot, &slot, p->err, sizeof p->err)) !=
            PGREPL_OK)
        return exit_for_pg(st);
    if (p->have_position && p->cp.system_id[0] && strcmp(p->cp.system_id, sys.system_id) != 0) {
        snprintf(p->err, sizeof p->err,
                 "the checkpoint of relay \"%s\" belongs to Postgres system %s, but %s is system "
                 "%s: refusing to guess where to start (use another name, or delete the "
                 "checkpoint record)",
                 cfg->name, p->cp.system_id, pgrepl_describe(p->pg), sys.system_id);
        return EXIT_POSITION;
    }
    snprintf(p->cp.system_id, sizeof p->cp.system_id, "%s", sys.system_id);
    snprintf(p->cp.slot, sizeof p->cp.slot, "%s", cfg->postgres.slot);
    if (!slot.exists) {
        if (p->have_position) {
            snprintf(p->err, sizeof p->err,
                     "replication slot \"%s\" is missing but relay \"%s\" has a checkpoint at "
                     LSN_FMT ": events written since may be lost; refusing to guess",
                     cfg->postgres.slot, cfg->name, LSN_ARGS(p->ledger.committed.end_lsn));
            return EXIT_POSITION;
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
            (st = pgrepl_slot_info(p->pg, cfg->postgres.slot, &slot, p->err, sizeof p->err)) !=
                PGREPL_OK)
            return exit_for_pg(st);
        log_info(p->lg, "created replication slot %s at " LSN_FMT, cfg->postgres.slot,
                 LSN_ARGS(slot.confirmed_flush));
    }
    if (strcmp(slot.plugin, "pgoutput") != 0 || strcmp(slot.database, sys.dbname) != 0) {
        snprintf(p->err, sizeof p->err,
                 "replication slot \"%s\" uses plugin %s on database %s; the relay needs "
                 "pgoutput on %s: drop it or choose another postgres.slot",
                 cfg->postgres.slot, slot.plugin, slot.database, sys.dbname);
        return EXIT_CONFIG;
    }
    if (slot.active) {
        snprintf(p->err, sizeof p->err,
                 "replication slot \"%s\" is in use by process %d (another relay?): stop it or "
                 "choose another postgres.slot",
                 cfg->postgres.slot, slot.active_pid);
        return EXIT_SLOT_BUSY;
    }
    if (!p->have_position) {
        ledger_init(&p->ledger, p->ledger.limits, (ledger_pos){slot.confirmed_flush, 0, 0});
        p->have_position = true;
    } else if (slot.confirmed_flush > p->ledger.committed.end_lsn) {
        snprintf(p->err, sizeof p->err,
                 "replication slot \"%s\" is at " LSN_FMT ", ahead of the checkpoint at " LSN_FMT
                 ": events in between may never have reached Kafka; refusing to guess",
                 cfg->postgres.slot, LSN_ARGS(slot.confirmed_flush),
                 LSN_ARGS(p->ledger.committed.end_lsn));
        return EXIT_POSITION;
    }
    st = pgrepl_start(p->pg, cfg->postgres.slot, cfg->postgres.publication,
                      p->ledger.committed.end_lsn, p->err, sizeof p->err);
    if (st != PGREPL_OK)
        return exit_for_pg(st);
    log_info(p->lg, "streaming from %s, slot %s at " LSN_FMT ", checkpoint " LSN_FMT " (" LSN_FMT
                    ":%u)",
             pgrepl_describe(p->pg), cfg->postgres.slot, LSN_ARGS(slot.confirmed_flush),
             LSN_ARGS(p->ledger.committed.end_lsn), LSN_ARGS(p->ledger.committed.commit_lsn),
             p->ledger.committed.index);
    p->last_status_ms = mono_ms();
    return EXIT_OK;
}

/* After an aborted Kafka transaction or a lost connection: forget the batch and start
 * the stream again from the slot, which replays exactly what was not committed. */
static void rewind_stream(pipeline *p)
{
    if (p->kafka_txn_open) {
        if (kafka_abort(p->kafka, p->err, sizeof p->err) != KAFKA_OK)
            log_warn(p->lg, "%s", p->err);
        p->kafka_txn_open = false;
    }
    ledger_rewind(&p->ledger);
    pgrepl_close(p->pg);
    p->pg = NULL;
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
     * the checkpoint), confirm it, leave. */
    if (p->ledger.batch_open) {
        s = commit_batch(p, &exit_code);
        if (s == STEP_EXIT)
            return exit_code;
        if (s == STEP_REWIND)
            rewind_stream(p);
    }
    send_status(p, false);
    return EXIT_OK;
}

static int run(pipeline *p)
{
    const relay_config *cfg = p->cfg;
    kafka_status kst;
    int rc, backoff_ms = 500;

    if (kafka_broker_count(p->kafka, cfg->postgres.connect_timeout_s * 1000, p->err,
                           sizeof p->err) < 0)
        return EXIT_UNAVAILABLE;
    kst = kafka_init_transactions(p->kafka, INIT_TIMEOUT_MS, p->err, sizeof p->err);
    if (kst != KAFKA_OK)
        return kst == KAFKA_FATAL ? EXIT_KAFKA : EXIT_UNAVAILABLE;
    if ((kst = kafka_ensure_checkpoint_topic(p->kafka, p->err, sizeof p->err)) != KAFKA_OK ||
        (kst = kafka_read_checkpoint(p->kafka, &p->cp, &p->have_position, p->err,
                                     sizeof p->err)) != KAFKA_OK)
        return kst == KAFKA_FATAL ? EXIT_CONFIG : EXIT_UNAVAILABLE;
    ledger_init(&p->ledger,
                (ledger_limits){(uint32_t)cfg->batch.max_events, (size_t)cfg->batch.max_bytes,
                                cfg->batch.linger_ms},
                p->cp.pos);
    if (p->have_position)
        log_info(p->lg, "checkpoint of relay %s: " LSN_FMT " (" LSN_FMT ":%u)", cfg->name,
                 LSN_ARGS(p->cp.pos.end_lsn), LSN_ARGS(p->cp.pos.commit_lsn), p->cp.pos.index);
    else
        log_info(p->lg, "no checkpoint for relay %s yet: starting at the slot's position",
                 cfg->name);
    if ((rc = start_stream(p)) != EXIT_OK)
        return rc;
    for (;;) {
        rc = stream(p);
        if (rc >= 0)
            return rc;
        rewind_stream(p);
        /* Reconnect with capped exponential backoff; what failed was said already. */
        for (;;) {
            struct timespec pause = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
            if (*p->stop)
                return EXIT_OK;
            nanosleep(&pause, NULL);
            if (*p->stop)
                return EXIT_OK;
            rc = start_stream(p);
            if (rc == EXIT_OK)
                break;
            pgrepl_close(p->pg);
            p->pg = NULL;
            /* Only what may pass by itself is retried: a server away, the old walsender
             * still holding the slot. The rest needs an operator. */
            if (rc != EXIT_UNAVAILABLE && rc != EXIT_SLOT_BUSY)
                return rc;
            log_warn(p->lg, "%s; retrying in %d ms", p->err, backoff_ms);
            backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
        }
        backoff_ms = 500;
    }
}

int pipeline_run(const relay_config *cfg, const log_ctx *lg, volatile sig_atomic_t *stop)
{
    pipeline p = {.cfg = cfg, .lg = lg, .stop = stop};
    int rc = EXIT_INTERNAL;

    p.last_stats_ms = p.last_idle_ms = mono_ms();
    p.decoder = pgo_decoder_new();
    p.mapper = event_mapper_new(cfg, p.err, sizeof p.err);
    if (p.decoder == NULL || p.mapper == NULL) {
        rc = p.mapper == NULL ? EXIT_CONFIG : EXIT_INTERNAL;
        goto out;
    }
    p.kafka = kafka_new(cfg, cfg->name, lg, p.err, sizeof p.err);
    if (p.kafka == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
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
    pgo_decoder_free(p.decoder);
    return rc;
}
