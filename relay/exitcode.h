/*
 * exitcode.h — the process exit codes, one per kind of failure an operator can act on
 * (documented in the README). Values follow sysexits.h where one fits.
 */
#ifndef RELAY_EXITCODE_H
#define RELAY_EXITCODE_H

enum {
    EXIT_OK = 0,
    EXIT_CHECK_FAILED = 1, /* `check` found something to fix */
    EXIT_USAGE = 64,       /* bad command line */
    EXIT_DATA = 65,        /* an outbox row cannot become a Kafka record */
    EXIT_UNAVAILABLE = 69, /* Postgres or Kafka unreachable at start */
    EXIT_INTERNAL = 70,    /* protocol surprise, out of memory: a bug to report */
    EXIT_SLOT_BUSY = 75,   /* slot in use: internal, `run` waits as a standby instead */
    EXIT_AUTH = 77,        /* Postgres refused the user (password, pg_hba, REPLICATION) */
    EXIT_CONFIG = 78,      /* bad config file, or server setup missing (slot, publication) */
    EXIT_POSITION = 79,    /* slot and checkpoint disagree: refusing to guess */
    EXIT_KAFKA = 80,       /* Kafka fenced this instance or refused it for good */
    EXIT_INTERRUPTED = 81, /* backfill stopped by SIGTERM/SIGINT before its end: run it again */
};

#endif
