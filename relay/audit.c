#include "audit.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "event.h"
#include "exitcode.h"
#include "kafka.h"
#include "scan.h"
#include "selection.h"

#define WAIT_DEFAULT_S 30

enum { OPT_TOPIC = SELECTION_OPT_END, OPT_JSON, OPT_WAIT };

void audit_usage(FILE *f)
{
    fputs("usage: outbox-relay audit -c FILE [SELECTION] [--topic T] [--wait SECONDS] [--json]\n"
          "\n"
          "Checks that every selected outbox row is in Kafka exactly once: published once to\n"
          "its topic or dead-lettered once, and in order for its key. Rows the relay has not\n"
          "reached yet (its checkpoint is behind them) are pending, not missing.\n"
          "\n" SELECTION_USAGE "options\n"
          "  -c, --config FILE   the relay's configuration (Postgres, Kafka, outbox mapping)\n"
          "  --topic T           the records are in T (a backfill's --topic), not outbox.topic;\n"
          "                      nothing is waited for: a row not there is missing\n"
          "  --wait SECONDS      wait this long for the relay's checkpoint to pass the rows (30)\n"
          "  --json              print the result as one JSON document\n"
          "\n"
          "exit codes: 0 every row exactly once and in order, 1 not, 64 usage, 69 a server\n"
          "unreachable, 77 Postgres refused the user or the SELECT, 78 configuration\n",
          f);
}

int audit_parse_args(int argc, char **argv, int64_t now_us, audit_args *out, char *errbuf,
                     size_t errbuf_size)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        SELECTION_LONG_OPTIONS,
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"json", no_argument, NULL, OPT_JSON},
        {"wait", required_argument, NULL, OPT_WAIT},
        {NULL, 0, NULL, 0},
    };
    int c, taken;

    memset(out, 0, sizeof(*out));
    out->wait_s = WAIT_DEFAULT_S;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        if ((taken = selection_take(c, optarg, now_us, &out->sel, errbuf, errbuf_size)) != 0) {
            if (taken < 0)
                return -1;
            continue;
        }
        switch (c) {
        case 'c':
            out->config = optarg;
            break;
        case 'h':
            out->help = true;
            break;
        case OPT_TOPIC:
            if (!event_topic_legal(optarg, strlen(optarg))) {
                snprintf(errbuf, errbuf_size,
                         "--topic \"%s\" is not a legal Kafka topic name (1-249 of [A-Za-z0-9._-])",
                         optarg);
                return -1;
            }
            snprintf(out->topic, sizeof out->topic, "%s", optarg);
            break;
        case OPT_JSON:
            out->json = true;
            break;
        case OPT_WAIT:
            if (!selection_parse_int(optarg, &out->wait_s) || out->wait_s < 0 ||
                out->wait_s > 86400) {
                snprintf(errbuf, errbuf_size, "--wait \"%s\": expected seconds, 0-86400", optarg);
                return -1;
            }
            break;
        default:
            selection_bad_option(c, argv, errbuf, errbuf_size);
            return -1;
        }
    }
    if (out->help)
        return 0;
    if (selection_args_done(argc, argv, out->config, errbuf, errbuf_size) != 0)
        return -1;
    return selection_check(&out->sel, errbuf, errbuf_size);
}

/* ---- a string-keyed index: open addressing over entry numbers ---------------------- */

typedef struct strindex {
    uint32_t *slots; /* entry + 1; 0 empty */
    size_t cap;      /* power of two */
    size_t n;
    bool of_rows; /* entries are rows (by event id), else keypos (by key) */
} strindex;

static uint64_t hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* ---- what the audit holds per row and per key -------------------------------------- */

/* A selected row: 8 + 4 + 3 * 4 + 4 + 8 bytes, its id's bytes, and 8 of the index. */
typedef struct row {
    char *id;        /* event id, NUL-terminated */
    int32_t topic;   /* index of its expected topic; -1 when it cannot become a record */
    uint32_t published, dead, replayed;
    int32_t partition; /* where it was seen (the second time, for a duplicate) */
    int64_t offset;
} row;

