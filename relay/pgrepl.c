#include "pgrepl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "clock.h"
#include "pgconn.h"

/* Session settings the stream relies on: timestamps come as ISO text (event.c reads them;
 * a timestamptz carries its offset). TimeZone stays the database's: a zone-less created_at
 * is read in it (SHOW TimeZone), unless outbox.timestamp_zone says otherwise. */
#define STREAM_OPTIONS "-c datestyle=ISO -c intervalstyle=postgres"

struct pgrepl_conn {
    PGconn *conn;
    char *copybuf; /* last PQgetCopyData buffer, freed on the next read */
    char describe[256];
};

static uint64_t be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (uint8_t)p[i];
    return v;
}

static void put_be64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

/* The caller's status for a class of libpq failure. */
static pgrepl_status status_of(pgconn_class cls)
{
    switch (cls) {
    case PGCONN_UNREACHABLE: return PGREPL_ERR_CONNECT;
    case PGCONN_AUTH: return PGREPL_ERR_AUTH;
    case PGCONN_CONFIG: return PGREPL_ERR_SETUP;
    case PGCONN_BUSY: return PGREPL_ERR_SLOT_BUSY;
    default: return PGREPL_ERR_PROTOCOL;
    }
}

pgrepl_conn *pgrepl_connect(const char *conninfo, int connect_timeout_s, pgrepl_status *status,
                            char *errbuf, size_t errbuf_size)
{
    PQconninfoOption *parsed;
    char timeout[16], options[1024];
    const char *user_options = "", *user_timeout = NULL;
    pgrepl_conn *c;

    *status = PGREPL_ERR_SETUP;
    parsed = pgconn_parse(conninfo, errbuf, errbuf_size);
    if (parsed == NULL)
        return NULL;
    for (PQconninfoOption *o = parsed; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
            user_options = o->val;
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val != NULL)
            user_timeout = o->val;
    }
    /* The user's options are kept and ours appended; the user's connect_timeout and
     * application_name win over ours (they come before dbname, which expands conninfo). */
    snprintf(options, sizeof options, "%s%s%s", user_options, user_options[0] ? " " : "",
             STREAM_OPTIONS);
    snprintf(timeout, sizeof timeout, "%d", connect_timeout_s);
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", "replication",
                          "options", PGCONN_CLIENT_ENCODING_KEY, NULL};
    const char *vals[] = {user_timeout ? user_timeout : timeout, "outbox-relay", conninfo,
                          "database", options, PGCONN_CLIENT_ENCODING, NULL};

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        PQconninfoFree(parsed);
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    c->conn = PQconnectdbParams(keys, vals, 1);
    PQconninfoFree(parsed);
    if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK) {
        if (c->conn == NULL)
            snprintf(errbuf, errbuf_size, "out of memory");
        else
            *status = status_of(pgconn_connect_failed(c->conn, true, errbuf, errbuf_size));
        pgrepl_close(c);
        return NULL;
    }
    snprintf(c->describe, sizeof c->describe, "%s:%s/%s as %s", PQhost(c->conn), PQport(c->conn),
             PQdb(c->conn), PQuser(c->conn));
    *status = PGREPL_OK;
    return c;
}

void pgrepl_close(pgrepl_conn *c)
{
    if (c == NULL)
        return;
    PQfreemem(c->copybuf);
    PQfinish(c->conn);
    free(c);
}

const char *pgrepl_describe(const pgrepl_conn *c)
{
    return c->describe;
}

pgconn_tls pgrepl_tls(pgrepl_conn *c, char *buf, size_t size)
{
    return pgconn_tls_state(c->conn, buf, size);
}

/* Runs a command expecting `expect`; on failure writes "what: server message" and sorts
 * it by its SQLSTATE (a slot active for another process, one that does not exist, …). */
static PGresult *exec(pgrepl_conn *c, const char *sql, ExecStatusType expect, const char *what,
                      pgrepl_status *st, char *errbuf, size_t errbuf_size)
{
    PGresult *res = PQexec(c->conn, sql);
    char line[512];

    if (PQresultStatus(res) == expect) {
        *st = PGREPL_OK;
        return res;
    }
    snprintf(errbuf, errbuf_size, "%s: %s", what,
             pgconn_error_line(c->conn, res, line, sizeof line));
    *st = status_of(pgconn_classify(c->conn, res));
    PQclear(res);
    return NULL;
}

