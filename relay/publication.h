/*
 * publication.h — the outbox tables as the server has them, checked at each connect of
 * `run` and by `check`: outbox.table's patterns resolved against the publication's tables
 * (tables.h), every outbox table in the publication, the publication publishing inserts,
 * and each table's published columns fitting the configuration (event.h), so a table that
 * does not fit is refused before a row of it is read.
 *
 * Owns the order of those checks and their messages; the SQL is pgconn's and pgrepl's.
 */
#ifndef RELAY_PUBLICATION_H
#define RELAY_PUBLICATION_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "pgrepl.h"
#include "tables.h"

/* Told about each outbox table found: ok and what was found ("columns fit"), or why not. */
typedef void (*publication_report_fn)(void *arg, const char *table, bool ok, const char *what);

/*
 * Resolves t (tables_reset first) against cfg's publication through c and checks every
 * outbox table, its columns with mapper. Returns PGREPL_OK, or the first failure with one
 * line in errbuf naming the table and the fix (PGREPL_ERR_SETUP for the setup: a pattern
 * matching nothing, a table not published, columns that do not fit). With report, every
 * table is told about and the checks go on past a table that does not fit.
 *
 * lenient (a reconnect of `run`, whose stream already left such tables out): a table a
 * pattern finds whose columns do not fit is left out (not known, for --table and lists)
 * and only that is told to report, and a pattern finding nothing is no failure; a named
 * table that does not fit fails as without report.
 */
pgrepl_status publication_resolve(pgrepl_conn *c, const relay_config *cfg, tables_set *t,
                                  event_mapper *mapper, bool lenient,
                                  publication_report_fn report, void *arg, char *errbuf,
                                  size_t errbuf_size);

#endif
