#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pgconn_first_line(const char *msg, char *buf, size_t size)
{
    size_t n = strcspn(msg, "\n");

    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), msg);
    return buf;
}

/* libpq's parse errors quote what they stumbled on ("invalid percent-encoded token:
 * \"pa%ss\""): each quoted span becomes "...", except the one-character syntax libpq
 * names itself ("missing \"=\" after ..."). */
static void redact_quoted(const char *msg, char *buf, size_t size)
{
    size_t n = 0;

    for (const char *p = msg; *p && *p != '\n' && n + 6 < size; p++) {
        const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (close == NULL) {
            buf[n++] = *p;
            continue;
        }
        if (close == p + 2 && strchr("=]:/", p[1]) != NULL)
            n += (size_t)snprintf(buf + n, size - n, "\"%c\"", p[1]);
        else
            n += (size_t)snprintf(buf + n, size - n, "\"...\"");
        p = close;
    }
    buf[n] = '\0';
}

PQconninfoOption *pgconn_parse(const char *conninfo, char *errbuf, size_t errbuf_size)
{
    char *perr = NULL, why[256];
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &perr);

    if (parsed != NULL)
        return parsed;
    if (perr != NULL)
        redact_quoted(perr, why, sizeof why);
    snprintf(errbuf, errbuf_size,
             "postgres.conninfo does not parse: %s (the value is not shown, it may hold a "
             "password; in a URI, percent-encode reserved characters, e.g. %% as %%25)",
             perr != NULL ? why : "out of memory");
    PQfreemem(perr);
    return NULL;
}

/* TLS failures of a connection attempt, by libpq's or the server's words, and their fix. */
static const struct {
    const char *words;
    pgconn_class cls;
    const char *fix;
} tls_failures[] = {
    {"certificate verify failed", PGCONN_CONFIG,
     "the server's certificate is not signed by the CA in sslrootcert: set sslrootcert in "
     "postgres.conninfo to the CA certificate that signed it"},
    {"does not match host name", PGCONN_CONFIG,
     "the server's certificate does not name the host connected to: use in postgres.conninfo "
     "a host name the certificate lists, or have the certificate issued for this name"},
    {"root certificate file", PGCONN_CONFIG,
     "set sslrootcert in postgres.conninfo to a readable CA certificate file"},
    {"does not support SSL", PGCONN_CONFIG,
     "the server has ssl = off: turn it on (postgresql.conf) or connect to one that has it"},
    {"private key", PGCONN_CONFIG,
     "check sslkey (a key file only its owner may read) and sslpassword in postgres.conninfo"},
    {"client certificate", PGCONN_AUTH,
     "set sslcert and sslkey in postgres.conninfo to a client certificate whose CN is the user"},
    {"certificate authentication failed", PGCONN_AUTH,
     "the client certificate's CN must be the user (or match a pg_ident.conf map)"},
    {"no encryption", PGCONN_AUTH,
     "the server accepts this user only over TLS: set sslmode=verify-full and sslrootcert in "
     "postgres.conninfo"},
    {"SSL", PGCONN_CONFIG, "check the ssl* keywords of postgres.conninfo"},
};

pgconn_class pgconn_connect_failed(PGconn *conn, bool replication, char *errbuf, size_t errbuf_size)
{
    const char *msg = PQerrorMessage(conn);
    const char *host = PQhost(conn), *port = PQport(conn), *user = PQuser(conn);
    char line[512];

    pgconn_first_line(msg, line, sizeof line);
    for (size_t i = 0; i < sizeof tls_failures / sizeof tls_failures[0]; i++)
        if (strstr(line, tls_failures[i].words) != NULL) {
            snprintf(errbuf, errbuf_size, "TLS to Postgres at %s:%s as %s failed: %s (%s)",
                     host ? host : "?", port ? port : "?", user ? user : "?", line,
                     tls_failures[i].fix);
            return tls_failures[i].cls;
        }
    if (PQconnectionNeedsPassword(conn)) {
        snprintf(errbuf, errbuf_size,
                 "Postgres at %s:%s wants a password for user %s: put it in postgres.conninfo, "
                 "PGPASSWORD or ~/.pgpass",
                 host, port, user);
        return PGCONN_AUTH;
    }
    if (strstr(msg, "authentication failed")) {
        snprintf(errbuf, errbuf_size,
                 "Postgres refused user %s: %s (check the user and password in "
                 "postgres.conninfo, PGPASSWORD or ~/.pgpass)",
                 user, line);
        return PGCONN_AUTH;
    }
    if (strstr(msg, "pg_hba.conf")) {
        snprintf(errbuf, errbuf_size,
                 "Postgres refused the %sconnection: %s (add a \"host %s %s <address> "
                 "scram-sha-256\" line to pg_hba.conf)",
                 replication ? "replication " : "", line, replication ? "replication" : "all",
                 user);
        return PGCONN_AUTH;
    }
    if (replication && strstr(msg, "replication") &&
        (strstr(msg, "permission") || strstr(msg, "must be"))) {
        snprintf(errbuf, errbuf_size,
                 "Postgres user %s may not replicate: %s (run ALTER ROLE %s REPLICATION;)", user,
                 line, user);
        return PGCONN_AUTH;
    }
    if (strstr(msg, "does not exist")) {
        snprintf(errbuf, errbuf_size, "Postgres: %s (check postgres.conninfo)", line);
        return PGCONN_CONFIG;
    }
    snprintf(errbuf, errbuf_size,
             "cannot connect to Postgres at %s:%s: %s (is it running? check postgres.conninfo)",
             host ? host : "?", port ? port : "?", line);
    return PGCONN_UNREACHABLE;
}