/* Reads the history file of the current timeline into out->history (the last
 * PGREPL_MAX_HISTORY switches when there are more). */
static pgrepl_status read_history(pgrepl_conn *c, pgrepl_system *out, char *errbuf,
                                  size_t errbuf_size)
{
    char sql[64];
    const char *line;
    pgrepl_status st;
    PGresult *res;

    snprintf(sql, sizeof sql, "TIMELINE_HISTORY %u", out->timeline);
    res = exec(c, sql, PGRES_TUPLES_OK, sql, &st, errbuf, errbuf_size);
    if (res == NULL)
        return st;
    /* One line per ancestor: "parentTLI <tab> switchpoint <tab> reason". */
    line = PQntuples(res) == 1 && PQnfields(res) >= 2 ? PQgetvalue(res, 0, 1) : "";
    for (; *line != '\0'; line += strcspn(line, "\n"), line += *line == '\n') {
        unsigned long tli;
        char lsn[32];
        relay_lsn ended;

        if (sscanf(line, "%lu %31s", &tli, lsn) != 2 || !lsn_parse(lsn, &ended))
            continue;
        if (out->nhistory == PGREPL_MAX_HISTORY) {
            memmove(out->history, out->history + 1,
                    sizeof out->history[0] * (PGREPL_MAX_HISTORY - 1));
            out->nhistory--;
        }
        out->history[out->nhistory].timeline = (uint32_t)tli;
        out->history[out->nhistory++].ended = ended;
    }
    PQclear(res);
    return PGREPL_OK;
}

bool pgrepl_timeline_end(const pgrepl_system *sys, uint32_t timeline, relay_lsn *ended)
{
    for (int i = 0; i < sys->nhistory; i++)
        if (sys->history[i].timeline == timeline) {
            *ended = sys->history[i].ended;
            return true;
        }
    return false;
}

pgrepl_status pgrepl_identify(pgrepl_conn *c, pgrepl_system *out, char *errbuf, size_t errbuf_size)
{
    pgrepl_status st;
    PGresult *res = exec(c, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, "IDENTIFY_SYSTEM", &st, errbuf,
                         errbuf_size);

    if (res == NULL)
        return st;
    if (PQntuples(res) != 1 || PQnfields(res) < 4 ||
        !lsn_parse(PQgetvalue(res, 0, 2), &out->xlogpos)) {
        snprintf(errbuf, errbuf_size, "IDENTIFY_SYSTEM: got %d rows and %d columns, expected 1 and 4",
                 PQntuples(res), PQnfields(res));
        PQclear(res);
        return PGREPL_ERR_PROTOCOL;
    }
    snprintf(out->system_id, sizeof out->system_id, "%s", PQgetvalue(res, 0, 0));
    out->timeline = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
    snprintf(out->dbname, sizeof out->dbname, "%s", PQgetvalue(res, 0, 3));
    PQclear(res);
    out->nhistory = 0;
    return out->timeline > 1 ? read_history(c, out, errbuf, errbuf_size) : PGREPL_OK;
}

pgrepl_status pgrepl_slot_info(pgrepl_conn *c, const char *slot_name, pgrepl_slot *out,
                               char *errbuf, size_t errbuf_size)
{
    char *lit = PQescapeLiteral(c->conn, slot_name, strlen(slot_name));
    char sql[512];
    pgrepl_status st;
    PGresult *res;

    memset(out, 0, sizeof(*out));
    snprintf(sql, sizeof sql,
             "SELECT plugin, slot_type, database, active, coalesce(active_pid, 0), "
             "coalesce(confirmed_flush_lsn, '0/0'), %s, coalesce(wal_status, '') "
             "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
             PQserverVersion(c->conn) >= 170000 ? "failover::int" : "-1", lit ? lit : "NULL");
    PQfreemem(lit);
    res = exec(c, sql, PGRES_TUPLES_OK, "reading pg_replication_slots", &st, errbuf, errbuf_size);
    if (res == NULL)
        return st;
    if (PQntuples(res) == 1) {
        out->exists = true;
        snprintf(out->plugin, sizeof out->plugin, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->database, sizeof out->database, "%s", PQgetvalue(res, 0, 2));
        out->active = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
        out->active_pid = atoi(PQgetvalue(res, 0, 4));
        lsn_parse(PQgetvalue(res, 0, 5), &out->confirmed_flush);
        out->failover = atoi(PQgetvalue(res, 0, 6));
        snprintf(out->wal_status, sizeof out->wal_status, "%s", PQgetvalue(res, 0, 7));
        if (strcmp(PQgetvalue(res, 0, 1), "logical") != 0) {
            snprintf(errbuf, errbuf_size,
                     "replication slot \"%s\" is a physical slot: drop it or choose another "
                     "postgres.slot",
                     slot_name);
            st = PGREPL_ERR_SETUP;
        }
    }
    PQclear(res);
    return st;
}

