#include "scan.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exitcode.h"
#include "pgconn.h"
#include "tables.h"

struct scan {
    const relay_config *cfg;
    PGconn *pg;
    char *table;                               /* quoted [schema.]table */
    char *c_id, *c_created, *c_type, *c_aggid; /* quoted column names (NULL: no such column) */
    char nspname[CONFIG_NAME_SIZE], relname[CONFIG_NAME_SIZE]; /* the table read, unquoted */
    char table_name[RECORD_TABLE_MAX];                         /* "schema.name" */
    const char **names; /* the columns of the pages, bound at the first row */
    event_value *values;
    uint32_t *types; /* pg_type oids of the columns */
    int ncols;
    int id_col;
    int64_t row_time_us;
    char err[2048];
};

/* One statement over the selection's rows: the SQL text holds only quoted identifiers and
 * $n placeholders; every value of the selection travels as a parameter. */
typedef struct query {
    char sql[4096];
    const char *params[10];
    int nparams;
    char from[24], to[24], since[40], until[40];
} query;

/* A failed connection attempt: which exit code, and the fix. */
static int connect_failed(scan *s)
{
    switch (pgconn_connect_failed(s->pg, false, s->err, sizeof s->err)) {
    case PGCONN_AUTH:
        return EXIT_AUTH;
    case PGCONN_CONFIG:
        return EXIT_CONFIG;
    default:
        return EXIT_UNAVAILABLE;
    }
}

/* A failed statement: which exit code, and the fix, from its SQLSTATE. */
static int failed(scan *s, const PGresult *res, const char *what)
{
    char line[512];

    pgconn_error_line(s->pg, res, line, sizeof line);
    switch (pgconn_classify(s->pg, res)) {
    case PGCONN_UNREACHABLE:
        snprintf(s->err, sizeof s->err, "%s: %s (the connection to Postgres was lost)", what, line);
        return EXIT_UNAVAILABLE;
    case PGCONN_AUTH:
        snprintf(s->err, sizeof s->err, "%s: %s (run GRANT SELECT ON %s TO %s;)", what, line,
                 s->table_name, PQuser(s->pg));
        return EXIT_AUTH;
    case PGCONN_CONFIG:
        snprintf(s->err, sizeof s->err, "%s: %s (check outbox.table and outbox.columns)", what,
                 line);
        return EXIT_CONFIG;
    case PGCONN_VALUE:
        snprintf(s->err, sizeof s->err,
                 "%s: %s (check the selection options against the table's columns)", what, line);
        return EXIT_USAGE;
    default:
        snprintf(s->err, sizeof s->err, "%s: %s", what, line);
        return EXIT_INTERNAL;
    }
}

/* The zone a created_at without one is read in, as `run` reads it: outbox.timestamp_zone,
 * or the database's TimeZone. The session then uses it too, so --since and --until (absolute
 * instants) select on such a column as its writers meant it. */
static int set_zone(scan *s, event_mapper *mapper)
{
    const char *zone = s->cfg->outbox.timestamp_zone;
    PGresult *res = NULL;
    char *lit, sql[200];
    int rc = EXIT_OK;

    if (zone[0] == '\0') {
        res = PQexec(s->pg, "SHOW TimeZone");
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            rc = failed(s, res, "reading the database's TimeZone");
            PQclear(res);
            return rc;
        }
        zone = PQgetvalue(res, 0, 0);
    }
    if (event_mapper_set_zone(mapper, zone, s->err, sizeof s->err) != 0) {
        PQclear(res);
        return EXIT_CONFIG;
    }
    lit = PQescapeLiteral(s->pg, zone, strlen(zone));
    snprintf(sql, sizeof sql, "SET timezone = %s", lit ? lit : "'UTC'");
    PQfreemem(lit);
    PQclear(res);
    res = PQexec(s->pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = failed(s, res, "setting the session's TimeZone");
    PQclear(res);
    return rc;
}

/* A table of the publication, for outbox.table's patterns. */
static int offered(void *arg, const char *schema, const char *table, int ncolumns,
                   const char *const *columns)
{
    (void)ncolumns, (void)columns;
    return tables_offer(arg, schema, table) < 0;
}

