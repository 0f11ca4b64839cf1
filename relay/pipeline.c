#include "pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "exitcode.h"
#include "failpoint.h"
#include "kafka.h"
#include "ledger.h"
#include "message.h"
#include "notify.h"
#include "pgoutput.h"
#include "pgrepl.h"
#include "publication.h"
#include "publish.h"
#include "record.h"
#include "tables.h"

#define INIT_TIMEOUT_MS 60000
#define STATS_INTERVAL_MS 60000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STANDBY_POLL_MAX_MS 5000 /* a standby takes over at most this long after the slot frees */
#define PAUSE_SLICE_MS 1000      /* longest sleep between two watchdog checks */
#define SLOT_CHECK_MS 1000       /* how often the loop looks at what the slot watch saw */
#define SLOT_WARN_INTERVAL_MS 60000

/* Besides what the publisher counts. */
typedef struct stats {
    uint64_t skipped, pg_txns, idle_checkpoints;
    uint64_t other_tables, updates, deletes, truncates, messages;
} stats;

#define JSON_OID 114 /* pg_type.oid of json and jsonb: fixed in every Postgres */
#define JSONB_OID 3802

/* An outbox relation's columns as event_map reads them, collected once per Relation
 * message (event.h's neutral row); one per outbox table, as rows of several alternate. */
typedef struct row_shape {
    uint64_t shape; /* oid << 32 | version of the relation they were collected from */
    int cap;
    const char **names;
    event_value *values;
    uint32_t *types; /* pg_type oids, from the Relation message */
} row_shape;

/* The row shapes of the outbox tables seen (tables.h: usually one, or a few tenants). */
typedef struct row_shapes {
    row_shape *of;
    int n;
} row_shapes;

typedef struct pipeline {
    const relay_config *cfg;
    const pipeline_opts *opts;
    const log_ctx *lg;
    volatile sig_atomic_t *stop;
    relay_metrics *m; /* shared with the HTTP thread: see metrics.h for what locks */
    event_mapper *mapper;
    tables_set *tables; /* which relations are outbox tables */
    row_shapes rows;
    message_reader *messages; /* outbox.source = "messages", else NULL */
    /* Logical messages ignored in the transaction being received (other prefix,
     * non-transactional), and the stream position up to which ignored ones were counted
     * into the metrics: a replay after a rewind does not count them again. */
    uint64_t ignored_other_prefix;
    relay_lsn ignored_counted_lsn;
    publisher *pub; /* verdict, produce or dead-letter, commit with the checkpoint */
    kafka_client *kafka;
    pgo_decoder *decoder;
    pgrepl_conn *pg;
    ledger ledger;
    notify notify;       /* what a service manager (systemd) hears: ready, status, watchdog */
    pgrepl_system sys;   /* the server, as of the last connect */
    pgrepl_slot slot;    /* the slot, as of the last connect */
    record_checkpoint cp; /* system_id and slot stamped on every checkpoint */
    bool have_position;  /* the producer is ready and the ledger knows where we are */
    int64_t txn_commit_time_us; /* of the Postgres transaction being received, µs since 1970 */
    int64_t txn_begin_ms;       /* when its Begin arrived (monotonic), for lag_seconds */
    relay_lsn server_end;       /* the server's WAL end, as of the last message */
    int64_t last_status_ms, last_idle_ms, last_stats_ms;
    int64_t last_slot_check_ms, last_slot_warn_ms;
    log_repeat status_failed; /* repeats every second while Kafka is waited for */
    stats st;
    char err[2048];
} pipeline;

/* What the loop does after a step. */
typedef enum {
    STEP_OK,
    STEP_REWIND, /* drop the batch and restart the stream from the slot */
    STEP_EXIT,   /* stop with p->exit_code */
} step;

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
    const publish_counts *c = publish_get_counts(p->pub);

    log_info(p->lg,
             "published %" PRIu64 " events from %" PRIu64 " Postgres transactions in %" PRIu64
             " Kafka transactions (%" PRIu64 " checkpoint-only); skipped %" PRIu64
             " already published; ignored: %" PRIu64 " rows of other tables, %" PRIu64
             " updates, %" PRIu64 " deletes, %" PRIu64 " truncates, %" PRIu64
             " messages; dead-lettered %" PRIu64 "; confirmed " LSN_FMT,
             c->events, p->st.pg_txns, c->kafka_txns, p->st.idle_checkpoints, p->st.skipped,
             p->st.other_tables, p->st.updates, p->st.deletes, p->st.truncates, p->st.messages,
             c->dead_letters, LSN_ARGS(ledger_committed_lsn(&p->ledger)));
}

static step send_status(pipeline *p, bool reply)
{
    if (p->pg == NULL)
        return STEP_OK;
    if (pgrepl_send_status(p->pg, ledger_seen_lsn(&p->ledger), ledger_committed_lsn(&p->ledger),
                           reply, p->err, sizeof p->err) != PGREPL_OK) {
        log_repeated(p->lg, &p->status_failed, LVL_WARN, "%s", p->err);
        return STEP_REWIND;
    }
    log_repeat_reset(p->lg, &p->status_failed, LVL_WARN);
    p->last_status_ms = clock_mono_ms();
    return STEP_OK;
}

/* What the loop does after the publisher's step. */
static step after_publish(pipeline *p, publish_step ps, int *exit_code)
{
    if (ps == PUBLISH_OK)
        return STEP_OK;
    snprintf(p->err, sizeof p->err, "%s", publish_error(p->pub));
    if (ps == PUBLISH_EXIT) {
        *exit_code = publish_exit_code(p->pub);
        return STEP_EXIT;
    }
    log_warn(p->lg, "%s; the Kafka transaction is given up, restarting from " LSN_FMT, p->err,
             LSN_ARGS(ledger_committed_lsn(&p->ledger)));
    return STEP_REWIND;
}

