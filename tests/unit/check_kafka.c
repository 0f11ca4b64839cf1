/*
 * The Kafka client: the checkpoint record format, and transactions against librdkafka's
 * mock cluster, with broker errors injected to check the error classes the pipeline
 * acts on. (The real broker is exercised by tests/integration.)
 */
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka.h"
#include "publish.h"
#include "record.h"
#include "suites.h"

/* Kafka protocol ApiKeys (rdkafka_protocol.h is not installed). */
enum { API_PRODUCE = 0, API_INIT_PRODUCER_ID = 22, API_ADD_PARTITIONS_TO_TXN = 24, API_END_TXN = 26 };

START_TEST(checkpoint_round_trip)
{
    record_checkpoint in = {{0x1600000010ULL, 0x1600000000ULL, 7}, "7312345678901234567", "slot_a",
                            2};
    record_checkpoint out;
    char buf[512], err[256];
    int n = record_checkpoint_format("relay-1", &in, buf, sizeof buf);

    ck_assert_str_eq(buf, "{\"relay\":\"relay-1\",\"end_lsn\":\"16/10\",\"commit_lsn\":\"16/0\","
                          "\"index\":7,\"system_id\":\"7312345678901234567\",\"timeline\":2,"
                          "\"slot\":\"slot_a\"}");
    ck_assert_int_eq(record_checkpoint_parse(buf, (size_t)n, &out, err, sizeof err), 0);
    ck_assert_uint_eq(out.pos.end_lsn, in.pos.end_lsn);
    ck_assert_uint_eq(out.pos.commit_lsn, in.pos.commit_lsn);
    ck_assert_uint_eq(out.pos.index, 7);
    ck_assert_str_eq(out.system_id, in.system_id);
    ck_assert_str_eq(out.slot, "slot_a");
    ck_assert_uint_eq(out.timeline, 2);
    /* A checkpoint written before timelines were kept reads as timeline 0 (unknown). */
    ck_assert_int_eq(record_checkpoint_parse("{\"end_lsn\":\"0/10\",\"commit_lsn\":\"0/0\","
                                             "\"index\":0}",
                                             47, &out, err, sizeof err),
                     0);
    ck_assert_uint_eq(out.timeline, 0);
}
END_TEST

START_TEST(checkpoint_parse_rejects_garbage)
{
    record_checkpoint out;
    char err[256];
    static const char *const bad[] = {
        "", "{", "[]", "{\"end_lsn\":\"0/1\"}",
        "{\"end_lsn\":\"x\",\"commit_lsn\":\"0/0\",\"index\":0}",
        "{\"end_lsn\":\"0/1\",\"commit_lsn\":\"0/0\",\"index\":-1}",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_int_eq(record_checkpoint_parse(bad[i], strlen(bad[i]), &out, err, sizeof err), -1);
        ck_assert_msg(strncmp(err, "checkpoint record", 17) == 0, "case %zu: %s", i, err);
    }
}
END_TEST

/* A mock cluster owned by a throwaway client, and a config pointing at it. */
typedef struct mock {
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *cluster;
    relay_config cfg;
    log_ctx lg;
} mock;

static void mock_start(mock *m)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];

    memset(m, 0, sizeof(*m));
    m->cfg = *test_config_defaults();
    rd_kafka_conf_set(conf, "log_level", "0", why, sizeof why);
    m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    ck_assert_ptr_nonnull(m->owner);
    m->cluster = rd_kafka_mock_cluster_new(m->owner, 1);
    ck_assert_ptr_nonnull(m->cluster);
    rd_kafka_mock_topic_create(m->cluster, "relay.checkpoints", 1, 1);
    rd_kafka_mock_topic_create(m->cluster, "events", 2, 1);
    m->lg.level = LVL_ERROR;
    m->cfg.name = "relay-test";
    m->cfg.kafka.brokers = (char *)rd_kafka_mock_cluster_bootstraps(m->cluster);
    m->cfg.kafka.checkpoint_topic = "relay.checkpoints";
    m->cfg.kafka.create_topics = false;
    m->cfg.kafka.topic_partitions = 1;
    m->cfg.kafka.transaction_timeout_ms = 10000;
    m->cfg.kafka.commit_timeout_ms = 5000;
}