/* Which outbox table to read: --table, or the only one (patterns resolved as `run` does). */
static int choose_table(scan *s, const char *table)
{
    tables_set *t = tables_new(s->cfg->outbox.table);
    PGresult *res = NULL;
    tables_name chosen;
    int rc = EXIT_OK, walked;

    if (t == NULL) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return EXIT_INTERNAL;
    }
    if (tables_has_pattern(t)) {
        walked = pgconn_publication_tables(s->pg, s->cfg->postgres.publication, offered, t, &res);
        if (walked != 0) {
            rc = walked < 0 ? failed(s, res, "reading the publication's tables") : EXIT_INTERNAL;
            if (walked > 0)
                snprintf(s->err, sizeof s->err, "out of memory");
            goto out;
        }
        if (tables_check_patterns(t, s->cfg->postgres.publication, s->err, sizeof s->err) != 0) {
            rc = EXIT_CONFIG;
            goto out;
        }
    }
    if (tables_choose(t, table, &chosen, s->err, sizeof s->err) != 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    snprintf(s->nspname, sizeof s->nspname, "%s", chosen.schema);
    snprintf(s->relname, sizeof s->relname, "%s", chosen.name);
    tables_format(&chosen, s->table_name, sizeof s->table_name);
out:
    PQclear(res);
    tables_free(t);
    return rc;
}

int scan_open(scan **out, const relay_config *cfg, const char *app_name, event_mapper *mapper,
              int64_t row_time_us, const char *table)
{
    /* The snapshot must outlive Kafka waits and rate pauses, which leave the session idle
     * in its transaction; times come out as ISO text, as event_map reads them (and as the
     * replication connection delivers them). */
    static const char *const begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                                     "SET LOCAL idle_in_transaction_session_timeout = 0; "
                                     "SET LOCAL datestyle = 'ISO, YMD'";
    char timeout[16];
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                          PGCONN_CLIENT_ENCODING_KEY, NULL};
    const char *vals[] = {timeout, app_name, cfg->postgres.conninfo, PGCONN_CLIENT_ENCODING,
                          NULL};
    PQconninfoOption *parsed;
    PGresult *res;
    scan *s;
    int rc = EXIT_OK;

    if ((*out = s = calloc(1, sizeof(*s))) == NULL)
        return EXIT_INTERNAL;
    s->cfg = cfg;
    s->id_col = -1;
    s->row_time_us = row_time_us;
    /* A conninfo that does not parse fails here, before libpq's message quotes it. */
    if ((parsed = pgconn_parse(cfg->postgres.conninfo, s->err, sizeof s->err)) == NULL)
        return EXIT_CONFIG;
    PQconninfoFree(parsed);

    /* The user's connect_timeout, in conninfo (expanded from dbname), wins over ours. */
    snprintf(timeout, sizeof timeout, "%d", cfg->postgres.connect_timeout_s);
    s->pg = PQconnectdbParams(keys, vals, 1);
    if (s->pg == NULL) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return EXIT_INTERNAL;
    }
    if (PQstatus(s->pg) != CONNECTION_OK)
        return connect_failed(s);
    if ((rc = choose_table(s, table)) != EXIT_OK || (rc = set_zone(s, mapper)) != EXIT_OK)
        return rc;
    res = PQexec(s->pg, begin);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = failed(s, res, "starting the snapshot");
    PQclear(res);
    if (rc != EXIT_OK)
        return rc;

    /* schema.table and the columns the selection names, quoted exactly as configured. */
    s->table = pgconn_quote_table(s->pg, s->nspname, s->relname);
    s->c_id = pgconn_quote_ident(s->pg, cfg->outbox.columns.id);
    s->c_created = pgconn_quote_ident(s->pg, cfg->outbox.columns.created_at);
    s->c_type = pgconn_quote_ident(s->pg, cfg->outbox.columns.event_type);
    s->c_aggid = pgconn_quote_ident(s->pg, cfg->outbox.columns.aggregate_id);
    if (s->table == NULL || s->c_id == NULL || s->c_type == NULL || s->c_aggid == NULL ||
        (cfg->outbox.columns.created_at[0] != '\0' && s->c_created == NULL)) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