/* Writes the checkpoint into the open Kafka transaction, commits it, and only then
 * confirms the checkpoint's end_lsn to Postgres (DESIGN §5.3–4). */
static step commit_batch(pipeline *p, int *exit_code)
{
    char value[512];
    int n;
    relay_lsn confirm;
    step s;
    int64_t t0 = clock_mono_us();

    p->cp.pos = ledger_batch_checkpoint(&p->ledger);
    n = record_checkpoint_format(p->cfg->name, &p->cp, value, sizeof value);
    if ((s = after_publish(p, publish_commit(p->pub, value, (size_t)n), exit_code)) != STEP_OK)
        return s;
    metrics_txn_committed(p->m, publish_get_counts(p->pub), (double)(clock_mono_us() - t0) / 1e6,
                          clock_wall_us() / 1000);
    FAILPOINT(p->opts->failpoint, "after_commit_before_status");
    if (p->cp.pos.commit_lsn != 0)
        FAILPOINT(p->opts->failpoint, "after_split_commit");
    confirm = ledger_batch_committed(&p->ledger);
    log_debug(p->lg, "committed Kafka transaction; checkpoint " LSN_FMT " (" LSN_FMT ":%u)",
              LSN_ARGS(confirm), LSN_ARGS(p->cp.pos.commit_lsn), p->cp.pos.index);
    /* What is still unconfirmed: the rest of a transaction split by this commit, or nothing. */
    metrics_lag_clear(p->m);
    if (ledger_in_txn(&p->ledger))
        metrics_lag_since(p->m, p->txn_begin_ms);
    metrics_slot_lag(p->m, p->server_end, confirm);
    return send_status(p, false);
}

/* The neutral row of an inserted tuple of rel; -1 with p->err when it does not fit. */
static int row_of(pipeline *p, const pgo_relation *rel, const pgo_value *vals, int n,
                  event_row *row)
{
    row_shape *rs = NULL;
    uint64_t shape = (uint64_t)rel->oid << 32 | rel->version;

    for (int i = 0; i < p->rows.n && rs == NULL; i++)
        if (p->rows.of[i].shape >> 32 == rel->oid)
            rs = &p->rows.of[i];
    if (rs == NULL) {
        row_shape *grown = realloc(p->rows.of, (size_t)(p->rows.n + 1) * sizeof(*grown));
        if (grown == NULL) {
            snprintf(p->err, sizeof p->err, "out of memory");
            return -1;
        }
        p->rows.of = grown;
        rs = &grown[p->rows.n++];
        *rs = (row_shape){(uint64_t)rel->oid << 32, 0, NULL, NULL, NULL}; /* version 0: none yet */
    }
    if (n != rel->ncolumns) {
        snprintf(p->err, sizeof p->err, "outbox row has %d columns, relation has %d", n,
                 rel->ncolumns);
        return -1;
    }
    if (n > rs->cap) {
        const char **names = realloc(rs->names, (size_t)n * sizeof(*names));
        event_value *values = names ? realloc(rs->values, (size_t)n * sizeof(*values)) : NULL;
        uint32_t *types = values ? realloc(rs->types, (size_t)n * sizeof(*types)) : NULL;
        if (names != NULL)
            rs->names = names;
        if (values != NULL)
            rs->values = values;
        if (types == NULL) {
            snprintf(p->err, sizeof p->err, "out of memory");
            return -1;
        }
        rs->types = types;
        rs->cap = n;
        rs->shape = (uint64_t)rel->oid << 32; /* collect the names again */
    }
    if (rs->shape != shape) {
        for (int i = 0; i < n; i++) {
            rs->names[i] = rel->columns[i].name;
            rs->types[i] = rel->columns[i].type_oid;
            if (p->cfg->outbox.value == CONFIG_VALUE_ENVELOPE &&
                strcmp(rel->columns[i].name, p->cfg->outbox.columns.payload) == 0 &&
                rel->columns[i].type_oid != JSON_OID && rel->columns[i].type_oid != JSONB_OID)
                log_info(p->lg,
                         "column \"%s\" of %s.%s is not json or jsonb (type oid %u): with "
                         "outbox.value = \"envelope\" a payload that is not JSON is "
                         "dead-lettered as bad_row (make it jsonb to have Postgres check it)",
                         rel->columns[i].name, rel->nspname, rel->relname,
                         rel->columns[i].type_oid);
        }
        rs->shape = shape;
    }
    /* Only text comes for an INSERT ('u', unchanged TOAST, only in updates). */
    for (int i = 0; i < n; i++)
        rs->values[i] = (event_value){vals[i].kind == 't' ? vals[i].data : NULL, vals[i].len};
    *row = (event_row){rel->nspname, rel->relname, n,   rs->names, rs->values,
                       shape,        p->txn_commit_time_us, rs->types};
    return 0;
}

/* The event at (lsn, index) of the transaction being received, as event_map returned it
 * (mapped; the reason in p->err when not 0), on its way: skipped when the checkpoint says it
 * is out, else decided and produced into the batch. */
static step publish_mapped(pipeline *p, const event *ev, int mapped, relay_lsn lsn,
                           uint32_t index, int *exit_code)
{
    size_t bytes = 0;
    step s;

    if (mapped < 0) {
        /* Nothing of this transaction is confirmed: after the fix, a restart resumes here. */
        size_t n = strlen(p->err);
        snprintf(p->err + n, sizeof p->err - n, " (transaction " LSN_FMT ", event %u)",
                 LSN_ARGS(lsn), index);
        *exit_code = EXIT_DATA;
        return STEP_EXIT;
    }
    /* Skipped before the verdict: an event dead-lettered before is as published as any. */
    if (ledger_event(&p->ledger, ev->key_len + ev->value_len, clock_mono_ms()) == LEDGER_SKIP) {
        p->st.skipped++;
        return STEP_OK;
    }
    if ((s = after_publish(p, publish_event(p->pub, ev, mapped == EVENT_BAD_ROW ? p->err : NULL,
                                            &bytes),
                           exit_code)) == STEP_OK &&
        bytes > 0)
        metrics_record_pending(p->m, ev->timestamp_ms);
    return s;
}