/* A replication command on the slot: fmt has one %s, the slot's quoted name. */
static pgrepl_status slot_command(pgrepl_conn *c, const char *fmt, const char *slot_name,
                                  ExecStatusType expect, const char *what, char *errbuf,
                                  size_t errbuf_size)
{
    char *ident = PQescapeIdentifier(c->conn, slot_name, strlen(slot_name));
    char sql[512];
    pgrepl_status st;
    PGresult *res;

    snprintf(sql, sizeof sql, fmt, ident ? ident : "\"\"");
    PQfreemem(ident);
    res = exec(c, sql, expect, what, &st, errbuf, errbuf_size);
    PQclear(res);
    return st;
}

pgrepl_status pgrepl_create_slot(pgrepl_conn *c, const char *slot_name, bool failover,
                                 char *errbuf, size_t errbuf_size)
{
    /* The option list form exists since 15, FAILOVER since 17. */
    return slot_command(c,
                        failover ? "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput "
                                   "(SNAPSHOT 'nothing', FAILOVER true)"
                                 : "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput NOEXPORT_SNAPSHOT",
                        slot_name, PGRES_TUPLES_OK, "creating the replication slot", errbuf,
                        errbuf_size);
}

pgrepl_status pgrepl_make_failover_slot(pgrepl_conn *c, const char *slot_name, char *errbuf,
                                        size_t errbuf_size)
{
    return slot_command(c, "ALTER_REPLICATION_SLOT %s (FAILOVER true)", slot_name,
                        PGRES_COMMAND_OK, "making the slot a failover slot", errbuf, errbuf_size);
}

int pgrepl_server_version(const pgrepl_conn *c)
{
    return PQserverVersion(c->conn);
}

pgrepl_status pgrepl_check_publication(pgrepl_conn *c, const char *publication, const char *nsp,
                                       const char *rel, char *errbuf, size_t errbuf_size)
{
    char sql[1024];
    char *pub_lit, *nsp_lit, *rel_lit;
    pgrepl_status st;
    PGresult *res;

    pub_lit = PQescapeLiteral(c->conn, publication, strlen(publication));
    nsp_lit = PQescapeLiteral(c->conn, nsp, strlen(nsp));
    rel_lit = PQescapeLiteral(c->conn, rel, strlen(rel));
    snprintf(sql, sizeof sql,
             "SELECT p.pubinsert, EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables t "
             "WHERE t.pubname = p.pubname AND t.schemaname = %s AND t.tablename = %s) "
             "FROM pg_catalog.pg_publication p WHERE p.pubname = %s",
             nsp_lit ? nsp_lit : "NULL", rel_lit ? rel_lit : "NULL", pub_lit ? pub_lit : "NULL");
    PQfreemem(pub_lit);
    PQfreemem(nsp_lit);
    PQfreemem(rel_lit);
    res = exec(c, sql, PGRES_TUPLES_OK, "reading pg_publication", &st, errbuf, errbuf_size);
    if (res == NULL)
        return st;
    if (PQntuples(res) != 1) {
        snprintf(errbuf, errbuf_size,
                 "publication \"%s\" does not exist: run CREATE PUBLICATION %s FOR TABLE %s.%s "
                 "WITH (publish = 'insert'); (see sql/)",
                 publication, publication, nsp, rel);
        st = PGREPL_ERR_SETUP;
    } else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        snprintf(errbuf, errbuf_size,
                 "publication \"%s\" does not include table %s.%s: run ALTER PUBLICATION %s ADD "
                 "TABLE %s.%s;",
                 publication, nsp, rel, publication, nsp, rel);
        st = PGREPL_ERR_SETUP;
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        snprintf(errbuf, errbuf_size,
                 "publication \"%s\" does not publish inserts: run ALTER PUBLICATION %s SET "
                 "(publish = 'insert');",
                 publication, publication);
        st = PGREPL_ERR_SETUP;
    }
    PQclear(res);
    return st;
}