void scan_close(scan *s)
{
    if (s == NULL)
        return;
    if (s->pg != NULL) {
        PGresult *res = PQexec(s->pg, "ROLLBACK"); /* read only: nothing to keep */
        PQclear(res);
        PQfinish(s->pg);
    }
    free(s->names);
    free(s->values);
    free(s->types);
    PQfreemem(s->table);
    PQfreemem(s->c_id);
    PQfreemem(s->c_created);
    PQfreemem(s->c_type);
    PQfreemem(s->c_aggid);
    free(s);
}

const char *scan_table(const scan *s)
{
    return s->table_name;
}

const char *scan_error(const scan *s)
{
    return s != NULL ? s->err : "out of memory";
}

void scan_describe(const scan *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%s/%s as %s", PQhost(s->pg), PQport(s->pg), PQdb(s->pg),
             PQuser(s->pg));
}

static void cond(query *q, const char *column, const char *op, const char *value)
{
    size_t n = strlen(q->sql);

    q->params[q->nparams++] = value;
    snprintf(q->sql + n, sizeof q->sql - n, " AND %s %s $%d", column, op, q->nparams);
}

/* "SELECT what FROM table WHERE <selection> [AND id > after] [AND id <= max_id] tail". */
static void build_query(const scan *s, query *q, const char *what, const record_selection *sel,
                        const char *after, const char *max_id, const char *tail)
{
    size_t n;

    q->nparams = 0;
    snprintf(q->sql, sizeof q->sql, "SELECT %s FROM %s WHERE true", what, s->table);
    if (sel->has_from_id) {
        snprintf(q->from, sizeof q->from, "%" PRId64, sel->from_id);
        cond(q, s->c_id, ">=", q->from);
    }
    if (sel->has_to_id) {
        snprintf(q->to, sizeof q->to, "%" PRId64, sel->to_id);
        cond(q, s->c_id, "<=", q->to);
    }
    if (sel->has_since) {
        record_format_time(sel->since_us, q->since, sizeof q->since);
        cond(q, s->c_created, ">=", q->since);
    }
    if (sel->has_until) {
        record_format_time(sel->until_us, q->until, sizeof q->until);
        cond(q, s->c_created, "<", q->until);
    }
    if (sel->has_event_type)
        cond(q, s->c_type, "=", sel->event_type);
    if (sel->has_aggregate_id)
        cond(q, s->c_aggid, "=", sel->aggregate_id);
    if (after != NULL && after[0] != '\0')
        cond(q, s->c_id, ">", after);
    if (max_id != NULL)
        cond(q, s->c_id, "<=", max_id);
    n = strlen(q->sql);
    snprintf(q->sql + n, sizeof q->sql - n, "%s", tail);
}