/*
 * A table that a pattern of outbox.table matches: an outbox table while its relation's
 * columns fit, decided once per version of the relation (a tenant added to the publication
 * while the relay runs joins; one whose columns do not fit is left out, said once, and does
 * not stop the others). The answer depends on the Relation message alone, so a replay after
 * a restart answers the same and the events' indexes in their transaction stay what the
 * checkpoint counted.
 */
static bool pattern_fits(pipeline *p, const pgo_msg *m)
{
    const pgo_relation *rel = m->u.change.rel;
    uint64_t shape = (uint64_t)rel->oid << 32 | rel->version;
    int fits = tables_fits(p->tables, shape);
    event_row row;

    if (fits >= 0)
        return fits == 1;
    /* A row that does not even decode is the ordinary path's to report. */
    if (row_of(p, rel, m->u.change.new_tuple, m->u.change.nnew, &row) != 0)
        return true;
    fits = event_check_columns(p->mapper, &row, p->err, sizeof p->err) == 0;
    if (!fits)
        log_warn(p->lg,
                 "%s; its rows are left out although outbox.table \"%s\" matches it: fix its "
                 "columns (rows from then on are published), or take it out of publication %s",
                 p->err, p->cfg->outbox.table, p->cfg->postgres.publication);
    else if (!tables_known(p->tables, rel->nspname, rel->relname))
        log_info(p->lg, "outbox table %s.%s joins: outbox.table \"%s\" matches it, its columns fit",
                 rel->nspname, rel->relname, p->cfg->outbox.table);
    /* Out of memory: decided again at its next row, the same way. */
    (void)tables_remember(p->tables, shape, fits);
    return fits;
}

static step on_insert(pipeline *p, const pgo_msg *m, int *exit_code)
{
    const pgo_relation *rel = m->u.change.rel;
    tables_kind kind = tables_match(p->tables, rel->nspname, rel->relname);
    event_row row;
    event ev;
    relay_lsn lsn;
    uint32_t index;
    int mapped = -1;

    /* With outbox.source = "messages" no table is the outbox. */
    if (p->messages != NULL || kind == TABLES_OTHER ||
        (kind == TABLES_PATTERN && !pattern_fits(p, m))) {
        p->st.other_tables++;
        return STEP_OK;
    }
    ledger_next_event(&p->ledger, &lsn, &index);
    if (row_of(p, rel, m->u.change.new_tuple, m->u.change.nnew, &row) == 0)
        mapped = event_map(p->mapper, &row, lsn, index, &ev, p->err, sizeof p->err);
    return publish_mapped(p, &ev, mapped, lsn, index, exit_code);
}

/* Ignored logical messages into the metrics, once: only past what was counted before a
 * rewind. `at` is where the record ends: a transaction's commit record (end_lsn), a
 * non-transactional message's own (its LSN on the wire is its record's end, which can equal
 * the next commit's commit_lsn). Transactions arrive in commit order and non-transactional
 * messages in WAL order between them, so these positions only grow. */
static void count_ignored(pipeline *p, relay_lsn at, uint64_t other_prefix,
                          uint64_t non_transactional)
{
    if (at <= p->ignored_counted_lsn)
        return;
    p->ignored_counted_lsn = at;
    if (other_prefix + non_transactional > 0)
        metrics_messages_ignored(p->m, other_prefix, non_transactional);
}

/* A logical decoding message: with outbox.source = "messages" and the prefix, an event read
 * from its content (message.h); else counted and ignored. */
static step on_message(pipeline *p, const pgo_msg *m, int *exit_code)
{
    const char *prefix = m->u.message.prefix;
    bool transactional = (m->u.message.flags & 1) != 0;
    message_kind kind;
    event_row row;
    event ev;
    relay_lsn lsn;
    uint32_t index;
    char reason[1024];
    int mapped;

    if (p->messages == NULL) {
        p->st.messages++; /* not asked for: only a server that sends them anyway */
        return STEP_OK;
    }
    kind = message_classify(p->cfg, transactional, prefix);
    if (kind != MESSAGE_EVENT) {
        p->st.messages++;
        log_debug(p->lg, "ignored a %s logical message with prefix \"%.100s\" at " LSN_FMT
                  " (outbox.message_prefix is \"%s\")",
                  transactional ? "transactional" : "non-transactional", prefix,
                  LSN_ARGS(m->u.message.lsn), p->cfg->outbox.message_prefix);
        if (kind == MESSAGE_OTHER_PREFIX)
            p->ignored_other_prefix++;
        else
            count_ignored(p, m->u.message.lsn, 0, 1);
        return STEP_OK;
    }
    ledger_next_event(&p->ledger, &lsn, &index);
    mapped = message_row(p->messages, m->u.message.content, m->u.message.content_len, lsn, index,
                         p->txn_commit_time_us, &row, reason, sizeof reason);
    if (mapped == MESSAGE_BAD) {
        /* event_map makes what the row offers into the dead letter, whose value is the
         * content as sent (the row's payload), even where an envelope would wrap it; the
         * reason is the message's. */
        if (event_map(p->mapper, &row, lsn, index, &ev, p->err, sizeof p->err) >= 0) {
            mapped = EVENT_BAD_ROW;
            ev.value = ev.payload;
            ev.value_len = ev.payload_len;
            snprintf(p->err, sizeof p->err, "%s", reason);
        } else {
            mapped = -1;
        }
    } else {
        mapped = event_map(p->mapper, &row, lsn, index, &ev, p->err, sizeof p->err);
    }
    return publish_mapped(p, &ev, mapped, lsn, index, exit_code);
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
        p->ignored_other_prefix = 0;
        p->txn_commit_time_us = m.u.begin.commit_time + CLOCK_PG_EPOCH_OFFSET_US;
        p->txn_begin_ms = clock_mono_ms();
        metrics_lag_since(p->m, p->txn_begin_ms);
        return STEP_OK;
    case PGO_COMMIT:
        ledger_commit(&p->ledger, m.u.commit.end_lsn);
        count_ignored(p, m.u.commit.end_lsn, p->ignored_other_prefix, 0);
        p->st.pg_txns++;
        /* Nothing of it waits for Kafka (no outbox rows, or all published before), and no
         * open batch does: caught up. */
        if (!ledger_batch_open(&p->ledger))
            metrics_lag_clear(p->m);
        return STEP_OK;
    case PGO_INSERT: return on_insert(p, &m, exit_code);
    case PGO_UPDATE: p->st.updates++; return STEP_OK;
    case PGO_DELETE: p->st.deletes++; return STEP_OK;
    case PGO_TRUNCATE: p->st.truncates++; return STEP_OK;
    case PGO_MESSAGE: return on_message(p, &m, exit_code);
    default: return STEP_OK; /* Relation, Type, Origin: the decoder keeps what matters */
    }
}