static void mock_stop(mock *m)
{
    rd_kafka_mock_cluster_destroy(m->cluster);
    rd_kafka_destroy(m->owner);
}

static event sample_event(void)
{
    event ev;

    memset(&ev, 0, sizeof ev);
    ev.topic = "events";
    ev.key = "order-1";
    ev.key_len = 7;
    ev.value = "{}";
    ev.value_len = 2;
    ev.id = "1";
    ev.type = "T";
    ev.nheaders = 1;
    ev.headers[0] = (event_header){"event_id", "1", 1};
    return ev;
}

/* Produces the checkpoint record into the open transaction, as `run` does. */
static kafka_status produce_checkpoint(kafka_client *kc, const record_checkpoint *cp, char *err,
                                       size_t size)
{
    char value[512];
    int n = record_checkpoint_format("relay-test", cp, value, sizeof value);

    return kafka_produce_state(kc, "relay-test", value, (size_t)n, err, size);
}

/* Reads back the newest committed checkpoint. */
static kafka_status read_checkpoint(kafka_client *kc, record_checkpoint *cp, bool *found,
                                    char *err, size_t size)
{
    char value[1024];
    size_t len = 0;
    kafka_status st = kafka_read_latest(kc, "relay-test", value, sizeof value, &len, found, err,
                                        size);

    if (st != KAFKA_OK || !*found)
        return st;
    return record_checkpoint_parse(value, len, cp, err, size) == 0 ? KAFKA_OK : KAFKA_FATAL;
}

/* Opens a transaction with one event and the checkpoint for pos. */
static void produce_batch(kafka_client *kc, ledger_pos pos)
{
    record_checkpoint cp = {pos, "42", "slot", 1};
    event ev = sample_event();
    char err[512];

    ck_assert_int_eq(kafka_begin(kc, err, sizeof err), KAFKA_OK);
    ck_assert_int_eq(kafka_produce(kc, &ev, 0, err, sizeof err), KAFKA_OK);
    ck_assert_int_eq(produce_checkpoint(kc, &cp, err, sizeof err), KAFKA_OK);
}

START_TEST(committed_checkpoint_is_read_back_and_aborted_one_is_not)
{
    mock m;
    kafka_client *kc;
    record_checkpoint cp;
    bool found = true;
    char err[512] = "";

    mock_start(&m);
    kc = kafka_new(&m.cfg, m.cfg.name, &m.lg, err, sizeof err);
    ck_assert_msg(kc != NULL, "%s", err);
    ck_assert_int_eq(kafka_init_transactions(kc, 10000, err, sizeof err), KAFKA_OK);
    ck_assert_int_eq(read_checkpoint(kc, &cp, &found, err, sizeof err), KAFKA_OK);
    ck_assert(!found);

    produce_batch(kc, (ledger_pos){100, 0, 0});
    ck_assert_int_eq(kafka_commit(kc, err, sizeof err), KAFKA_OK);
    produce_batch(kc, (ledger_pos){200, 0, 0});
    ck_assert_int_eq(kafka_abort(kc, err, sizeof err), KAFKA_OK);

    ck_assert_msg(read_checkpoint(kc, &cp, &found, err, sizeof err) == KAFKA_OK, "%s", err);
    ck_assert(found);
    ck_assert_uint_eq(cp.pos.end_lsn, 100); /* read_committed: the aborted 200 is invisible */
    ck_assert_str_eq(cp.system_id, "42");
    kafka_free(kc);
    mock_stop(&m);
}
END_TEST