/* The newest position seen for a key in one partition. */
typedef struct keypos {
    char *key; /* "<topic>\t<partition>\t<key>" */
    size_t key_len;
    relay_lsn lsn;
    uint32_t index;
} keypos;

typedef struct problem {
    char id[RECORD_ID_MAX];
    char topic[RECORD_TOPIC_MAX];
    int32_t partition;
    int64_t offset;
    char what[80];
} problem;

enum { P_MISSING, P_DUPLICATED, P_MISORDERED, P_DEAD, P_KINDS };
static const char *const kind_names[P_KINDS] = {"missing", "duplicated", "misordered",
                                                "dead_lettered"};

typedef struct audit {
    const audit_args *args;
    const relay_config *cfg;
    const log_ctx *lg;
    row *rows;
    size_t nrows, rows_cap;
    strindex by_id;
    keypos *keys;
    size_t nkeys, keys_cap;
    strindex by_key;
    char **topics; /* expected topics, then the dead-letter topic */
    size_t ntopics;
    int64_t min_ts_ms;
    relay_lsn snapshot_lsn;
    bool caught_up; /* the relay's checkpoint passed snapshot_lsn */
    uint64_t published_once, dead_lettered, missing, pending, duplicated, misordered;
    uint64_t unmatched, replayed;
    problem shown[P_KINDS][AUDIT_SHOWN];
    uint64_t nshown[P_KINDS];
    char err[2048];
} audit;

static const char *entry_key(const audit *a, const strindex *ix, uint32_t e, size_t *len)
{
    if (ix->of_rows) {
        *len = strlen(a->rows[e].id);
        return a->rows[e].id;
    }
    *len = a->keys[e].key_len;
    return a->keys[e].key;
}

/* The entry of key in ix, or -1; with insert, the slot to use is returned in *slot. */
static int64_t index_find(const audit *a, const strindex *ix, const char *key, size_t len,
                          size_t *slot)
{
    if (ix->cap == 0)
        return -1;
    for (size_t i = hash_bytes(key, len) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        size_t elen;
        const char *ekey;

        if (ix->slots[i] == 0) {
            *slot = i;
            return -1;
        }
        ekey = entry_key(a, ix, ix->slots[i] - 1, &elen);
        if (elen == len && memcmp(ekey, key, len) == 0)
            return ix->slots[i] - 1;
    }
}

static int index_grow(audit *a, strindex *ix)
{
    strindex bigger = {.cap = ix->cap ? ix->cap * 2 : 1024, .n = ix->n, .of_rows = ix->of_rows};

    if ((bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots))) == NULL)
        return -1;
    for (size_t i = 0; i < ix->cap; i++) {
        size_t len, slot = 0;
        const char *key;

        if (ix->slots[i] == 0)
            continue;
        key = entry_key(a, ix, ix->slots[i] - 1, &len);
        index_find(a, &bigger, key, len, &slot);
        bigger.slots[slot] = ix->slots[i];
    }
    free(ix->slots);
    *ix = bigger;
    return 0;
}

/* Adds entry e (its key already stored) to ix. */
static int index_add(audit *a, strindex *ix, uint32_t e)
{
    size_t len, slot = 0;
    const char *key;

    if ((ix->n + 1) * 2 > ix->cap && index_grow(a, ix) != 0)
        return -1;
    key = entry_key(a, ix, e, &len);
    index_find(a, ix, key, len, &slot);
    ix->slots[slot] = e + 1;
    ix->n++;
    return 0;
}

static int oom(audit *a)
{
    snprintf(a->err, sizeof a->err, "out of memory");
    return EXIT_INTERNAL;
}

static int32_t topic_index(audit *a, const char *topic)
{
    char **grown;

    for (size_t i = 0; i < a->ntopics; i++)
        if (strcmp(a->topics[i], topic) == 0)
            return (int32_t)i;
    if ((grown = realloc(a->topics, (a->ntopics + 1) * sizeof(*grown))) == NULL)
        return -1;
    a->topics = grown;
    if ((a->topics[a->ntopics] = strdup(topic)) == NULL)
        return -1;
    return (int32_t)a->ntopics++;
}

