/*
 * pgconn.h — what the relay's Postgres connections share, as PostgreSQL's streamutil.c is
 * for its tools: turning a failed connection attempt or statement into one line with the
 * fix and a class the caller maps to its exit code.
 *
 * Statements are sorted by their SQLSTATE. A failed connection attempt has none that libpq
 * hands out, so it is sorted by libpq's own state (a password was wanted) and the server's
 * message.
 */
#ifndef RELAY_PGCONN_H
#define RELAY_PGCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef enum {
    PGCONN_UNREACHABLE, /* server away, connection lost, shutting down, too many clients */
    PGCONN_AUTH,        /* password, pg_hba.conf, missing privilege or REPLICATION */
    PGCONN_CONFIG,      /* no such database, relation, column or publication: fix a setting */
    PGCONN_BUSY,        /* object in use (a replication slot active for another process) */
    PGCONN_VALUE,       /* a value the statement was given does not fit (SQLSTATE class 22) */
    PGCONN_OTHER,       /* anything else: a bug or a surprise, reported as is */
} pgconn_class;

/* libpq messages end with a newline and sometimes span lines: the first line, in buf. */
const char *pgconn_first_line(const char *msg, char *buf, size_t size);

/* Connection keywords every connection appends after dbname (so they override what
 * conninfo says): rows reach Kafka as UTF-8 whatever the database's encoding. */
#define PGCONN_CLIENT_ENCODING_KEY "client_encoding"
#define PGCONN_CLIENT_ENCODING "UTF8"

/* Parses conninfo as libpq will; NULL when it does not parse, with the reason in errbuf
 * but no part of the value (libpq quotes the offending text, which may be a password).
 * Free with PQconninfoFree. */
PQconninfoOption *pgconn_parse(const char *conninfo, char *errbuf, size_t errbuf_size);

/* A failed PQconnectdb*: one line in errbuf. replication: the connection asked for
 * replication=database, whose pg_hba.conf lines and role attribute differ. */
pgconn_class pgconn_connect_failed(PGconn *conn, bool replication, char *errbuf,
                                   size_t errbuf_size);

/* The class of a failed statement's result (res may be NULL: out of memory, or the
 * connection gone), from its SQLSTATE and the connection's state. */
pgconn_class pgconn_classify(PGconn *conn, const PGresult *res);

/* The message of a failed statement's result, first line only, in buf. */
const char *pgconn_error_line(PGconn *conn, const PGresult *res, char *buf, size_t size);

/* What a connection's TLS protects: the state, and in buf one line for `check`
 * ("TLSv1.3, TLS_AES_256_GCM_SHA384, server certificate and host name verified ..."). */
typedef enum {
    PGCONN_TLS_NONE,       /* not encrypted */
    PGCONN_TLS_UNVERIFIED, /* encrypted, but anyone could be the server (sslmode=require) */
    PGCONN_TLS_NO_HOST,    /* the CA is checked, the host name is not (verify-ca) */
    PGCONN_TLS_VERIFIED,   /* verify-full */
} pgconn_tls;
pgconn_tls pgconn_tls_state(PGconn *conn, char *buf, size_t size);

/* name as a quoted identifier ("" gives NULL, as does out of memory); free with PQfreemem. */
char *pgconn_quote_ident(PGconn *conn, const char *name);

/* Whether conninfo lists more than one host and asks for the read-write one
 * (target_session_attrs read-write or primary): it follows a promotion. */
bool pgconn_follows_primary(const char *conninfo);

/* "schema"."name", quoted; NULL when out of memory; free with PQfreemem. */
char *pgconn_quote_table(PGconn *conn, const char *schema, const char *name);

/* One table of a publication and the columns it sends, in column order (valid during the
 * call). Returns 0 to go on; anything else stops the walk. */
typedef int (*pgconn_table_fn)(void *arg, const char *schema, const char *table, int ncolumns,
                               const char *const *columns);

/*
 * Calls fn once per table that publication publishes (pg_publication_tables), with the
 * columns pgoutput sends of it (a column list on Postgres 15+; else all but dropped and
 * generated ones), in schema and table order: one statement of the simple protocol, so on
 * a replication connection too. Returns 0 (also for a publication that does not exist: no
 * table), 1 when fn stopped the walk, or -1 when the statement failed or memory ran out: then
 * *failed is its result (NULL out of memory), for pgconn_classify and pgconn_error_line;
 * PQclear it.
 */
int pgconn_publication_tables(PGconn *conn, const char *publication, pgconn_table_fn fn,
                              void *arg, PGresult **failed);

#endif