START_TEST(failed_produce_makes_the_commit_abortable)
{
    mock m;
    kafka_client *kc;
    char err[512] = "";

    mock_start(&m);
    kc = kafka_new(&m.cfg, m.cfg.name, &m.lg, err, sizeof err);
    ck_assert_int_eq(kafka_init_transactions(kc, 10000, err, sizeof err), KAFKA_OK);
    /* The broker refuses to add a partition to the transaction: it is doomed. (Refused
     * for lack of Write it is fatal instead: see error_classes.) */
    rd_kafka_mock_push_request_errors(m.cluster, API_ADD_PARTITIONS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_POLICY_VIOLATION);
    produce_batch(kc, (ledger_pos){100, 0, 0});
    ck_assert_int_eq(kafka_commit(kc, err, sizeof err), KAFKA_ABORT);
    ck_assert_msg(strstr(err, "commit_transaction") != NULL, "%s", err);
    ck_assert_int_eq(kafka_abort(kc, err, sizeof err), KAFKA_OK);
    /* After the abort the producer works again: the pipeline rewinds and retries. */
    produce_batch(kc, (ledger_pos){100, 0, 0});
    ck_assert_msg(kafka_commit(kc, err, sizeof err) == KAFKA_OK, "%s", err);
    kafka_free(kc);
    mock_stop(&m);
}
END_TEST