static void show(audit *a, int kind, const char *id, int32_t topic, int32_t partition,
                 int64_t offset, const char *what)
{
    problem *p;

    if (a->nshown[kind] >= AUDIT_SHOWN) {
        a->nshown[kind]++;
        return;
    }
    p = &a->shown[kind][a->nshown[kind]++];
    snprintf(p->id, sizeof p->id, "%s", id);
    snprintf(p->topic, sizeof p->topic, "%s", topic >= 0 ? a->topics[topic] : "-");
    p->partition = partition;
    p->offset = offset;
    snprintf(p->what, sizeof p->what, "%s", what);
}

/* ---- the rows ------------------------------------------------------------------------ */

static int add_row(audit *a, const char *id, size_t id_len, const char *topic, int64_t ts_ms)
{
    size_t slot;
    row *r;

    if (index_find(a, &a->by_id, id, id_len, &slot) >= 0)
        return EXIT_OK; /* the same event id twice in the table: one event */
    if (a->nrows == a->rows_cap) {
        size_t cap = a->rows_cap ? a->rows_cap * 2 : 4096;
        row *grown = realloc(a->rows, cap * sizeof(*grown));
        if (grown == NULL)
            return oom(a);
        a->rows = grown;
        a->rows_cap = cap;
    }
    r = &a->rows[a->nrows];
    memset(r, 0, sizeof(*r));
    r->partition = -1;
    r->offset = -1;
    if ((r->id = strndup(id, id_len)) == NULL)
        return oom(a);
    r->topic = -1;
    if (topic != NULL && (r->topic = topic_index(a, topic)) < 0)
        return oom(a);
    if (index_add(a, &a->by_id, (uint32_t)a->nrows) != 0)
        return oom(a);
    a->nrows++;
    if (ts_ms > 0 && (a->min_ts_ms == 0 || ts_ms < a->min_ts_ms))
        a->min_ts_ms = ts_ms;
    return EXIT_OK;
}

/* Every selected row, mapped as `run` maps it: its event id and topic. */
static int read_rows(audit *a, scan *sc, event_mapper *mapper)
{
    char max_id[RECORD_ID_MAX], after[RECORD_ID_MAX] = "";
    int rc;

    if ((rc = scan_last_id(sc, &a->args->sel, max_id, sizeof max_id)) != EXIT_OK)
        return rc;
    while (max_id[0] != '\0') {
        PGresult *page = scan_page(sc, &a->args->sel, after, max_id, NULL, NULL, &rc);
        int n;

        if (page == NULL)
            return rc;
        n = PQntuples(page);
        for (int i = 0; i < n && rc == EXIT_OK; i++) {
            event_row er;
            event ev;
            const char *id;
            size_t id_len;
            int mapped;

            if ((rc = scan_row(sc, page, i, &er, &id, &id_len)) != EXIT_OK)
                break;
            mapped = event_map(mapper, &er, 0, 0, &ev, a->err, sizeof a->err);
            if (mapped < 0) {
                rc = EXIT_CONFIG;
                break;
            }
            /* A row that cannot become a record is dead-lettered under its event id. */
            rc = add_row(a, ev.id != NULL ? ev.id : id, ev.id != NULL ? strlen(ev.id) : id_len,
                         mapped == EVENT_BAD_ROW ? NULL
                         : a->args->topic[0] ? a->args->topic
                                             : ev.topic,
                         ev.timestamp_ms);
            if (i == n - 1 && id_len < sizeof after)
                memcpy(after, id, id_len + 1);
        }
        PQclear(page);
        if (rc != EXIT_OK)
            return rc;
        if (n < SCAN_PAGE_ROWS)
            break;
    }
    return EXIT_OK;
}

/* ---- the records --------------------------------------------------------------------- */

