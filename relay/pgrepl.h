/*
 * pgrepl.h — the logical replication connection to Postgres.
 *
 * Owns: connecting with replication=database (adding to the user's conninfo what the
 * stream needs), IDENTIFY_SYSTEM, slot and publication checks, START_REPLICATION with
 * pgoutput, reading CopyBoth messages (XLogData, keepalives) and sending standby status
 * updates. Knows nothing of Kafka or JSON; returns pgoutput bytes as they came.
 */
#ifndef RELAY_PGREPL_H
#define RELAY_PGREPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsn.h"
#include "pgconn.h"

typedef struct pgrepl_conn pgrepl_conn;

/* Why a call failed, so main can pick the exit code and the operator the fix. */
typedef enum {
    PGREPL_OK = 0,
    PGREPL_ERR_CONNECT,    /* server unreachable, or the connection was lost */
    PGREPL_ERR_AUTH,       /* authentication or authorization refused */
    PGREPL_ERR_SETUP,      /* wal_level, slot, publication or rights not as needed */
    PGREPL_ERR_SLOT_BUSY,  /* the slot is active for another process */
    PGREPL_ERR_PROTOCOL,   /* unexpected answer from the server */
} pgrepl_status;

typedef struct pgrepl_slot {
    bool exists;
    bool active;
    int active_pid;
    char plugin[64];
    char database[64];
    relay_lsn confirmed_flush;
    int failover; /* 1 a failover slot, 0 not, -1 the server has none (before 17) */
    char wal_status[16]; /* reserved, extended, unreserved, lost */
} pgrepl_slot;

#define PGREPL_MAX_HISTORY 64 /* timeline switches remembered (the most recent) */

typedef struct pgrepl_system {
    char system_id[32];
    uint32_t timeline; /* the server's current timeline */
    relay_lsn xlogpos; /* its WAL flush position when identified: the end of its history */
    char dbname[64];
    /* Its timeline history (TIMELINE_HISTORY): each ancestor timeline and the LSN where the
     * server switched from it to the next one. Empty on timeline 1. */
    struct {
        uint32_t timeline;
        relay_lsn ended;
    } history[PGREPL_MAX_HISTORY];
    int nhistory;
} pgrepl_system;

/* Opens a replication connection (replication=database). conninfo is the user's libpq
 * URI or key/value string; passwords may also come from PGPASSWORD or the passfile. */
pgrepl_conn *pgrepl_connect(const char *conninfo, int connect_timeout_s, pgrepl_status *status,
                            char *errbuf, size_t errbuf_size);
void pgrepl_close(pgrepl_conn *c);

/* "host:port/db as user", for logs (never the password). */
const char *pgrepl_describe(const pgrepl_conn *c);

/* The connection's TLS state (pgconn_tls_state). */
pgconn_tls pgrepl_tls(pgrepl_conn *c, char *buf, size_t size);

/* IDENTIFY_SYSTEM, and TIMELINE_HISTORY of the current timeline past the first. */
pgrepl_status pgrepl_identify(pgrepl_conn *c, pgrepl_system *out, char *errbuf, size_t errbuf_size);

/* Where the server left its ancestor timeline `timeline` (*ended); false when `timeline`
 * is not in its history (another history, or a timeline it has not reached). */
bool pgrepl_timeline_end(const pgrepl_system *sys, uint32_t timeline, relay_lsn *ended);

/* Looks up slot_name in pg_replication_slots; out->exists is false when there is none. */
pgrepl_status pgrepl_slot_info(pgrepl_conn *c, const char *slot_name, pgrepl_slot *out,
                               char *errbuf, size_t errbuf_size);

/* Creates a logical slot with pgoutput; a failover slot (Postgres 17+) when asked. */
pgrepl_status pgrepl_create_slot(pgrepl_conn *c, const char *slot_name, bool failover,
                                 char *errbuf, size_t errbuf_size);

/* Makes an existing, inactive slot a failover slot (Postgres 17+). */
pgrepl_status pgrepl_make_failover_slot(pgrepl_conn *c, const char *slot_name, char *errbuf,
                                        size_t errbuf_size);

/* The server's version as PQserverVersion gives it (170002 for 17.2). */
int pgrepl_server_version(const pgrepl_conn *c);

/* Checks that the publication exists and publishes inserts of schema.table. */
pgrepl_status pgrepl_check_publication(pgrepl_conn *c, const char *publication, const char *schema,
                                       const char *table, char *errbuf, size_t errbuf_size);

/* Checks only that the publication exists: pgoutput needs one by name even when only
 * logical messages are read (messages pass whatever it publishes; it may be empty). */
pgrepl_status pgrepl_check_publication_exists(pgrepl_conn *c, const char *publication,
                                              char *errbuf, size_t errbuf_size);

/* pgconn_publication_tables on the replication connection. A failed statement gives its
 * status and message; fn returning non-zero gives PGREPL_ERR_SETUP, errbuf untouched (fn
 * says why where its caller looks). */
pgrepl_status pgrepl_publication_tables(pgrepl_conn *c, const char *publication,
                                        pgconn_table_fn fn, void *arg, char *errbuf,
                                        size_t errbuf_size);

/* START_REPLICATION SLOT slot LOGICAL start (proto_version 1, publication_names; with
 * messages, pgoutput's messages option, Postgres 14+, adds logical decoding messages). */
pgrepl_status pgrepl_start(pgrepl_conn *c, const char *slot, const char *publication,
                           bool messages, relay_lsn start, char *errbuf, size_t errbuf_size);

typedef enum {
    PGREPL_MSG_NONE,      /* nothing arrived within the timeout */
    PGREPL_MSG_DATA,      /* XLogData: data/len hold one pgoutput message */
    PGREPL_MSG_KEEPALIVE, /* primary keepalive: wal_end, reply_requested */
} pgrepl_msg_kind;

typedef struct pgrepl_msg {
    pgrepl_msg_kind kind;
    relay_lsn wal_start; /* XLogData: the LSN the data belongs to */
    relay_lsn wal_end;   /* XLogData: server's end; keepalive: sent up to here */
    bool reply_requested;
    const uint8_t *data; /* valid until the next pgrepl_read */
    size_t len;
} pgrepl_msg;

/* Reads the next message, waiting at most timeout_ms (0 = do not wait). */
pgrepl_status pgrepl_read(pgrepl_conn *c, int timeout_ms, pgrepl_msg *out, char *errbuf,
                          size_t errbuf_size);

/* Standby status update: received up to `write`, durable (confirmed) up to `flush`. Only
 * flush moves the slot's confirmed_flush_lsn; it must be a position Kafka committed. */
pgrepl_status pgrepl_send_status(pgrepl_conn *c, relay_lsn write, relay_lsn flush,
                                 bool reply_requested, char *errbuf, size_t errbuf_size);

/* Runs one SQL statement and returns the first column of the first row (or "" when no
 * row) in out; for `check` and tests of server settings. */
pgrepl_status pgrepl_query_value(pgrepl_conn *c, const char *sql, char *out, size_t out_size,
                                 char *errbuf, size_t errbuf_size);

#endif