START_TEST(fenced_commit_is_fatal_and_says_so)
{
    mock m;
    kafka_client *kc;
    char err[512] = "";

    mock_start(&m);
    kc = kafka_new(&m.cfg, m.cfg.name, &m.lg, err, sizeof err);
    ck_assert_int_eq(kafka_init_transactions(kc, 10000, err, sizeof err), KAFKA_OK);
    rd_kafka_mock_push_request_errors(m.cluster, API_END_TXN, 1,
                                      RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    produce_batch(kc, (ledger_pos){100, 0, 0});
    ck_assert_int_eq(kafka_commit(kc, err, sizeof err), KAFKA_FATAL);
    ck_assert_msg(strstr(err, "fenced") != NULL, "%s", err);
    kafka_free(kc);
    mock_stop(&m);
}
END_TEST

START_TEST(missing_topic_is_named_with_the_fix)
{
    mock m;
    kafka_client *kc;
    event ev = sample_event();
    char err[512] = "";

    mock_start(&m);
    kc = kafka_new(&m.cfg, m.cfg.name, &m.lg, err, sizeof err);
    ck_assert_int_eq(kafka_init_transactions(kc, 10000, err, sizeof err), KAFKA_OK);
    ck_assert_int_eq(kafka_begin(kc, err, sizeof err), KAFKA_OK);
    ev.topic = "no.such.topic";
    ck_assert_int_eq(kafka_produce(kc, &ev, 0, err, sizeof err), KAFKA_FATAL);
    ck_assert_str_eq(err, "topic no.such.topic does not exist: create it (kafka-topics.sh "
                          "--create --topic no.such.topic) or set kafka.create_topics = true");
    kafka_free(kc);
    mock_stop(&m);
}
END_TEST

START_TEST(bad_property_is_reported)
{
    relay_config cfg = *test_config_defaults();
    config_prop prop = {"no.such.property", "1"};
    log_ctx lg = {LVL_ERROR, LOG_TEXT};
    char err[512] = "";

    cfg.name = "x";
    cfg.kafka.brokers = "localhost:1";
    cfg.kafka.transaction_timeout_ms = 10000;
    cfg.kafka.properties = &prop;
    cfg.kafka.nproperties = 1;
    ck_assert_ptr_null(kafka_new(&cfg, "x", &lg, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka.properties: No such configuration property") != NULL, "%s",
                  err);
}
END_TEST

/* Broker errors on each transactional request, and the class the pipeline must see:
 * retriable ones are retried inside librdkafka or kafka.c and end in success. */
static const struct {
    const char *name;
    int api;
    rd_kafka_resp_err_t err;
    kafka_status init, commit;
    const char *says; /* the start of the message of a failed call, when given */
} injected[] = {
    {"InitProducerId load in progress", API_INIT_PRODUCER_ID,
     RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, KAFKA_OK, KAFKA_OK, NULL},
    {"InitProducerId not authorized", API_INIT_PRODUCER_ID,
     RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KAFKA_FATAL, KAFKA_OK,
     "Kafka denies the relay's principal the Write permission on TransactionalId \"relay-test\""},
    {"AddPartitionsToTxn concurrent", API_ADD_PARTITIONS_TO_TXN,
     RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, KAFKA_OK, KAFKA_OK, NULL},
    /* An ACL missing: replaying cannot help (the line names it). */
    {"AddPartitionsToTxn not authorized", API_ADD_PARTITIONS_TO_TXN,
     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, KAFKA_OK, KAFKA_FATAL,
     "Kafka denies the relay's principal the Write permission on topic "},
    {"Produce not enough replicas", API_PRODUCE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, KAFKA_OK,
     KAFKA_OK, NULL},
    {"Produce invalid acks", API_PRODUCE, RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS, KAFKA_OK,
     KAFKA_ABORT, NULL},
    {"EndTxn coordinator moved", API_END_TXN, RD_KAFKA_RESP_ERR_NOT_COORDINATOR, KAFKA_OK,
     KAFKA_OK, NULL},
    {"EndTxn fenced", API_END_TXN, RD_KAFKA_RESP_ERR_PRODUCER_FENCED, KAFKA_OK, KAFKA_FATAL, NULL},
};

START_TEST(error_classes)
{
    mock m;
    kafka_client *kc;
    char err[512] = "";
    kafka_status st;

    mock_start(&m);
    kc = kafka_new(&m.cfg, m.cfg.name, &m.lg, err, sizeof err);
    rd_kafka_mock_push_request_errors(m.cluster, injected[_i].api, 1, injected[_i].err);
    st = kafka_init_transactions(kc, 10000, err, sizeof err);
    ck_assert_msg(st == injected[_i].init, "%s: init %d: %s", injected[_i].name, st, err);
    if (st == KAFKA_OK) {
        produce_batch(kc, (ledger_pos){100, 0, 0});
        st = kafka_commit(kc, err, sizeof err);
        ck_assert_msg(st == injected[_i].commit, "%s: commit %d: %s", injected[_i].name, st, err);
    }
    if (injected[_i].says != NULL) {
        ck_assert_msg(strncmp(err, injected[_i].says, strlen(injected[_i].says)) == 0, "%s: %s",
                      injected[_i].name, err);
        ck_assert(kafka_refused(kc)); /* whichever call it was: exit 80 */
    }
    kafka_free(kc);
    mock_stop(&m);
}
END_TEST

/* A broker refusing records as too large: the largest refused event record is named by
 * its position, for the pipeline to dead-letter it on the replay (policy.h). */
START_TEST(too_large_record_is_named_by_its_position)
{
    mock m;
    kafka_client *kc;
    event ev = sample_event(), big = sample_event();
    record_checkpoint cp = {{100, 0, 0}, "42", "slot", 1};
    kafka_refusal why;
    char err[512] = "", value[5000];
    kafka_status st;

    mock_start(&m);
    kc = kafka_new(&m.cfg, m.cfg.name, &m.lg, err, sizeof err);
    ck_assert_int_eq(kafka_init_transactions(kc, 10000, err, sizeof err), KAFKA_OK);
    memset(value, 'x', sizeof value);
    big.value = value;
    big.value_len = sizeof value;
    ck_assert_int_eq(kafka_begin(kc, err, sizeof err), KAFKA_OK);
    ck_assert_uint_eq(kafka_rejected_record(kc, &why), 0);
    /* Every produce request of the transaction is refused (the events' and the checkpoint's,
     * in whatever order and batching they go); the largest record is named. */
    rd_kafka_mock_push_request_errors(m.cluster, API_PRODUCE, 3,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    ck_assert_int_eq(kafka_produce(kc, &ev, 6, err, sizeof err), KAFKA_OK);
    ck_assert_int_eq(kafka_produce(kc, &big, 7, err, sizeof err), KAFKA_OK);
    st = produce_checkpoint(kc, &cp, err, sizeof err);
    if (st == KAFKA_OK)
        st = kafka_commit(kc, err, sizeof err);
    ck_assert_msg(st == KAFKA_ABORT || st == KAFKA_REJECTED, "%d: %s", st, err);
    ck_assert_int_eq(kafka_abort(kc, err, sizeof err), KAFKA_OK);
    kafka_poll(kc);
    ck_assert_uint_eq(kafka_rejected_record(kc, &why), 7);
    ck_assert_uint_eq(why.size, sizeof value + 7);
    ck_assert(why.too_large && why.broker && !why.unauthorized);
    /* The next transaction starts clean. */
    ck_assert_int_eq(kafka_begin(kc, err, sizeof err), KAFKA_OK);
    ck_assert_uint_eq(kafka_rejected_record(kc, &why), 0);
    ck_assert_int_eq(kafka_abort(kc, err, sizeof err), KAFKA_OK);
    kafka_free(kc);
    mock_stop(&m);
}
END_TEST

/* The one publish path of run and backfill: the broker refuses the big event at commit;
 * the transaction is given up and the replay dead-letters just that event (too_large,
 * without its value) beside the rest. */
START_TEST(publisher_dead_letters_an_event_the_broker_refused)
{
    mock m;
    kafka_client *kc;
    publisher *p;
    volatile sig_atomic_t stop = 0;
    publish_opts o = {.state_key = "relay-test", .resume = "resumes", .stop = &stop};
    event ev = sample_event(), big = sample_event();
    char err[512] = "", value[5000];

    mock_start(&m);
    rd_kafka_mock_topic_create(m.cluster, "dlt", 1, 1);
    m.cfg.dead_letter.topic = "dlt";
    kc = kafka_new(&m.cfg, m.cfg.name, &m.lg, err, sizeof err);
    ck_assert_int_eq(kafka_init_transactions(kc, 10000, err, sizeof err), KAFKA_OK);
    p = publish_new(&m.cfg, kc, &o, &m.lg, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    memset(value, 'x', sizeof value);
    big.value = value;
    big.value_len = sizeof value;
    ev.commit_lsn = big.commit_lsn = 0x16B3748;
    ev.index = 6;
    big.index = 7;

    rd_kafka_mock_push_request_errors(m.cluster, API_PRODUCE, 3,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    ck_assert_int_eq(publish_event(p, &ev, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_event(p, &big, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_commit(p, "{}", 2), PUBLISH_REWIND);
    ck_assert_msg(strstr(publish_error(p), "the broker refused the event at 0/16B3748:7 (5007 "
                                           "bytes) as too large") != NULL,
                  "%s", publish_error(p));
    ck_assert(!publish_txn_open(p));
    rd_kafka_mock_clear_request_errors(m.cluster, API_PRODUCE);

    /* The replay. */
    ck_assert_int_eq(publish_event(p, &ev, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_event(p, &big, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_get_counts(p)->dead_letters, 1);
    ck_assert_int_eq(publish_get_counts(p)->events, 3); /* ev twice, big once */
    /* (The mock cluster cannot commit an idempotent producer's transaction after an aborted
     * one with refused batches; t_schemas_too_large.sh commits the replay on a real broker.) */
    ck_assert_int_eq(publish_abort(p), PUBLISH_OK);
    publish_free(p);
    kafka_free(kc);
    mock_stop(&m);
}
END_TEST

/* A publisher over the mock cluster with a dead-letter topic, and two events of one
 * transaction at 0/16B3748:6 and :7. */
typedef struct pub_fixture {
    mock m;
    kafka_client *kc;
    publisher *p;
    volatile sig_atomic_t stop;
    publish_opts o;
    event ev, bad;
} pub_fixture;

static void pub_start(pub_fixture *f)
{
    char err[512] = "";

    memset(f, 0, sizeof *f);
    mock_start(&f->m);
    rd_kafka_mock_topic_create(f->m.cluster, "dlt", 1, 1);
    f->m.cfg.dead_letter.topic = "dlt";
    f->kc = kafka_new(&f->m.cfg, f->m.cfg.name, &f->m.lg, err, sizeof err);
    ck_assert_int_eq(kafka_init_transactions(f->kc, 10000, err, sizeof err), KAFKA_OK);
    f->o = (publish_opts){.state_key = "relay-test", .resume = "resumes", .stop = &f->stop};
    f->p = publish_new(&f->m.cfg, f->kc, &f->o, &f->m.lg, err, sizeof err);
    ck_assert_msg(f->p != NULL, "%s", err);
    f->ev = f->bad = sample_event();
    f->ev.commit_lsn = f->bad.commit_lsn = 0x16B3748;
    f->ev.index = 6;
    f->bad.index = 7;
}

static void pub_stop(pub_fixture *f)
{
    publish_free(f->p);
    kafka_free(f->kc);
    mock_stop(&f->m);
}

/* The case: a created_at without time zone written in Asia/Tokyo is 9 hours ahead as
 * UTC, past the topic's message.timestamp.after.max.ms; the broker answers INVALID_TIMESTAMP
 * on every try. That event is set aside (the one farthest from now, not the first of the
 * batch) and the replay dead-letters it, reason rejected, with its value; no endless loop. */
START_TEST(publisher_dead_letters_a_refused_timestamp)
{
    pub_fixture f;
    struct timespec now;

    pub_start(&f);
    clock_gettime(CLOCK_REALTIME, &now);
    f.ev.timestamp_ms = (int64_t)now.tv_sec * 1000;
    f.bad.timestamp_ms = f.ev.timestamp_ms + 9 * 3600 * 1000;
    rd_kafka_mock_push_request_errors(f.m.cluster, API_PRODUCE, 3,
                                      RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP,
                                      RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP,
                                      RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP);
    ck_assert_int_eq(publish_event(f.p, &f.ev, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_event(f.p, &f.bad, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_commit(f.p, "{}", 2), PUBLISH_REWIND);
    ck_assert_msg(strstr(publish_error(f.p), "the broker refused the event at 0/16B3748:7: Broker: "
                                             "Invalid timestamp (INVALID_TIMESTAMP): aborted, "
                                             "replaying to dead-letter it") != NULL,
                  "%s", publish_error(f.p));
    ck_assert(publish_set_aside(f.p));
    rd_kafka_mock_clear_request_errors(f.m.cluster, API_PRODUCE);

    ck_assert_int_eq(publish_event(f.p, &f.ev, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_event(f.p, &f.bad, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_get_counts(f.p)->dead_letters, 1);
    ck_assert_int_eq(publish_get_counts(f.p)->events, 3);
    ck_assert_int_eq(publish_abort(f.p), PUBLISH_OK);
    pub_stop(&f);
}
END_TEST

/* With schemas.on_invalid = stop the replay stops at the refused event: exit 65. */
START_TEST(refused_record_stops_with_on_invalid_stop)
{
    pub_fixture f;

    pub_start(&f);
    f.m.cfg.schemas.on_invalid = CONFIG_ON_INVALID_STOP;
    publish_free(f.p);
    f.p = publish_new(&f.m.cfg, f.kc, &f.o, &f.m.lg, (char[256]){0}, 256);
    rd_kafka_mock_push_request_errors(f.m.cluster, API_PRODUCE, 2,
                                      RD_KAFKA_RESP_ERR_INVALID_RECORD,
                                      RD_KAFKA_RESP_ERR_INVALID_RECORD);
    ck_assert_int_eq(publish_event(f.p, &f.bad, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_commit(f.p, "{}", 2), PUBLISH_REWIND);
    rd_kafka_mock_clear_request_errors(f.m.cluster, API_PRODUCE);
    ck_assert_int_eq(publish_event(f.p, &f.bad, NULL, NULL), PUBLISH_EXIT);
    ck_assert_int_eq(publish_exit_code(f.p), 65);
    ck_assert_msg(strncmp(publish_error(f.p), "rejected: the Kafka broker refused the record: "
                                              "Broker: Broker failed to validate record",
                          87) == 0,
                  "%s", publish_error(f.p));
    pub_stop(&f);
}
END_TEST

/* No write right on the topic: not the record's fault; exit 80 naming the ACL to grant. */
START_TEST(unauthorized_topic_exits_naming_the_acl)
{
    pub_fixture f;

    pub_start(&f);
    rd_kafka_mock_push_request_errors(f.m.cluster, API_PRODUCE, 2,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ck_assert_int_eq(publish_event(f.p, &f.ev, NULL, NULL), PUBLISH_OK);
    ck_assert_int_eq(publish_commit(f.p, "{}", 2), PUBLISH_EXIT);
    ck_assert_int_eq(publish_exit_code(f.p), 80);
    /* The event and the checkpoint may share the refused produce request: either topic is
     * the one named first. */
    ck_assert_msg(strstr(publish_error(f.p), "grant WRITE on topic events to the relay's "
                                             "principal") != NULL ||
                      strstr(publish_error(f.p), "grant WRITE on topic relay.checkpoints to the "
                                                 "relay's principal") != NULL,
                  "%s", publish_error(f.p));
    pub_stop(&f);
}
END_TEST

/* A broker failure the relay cannot pin on one record, the same on every replay: after
 * SAME_FAILURES_MAX transactions in a row the publisher stops, naming where and why. */
START_TEST(same_broker_failure_does_not_replay_forever)
{
    pub_fixture f;
    publish_step ps = PUBLISH_REWIND;
    int tries = 0;

    pub_start(&f);
    for (; ps == PUBLISH_REWIND && tries < 10; tries++) {
        rd_kafka_mock_push_request_errors(f.m.cluster, API_PRODUCE, 2,
                                          RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS,
                                          RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS);
        ps = publish_event(f.p, &f.ev, NULL, NULL);
        if (ps == PUBLISH_OK)
            ps = publish_commit(f.p, "{}", 2);
        ck_assert(ps == PUBLISH_EXIT || !publish_set_aside(f.p));
        if (ps == PUBLISH_REWIND)
            ck_assert_int_eq(publish_abort(f.p), PUBLISH_OK);
        rd_kafka_mock_clear_request_errors(f.m.cluster, API_PRODUCE);
    }
    ck_assert_int_eq(ps, PUBLISH_EXIT);
    ck_assert_int_eq(tries, 3);
    ck_assert_int_eq(publish_exit_code(f.p), 80);
    ck_assert_msg(strstr(publish_error(f.p), "(3 Kafka transactions in a row from the event at "
                                             "0/16B3748:6 failed alike): stopping rather than "
                                             "replaying forever") != NULL,
                  "%s", publish_error(f.p));
    pub_stop(&f);
}
END_TEST

Suite *suite_kafka(void)
{
    Suite *s = suite_create("kafka");
    TCase *pure = tcase_create("checkpoint");
    TCase *mocked = tcase_create("mock");

    tcase_add_test(pure, checkpoint_round_trip);
    tcase_add_test(pure, checkpoint_parse_rejects_garbage);
    tcase_add_test(pure, bad_property_is_reported);
    tcase_add_test(mocked, committed_checkpoint_is_read_back_and_aborted_one_is_not);
    tcase_add_test(mocked, failed_produce_makes_the_commit_abortable);
    tcase_add_test(mocked, fenced_commit_is_fatal_and_says_so);
    tcase_add_test(mocked, missing_topic_is_named_with_the_fix);
    tcase_add_loop_test(mocked, error_classes, 0, (int)(sizeof injected / sizeof injected[0]));
    tcase_add_test(mocked, too_large_record_is_named_by_its_position);
    tcase_add_test(mocked, publisher_dead_letters_an_event_the_broker_refused);
    tcase_add_test(mocked, publisher_dead_letters_a_refused_timestamp);
    tcase_add_test(mocked, refused_record_stops_with_on_invalid_stop);
    tcase_add_test(mocked, unauthorized_topic_exits_naming_the_acl);
    tcase_add_test(mocked, same_broker_failure_does_not_replay_forever);
    tcase_set_timeout(mocked, 60);
    suite_add_tcase(s, pure);
    suite_add_tcase(s, mocked);
    return s;
}
