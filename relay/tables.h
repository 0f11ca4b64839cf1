/*
 * tables.h — which tables are the outbox: outbox.table's names and patterns, the tables they
 * stand for in the publication, and which one `backfill` and `audit` read.
 *
 * outbox.table holds one entry or several, comma separated (a libconfig list is joined so):
 * "schema.name", "name" (schema public) or the pattern "*.name", every table of that name in
 * any schema the publication includes. A named entry is an outbox table as written: its
 * rows must fit the configuration, or the relay stops. A table a pattern matches is an
 * outbox table while its relation's columns fit (the caller checks each version of the
 * relation once and remembers the answer: tables_fits, tables_remember), so one tenant's
 * table that does not fit never stops the others, and a replay decides as the first pass
 * did. The patterns are also resolved against the publication's tables at each connect
 * (tables_offer): the tables known now, for `check`, the start's checks and --table.
 *
 * Pure: no I/O. Names are compared exactly, as the catalog spells them.
 */
#ifndef RELAY_TABLES_H
#define RELAY_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define TABLES_ANY_SCHEMA "*" /* the schema part of a pattern */

typedef struct tables_name {
    char schema[CONFIG_NAME_SIZE];
    char name[CONFIG_NAME_SIZE];
} tables_name;

typedef struct tables_set tables_set;

/* Whether spec is a valid outbox.table: one or more comma-separated entries (spaces around
 * them ignored) of [schema.]name or *.name, each part 1-63 bytes. why: a short reason. */
bool tables_spec_valid(const char *spec, char *why, size_t why_size);

/* One table, [schema.]name (schema public when none), no pattern: --table's value. */
bool tables_parse_name(const char *text, tables_name *out, char *why, size_t why_size);

/* The set of a valid spec (config_load checked it); NULL only out of memory. */
tables_set *tables_new(const char *spec);
void tables_free(tables_set *t);

/* Whether an entry is a pattern. */
bool tables_has_pattern(const tables_set *t);

/* The outbox tables known now: the named entries, then what patterns found, in order. */
int tables_count(const tables_set *t);
const tables_name *tables_get(const tables_set *t, int i);

/* Back to the named entries, before the publication is read again (a reconnect). */
void tables_reset(tables_set *t);

/* A table of the publication: kept when a pattern matches it. 1 kept (or known already),
 * 0 not an outbox table, -1 out of memory. */
int tables_offer(tables_set *t, const char *schema, const char *name);

/* After the offers: each pattern found a table. -1 with a message naming the pattern and
 * the SQL that adds a table to the publication when one found none. */
int tables_check_patterns(const tables_set *t, const char *publication, char *errbuf,
                          size_t errbuf_size);

typedef enum {
    TABLES_OTHER,   /* not an outbox table */
    TABLES_OUTBOX,  /* a named entry */
    TABLES_PATTERN, /* matches a pattern: an outbox table while its columns fit */
} tables_kind;

tables_kind tables_match(const tables_set *t, const char *schema, const char *name);

/* Whether tables_offer found schema.name in the publication at the last connect. */
bool tables_known(const tables_set *t, const char *schema, const char *name);

/* What was decided for a TABLES_PATTERN relation version (shape: oid << 32 | version): 1 its
 * columns fit, 0 they do not, -1 not decided yet. tables_remember returns false when out of
 * memory (then it is decided again, the same way). */
int tables_fits(const tables_set *t, uint64_t shape);
bool tables_remember(tables_set *t, uint64_t shape, bool fits);

/*
 * The table `backfill` or `audit` reads: the one named by --table (arg, as
 * tables_parse_name reads it), which must be one of the outbox tables known now, or with
 * arg NULL the only one. -1 with one line naming the choices when there is none to take.
 */
int tables_choose(const tables_set *t, const char *arg, tables_name *out, char *errbuf,
                  size_t errbuf_size);

/* "schema.name", and the known tables as "a.outbox, b.outbox" (cut with "..." to fit). */
const char *tables_format(const tables_name *n, char *buf, size_t size);
const char *tables_list(const tables_set *t, char *buf, size_t size);

#endif