/* A record of an event topic with a position: its key's positions must grow. */
static int check_order(audit *a, const kafka_record *r, const char *id, relay_lsn lsn,
                       uint32_t index)
{
    char buf[1024];
    size_t len, slot = 0;
    int64_t e;
    int n = snprintf(buf, sizeof buf, "%s\t%d\t", r->topic, (int)r->partition);

    if (n < 0 || (size_t)n + r->key_len >= sizeof buf)
        return 0; /* keys that long are not checked */
    memcpy(buf + n, r->key, r->key_len);
    len = (size_t)n + r->key_len;
    if ((e = index_find(a, &a->by_key, buf, len, &slot)) >= 0) {
        keypos *k = &a->keys[e];
        if (lsn < k->lsn || (lsn == k->lsn && index <= k->index)) {
            a->misordered++;
            show(a, P_MISORDERED, id, topic_index(a, r->topic), r->partition, r->offset,
                 "position not after its key's previous record");
        } else {
            k->lsn = lsn;
            k->index = index;
        }
        return 0;
    }
    if (a->nkeys == a->keys_cap) {
        size_t cap = a->keys_cap ? a->keys_cap * 2 : 1024;
        keypos *grown = realloc(a->keys, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        a->keys = grown;
        a->keys_cap = cap;
    }
    a->keys[a->nkeys] = (keypos){malloc(len), len, lsn, index};
    if (a->keys[a->nkeys].key == NULL)
        return -1;
    memcpy(a->keys[a->nkeys].key, buf, len);
    return index_add(a, &a->by_key, (uint32_t)a->nkeys++);
}

static int on_record(void *arg, const kafka_record *r)
{
    audit *a = arg;
    size_t id_len = 0, pos_len = 0;
    const char *id = kafka_record_header(r, EVENT_HDR_ID, &id_len);
    const char *pos = kafka_record_header(r, EVENT_HDR_POSITION, &pos_len);
    bool dead = strcmp(r->topic, a->cfg->dead_letter.topic) == 0;
    char idz[RECORD_ID_MAX];
    size_t slot;
    int64_t e;
    row *w;
    relay_lsn lsn;
    uint32_t index;

    if (id == NULL || id_len >= sizeof idz) {
        a->unmatched++;
        return 0;
    }
    memcpy(idz, id, id_len);
    idz[id_len] = '\0';
    if (!dead && pos != NULL && lsn_position_parse(pos, pos_len, &lsn, &index) &&
        check_order(a, r, idz, lsn, index) != 0) {
        oom(a);
        return -1;
    }
    if ((e = index_find(a, &a->by_id, id, id_len, &slot)) < 0) {
        a->unmatched++; /* a pruned row, another relay's, or outside the selection */
        return 0;
    }
    w = &a->rows[e];
    if (kafka_record_header(r, EVENT_HDR_REPLAY, NULL) != NULL && !a->args->topic[0]) {
        w->replayed++; /* backfill's re-publication: counted apart */
        a->replayed++;
        return 0;
    }
    if (dead)
        w->dead++;
    else
        w->published++;
    if (w->published + w->dead == 1 || w->published + w->dead == 2) {
        w->partition = r->partition;
        w->offset = r->offset;
    }
    return 0;
}

/* Reads the records of the rows' topics and of the dead-letter topic, from scratch. */
static int read_records(audit *a, kafka_client *kc)
{
    for (size_t i = 0; i < a->nrows; i++) {
        row *w = &a->rows[i];
        w->published = w->dead = w->replayed = 0;
        w->partition = -1;
        w->offset = -1;
    }
    for (size_t i = 0; i < a->nkeys; i++)
        free(a->keys[i].key);
    a->nkeys = 0;
    free(a->by_key.slots);
    a->by_key = (strindex){0};
    a->unmatched = a->replayed = a->misordered = 0;
    a->nshown[P_MISORDERED] = 0;
    if (kafka_read_topics(kc, (const char *const *)a->topics, a->ntopics, a->min_ts_ms, on_record,
                          a, a->err, sizeof a->err) != KAFKA_OK)
        return strcmp(a->err, "out of memory") == 0 ? EXIT_INTERNAL : EXIT_UNAVAILABLE;
    return EXIT_OK;
}

/* Whether every row has a record. */
static bool all_found(const audit *a)
{
    for (size_t i = 0; i < a->nrows; i++)
        if (a->rows[i].published + a->rows[i].dead == 0)
            return false;
    return true;
}

/* ---- the verdict --------------------------------------------------------------------- */

static void judge(audit *a)
{
    int32_t dlq = topic_index(a, a->cfg->dead_letter.topic);

    for (size_t i = 0; i < a->nrows; i++) {
        row *w = &a->rows[i];
        uint32_t n = w->published + w->dead;

        if (n == 1 && w->published == 1) {
            a->published_once++;
        } else if (n == 1) {
            a->dead_lettered++;
            show(a, P_DEAD, w->id, dlq, w->partition, w->offset, "dead-lettered");
        } else if (n == 0 && !a->caught_up) {
            a->pending++;
        } else if (n == 0) {
            a->missing++;
            show(a, P_MISSING, w->id, w->topic, -1, -1,
                 w->replayed ? "only a backfill's re-publication" : "no record");
        } else {
            char what[80];
            snprintf(what, sizeof what, "%u records (%u dead letters); the second here", n,
                     w->dead);
            a->duplicated++;
            show(a, P_DUPLICATED, w->id, w->dead > 0 && w->published == 0 ? dlq : w->topic,
                 w->partition, w->offset, what);
        }
    }
}

static void print_text(const audit *a, FILE *out)
{
    for (int k = 0; k < P_KINDS; k++) {
        uint64_t n = a->nshown[k] < AUDIT_SHOWN ? a->nshown[k] : AUDIT_SHOWN;

        if (n == 0)
            continue;
        fprintf(out, "%s (%" PRIu64 "%s):\n", kind_names[k], a->nshown[k],
                a->nshown[k] > AUDIT_SHOWN ? ", the first 20" : "");
        fprintf(out, "  %-20s %-40s %9s %12s  %s\n", "event_id", "topic", "partition", "offset",
                "");
        for (uint64_t i = 0; i < n; i++) {
            const problem *p = &a->shown[k][i];
            fprintf(out, "  %-20s %-40s %9d %12" PRId64 "  %s\n", p->id, p->topic, p->partition,
                    p->offset, p->what);
        }
    }
    fprintf(out,
            "apart: pending=%" PRIu64 " (the relay's checkpoint is behind them) unmatched=%" PRIu64
            " (records of no selected row) replayed=%" PRIu64 " (backfill re-publications)\n",
            a->pending, a->unmatched, a->replayed);
    fprintf(out,
            "audit rows=%zu published_once=%" PRIu64 " dead_lettered=%" PRIu64
            " missing=%" PRIu64 " duplicated=%" PRIu64 " misordered=%" PRIu64 "\n",
            a->nrows, a->published_once, a->dead_lettered, a->missing, a->duplicated,
            a->misordered);
}

static void print_json(const audit *a, FILE *out)
{
    json_t *doc = json_pack("{s:I s:I s:I s:I s:I s:I s:I s:I s:I}", "rows", (json_int_t)a->nrows,
                            "published_once", (json_int_t)a->published_once, "dead_lettered",
                            (json_int_t)a->dead_lettered, "missing", (json_int_t)a->missing,
                            "duplicated", (json_int_t)a->duplicated, "misordered",
                            (json_int_t)a->misordered, "pending", (json_int_t)a->pending,
                            "unmatched", (json_int_t)a->unmatched, "replayed",
                            (json_int_t)a->replayed);

    json_t *listed = json_object();

    json_object_set_new(doc, "listed", listed); /* the first AUDIT_SHOWN of each kind */
    for (int k = 0; doc != NULL && k < P_KINDS; k++) {
        json_t *list = json_array();
        uint64_t n = a->nshown[k] < AUDIT_SHOWN ? a->nshown[k] : AUDIT_SHOWN;

        for (uint64_t i = 0; i < n; i++) {
            const problem *p = &a->shown[k][i];
            json_array_append_new(list, json_pack("{s:s s:s s:i s:I s:s}", "event_id", p->id,
                                                  "topic", p->topic, "partition", p->partition,
                                                  "offset", (json_int_t)p->offset, "what",
                                                  p->what));
        }
        json_object_set_new(listed, kind_names[k], list);
    }
    if (doc != NULL)
        json_dumpf(doc, out, JSON_COMPACT);
    fputc('\n', out);
    json_decref(doc);
}

/* Waits, up to --wait, for the relay's committed checkpoint to reach snapshot_lsn: every
 * selected row committed before it, so a row not in Kafka then is missing, not pending. */
static int wait_checkpoint(audit *a, kafka_client *kc, volatile sig_atomic_t *stop)
{
    int64_t deadline = clock_mono_ms() + a->args->wait_s * 1000;
    record_checkpoint cp;

    for (;;) {
        char value[1024];
        size_t len = 0;
        bool found = false;

        if (kafka_read_latest(kc, a->cfg->name, value, sizeof value, &len, &found, a->err,
                              sizeof a->err) != KAFKA_OK)
            return EXIT_UNAVAILABLE;
        if (found && record_checkpoint_parse(value, len, &cp, a->err, sizeof a->err) != 0)
            return EXIT_CONFIG;
        if (found && cp.pos.end_lsn >= a->snapshot_lsn) {
            a->caught_up = true;
            return EXIT_OK;
        }
        if (clock_mono_ms() >= deadline || *stop) {
            log_warn(a->lg,
                     "relay \"%s\"'s checkpoint %s the rows read (WAL " LSN_FMT "); gave up "
                     "waiting after %" PRId64 " s: rows not in Kafka count as pending",
                     a->cfg->name, found ? "has not passed" : "does not exist yet, so not past",
                     LSN_ARGS(a->snapshot_lsn), a->args->wait_s);
            return EXIT_OK;
        }
        clock_sleep_ms(1000);
    }
}

int audit_run(const audit_args *args, const relay_config *cfg, const log_ctx *lg, FILE *out,
              volatile sig_atomic_t *stop)
{
    audit a = {.args = args, .cfg = cfg, .lg = lg, .by_id.of_rows = true};
    event_mapper *mapper = event_mapper_new(cfg, NULL, a.err, sizeof a.err);
    kafka_client *kc = NULL;
    scan *sc = NULL;
    char txn_id[300];
    int rc = EXIT_CONFIG;

    if (mapper == NULL)
        goto out;
    if ((rc = scan_open(&sc, cfg, "outbox-relay audit", mapper, clock_wall_us(),
                        args->sel.has_table ? args->sel.table : NULL)) != EXIT_OK ||
        (rc = scan_snapshot_lsn(sc, &a.snapshot_lsn)) != EXIT_OK ||
        (rc = read_rows(&a, sc, mapper)) != EXIT_OK) {
        if (a.err[0] == '\0')
            snprintf(a.err, sizeof a.err, "%s", scan_error(sc));
        goto out;
    }
    if (topic_index(&a, cfg->dead_letter.topic) < 0) {
        rc = oom(&a);
        goto out;
    }
    snprintf(txn_id, sizeof txn_id, "%s/audit", cfg->name);
    if ((kc = kafka_new(cfg, txn_id, lg, a.err, sizeof a.err)) == NULL) {
        rc = EXIT_CONFIG;
        goto out;
    }
    if ((rc = read_records(&a, kc)) != EXIT_OK)
        goto out;
    /* A row without a record may be one the relay has not reached yet: wait for its
     * checkpoint to pass the snapshot, then look again. --topic audits a backfill's scratch
     * topic: no relay publishes there, a row not there is missing. */
    a.caught_up = args->topic[0] != '\0' || all_found(&a);
    if (!a.caught_up &&
        ((rc = wait_checkpoint(&a, kc, stop)) != EXIT_OK || (rc = read_records(&a, kc)) != EXIT_OK))
        goto out;
    judge(&a);
    if (args->json)
        print_json(&a, out);
    else
        print_text(&a, out);
    rc = a.missing + a.duplicated + a.misordered > 0 ? 1 : EXIT_OK;
out:
    if (rc != EXIT_OK && rc != 1)
        log_error(lg, "%s", a.err[0] ? a.err : "audit failed");
    kafka_free(kc);
    scan_close(sc);
    event_mapper_free(mapper);
    for (size_t i = 0; i < a.nrows; i++)
        free(a.rows[i].id);
    for (size_t i = 0; i < a.nkeys; i++)
        free(a.keys[i].key);
    for (size_t i = 0; i < a.ntopics; i++)
        free(a.topics[i]);
    free(a.rows);
    free(a.keys);
    free(a.topics);
    free(a.by_id.slots);
    free(a.by_key.slots);
    return rc;
}