/* The message for a slot whose WAL Postgres removed (wal_status "lost"), and the fix. */
static int slot_lost(pipeline *p)
{
    const char *slot = p->cfg->postgres.slot;

    snprintf(p->err, sizeof p->err,
             "replication slot \"%s\" is lost (wal_status lost): Postgres removed WAL it still "
             "needed (max_slot_wal_keep_size), so events after the confirmed position " LSN_FMT
             " may never reach Kafka; drop and create the slot (SELECT "
             "pg_drop_replication_slot('%s'); SELECT pg_create_logical_replication_slot('%s', "
             "'pgoutput');), start once with --accept-slot-position, and replay the gap with "
             "outbox-relay backfill --since <the time of the last event consumers saw>",
             slot, LSN_ARGS(ledger_committed_lsn(&p->ledger)), slot, slot);
    return EXIT_POSITION;
}

/* What the slot watch (slotwatch.h) last saw: a lost slot stops the relay; an unreserved one,
 * or one close to it, is worth a warning now and then. */
static step check_slot(pipeline *p, int64_t now, int *exit_code)
{
    metrics_slot s = metrics_get_slot(p->m);
    bool unreserved = strcmp(s.wal_status, "unreserved") == 0;
    bool low = s.have_safe_wal_size && p->cfg->postgres.slot_warn_bytes > 0 &&
               s.safe_wal_size < p->cfg->postgres.slot_warn_bytes;

    p->last_slot_check_ms = now;
    if (!s.have)
        return STEP_OK;
    if (strcmp(s.wal_status, "lost") == 0) {
        *exit_code = slot_lost(p);
        return STEP_EXIT;
    }
    if ((unreserved || low) &&
        (p->last_slot_warn_ms == 0 || now - p->last_slot_warn_ms >= SLOT_WARN_INTERVAL_MS)) {
        p->last_slot_warn_ms = now;
        log_write_fields(p->lg, LVL_WARN, &(log_field){"slot", p->cfg->postgres.slot, 0}, 1,
                 "replication slot \"%s\" is in danger: wal_status %s, safe_wal_size %" PRId64
                 " bytes (postgres.slot_warn_bytes %d), retaining %" PRId64 " bytes of WAL; once "
                 "max_slot_wal_keep_size is exceeded Postgres removes WAL the slot needs and the "
                 "relay stops (exit 79): make sure it can publish (Kafka reachable, not stopped) "
                 "or raise max_slot_wal_keep_size",
                 p->cfg->postgres.slot, s.wal_status, s.safe_wal_size,
                 p->cfg->postgres.slot_warn_bytes, s.retained_wal_bytes);
    }
    return STEP_OK;
}

/* Timers that run whether or not data arrives: batch due, idle advance, status, stats.
 * drained: the last read found nothing ready. */
static step on_tick(pipeline *p, bool drained, int *exit_code)
{
    int64_t now = clock_mono_ms();
    step s;

    metrics_heartbeat(p->m, now);
    if (ledger_batch_due(&p->ledger, now, drained)) {
        if ((s = commit_batch(p, exit_code)) != STEP_OK)
            return s;
        /* Nothing more was ready: the next transaction will be small (kafka.h). */
        if (drained)
            kafka_pause_next(p->kafka);
    }
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
    notify_streaming(&p->notify, now, ledger_committed_lsn(&p->ledger));
    if (now - p->last_slot_check_ms >= SLOT_CHECK_MS)
        return check_slot(p, now, exit_code);
    return STEP_OK;
}

/* How long the next read may wait: until the batch's linger (which only ends at a
 * transaction boundary) or the next status update. With adaptive batching an open batch at
 * a transaction boundary does not wait at all: the read only looks whether more is ready,
 * and when nothing is, the batch is committed. */
static int read_timeout(const pipeline *p)
{
    int64_t now = clock_mono_ms(), until = p->last_status_ms + p->cfg->postgres.status_interval_ms;
    int64_t linger;

    if (ledger_linger_deadline(&p->ledger, &linger) && (p->cfg->batch.adaptive || linger < until))
        until = p->cfg->batch.adaptive ? now : linger;
    if (until - now > 1000)
        return 1000;
    return until > now ? (int)(until - now) : 0;
}

/* publication_resolve on a reconnect: a table a pattern finds that does not fit stays left
 * out, as the stream left it out (joins), and the relay goes on with the others. */
static void unfit_on_reconnect(void *arg, const char *table, bool ok, const char *what)
{
    pipeline *p = arg;

    (void)table, (void)ok;
    log_warn(p->lg, "%s; its rows stay left out", what);
}

