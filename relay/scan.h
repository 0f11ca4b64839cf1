/*
 * scan.h — the outbox read with SQL, as `backfill` and `audit` read it: a plain connection
 * (the slot is `run`'s alone), the zone created_at is read in set as `run` reads it, one
 * REPEATABLE READ READ ONLY snapshot, and the rows of a selection in keyset pages over the
 * id, each as event.h's neutral row. Failures come back as an exit code (exitcode.h) with
 * one line that names the fix in scan_error.
 */
#ifndef RELAY_SCAN_H
#define RELAY_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "event.h"
#include "record.h"

#define SCAN_PAGE_ROWS 1000 /* rows per keyset page: the memory bound on the Postgres side */

typedef struct scan scan;

/*
 * Connects (application name app_name), sets mapper's zone, opens the snapshot and picks
 * the outbox table to read: table ("schema.name", from --table) or NULL for the only one;
 * outbox.table's patterns are resolved against the publication's tables, as `run` does
 * (tables.h). Returns an exit code (EXIT_USAGE for a table that is not one of them, or none
 * given where there are several); *out is set whenever memory allowed, also on failure (for
 * scan_error), and is freed with scan_close. row_time_us is the record time of rows
 * without created_at.
 */
int scan_open(scan **out, const relay_config *cfg, const char *app_name, event_mapper *mapper,
              int64_t row_time_us, const char *table);

/* The table read, "schema.name". */
const char *scan_table(const scan *s);
void scan_close(scan *s);

const char *scan_error(const scan *s);

/* "host:port/db as user", for messages. */
void scan_describe(const scan *s, char *buf, size_t size);

/* Where the server's WAL stood when the snapshot was taken (call first, before any read):
 * every row the snapshot shows was committed before it. */
int scan_snapshot_lsn(scan *s, relay_lsn *lsn);

/* The highest id the selection holds in the snapshot ("" when none). */
int scan_last_id(scan *s, const record_selection *sel, char *max_id, size_t size);

/* How many rows of the selection lie after `after` ("": from the start) up to max_id. */
int scan_count(scan *s, const record_selection *sel, const char *after, const char *max_id,
               uint64_t *n);

/*
 * Called while a page query runs, when the time it asked for has come: returns how many
 * ms until it wants to be called again, or -1 for not before the page is read.
 */
typedef int64_t (*scan_wait_fn)(void *arg);

/*
 * The next page: at most SCAN_PAGE_ROWS rows of the selection after `after` up to max_id,
 * in id order. wait (may be NULL; first called once when the query is sent) runs while
 * the query does. NULL with *rc on failure.
 */
PGresult *scan_page(scan *s, const record_selection *sel, const char *after, const char *max_id,
                    scan_wait_fn wait, void *arg, int *rc);

/* Row r of a page as a neutral row, and its id (text): an exit code. */
int scan_row(scan *s, const PGresult *page, int r, event_row *row, const char **id,
             size_t *id_len);

#endif