pgrepl_status pgrepl_check_publication_exists(pgrepl_conn *c, const char *publication,
                                              char *errbuf, size_t errbuf_size)
{
    char sql[256];
    char *pub_lit = PQescapeLiteral(c->conn, publication, strlen(publication));
    pgrepl_status st;
    PGresult *res;

    snprintf(sql, sizeof sql, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = %s",
             pub_lit ? pub_lit : "NULL");
    PQfreemem(pub_lit);
    res = exec(c, sql, PGRES_TUPLES_OK, "reading pg_publication", &st, errbuf, errbuf_size);
    if (res == NULL)
        return st;
    if (PQntuples(res) != 1) {
        snprintf(errbuf, errbuf_size,
                 "publication \"%s\" does not exist: run CREATE PUBLICATION %s; (pgoutput "
                 "needs a publication by name; for logical messages it may publish no table)",
                 publication, publication);
        st = PGREPL_ERR_SETUP;
    }
    PQclear(res);
    return st;
}

/* s as a literal of the replication grammar, into buf: quotes doubled, backslashes as is
 * (repl_scanner.l knows no E'' strings). */
static const char *repl_literal(const char *s, char *buf, size_t size)
{
    size_t n = 0;

    buf[n++] = '\'';
    for (; *s && n + 3 < size; s++) {
        if (*s == '\'')
            buf[n++] = '\'';
        buf[n++] = *s;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    return buf;
}

pgrepl_status pgrepl_start(pgrepl_conn *c, const char *slot, const char *publication,
                           bool messages, relay_lsn start, char *errbuf, size_t errbuf_size)
{
    char *ident = PQescapeIdentifier(c->conn, slot, strlen(slot));
    char *pub = PQescapeIdentifier(c->conn, publication, strlen(publication));
    char sql[1024], names[300]; /* a 63-byte name, its quotes doubled twice: < 260 */
    pgrepl_status st;
    PGresult *res;

    /* publication_names is a list of identifiers inside a string literal: the publication
     * is quoted as an identifier (any name Postgres accepts: quotes, commas, case), then
     * that as a literal. */
    snprintf(sql, sizeof sql,
             "START_REPLICATION SLOT %s LOGICAL " LSN_FMT
             " (proto_version '1', publication_names %s%s)",
             ident ? ident : "\"\"", LSN_ARGS(start),
             repl_literal(pub ? pub : "\"\"", names, sizeof names),
             messages ? ", messages 'true'" : "");
    PQfreemem(ident);
    PQfreemem(pub);
    res = exec(c, sql, PGRES_COPY_BOTH, "START_REPLICATION", &st, errbuf, errbuf_size);
    if (res == NULL)
        return st;
    PQclear(res);
    return PGREPL_OK;
}

static pgrepl_status connection_lost(pgrepl_conn *c, char *errbuf, size_t errbuf_size)
{
    char line[512];

    snprintf(errbuf, errbuf_size, "replication connection to %s lost: %s", c->describe,
             pgconn_first_line(PQerrorMessage(c->conn), line, sizeof line));
    return PGREPL_ERR_CONNECT;
}

static pgrepl_status stream_ended(pgrepl_conn *c, char *errbuf, size_t errbuf_size)
{
    PGresult *res = PQgetResult(c->conn);
    char line[512];

    pgconn_error_line(c->conn, res, line, sizeof line);
    snprintf(errbuf, errbuf_size, "replication stream from %s ended: %s", c->describe,
             line[0] ? line : "the server closed it");
    PQclear(res);
    return PGREPL_ERR_CONNECT;
}

pgrepl_status pgrepl_read(pgrepl_conn *c, int timeout_ms, pgrepl_msg *out, char *errbuf,
                          size_t errbuf_size)
{
    int n;

    PQfreemem(c->copybuf);
    c->copybuf = NULL;
    memset(out, 0, sizeof(*out));
    for (bool consumed = false;; consumed = true) {
        n = PQgetCopyData(c->conn, &c->copybuf, 1);
        if (n > 0)
            break;
        if (n == -1)
            return stream_ended(c, errbuf, errbuf_size);
        if (n == -2)
            return connection_lost(c, errbuf, errbuf_size);
        /* Nothing complete in libpq's buffer: take what the socket has (without
         * blocking) once, then wait for more only if the caller allows. */
        if (consumed && timeout_ms <= 0)
            return PGREPL_OK; /* PGREPL_MSG_NONE */
        if (consumed) {
            struct pollfd pfd = {.fd = PQsocket(c->conn), .events = POLLIN};
            int ready = poll(&pfd, 1, timeout_ms);
            if (ready < 0 && errno != EINTR) {
                snprintf(errbuf, errbuf_size, "poll on the replication connection: %s",
                         strerror(errno));
                return PGREPL_ERR_CONNECT;
            }
            if (ready <= 0)
                return PGREPL_OK; /* timeout or a signal: let the caller look at its flags */
            timeout_ms = 0; /* data arrived: take what is complete, do not wait again */
        }
        if (!PQconsumeInput(c->conn))
            return connection_lost(c, errbuf, errbuf_size);
    }
    switch (c->copybuf[0]) {
    case 'w': /* XLogData: dataStart, walEnd, sendTime, data */
        if (n < 25)
            break;
        out->kind = PGREPL_MSG_DATA;
        out->wal_start = be64(c->copybuf + 1);
        out->wal_end = be64(c->copybuf + 9);
        out->data = (const uint8_t *)c->copybuf + 25;
        out->len = (size_t)n - 25;
        return PGREPL_OK;
    case 'k': /* primary keepalive: walEnd, sendTime, replyRequested */
        if (n < 18)
            break;
        out->kind = PGREPL_MSG_KEEPALIVE;
        out->wal_end = be64(c->copybuf + 1);
        out->reply_requested = c->copybuf[17] != 0;
        return PGREPL_OK;
    default:
        break;
    }
    snprintf(errbuf, errbuf_size, "replication stream: unexpected message '%c' of %d bytes",
             c->copybuf[0], n);
    return PGREPL_ERR_PROTOCOL;
}

pgrepl_status pgrepl_send_status(pgrepl_conn *c, relay_lsn write, relay_lsn flush,
                                 bool reply_requested, char *errbuf, size_t errbuf_size)
{
    char msg[1 + 8 + 8 + 8 + 8 + 1];

    msg[0] = 'r';
    put_be64(msg + 1, write);  /* write */
    put_be64(msg + 9, flush);  /* flush: what Kafka committed; moves confirmed_flush_lsn */
    put_be64(msg + 17, flush); /* apply */
    put_be64(msg + 25, (uint64_t)(clock_wall_us() - CLOCK_PG_EPOCH_OFFSET_US)); /* sendTime */
    msg[33] = reply_requested ? 1 : 0;
    if (PQputCopyData(c->conn, msg, sizeof msg) <= 0 || PQflush(c->conn) != 0) {
        char line[512];
        snprintf(errbuf, errbuf_size, "sending status to %s: %s", c->describe,
                 pgconn_first_line(PQerrorMessage(c->conn), line, sizeof line));
        return PGREPL_ERR_CONNECT;
    }
    return PGREPL_OK;
}

pgrepl_status pgrepl_query_value(pgrepl_conn *c, const char *sql, char *out, size_t out_size,
                                 char *errbuf, size_t errbuf_size)
{
    pgrepl_status st;
    PGresult *res = exec(c, sql, PGRES_TUPLES_OK, sql, &st, errbuf, errbuf_size);

    if (res == NULL)
        return st;
    snprintf(out, out_size, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return PGREPL_OK;
}

pgrepl_status pgrepl_publication_tables(pgrepl_conn *c, const char *publication,
                                        pgconn_table_fn fn, void *arg, char *errbuf,
                                        size_t errbuf_size)
{
    PGresult *failed = NULL;
    char line[512];
    int rc = pgconn_publication_tables(c->conn, publication, fn, arg, &failed);

    if (rc >= 0)
        return rc == 0 ? PGREPL_OK : PGREPL_ERR_SETUP;
    snprintf(errbuf, errbuf_size, "reading the tables of publication \"%s\": %s", publication,
             pgconn_error_line(c->conn, failed, line, sizeof line));
    rc = status_of(pgconn_classify(c->conn, failed));
    PQclear(failed);
    return (pgrepl_status)rc;
}
