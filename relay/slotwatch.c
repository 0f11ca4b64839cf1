#include "slotwatch.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pgconn.h"

struct slotwatch {
    const relay_config *cfg;
    const log_ctx *lg;
    relay_metrics *m;
    pthread_t thread;
    atomic_bool stop;
    PGconn *pg;
    bool failing; /* the last attempt failed: logged once until one succeeds */
};

/* The WAL position of a primary, or what a standby received. restart_lsn is NULL once the
 * slot is lost. */
static const char *const query =
    "SELECT coalesce(pg_catalog.pg_wal_lsn_diff(CASE WHEN pg_catalog.pg_is_in_recovery() "
    "THEN pg_catalog.pg_last_wal_receive_lsn() ELSE pg_catalog.pg_current_wal_lsn() END, "
    "restart_lsn)::bigint, 0), coalesce(wal_status, ''), safe_wal_size "
    "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1";

/* An ordinary connection (no replication) as conninfo says, the user's options kept and a
 * statement timeout added; the user's connect_timeout wins (dbname expands conninfo after
 * ours). */
static void connect_pg(slotwatch *w, char *err, size_t err_size)
{
    char timeout[16], options[1024];
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", "options",
                          PGCONN_CLIENT_ENCODING_KEY, NULL};
    const char *vals[] = {timeout, "outbox-relay slot watch", w->cfg->postgres.conninfo, options,
                          PGCONN_CLIENT_ENCODING, NULL};
    PQconninfoOption *parsed = pgconn_parse(w->cfg->postgres.conninfo, err, err_size);
    const char *user_options = "";

    /* A conninfo that does not parse: the run loop reports it, never its text. */
    if (parsed == NULL)
        return;
    for (PQconninfoOption *o = parsed; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
            user_options = o->val;
    snprintf(options, sizeof options, "%s%s-c statement_timeout=%d", user_options,
             user_options[0] ? " " : "", SLOTWATCH_STATEMENT_TIMEOUT_MS);
    PQconninfoFree(parsed);
    snprintf(timeout, sizeof timeout, "%d", w->cfg->postgres.connect_timeout_s);
    w->pg = PQconnectdbParams(keys, vals, 1);
    if (w->pg != NULL && PQstatus(w->pg) != CONNECTION_OK) {
        pgconn_connect_failed(w->pg, false, err, err_size);
        PQfinish(w->pg);
        w->pg = NULL;
    }
}

/* One look at the slot; false with err set when it failed. */
static bool look(slotwatch *w, char *err, size_t err_size)
{
    const char *params[] = {w->cfg->postgres.slot};
    metrics_slot s = {0};
    PGresult *res;

    if (w->pg == NULL)
        connect_pg(w, err, err_size);
    if (w->pg == NULL)
        return false;
    res = PQexecParams(w->pg, query, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pgconn_error_line(w->pg, res, err, err_size);
        PQclear(res);
        if (PQstatus(w->pg) != CONNECTION_OK) {
            PQfinish(w->pg);
            w->pg = NULL;
        }
        return false;
    }
    if (PQntuples(res) == 1) {
        s.have = true;
        s.retained_wal_bytes = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(s.wal_status, sizeof s.wal_status, "%s", PQgetvalue(res, 0, 1));
        s.have_safe_wal_size = !PQgetisnull(res, 0, 2);
        s.safe_wal_size = s.have_safe_wal_size ? strtoll(PQgetvalue(res, 0, 2), NULL, 10) : 0;
    }
    PQclear(res);
    metrics_set_slot(w->m, &s);
    return true;
}

/* One look; a failure clears the metrics (stale numbers would mislead) and is logged once
 * per series. */
static void look_and_report(slotwatch *w)
{
    char err[512] = "";
    metrics_slot none = {0};

    if (look(w, err, sizeof err)) {
        w->failing = false;
        return;
    }
    metrics_set_slot(w->m, &none);
    if (!w->failing)
        log_warn(w->lg, "slot watch (retained WAL, wal_status): %s; retrying", err);
    w->failing = true;
}

static void *watch(void *arg)
{
    slotwatch *w = arg;
    int interval = w->cfg->postgres.status_interval_ms;

    if (interval > SLOTWATCH_MAX_INTERVAL_MS)
        interval = SLOTWATCH_MAX_INTERVAL_MS;
    while (!atomic_load(&w->stop)) {
        /* Until the run loop reached the server (streaming or standby) its own line says
         * what is wrong; the watch adds nothing then. */
        if (metrics_get_state(w->m) != METRICS_STARTING)
            look_and_report(w);
        for (int64_t end = clock_mono_ms() + interval; !atomic_load(&w->stop) &&
                                                       clock_mono_ms() < end;)
            clock_sleep_ms(100);
    }
    return NULL;
}

slotwatch *slotwatch_start(const relay_config *cfg, const log_ctx *lg, relay_metrics *m)
{
    slotwatch *w = calloc(1, sizeof *w);

    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->lg = lg;
    w->m = m;
    atomic_init(&w->stop, false);
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

void slotwatch_stop(slotwatch *w)
{
    if (w == NULL)
        return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    PQfinish(w->pg);
    free(w);
}