/* The zone a created_at without one is read in: outbox.timestamp_zone, or the database's
 * TimeZone (the stream's session keeps it). */
static int set_zone(pipeline *p)
{
    char zone[128];
    pgrepl_status st;

    snprintf(zone, sizeof zone, "%s", p->cfg->outbox.timestamp_zone);
    if (zone[0] == '\0' &&
        (st = pgrepl_query_value(p->pg, "SHOW TimeZone", zone, sizeof zone, p->err,
                                 sizeof p->err)) != PGREPL_OK)
        return exit_for_pg(st);
    if (event_mapper_set_zone(p->mapper, zone, p->err, sizeof p->err) != 0)
        return EXIT_CONFIG;
    if (p->cfg->outbox.columns.created_at[0] != '\0')
        log_info(p->lg, "a created_at without a time zone is read in %s%s", zone,
                 p->cfg->outbox.timestamp_zone[0] ? "" : " (the database's TimeZone)");
    return EXIT_OK;
}

/* The message for a slot or server that disagrees with the checkpoint, and the fixes. */
static int refuse_position(pipeline *p, const char *what)
{
    snprintf(p->err, sizeof p->err,
             "%s: events in between may be missing from Kafka or in it twice; refusing to guess "
             "(point postgres.conninfo at the server that holds the relay's slot and history, "
             "or run with --accept-slot-position to continue from the slot's position anyway)",
             what);
    return EXIT_POSITION;
}

/* --accept-slot-position overrode a refusal (what): say loudly which LSN range, between the
 * slot and the checkpoint at checkpoint_lsn, may be missing or duplicated. */
static void warn_accepted(pipeline *p, const char *what, relay_lsn checkpoint_lsn)
{
    relay_lsn slot = p->slot.confirmed_flush;

    log_warn(p->lg,
             "--accept-slot-position: %s; continuing from the slot at " LSN_FMT ": events "
             "between " LSN_FMT " and " LSN_FMT " may be MISSING from Kafka or in it twice",
             what, LSN_ARGS(slot), LSN_ARGS(slot < checkpoint_lsn ? slot : checkpoint_lsn),
             LSN_ARGS(slot < checkpoint_lsn ? checkpoint_lsn : slot));
}

/* Reads this relay's newest committed checkpoint into p->cp; *found is false when there is
 * none (a relay that never committed). */
static int read_checkpoint(pipeline *p, bool *found)
{
    char value[1024];
    size_t len = 0;
    kafka_status kst;

    if ((kst = kafka_ensure_checkpoint_topic(p->kafka, p->err, sizeof p->err)) != KAFKA_OK ||
        (kst = kafka_read_latest(p->kafka, p->cfg->name, value, sizeof value, &len, found, p->err,
                                 sizeof p->err)) != KAFKA_OK)
        return kst != KAFKA_FATAL     ? EXIT_UNAVAILABLE
               : kafka_refused(p->kafka) ? EXIT_KAFKA
                                        : EXIT_CONFIG;
    if (*found && record_checkpoint_parse(value, len, &p->cp, p->err, sizeof p->err) != 0)
        return EXIT_CONFIG;
    return EXIT_OK;
}

/*
 * Whether the server's history can hold a checkpoint at end_lsn written on `timeline` (0:
 * unknown): its WAL reaches that far, and it did not leave that timeline before it.
 * A promoted standby that lagged, a point-in-time restore or a server whose WAL went back
 * fail one of the two, and the slot on it (recreated or not) is behind the checkpoint:
 * skipping "published" transactions below the checkpoint there would lose events. True,
 * with why in what, when it cannot.
 */
