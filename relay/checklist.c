#include "checklist.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "exitcode.h"
#include "kafka.h"
#include "log.h"
#include "message.h"
#include "pgconn.h"
#include "pgrepl.h"
#include "policy.h"
#include "publication.h"
#include "tables.h"

typedef struct checklist {
    FILE *out;
    int failed;
} checklist;

static void line(checklist *cl, const char *verdict, const char *what, const char *fmt,
                 va_list ap)
{
    fprintf(cl->out, "%-4s %-20s ", verdict, what);
    vfprintf(cl->out, fmt, ap);
    fputc('\n', cl->out);
}

static void item(checklist *cl, bool ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void item(checklist *cl, bool ok, const char *what, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    line(cl, ok ? "OK" : "FAIL", what, fmt, ap);
    va_end(ap);
    cl->failed += !ok;
}

/* Works, but weaker than it should be: said, without failing the check. */
static void warn(checklist *cl, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(checklist *cl, const char *what, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    line(cl, "WARN", what, fmt, ap);
    va_end(ap);
}

/* The schema directory compiles as `run` would compile it at start. */
static void check_schemas(checklist *cl, const relay_config *cfg)
{
    char err[1024];
    policy *r;

    if (cfg->schemas.dir[0] == '\0')
        return;
    r = policy_new(cfg, err, sizeof err);
    if (r == NULL)
        item(cl, false, "schemas", "%s", err);
    else
        item(cl, true, "schemas", "%d compiled from %s", policy_schema_count(r), cfg->schemas.dir);
    policy_free(r);
}

/* outbox.source = "messages": the topic template fits the rows messages make. */
static void check_messages(checklist *cl, const relay_config *cfg)
{
    char err[1024];
    event_mapper *mapper;
    message_reader *r;

    if (cfg->outbox.source != CONFIG_SOURCE_MESSAGES)
        return;
    mapper = event_mapper_new(cfg, NULL, err, sizeof err);
    r = mapper != NULL ? message_reader_new(cfg) : NULL;
    if (mapper != NULL && r == NULL)
        snprintf(err, sizeof err, "out of memory");
    if (r == NULL || message_check_mapper(r, mapper, err, sizeof err) != 0)
        item(cl, false, "messages", "%s", err);
    else
        item(cl, true, "messages",
             "events are transactional logical messages with prefix \"%s\" (Postgres 14+)",
             cfg->outbox.message_prefix);
    message_reader_free(r);
    event_mapper_free(mapper);
}

/* The relay reads pgoutput protocol version 1, which Postgres 10 and later speak; it is
 * tested on 13 to 18 (tests/versions/run.sh). Logical messages need 14. */
static void check_server_version(checklist *cl, const relay_config *cfg, pgrepl_conn *pg)
{
    char num[32], err[1024];
    long v;

    if (pgrepl_query_value(pg, "SHOW server_version_num", num, sizeof num, err, sizeof err) !=
        PGREPL_OK) {
        item(cl, false, "server version", "%s", err);
        return;
    }
    v = strtol(num, NULL, 10);
    if (cfg->outbox.source == CONFIG_SOURCE_MESSAGES && v < 140000)
        item(cl, false, "server version",
             "Postgres %ld.%ld: outbox.source = \"messages\" needs Postgres 14 or newer "
             "(pgoutput's messages option): upgrade, or use an outbox table",
             v / 10000, v % 10000);
    else if (v < 130000)
        item(cl, false, "server version",
             "Postgres %ld.%ld: the relay needs 13 or newer (tested on 13 to 18)", v / 10000,
             v % 10000);
    else
        item(cl, true, "server version",
             "Postgres %ld.%ld (13 or newer needed; pgoutput protocol 1)%s", v / 10000,
             v % 10000, v >= 170000 ? "; failover slots available" : "");
}

/* postgres.failover_slot: what a promoted standby needs to hold the slot and every change
 * the relay published (README "Postgres failover"). The standby's own settings
 * (sync_replication_slots, hot_standby_feedback) are not visible from here. */
static void check_failover(checklist *cl, const relay_config *cfg, pgrepl_conn *pg,
                           const pgrepl_slot *slot)
{
    char err[1024], value[512];

    if (pgrepl_server_version(pg) < 170000) {
        item(cl, false, "failover slot", "postgres.failover_slot needs Postgres 17 or newer");
        return;
    }
    if (slot->exists)
        item(cl, true, "failover slot", "%s %s", cfg->postgres.slot,
             slot->failover == 1 ? "is a failover slot"
                                 : "is not a failover slot yet; run makes it one");
    if (pgrepl_query_value(pg,
                           "SELECT coalesce(string_agg(s.name || CASE WHEN r.active THEN '' "
                           "WHEN r.slot_name IS NULL THEN ' (no such slot)' ELSE ' (inactive)' "
                           "END, ', '), '') FROM unnest(string_to_array(current_setting("
                           "'synchronized_standby_slots'), ',')) s(name) LEFT JOIN "
                           "pg_catalog.pg_replication_slots r ON r.slot_name = trim(s.name)",
                           value, sizeof value, err, sizeof err) != PGREPL_OK)
        item(cl, false, "standby slots", "%s", err);
    else if (value[0] == '\0')
        item(cl, false, "standby slots",
             "synchronized_standby_slots is empty: set it to the standby's physical slot on "
             "the primary, else the relay may publish changes the standby lacks and refuse "
             "(exit 79) after a failover");
    else
        item(cl, strstr(value, "(") == NULL, "standby slots",
             "synchronized_standby_slots: %s", value);
    if (!pgconn_follows_primary(cfg->postgres.conninfo))
        item(cl, false, "conninfo",
             "postgres.conninfo names one host: list the primary and the standby "
             "(host=a,b port=5432,5432) with target_session_attrs=read-write, so the relay "
             "follows the promotion");
    else
        item(cl, true, "conninfo", "lists several hosts with target_session_attrs=read-write");
}

/* A table publication_resolve found, as one line. */
static void table_found(void *arg, const char *table, bool ok, const char *what)
{
    item(arg, ok, "outbox table", "%s: %s", table, what);
}

/* outbox.table resolved as `run` resolves it at each connect: one line per table found, and
 * the publication's part. */
static void check_tables(checklist *cl, const relay_config *cfg, pgrepl_conn *pg)
{
    char err[1024], list[512];
    tables_set *t = tables_new(cfg->outbox.table);
    event_mapper *m = event_mapper_new(cfg, NULL, err, sizeof err);

    if (t == NULL || m == NULL)
        item(cl, false, "publication", "%s", m == NULL ? err : "out of memory");
    else if (publication_resolve(pg, cfg, t, m, false, table_found, cl, err, sizeof err) !=
             PGREPL_OK)
        item(cl, false, "publication", "%s", err);
    else
        item(cl, true, "publication", "%s publishes inserts of %s", cfg->postgres.publication,
             tables_list(t, list, sizeof list));
    event_mapper_free(m);
    tables_free(t);
}

static void check_postgres(checklist *cl, const relay_config *cfg)
{
    char err[1024], value[256];
    pgrepl_status st;
    pgrepl_slot slot;
    pgrepl_system sys;
    pgrepl_conn *pg = pgrepl_connect(cfg->postgres.conninfo, cfg->postgres.connect_timeout_s, &st,
                                     err, sizeof err);

    if (pg == NULL) {
        item(cl, false, "postgres", "%s", err);
        return;
    }
    item(cl, true, "postgres", "replication connection to %s", pgrepl_describe(pg));
    check_server_version(cl, cfg, pg);
    switch (pgrepl_tls(pg, value, sizeof value)) {
    case PGCONN_TLS_VERIFIED: item(cl, true, "postgres tls", "%s", value); break;
    case PGCONN_TLS_NONE:
        warn(cl, "postgres tls",
             "%s: passwords and events cross the network in clear; set sslmode=verify-full "
             "and sslrootcert in postgres.conninfo",
             value);
        break;
    default:
        warn(cl, "postgres tls",
             "%s: a server with another certificate could pose as this one; set "
             "sslmode=verify-full and sslrootcert in postgres.conninfo",
             value);
    }
    if (pgrepl_query_value(pg, "SHOW wal_level", value, sizeof value, err, sizeof err) != PGREPL_OK)
        item(cl, false, "wal_level", "%s", err);
    else if (strcmp(value, "logical") != 0)
        item(cl, false, "wal_level",
             "is %s: run ALTER SYSTEM SET wal_level = logical; and restart Postgres", value);
    else
        item(cl, true, "wal_level", "logical");
    if (pgrepl_query_value(pg,
                           "SELECT CASE WHEN rolsuper THEN 'superuser' WHEN rolreplication THEN "
                           "'replication' ELSE 'none' END FROM pg_catalog.pg_roles WHERE rolname "
                           "= current_user",
                           value, sizeof value, err, sizeof err) != PGREPL_OK)
        item(cl, false, "role", "%s", err);
    else if (strcmp(value, "none") == 0)
        item(cl, false, "role", "may not replicate: run ALTER ROLE <user> REPLICATION;");
    else if (strcmp(value, "superuser") == 0)
        warn(cl, "role",
             "is a superuser: run the relay as a role with only LOGIN and REPLICATION "
             "(sql/03_relay_role.sql)");
    else
        item(cl, true, "role", "has %s rights", value);
    if (cfg->outbox.source == CONFIG_SOURCE_MESSAGES) {
        if (pgrepl_check_publication_exists(pg, cfg->postgres.publication, err, sizeof err) !=
            PGREPL_OK)
            item(cl, false, "publication", "%s", err);
        else
            item(cl, true, "publication",
                 "%s exists (pgoutput needs one; logical messages pass whatever it publishes)",
                 cfg->postgres.publication);
    } else {
        check_tables(cl, cfg, pg);
    }
    if (pgrepl_identify(pg, &sys, err, sizeof err) != PGREPL_OK ||
        pgrepl_slot_info(pg, cfg->postgres.slot, &slot, err, sizeof err) != PGREPL_OK)
        item(cl, false, "slot", "%s", err);
    else if (!slot.exists && cfg->postgres.create_slot)
        item(cl, true, "slot", "%s does not exist yet; run creates it (postgres.create_slot)",
             cfg->postgres.slot);
    else if (!slot.exists)
        item(cl, false, "slot",
             "%s does not exist: run SELECT pg_create_logical_replication_slot('%s', "
             "'pgoutput'); or set postgres.create_slot = true",
             cfg->postgres.slot, cfg->postgres.slot);
    else if (strcmp(slot.plugin, "pgoutput") != 0 || strcmp(slot.database, sys.dbname) != 0)
        item(cl, false, "slot", "%s uses plugin %s on database %s; needs pgoutput on %s",
             cfg->postgres.slot, slot.plugin, slot.database, sys.dbname);
    else
        item(cl, true, "slot", "%s (pgoutput) at " LSN_FMT "%s", cfg->postgres.slot,
             LSN_ARGS(slot.confirmed_flush), slot.active ? ", in use by a running relay" : "");
    if (cfg->postgres.failover_slot)
        check_failover(cl, cfg, pg, &slot);
    pgrepl_close(pg);
}

#define TOPIC_WARNINGS 10 /* topics with too few partitions named one a line; then a count */

/* What check_topics learns of the event topics that exist. */
typedef struct topic_census {
    checklist *cl;
    const relay_config *cfg;
    int matching, fewer;
} topic_census;

static void count_topic(void *arg, const char *topic, int partitions)
{
    topic_census *tc = arg;
    const relay_config *cfg = tc->cfg;

    if (strncmp(topic, "__", 2) == 0 || strcmp(topic, cfg->kafka.checkpoint_topic) == 0 ||
        strcmp(topic, cfg->dead_letter.topic) == 0 ||
        !event_topic_matches(cfg->outbox.topic, topic))
        return;
    tc->matching++;
    if (partitions >= cfg->kafka.topic_partitions || ++tc->fewer > TOPIC_WARNINGS)
        return;
    /* Typically auto-created by the broker (num.partitions) for a consumer that subscribed
     * before the relay created it; kafka.topic_partitions applies only to topics it creates. */
    warn(tc->cl, "event topics",
         "%s has %d partition(s), fewer than kafka.topic_partitions (%d): something created it "
         "before the relay did (a consumer subscribing first makes the broker auto-create it); "
         "to spread it, stop the relay, let consumers drain it, then run kafka-topics.sh "
         "--bootstrap-server ... --alter --topic %s --partitions %d (keys then map to other "
         "partitions)",
         topic, partitions, cfg->kafka.topic_partitions, topic, cfg->kafka.topic_partitions);
}

/* Each existing event topic (those outbox.topic can name) against kafka.topic_partitions,
 * which only applies to the topics the relay creates. */
static void check_topics(checklist *cl, const relay_config *cfg, kafka_client *kc)
{
    topic_census tc = {cl, cfg, 0, 0};
    char err[1024];
    bool fixed = strstr(cfg->outbox.topic, "${") == NULL;

    if (kafka_list_topics(kc, count_topic, &tc, err, sizeof err) < 0)
        item(cl, false, "event topics", "%s", err);
    else if (tc.fewer > TOPIC_WARNINGS)
        warn(cl, "event topics", "%d more of the %d topics matching %s have fewer partitions",
             tc.fewer - TOPIC_WARNINGS, tc.matching, cfg->outbox.topic);
    else if (tc.matching == 0 && fixed && !cfg->kafka.create_topics)
        item(cl, false, "event topics",
             "%s does not exist (or this principal may not see it) and kafka.create_topics is "
             "false: create it (kafka-topics.sh --create --topic %s --partitions %d)",
             cfg->outbox.topic, cfg->outbox.topic, cfg->kafka.topic_partitions);
    else if (tc.matching == 0)
        item(cl, true, "event topics", "none matching %s yet; %s with %d partitions",
             cfg->outbox.topic,
             cfg->kafka.create_topics ? "run creates each" : "create each before its first event",
             cfg->kafka.topic_partitions);
    else if (tc.fewer == 0)
        item(cl, true, "event topics", "%d matching %s, each with %d or more partitions",
             tc.matching, cfg->outbox.topic, cfg->kafka.topic_partitions);
}

static void check_kafka(checklist *cl, const relay_config *cfg)
{
    char err[1024], txn_id[300];
    log_ctx quiet = {LVL_ERROR, LOG_TEXT};
    kafka_client *kc;
    int brokers;

    /* A transactional id of its own: init_transactions would fence a running relay. '/'
     * is not allowed in names, so no relay is called "<name>/check". */
    snprintf(txn_id, sizeof txn_id, "%s/check", cfg->name);
    kc = kafka_new(cfg, txn_id, &quiet, err, sizeof err);
    if (kc == NULL) {
        item(cl, false, "kafka", "%s", err);
        return;
    }
    brokers = kafka_broker_count(kc, cfg->postgres.connect_timeout_s * 1000, err, sizeof err);
    if (brokers < 0) {
        item(cl, false, "kafka", "%s", err);
        goto out;
    }
    item(cl, true, "kafka", "%d broker(s) at %s", brokers, cfg->kafka.brokers);
    if (kafka_init_transactions(kc, 30000, err, sizeof err) != KAFKA_OK ||
        kafka_begin(kc, err, sizeof err) != KAFKA_OK || kafka_abort(kc, err, sizeof err) != KAFKA_OK)
        item(cl, false, "transactions",
             "%s (the broker needs transaction.state.log.* settings and the principal "
             "WRITE/DESCRIBE on TransactionalId)",
             err);
    else
        item(cl, true, "transactions", "usable");
    check_topics(cl, cfg, kc);
out:
    kafka_free(kc);
}

int checklist_run(const char *config_path, char *const *envp, FILE *out)
{
    char err[1024];
    checklist cl = {out, 0};
    relay_config *cfg = config_load(config_path, envp, err, sizeof err);

    if (cfg == NULL) {
        item(&cl, false, "config", "%s", err);
        return EXIT_CONFIG;
    }
    item(&cl, true, "config", "%s (relay \"%s\")", config_path, cfg->name);
    if (config_exposed_warning(cfg, err, sizeof err)[0] != '\0')
        warn(&cl, "config", "%s", err);
    check_schemas(&cl, cfg);
    check_messages(&cl, cfg);
    check_postgres(&cl, cfg);
    check_kafka(&cl, cfg);
    config_free(cfg);
    fprintf(out, "%s\n", cl.failed ? "some checks failed" : "all checks passed");
    return cl.failed ? EXIT_CHECK_FAILED : EXIT_OK;
}