pgconn_class pgconn_classify(PGconn *conn, const PGresult *res)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    /* No SQLSTATE: the error came from libpq itself (the connection broke). Classes 08
     * (connection), 53 (resources: too many connections) and 57 (shutdown, cancel) pass. */
    if (PQstatus(conn) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0)
        return PGCONN_UNREACHABLE;
    if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0)
        return PGCONN_AUTH;
    if (strcmp(state, "55006") == 0)
        return PGCONN_BUSY;
    if (strncmp(state, "42", 2) == 0 || strcmp(state, "3D000") == 0 || strcmp(state, "3F000") == 0)
        return PGCONN_CONFIG;
    if (strncmp(state, "22", 2) == 0)
        return PGCONN_VALUE;
    return PGCONN_OTHER;
}

const char *pgconn_error_line(PGconn *conn, const PGresult *res, char *buf, size_t size)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";

    return pgconn_first_line(msg[0] ? msg : PQerrorMessage(conn), buf, size);
}

bool pgconn_follows_primary(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    bool several = false, primary = false;

    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0)
            several |= strchr(o->val, ',') != NULL;
        else if (strcmp(o->keyword, "target_session_attrs") == 0)
            primary = strcmp(o->val, "read-write") == 0 || strcmp(o->val, "primary") == 0;
    }
    PQconninfoFree(opts);
    return several && primary;
}

char *pgconn_quote_ident(PGconn *conn, const char *name)
{
    return name[0] != '\0' ? PQescapeIdentifier(conn, name, strlen(name)) : NULL;
}

char *pgconn_quote_table(PGconn *conn, const char *schema, const char *name)
{
    char *s = pgconn_quote_ident(conn, schema), *n = pgconn_quote_ident(conn, name), *out = NULL;
    size_t size = (s ? strlen(s) : 0) + (n ? strlen(n) : 0) + 2;

    /* PQfreemem is free(); a buffer of our own frees the same way. */
    if (s != NULL && n != NULL && (out = malloc(size)) != NULL)
        snprintf(out, size, "%s.%s", s, n);
    PQfreemem(s);
    PQfreemem(n);
    return out;
}

pgconn_tls pgconn_tls_state(PGconn *conn, char *buf, size_t size)
{
    const char *mode = "prefer", *version, *cipher;
    PQconninfoOption *opts = PQconninfo(conn);

    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "sslmode") == 0 && o->val != NULL)
            mode = o->val;
    if (!PQsslInUse(conn)) {
        snprintf(buf, size, "not encrypted (sslmode=%s)", mode);
        PQconninfoFree(opts);
        return PGCONN_TLS_NONE;
    }
    version = PQsslAttribute(conn, "protocol");
    cipher = PQsslAttribute(conn, "cipher");
    pgconn_tls st = strcmp(mode, "verify-full") == 0 ? PGCONN_TLS_VERIFIED
                    : strcmp(mode, "verify-ca") == 0 ? PGCONN_TLS_NO_HOST
                                                      : PGCONN_TLS_UNVERIFIED;
    snprintf(buf, size, "%s, %s, %s (sslmode=%s)", version ? version : "?",
             cipher ? cipher : "?",
             st == PGCONN_TLS_VERIFIED  ? "server certificate and host name verified"
             : st == PGCONN_TLS_NO_HOST ? "server certificate verified, host name not"
                                        : "server not verified",
             mode);
    PQconninfoFree(opts);
    return st;
}

int pgconn_publication_tables(PGconn *conn, const char *publication, pgconn_table_fn fn,
                              void *arg, PGresult **failed)
{
    /* By names, not regclass: the relay's role need not have USAGE on each schema. Postgres
     * 15+ says which columns a column list publishes; before, every column but dropped and
     * generated ones is sent. */
    static const char *const fmt =
        "SELECT t.schemaname, t.tablename, a.attname FROM pg_catalog.pg_publication_tables t "
        "JOIN pg_catalog.pg_namespace n ON n.nspname = t.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "AND NOT a.attisdropped WHERE t.pubname = %s AND %s ORDER BY 1, 2, a.attnum";
    char *lit = PQescapeLiteral(conn, publication, strlen(publication));
    char sql[1024];
    const char **names = NULL;
    PGresult *res;
    int rc = 0, n, first = 0;

    snprintf(sql, sizeof sql, fmt, lit ? lit : "NULL",
             PQserverVersion(conn) >= 150000
                 ? "(t.attnames IS NULL AND a.attgenerated = '' OR a.attname = ANY (t.attnames))"
                 : "a.attgenerated = ''");
    PQfreemem(lit);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *failed = res;
        return -1;
    }
    n = PQntuples(res);
    if (n > 0 && (names = malloc((size_t)n * sizeof(*names))) == NULL) {
        PQclear(res);
        *failed = NULL; /* out of memory, as pgconn_classify reads a NULL result */
        return -1;
    }
    for (int r = 0; r < n; r++)
        names[r] = PQgetvalue(res, r, 2);
    /* Rows come grouped by table: one call per run of equal schema and table. */
    for (int r = 1; r <= n && rc == 0; r++) {
        if (r < n && strcmp(PQgetvalue(res, r, 0), PQgetvalue(res, first, 0)) == 0 &&
            strcmp(PQgetvalue(res, r, 1), PQgetvalue(res, first, 1)) == 0)
            continue;
        rc = fn(arg, PQgetvalue(res, first, 0), PQgetvalue(res, first, 1), r - first,
                names + first);
        first = r;
    }
    free(names);
    PQclear(res);
    return rc != 0 ? 1 : 0;
}