static bool history_lacks(pipeline *p, relay_lsn end_lsn, uint32_t timeline, char *what,
                          size_t size)
{
    relay_lsn ended = 0;

    what[0] = '\0';
    if (end_lsn > p->sys.xlogpos) {
        snprintf(what, size,
                 "relay \"%s\"'s checkpoint at " LSN_FMT " (timeline %u) is beyond the end of "
                 "the WAL of %s at " LSN_FMT " (timeline %u): that server's history cannot hold "
                 "it (a failover to a lagging standby, a restore to an earlier point?)",
                 p->cfg->name, LSN_ARGS(end_lsn), timeline, pgrepl_describe(p->pg),
                 LSN_ARGS(p->sys.xlogpos), p->sys.timeline);
        return true;
    }
    if (timeline == 0 || timeline == p->sys.timeline)
        return false;
    if (!pgrepl_timeline_end(&p->sys, timeline, &ended))
        snprintf(what, size,
                 "relay \"%s\"'s checkpoint at " LSN_FMT " was written on timeline %u, which is "
                 "not in the history of %s (timeline %u at " LSN_FMT ")",
                 p->cfg->name, LSN_ARGS(end_lsn), timeline, pgrepl_describe(p->pg),
                 p->sys.timeline, LSN_ARGS(p->sys.xlogpos));
    else if (ended < end_lsn)
        snprintf(what, size,
                 "%s left timeline %u for a new one at " LSN_FMT ", before relay \"%s\"'s "
                 "checkpoint at " LSN_FMT " (timeline %u; the server is now on timeline %u at "
                 LSN_FMT "): what the checkpoint covers after that point is not in its history",
                 pgrepl_describe(p->pg), timeline, LSN_ARGS(ended), p->cfg->name,
                 LSN_ARGS(end_lsn), timeline, p->sys.timeline, LSN_ARGS(p->sys.xlogpos));
    return what[0] != '\0';
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
    char what[1024], list[512];
    int rc;

    p->pg = pgrepl_connect(cfg->postgres.conninfo, cfg->postgres.connect_timeout_s, &st, p->err,
                           sizeof p->err);
    if (p->pg == NULL)
        return exit_for_pg(st);
    if (cfg->postgres.failover_slot && pgrepl_server_version(p->pg) < 170000) {
        snprintf(p->err, sizeof p->err,
                 "postgres.failover_slot = true needs Postgres 17 or newer; %s runs %d.%d: set "
                 "it to false (a failover then needs the steps in the README)",
                 pgrepl_describe(p->pg), pgrepl_server_version(p->pg) / 10000,
                 pgrepl_server_version(p->pg) % 10000);
        return EXIT_CONFIG;
    }
    if (p->messages != NULL && pgrepl_server_version(p->pg) < 140000) {
        snprintf(p->err, sizeof p->err,
                 "outbox.source = \"messages\" needs Postgres 14 or newer (pgoutput's messages "
                 "option); %s runs %d.%d: upgrade it, or write events to an outbox table "
                 "(outbox.source = \"table\")",
                 pgrepl_describe(p->pg), pgrepl_server_version(p->pg) / 10000,
                 pgrepl_server_version(p->pg) % 10000);
        return EXIT_CONFIG;
    }
    if ((st = pgrepl_identify(p->pg, &p->sys, p->err, sizeof p->err)) != PGREPL_OK ||
        (st = p->messages != NULL
                  ? pgrepl_check_publication_exists(p->pg, cfg->postgres.publication, p->err,
                                                    sizeof p->err)
                  : publication_resolve(p->pg, cfg, p->tables, p->mapper, p->have_position,
                                        p->have_position ? unfit_on_reconnect : NULL, p, p->err,
                                        sizeof p->err)) != PGREPL_OK ||
        (st = pgrepl_slot_info(p->pg, cfg->postgres.slot, slot, p->err, sizeof p->err)) !=
            PGREPL_OK)
        return exit_for_pg(st);
    log_write(p->lg, p->have_position ? LVL_DEBUG : LVL_INFO, "outbox table%s: %s",
              tables_count(p->tables) > 1 ? "s" : "", tables_list(p->tables, list, sizeof list));
    if (!slot->exists) {
        bool found = p->have_position;

        /* A slot may be created only where the relay has no history yet: a checkpoint means
         * the slot was lost (a failover, a restore, dropped by hand), and a new one would
         * start past events that never reached Kafka. The checkpoint is read unfenced here,
         * which is enough to tell whether one was ever committed. */
        if (!p->have_position && (rc = read_checkpoint(p, &found)) != EXIT_OK)
            return rc;
        if (found && !p->opts->accept_slot_position) {
            snprintf(what, sizeof what,
                     "replication slot \"%s\" does not exist on %s (timeline %u at " LSN_FMT
                     "), but relay \"%s\" has a checkpoint at " LSN_FMT " (timeline %u)",
                     cfg->postgres.slot, pgrepl_describe(p->pg), p->sys.timeline,
                     LSN_ARGS(p->sys.xlogpos), cfg->name,
                     LSN_ARGS(p->have_position ? ledger_committed_lsn(&p->ledger)
                                               : p->cp.pos.end_lsn),
                     p->cp.timeline);
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
        if ((st = pgrepl_create_slot(p->pg, cfg->postgres.slot, cfg->postgres.failover_slot,
                                     p->err, sizeof p->err)) != PGREPL_OK ||
            (st = pgrepl_slot_info(p->pg, cfg->postgres.slot, slot, p->err, sizeof p->err)) !=
                PGREPL_OK)
            return exit_for_pg(st);
        log_info(p->lg, "created %sreplication slot %s at " LSN_FMT,
                 cfg->postgres.failover_slot ? "failover " : "", cfg->postgres.slot,
                 LSN_ARGS(slot->confirmed_flush));
    }
    if (strcmp(slot->plugin, "pgoutput") != 0 || strcmp(slot->database, p->sys.dbname) != 0) {
        snprintf(p->err, sizeof p->err,
                 "replication slot \"%s\" uses plugin %s on database %s; the relay needs "
                 "pgoutput on %s: drop it or choose another postgres.slot",
                 cfg->postgres.slot, slot->plugin, slot->database, p->sys.dbname);
        return EXIT_CONFIG;
    }
    if (strcmp(slot->wal_status, "lost") == 0)
        return slot_lost(p);
    if (slot->active) {
        snprintf(p->err, sizeof p->err, "replication slot \"%s\" is in use by process %d",
                 cfg->postgres.slot, slot->active_pid);
        return EXIT_SLOT_BUSY;
    }
    if (cfg->postgres.failover_slot && slot->failover == 0) {
        if ((st = pgrepl_make_failover_slot(p->pg, cfg->postgres.slot, p->err,
                                            sizeof p->err)) != PGREPL_OK)
            return exit_for_pg(st);
        log_info(p->lg, "made replication slot %s a failover slot (postgres.failover_slot)",
                 cfg->postgres.slot);
    }
    if (p->have_position) {
        bool lacks = history_lacks(p, ledger_committed_lsn(&p->ledger), p->cp.timeline, what,
                                   sizeof what);
        if (lacks && !p->opts->accept_slot_position)
            return refuse_position(p, what);
        if (lacks) {
            warn_accepted(p, what, ledger_committed_lsn(&p->ledger));
            ledger_restart(&p->ledger, (ledger_pos){slot->confirmed_flush, 0, 0});
        }
        p->cp.timeline = p->sys.timeline;
    }
    if (p->have_position && slot->confirmed_flush > ledger_committed_lsn(&p->ledger)) {
        snprintf(what, sizeof what,
                 "replication slot \"%s\" moved to " LSN_FMT ", ahead of the checkpoint at " LSN_FMT,
                 cfg->postgres.slot, LSN_ARGS(slot->confirmed_flush),
                 LSN_ARGS(ledger_committed_lsn(&p->ledger)));
        return refuse_position(p, what);
    }
    if (!p->have_position && (rc = set_zone(p)) != EXIT_OK)
        return rc;
    /* 0/0 before the checkpoint is known: the server starts at confirmed_flush, which is
     * never ahead of the checkpoint (checked in become_producer); the ledger skips what
     * the checkpoint covers. */
    st = pgrepl_start(p->pg, cfg->postgres.slot, cfg->postgres.publication, p->messages != NULL,
                      p->have_position ? ledger_committed_lsn(&p->ledger) : 0, p->err,
                      sizeof p->err);
    if (st != PGREPL_OK)
        return exit_for_pg(st);
    p->last_status_ms = clock_mono_ms();
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
    char what[1024];
    int rc;

    kst = kafka_init_transactions(p->kafka, INIT_TIMEOUT_MS, p->err, sizeof p->err);
    if (kst != KAFKA_OK)
        return kst == KAFKA_FATAL ? EXIT_KAFKA : EXIT_UNAVAILABLE;
    if ((rc = read_checkpoint(p, &found)) != EXIT_OK)
        return rc;
    what[0] = '\0';
    if (found && p->cp.system_id[0] && strcmp(p->cp.system_id, p->sys.system_id) != 0)
        snprintf(what, sizeof what,
                 "the checkpoint of relay \"%s\" belongs to Postgres system %s, but %s is system %s",
                 cfg->name, p->cp.system_id, pgrepl_describe(p->pg), p->sys.system_id);
    else if (found)
        history_lacks(p, p->cp.pos.end_lsn, p->cp.timeline, what, sizeof what);
    if (what[0] == '\0' && found && p->slot.confirmed_flush > p->cp.pos.end_lsn)
        snprintf(what, sizeof what,
                 "replication slot \"%s\" is at " LSN_FMT ", ahead of relay \"%s\"'s checkpoint "
                 "at " LSN_FMT " (was the slot dropped and created again, or advanced by hand?)",
                 cfg->postgres.slot, LSN_ARGS(p->slot.confirmed_flush), cfg->name,
                 LSN_ARGS(p->cp.pos.end_lsn));
    if (what[0] != '\0' && !p->opts->accept_slot_position)
        return refuse_position(p, what);
    if (what[0] != '\0')
        warn_accepted(p, what, p->cp.pos.end_lsn);
    else if (found)
        start = p->cp.pos;
    p->cp.timeline = p->sys.timeline;
    snprintf(p->cp.system_id, sizeof p->cp.system_id, "%s", p->sys.system_id);
    snprintf(p->cp.slot, sizeof p->cp.slot, "%s", cfg->postgres.slot);
    ledger_restart(&p->ledger, start);
    p->have_position = true;
    snprintf(what, sizeof what, LSN_FMT, LSN_ARGS(start.end_lsn));
    log_write_fields(p->lg, LVL_INFO,
                     (log_field[]){{"slot", cfg->postgres.slot, 0}, {"lsn", what, 0}}, 2,
                     "streaming from %s, slot %s at " LSN_FMT ", checkpoint %s" LSN_FMT
                     " (" LSN_FMT ":%u)",
                     pgrepl_describe(p->pg), cfg->postgres.slot, LSN_ARGS(p->slot.confirmed_flush),
                     found ? "" : "(none yet) ", LSN_ARGS(start.end_lsn),
                     LSN_ARGS(start.commit_lsn), start.index);
    notify_ready(&p->notify, "streaming from " LSN_FMT, LSN_ARGS(start.end_lsn));
    return EXIT_OK;
}

/* After an aborted Kafka transaction or a lost connection: abort the open transaction,
 * forget the batch and start the stream again from the slot, which replays exactly what
 * was not committed. The abort must finish before a new transaction can begin, so a
 * broker away is waited for. Returns EXIT_OK to go on, or an exit code. */
static int rewind_stream(pipeline *p)
{
    if (publish_abort(p->pub) != PUBLISH_OK) {
        snprintf(p->err, sizeof p->err, "%s", publish_error(p->pub));
        return publish_exit_code(p->pub);
    }
    metrics_txn_aborted(p->m, publish_get_counts(p->pub));
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
        if (msg.kind != PGREPL_MSG_NONE && msg.wal_end > p->server_end)
            p->server_end = msg.wal_end;
        if (msg.kind == PGREPL_MSG_DATA) {
            s = on_data(p, &msg, &exit_code);
        } else if (msg.kind == PGREPL_MSG_KEEPALIVE) {
            ledger_server_position(&p->ledger, msg.wal_end);
            metrics_slot_lag(p->m, msg.wal_end, ledger_committed_lsn(&p->ledger));
            if (msg.reply_requested)
                s = send_status(p, false);
        }
        if (s == STEP_OK)
            s = on_tick(p, msg.kind == PGREPL_MSG_NONE, &exit_code);
        if (s == STEP_REWIND)
            return -1;
        if (s == STEP_EXIT)
            return exit_code;
    }
    /* Graceful stop: publish what is open (a partial transaction is recorded as such in
     * the checkpoint), confirm it, leave. A standby never gets here: it has no stream. */
    notify_stopping(&p->notify);
    metrics_set_state(p->m, METRICS_STOPPING);
    if (ledger_batch_open(&p->ledger)) {
        s = commit_batch(p, &exit_code);
        if (s == STEP_EXIT)
            return exit_code;
        if (s == STEP_REWIND)
            return rewind_stream(p);
    }
    send_status(p, false);
    return EXIT_OK;
}