/* Runs q, expecting rows; NULL with s->err and *rc set on failure. */
static PGresult *run_query(scan *s, const query *q, const char *what, int *rc)
{
    PGresult *res = PQexecParams(s->pg, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    *rc = failed(s, res, what);
    PQclear(res);
    return NULL;
}

int scan_snapshot_lsn(scan *s, relay_lsn *lsn)
{
    PGresult *res = PQexec(s->pg, "SELECT CASE WHEN pg_is_in_recovery() THEN "
                                  "pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END");
    int rc = EXIT_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        rc = failed(s, res, "reading the WAL position");
    else if (!lsn_parse(PQgetvalue(res, 0, 0), lsn))
        rc = EXIT_INTERNAL;
    PQclear(res);
    return rc;
}

int scan_last_id(scan *s, const record_selection *sel, char *max_id, size_t size)
{
    char tail[300];
    query q;
    PGresult *res;
    int rc = EXIT_OK;

    max_id[0] = '\0';
    snprintf(tail, sizeof tail, " ORDER BY %s DESC LIMIT 1", s->c_id);
    build_query(s, &q, s->c_id, sel, NULL, NULL, tail);
    if ((res = run_query(s, &q, "finding the selection's last row", &rc)) == NULL)
        return rc;
    if (PQntuples(res) == 1 && (size_t)PQgetlength(res, 0, 0) >= size) {
        snprintf(s->err, sizeof s->err, "ids longer than %zu bytes are not supported", size - 1);
        rc = EXIT_CONFIG;
    } else if (PQntuples(res) == 1) {
        snprintf(max_id, size, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

int scan_count(scan *s, const record_selection *sel, const char *after, const char *max_id,
               uint64_t *n)
{
    query q;
    PGresult *res;
    int rc = EXIT_OK;

    build_query(s, &q, "count(*)", sel, after, max_id, "");
    if ((res = run_query(s, &q, "counting the selection's rows", &rc)) == NULL)
        return rc;
    *n = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return EXIT_OK;
}

PGresult *scan_page(scan *s, const record_selection *sel, const char *after, const char *max_id,
                    scan_wait_fn wait, void *arg, int *rc)
{
    const char *what = "reading the outbox";
    char tail[300];
    query q;
    PGresult *res = NULL, *more;
    int64_t next = -1;

    snprintf(tail, sizeof tail, " ORDER BY %s LIMIT %d", s->c_id, SCAN_PAGE_ROWS);
    build_query(s, &q, "*", sel, after, max_id, tail);
    if (!PQsendQueryParams(s->pg, q.sql, q.nparams, NULL, q.params, NULL, NULL, 0)) {
        *rc = failed(s, NULL, what);
        return NULL;
    }
    if (wait != NULL)
        next = wait(arg);
    while (PQisBusy(s->pg)) {
        struct pollfd pfd = {.fd = PQsocket(s->pg), .events = POLLIN};

        if (poll(&pfd, 1, next < 0 || next > 1000 ? 1000 : (int)next) < 0 && errno != EINTR)
            break;
        if (!PQconsumeInput(s->pg))
            break;
        if (wait != NULL)
            next = wait(arg);
    }
    while ((more = PQgetResult(s->pg)) != NULL) {
        if (res == NULL)
            res = more;
        else
            PQclear(more);
    }
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    *rc = failed(s, res, what);
    PQclear(res);
    return NULL;
}

/* Takes the columns from the first page: what event_map binds to. */
static int bind_columns(scan *s, const PGresult *page)
{
    s->ncols = PQnfields(page);
    s->names = calloc((size_t)s->ncols, sizeof(*s->names));
    s->values = calloc((size_t)s->ncols, sizeof(*s->values));
    s->types = calloc((size_t)s->ncols, sizeof(*s->types));
    if (s->names == NULL || s->values == NULL || s->types == NULL) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return EXIT_INTERNAL;
    }
    for (int c = 0; c < s->ncols; c++)
        s->types[c] = (uint32_t)PQftype(page, c);
    s->id_col = PQfnumber(page, s->c_id);
    if (s->id_col < 0) {
        snprintf(s->err, sizeof s->err, "outbox table %s has no column \"%s\"", s->table_name,
                 s->cfg->outbox.columns.id);
        return EXIT_CONFIG;
    }
    return EXIT_OK;
}

/* Every page has the same columns: one shape. */
int scan_row(scan *s, const PGresult *page, int r, event_row *row, const char **id,
             size_t *id_len)
{
    int rc;

    if (s->names == NULL && (rc = bind_columns(s, page)) != EXIT_OK)
        return rc;
    for (int c = 0; c < s->ncols; c++) {
        s->names[c] = PQfname(page, c);
        s->values[c] = (event_value){PQgetisnull(page, r, c) ? NULL : PQgetvalue(page, r, c),
                                     (size_t)PQgetlength(page, r, c)};
    }
    *row = (event_row){s->nspname, s->relname, s->ncols,     s->names,
                       s->values,  1,          s->row_time_us, s->types};
    *id = PQgetvalue(page, r, s->id_col);
    *id_len = (size_t)PQgetlength(page, r, s->id_col);
    return EXIT_OK;
}
