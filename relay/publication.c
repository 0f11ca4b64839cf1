#include "publication.h"

#include <stdio.h>

typedef struct resolving {
    const relay_config *cfg;
    tables_set *t;
    event_mapper *mapper;
    publication_report_fn report;
    void *arg;
    bool lenient; /* a pattern's find that does not fit is left out, not a failure */
    bool failed;
    int unfit; /* tables whose columns do not fit */
    char *err;
    size_t err_size;
} resolving;

/* One table of the publication: an outbox table when a name or pattern says so and its
 * columns fit. Stops the walk at a table that does not fit, unless reporting or lenient. */
static int offered(void *arg, const char *schema, const char *table, int ncolumns,
                   const char *const *columns)
{
    resolving *r = arg;
    event_row row = {schema, table, ncolumns, columns, NULL, 0, 0, NULL};
    char name[2 * CONFIG_NAME_SIZE + 1], why[1024];
    tables_kind kind = tables_match(r->t, schema, table);

    if (kind == TABLES_OTHER)
        return 0;
    snprintf(name, sizeof name, "%s.%s", schema, table);
    if (event_check_columns(r->mapper, &row, why, sizeof why) != 0) {
        if (kind == TABLES_OUTBOX)
            snprintf(r->err, r->err_size, "%s", why);
        else
            snprintf(r->err, r->err_size,
                     "%s; outbox.table \"%s\" takes it from publication \"%s\": fix its "
                     "columns, or take it out of the publication",
                     why, r->cfg->outbox.table, r->cfg->postgres.publication);
        if (kind == TABLES_PATTERN && r->lenient) {
            if (r->report != NULL)
                r->report(r->arg, name, false, r->err);
            return 0; /* the stream leaves its rows out (pipeline.c) */
        }
        r->failed = true;
        r->unfit++;
        if (r->report == NULL || r->lenient)
            return 1; /* the message stays in errbuf */
        r->report(r->arg, name, false, r->err);
        return 0;
    }
    if (tables_offer(r->t, schema, table) < 0) {
        snprintf(r->err, r->err_size, "out of memory");
        r->failed = true;
        return 1;
    }
    if (r->report != NULL && !r->lenient)
        r->report(r->arg, name, true, "published, columns fit");
    return 0;
}

pgrepl_status publication_resolve(pgrepl_conn *c, const relay_config *cfg, tables_set *t,
                                  event_mapper *mapper, bool lenient,
                                  publication_report_fn report, void *arg, char *errbuf,
                                  size_t errbuf_size)
{
    resolving r = {cfg, t, mapper, report, arg, lenient, false, 0, errbuf, errbuf_size};
    const char *pub = cfg->postgres.publication;
    pgrepl_status st;
    int named;

    tables_reset(t);
    named = tables_count(t);
    /* Each named table published (or the SQL that publishes it), inserts included. */
    for (int i = 0; i < named; i++)
        if ((st = pgrepl_check_publication(c, pub, tables_get(t, i)->schema,
                                           tables_get(t, i)->name, errbuf, errbuf_size)) !=
            PGREPL_OK)
            return st;
    st = pgrepl_publication_tables(c, pub, offered, &r, errbuf, errbuf_size);
    if (st == PGREPL_OK && r.failed && report != NULL && !lenient && r.unfit > 0)
        snprintf(errbuf, errbuf_size, "%d outbox table%s do%s not fit the configuration (above)",
                 r.unfit, r.unfit > 1 ? "s" : "", r.unfit > 1 ? "" : "es");
    if (st != PGREPL_OK || r.failed)
        return st != PGREPL_OK ? st : PGREPL_ERR_SETUP;
    if (!lenient && tables_check_patterns(t, pub, errbuf, errbuf_size) != 0)
        return PGREPL_ERR_SETUP;
    /* Only patterns: the publication holds what they found; does it publish inserts? */
    if (named == 0 && tables_count(t) > 0)
        return pgrepl_check_publication(c, pub, tables_get(t, 0)->schema, tables_get(t, 0)->name,
                                        errbuf, errbuf_size);
    return PGREPL_OK;
}