/* Sleeps ms unless a stop is requested (a signal interrupts the sleep), in slices that
 * keep the watchdog fed and the heartbeat of /healthz going. */
static bool pause_unless_stopped(pipeline *p, int ms)
{
    int64_t now, until = clock_mono_ms() + ms;

    while (!*p->stop && (now = clock_mono_ms()) < until) {
        notify_watchdog(&p->notify, now);
        metrics_heartbeat(p->m, now);
        clock_sleep_ms(until - now < PAUSE_SLICE_MS ? until - now : PAUSE_SLICE_MS);
    }
    if (*p->stop) {
        notify_stopping(&p->notify);
        metrics_set_state(p->m, METRICS_STOPPING);
    }
    return !*p->stop;
}

static int run(pipeline *p)
{
    int rc, backoff_ms = BACKOFF_MIN_MS;
    bool standby_logged = false;

    if (kafka_broker_count(p->kafka, p->cfg->postgres.connect_timeout_s * 1000, p->err,
                           sizeof p->err) < 0)
        return kafka_refused(p->kafka) ? EXIT_KAFKA : EXIT_UNAVAILABLE;
    for (;;) {
        rc = open_stream(p);
        if (rc == EXIT_OK && !p->have_position)
            rc = become_producer(p);
        else if (rc == EXIT_OK) {
            log_info(p->lg, "streaming again from " LSN_FMT,
                     LSN_ARGS(ledger_committed_lsn(&p->ledger)));
            notify_ready(&p->notify, "streaming again from " LSN_FMT,
                         LSN_ARGS(ledger_committed_lsn(&p->ledger)));
            metrics_pg_reconnect(p->m);
        }
        if (rc == EXIT_OK) {
            metrics_set_state(p->m, METRICS_STREAMING);
            if (standby_logged)
                log_info(p->lg, "slot %s is free: taking over", p->cfg->postgres.slot);
            standby_logged = false;
            backoff_ms = BACKOFF_MIN_MS;
            rc = stream(p);
            if (rc >= 0)
                return rc;
            metrics_set_state(p->m, METRICS_STARTING);
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
                if (!standby_logged) {
                    log_info(p->lg, "standby: %s; waiting to take over when it frees", p->err);
                    notify_ready(&p->notify, "standby: %s", p->err);
                }
                metrics_set_state(p->m, METRICS_STANDBY);
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

    notify_watchdog(&p->notify, clock_mono_ms());
    metrics_heartbeat(p->m, clock_mono_ms());
    if (clock_mono_ms() - p->last_status_ms >= p->cfg->postgres.status_interval_ms)
        send_status(p, false);
}

int pipeline_run(const relay_config *cfg, const pipeline_opts *opts, const log_ctx *lg,
                 volatile sig_atomic_t *stop)
{
    pipeline p = {.cfg = cfg, .opts = opts, .lg = lg, .stop = stop, .m = opts->metrics};
    publish_opts popts = {.state_key = cfg->name,
                          .resume = "nothing from its transaction on was confirmed, so the relay "
                                    "resumes there",
                          .failpoint = opts->failpoint,
                          .stop = stop};
    int rc = EXIT_INTERNAL;

    p.last_stats_ms = p.last_idle_ms = clock_mono_ms();
    notify_init(&p.notify, p.last_stats_ms);
    p.decoder = pgo_decoder_new();
    p.mapper = event_mapper_new(cfg, NULL, p.err, sizeof p.err);
    p.tables = tables_new(cfg->outbox.table);
    if (p.decoder == NULL || p.mapper == NULL || p.tables == NULL) {
        rc = p.mapper == NULL ? EXIT_CONFIG : EXIT_INTERNAL;
        goto out;
    }
    if (cfg->outbox.source == CONFIG_SOURCE_MESSAGES) {
        if ((p.messages = message_reader_new(cfg)) == NULL) {
            rc = EXIT_INTERNAL;
            goto out;
        }
        if (message_check_mapper(p.messages, p.mapper, p.err, sizeof p.err) != 0) {
            rc = EXIT_CONFIG;
            goto out;
        }
        log_info(lg, "events are logical messages with prefix \"%s\" (outbox.source = "
                     "\"messages\"); the outbox table is not read",
                 cfg->outbox.message_prefix);
    }
    p.kafka = kafka_new(cfg, cfg->name, lg, p.err, sizeof p.err);
    if (p.kafka == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
    /* Schemas are compiled before anything connects: a broken one stops the start. */
    if ((p.pub = publish_new(cfg, p.kafka, &popts, lg, p.err, sizeof p.err)) == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
    if (publish_schema_count(p.pub) > 0)
        log_info(lg, "schemas: %d from %s (applies to the %s; invalid: %s, unknown type: %s)",
                 publish_schema_count(p.pub), cfg->schemas.dir,
                 config_applies_to_name(cfg->schemas.applies_to),
                 config_on_invalid_name(cfg->schemas.on_invalid),
                 config_on_unknown_name(cfg->schemas.on_unknown_type));
    kafka_set_wait_hook(p.kafka, on_kafka_wait, &p);
    ledger_init(&p.ledger,
                (ledger_limits){(uint32_t)cfg->batch.max_events, (size_t)cfg->batch.max_bytes,
                                cfg->batch.linger_ms, cfg->batch.adaptive},
                (ledger_pos){0, 0, 0});
    rc = run(&p);
out:
    metrics_set_state(p.m, METRICS_STOPPING);
    if (rc != EXIT_OK && p.err[0] != '\0')
        log_error(lg, "%s", p.err);
    if (p.pub != NULL) {
        if (publish_txn_open(p.pub) && publish_abort(p.pub) != PUBLISH_OK)
            log_warn(lg, "%s", publish_error(p.pub));
        log_stats(&p);
    }
    pgrepl_close(p.pg);
    publish_free(p.pub);
    kafka_free(p.kafka);
    event_mapper_free(p.mapper);
    message_reader_free(p.messages);
    tables_free(p.tables);
    for (int i = 0; i < p.rows.n; i++) {
        free(p.rows.of[i].names);
        free(p.rows.of[i].values);
        free(p.rows.of[i].types);
    }
    free(p.rows.of);
    pgo_decoder_free(p.decoder);
    return rc;
}
