#include "kafka.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"

#define METADATA_TIMEOUT_MS 10000
#define CHECKPOINT_PARTITION 0 /* checkpoints always go to (and are read from) partition 0 */
#define WAIT_SLICE_MS 1000     /* longest wait on Kafka between two calls of the wait hook */

struct kafka_client {
    const relay_config *cfg;
    const log_ctx *lg;
    rd_kafka_t *rk;
    char **topics; /* topics known to exist */
    size_t ntopics;
    /* First failed delivery of the open transaction: it dooms the commit, and when the
     * cause is permanent (record too large, no such topic) retrying cannot help. */
    rd_kafka_resp_err_t delivery_err;
    char delivery_msg[256];
    /* The tagged record the broker refused for good in the open transaction that is the
     * likely cause (see note_rejected), so that the replay can dead-letter just that one. */
    uint64_t rejected_tag; /* 0: none */
    uint64_t rejected_score;
    kafka_refusal refusal;
    int64_t *stamps; /* timestamp of each tagged record of the open transaction, by tag - 1 */
    size_t nstamps, stamps_cap;
    kafka_wait_fn wait_fn;
    void *wait_arg;
    /* The brokers refused this client's TLS handshake or SASL login: retrying cannot help. */
    char refused[768];
    char txn_id[320];
    bool denied; /* an ACL was missing (kafka_refused) */
    /* A topic the broker would not add to the transaction for lack of Write: librdkafka only
     * logs which (from its own thread, hence the lock); the calls fail with a state error. */
    pthread_mutex_t lock;
    char unwritable[256];
    int64_t committed_ms; /* clock_mono_ms() when the last commit succeeded */
    bool pause_next;      /* kafka_pause_next */
};

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_client *kc = rd_kafka_opaque(rk);
    const char *q = strchr(buf, '"');

    /* "Failed to add partition \"T\" [2] to transaction: Broker: Topic authorization failed" */
    if (strcmp(fac, "ADDPARTS") == 0 && strstr(buf, "authorization failed") != NULL && q != NULL) {
        pthread_mutex_lock(&kc->lock);
        if (kc->unwritable[0] == '\0')
            snprintf(kc->unwritable, sizeof kc->unwritable, "%.*s", (int)strcspn(q + 1, "\""),
                     q + 1);
        pthread_mutex_unlock(&kc->lock);
    }
    /* librdkafka uses syslog levels (3 error, 4 warning). Its errors are mostly ones it
     * retries (a broker away), so they are warnings here: the relay's own error line
     * says what failed for good. */
    log_level lvl = level <= 4 ? LVL_WARN : LVL_DEBUG;

    log_write(kc->lg, lvl, "kafka %s: %s", fac, buf);
}

/* The value of a kafka.properties setting, or NULL. */
static const char *prop(const kafka_client *kc, const char *name)
{
    for (size_t i = 0; i < kc->cfg->kafka.nproperties; i++)
        if (strcmp(kc->cfg->kafka.properties[i].name, name) == 0)
            return kc->cfg->kafka.properties[i].value;
    return NULL;
}

/* Says that the brokers deny this client's principal `op` on a resource (`what`, e.g.
 * "topic x") and how to grant it (`acl`: the kafka-acls options naming the resource). */
static void deny(kafka_client *kc, char *errbuf, size_t errbuf_size, const char *op,
                 const char *what, const char *acl)
{
    const char *proto = prop(kc, "security.protocol");
    /* The principal is the SASL user only with SASL (a certificate's name, say, otherwise). */
    const char *user = proto != NULL && strncasecmp(proto, "SASL", 4) == 0 &&
                               prop(kc, "sasl.username") != NULL &&
                               prop(kc, "sasl.username")[0] != '\0'
                           ? prop(kc, "sasl.username")
                           : NULL;

    kc->denied = true;
    snprintf(errbuf, errbuf_size,
             "Kafka denies %s%s the %s permission on %s: grant it (kafka-acls.sh "
             "--bootstrap-server ... --add --allow-principal User:%s --operation %s %s); the "
             "README lists every ACL the relay needs",
             user ? "User:" : "the relay's principal", user ? user : "", op, what,
             user ? user : "<principal>", op, acl);
}

/* deny for a topic: `what` names it ("topic", "the checkpoint topic"), note ("" or " (...)")
 * follows its name. */
static void deny_topic(kafka_client *kc, char *errbuf, size_t errbuf_size, const char *op,
                       const char *what, const char *topic, const char *note)
{
    char res[400], acl[300];

    snprintf(res, sizeof res, "%s %s%s", what, topic, note);
    snprintf(acl, sizeof acl, "--topic '%s'", topic);
    deny(kc, errbuf, errbuf_size, op, res, acl);
}

bool kafka_refused(const kafka_client *kc)
{
    return kc->denied || kc->refused[0] != '\0';
}

/* True, with deny's message, when a failed call failed because a topic is not writable. */
static bool write_denied(kafka_client *kc, char *errbuf, size_t errbuf_size)
{
    char topic[sizeof kc->unwritable];

    pthread_mutex_lock(&kc->lock);
    memcpy(topic, kc->unwritable, sizeof topic);
    pthread_mutex_unlock(&kc->lock);
    if (topic[0] == '\0')
        return false;
    deny_topic(kc, errbuf, errbuf_size, "Write", "topic", topic, "");
    return true;
}

/* The fix for a refused TLS handshake or SASL login, from librdkafka's reason, into buf. */
static const char *refusal_fix(const kafka_client *kc, int err, const char *reason, char *buf,
                               size_t size)
{
    const char *mech = prop(kc, "sasl.mechanism") ? prop(kc, "sasl.mechanism")
                       : prop(kc, "sasl.mechanisms") ? prop(kc, "sasl.mechanisms")
                                                     : "";

    if (err == RD_KAFKA_RESP_ERR__SSL && strstr(reason, "certificate verify failed") != NULL)
        return "set ssl.ca.location in kafka.properties to the CA certificate that signed the "
               "brokers' certificates";
    if (err == RD_KAFKA_RESP_ERR__SSL)
        return "check the ssl.* settings of kafka.properties and the brokers' listener";
    /* librdkafka before 2.6.1 puts the client nonce twice in its SCRAM client-final
     * message; Kafka 4 checks the nonce as RFC 5802 says and refuses it as bad
     * credentials (librdkafka#4895). Kafka 3.x accepts it. */
    if (strncasecmp(mech, "SCRAM", 5) == 0 && rd_kafka_version() < 0x020601ff) {
        snprintf(buf, size,
                 "check sasl.username and sasl.password in kafka.properties; if they are right, "
                 "the brokers may be Kafka 4.x, which refuses SCRAM from librdkafka before "
                 "2.6.1 (this is %s; librdkafka#4895): use librdkafka 2.6.1 or newer, or "
                 "sasl.mechanism PLAIN over SASL_SSL, or Kafka 3.9",
                 rd_kafka_version_str());
        return buf;
    }
    return "check sasl.username, sasl.password and sasl.mechanism in kafka.properties";
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_client *kc = opaque;
    char fix[400];

    if ((err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) &&
        kc->refused[0] == '\0')
        snprintf(kc->refused, sizeof kc->refused, "%s to Kafka refused: %s (%s)",
                 err == RD_KAFKA_RESP_ERR__SSL ? "TLS" : "SASL login", reason,
                 refusal_fix(kc, err, reason, fix, sizeof fix));
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof why);
        /* A warning: the call that fails because of it says what failed, once. */
        log_warn(kc->lg, "kafka fatal error: %s", why);
    } else {
        /* Broker down, transport errors: librdkafka retries; say so once per event. */
        log_warn(kc->lg, "kafka: %s", reason);
    }
}

/* The delivery errors by which the broker refuses a record for good: librdkafka reports
 * them without retrying, and replaying the same record gets the same answer. Authorization
 * is one of them, though the fix is not the record's. */
static bool refuses_record(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return true;
    default:
        return false;
    }
}

static bool refused_size(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

/*
 * A broker refuses a whole produce batch, so every record of it fails alike; the one to set
 * aside is the likely cause: the largest for a size refusal, the one whose timestamp is
 * farthest from now for a timestamp refusal, else the first reported (records of the
 * open transaction are reported in the order produced per partition).
 */
static void note_rejected(kafka_client *kc, const rd_kafka_message_t *msg)
{
    uint64_t tag = (uint64_t)(uintptr_t)msg->_private, score = 0;
    kafka_refusal *r = &kc->refusal;
    int64_t off;

    if (msg->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        if (!r->unauthorized)
            snprintf(r->topic, sizeof r->topic, "%s", rd_kafka_topic_name(msg->rkt));
        r->unauthorized = true;
        return;
    }
    if (refused_size(msg->err)) {
        score = msg->len + msg->key_len;
    } else if (msg->err == RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP) {
        /* A delivery report carries no timestamp: the one produced is kept by tag. */
        off = tag > 0 && tag <= kc->nstamps && kc->stamps[tag - 1] != 0
                  ? kc->stamps[tag - 1] - clock_wall_us() / 1000
                  : 0;
        score = (uint64_t)(off < 0 ? -off : off);
    }
    if (tag == 0 || (kc->rejected_tag != 0 && score <= kc->rejected_score))
        return;
    kc->rejected_tag = tag;
    kc->rejected_score = score;
    r->size = msg->len + msg->key_len;
    r->too_large = refused_size(msg->err);
    snprintf(r->topic, sizeof r->topic, "%s", rd_kafka_topic_name(msg->rkt));
    snprintf(r->error, sizeof r->error, "%s (%s)", rd_kafka_err2str(msg->err),
             rd_kafka_err2name(msg->err));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kafka_client *kc = opaque;

    (void)rk;
    if (refuses_record(msg->err))
        note_rejected(kc, msg);
    /* Purged messages are the echo of our own abort, reported after it. */
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR || msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
        msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ||
        kc->delivery_err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    kc->delivery_err = msg->err;
    snprintf(kc->delivery_msg, sizeof kc->delivery_msg, "delivery to %s failed: %s",
             rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errbuf,
               size_t errbuf_size)
{
    char why[256];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(errbuf, errbuf_size, "kafka.properties: %s", why);
        return -1;
    }
    return 0;
}

/* Configuration shared by the producer and the checkpoint reader: brokers, logging, the
 * relay's defaults for this client (name/value pairs, NULL-terminated), then the user's
 * pass-through properties, which may override those defaults (security settings matter
 * to both clients). */
static rd_kafka_conf_t *make_conf(kafka_client *kc, const char *const *defaults, char *errbuf,
                                  size_t errbuf_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const relay_config *cfg = kc->cfg;

    rd_kafka_conf_set_opaque(conf, kc);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (set(conf, "bootstrap.servers", cfg->kafka.brokers, errbuf, errbuf_size) != 0 ||
        set(conf, "client.id", cfg->name, errbuf, errbuf_size) != 0)
        goto fail;
    for (; defaults[0] != NULL; defaults += 2)
        if (set(conf, defaults[0], defaults[1], errbuf, errbuf_size) != 0)
            goto fail;
    for (size_t i = 0; i < cfg->kafka.nproperties; i++)
        if (set(conf, cfg->kafka.properties[i].name, cfg->kafka.properties[i].value, errbuf,
                errbuf_size) != 0)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

kafka_client *kafka_new(const relay_config *cfg, const char *transactional_id, const log_ctx *lg,
                        char *errbuf, size_t errbuf_size)
{
    kafka_client *kc = calloc(1, sizeof(*kc));
    rd_kafka_conf_t *conf;
    char txn_timeout[16], msg_timeout[16], why[512];
    /* Java-compatible key hashing (an aggregate lands on the same partition as from a
     * Java producer), a short linger (the Kafka transaction is the real batch) and a
     * bounded queue (memory stays flat under a backlog). A message must time out before
     * its transaction does, so a broker outage fails the transaction cleanly. */
    const char *const defaults[] = {"partitioner", "murmur2_random",
                                    "linger.ms", "5",
                                    "queue.buffering.max.kbytes", "16384",
                                    "transaction.timeout.ms", txn_timeout,
                                    "message.timeout.ms", msg_timeout,
                                    NULL};

    if (kc == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&kc->lock, NULL);
    kc->cfg = cfg;
    kc->lg = lg;
    snprintf(kc->txn_id, sizeof kc->txn_id, "%s", transactional_id);
    snprintf(txn_timeout, sizeof txn_timeout, "%d", cfg->kafka.transaction_timeout_ms);
    snprintf(msg_timeout, sizeof msg_timeout, "%d", cfg->kafka.transaction_timeout_ms * 9 / 10);
    conf = make_conf(kc, defaults, errbuf, errbuf_size);
    if (conf == NULL)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (set(conf, "transactional.id", transactional_id, errbuf, errbuf_size) != 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    kc->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (kc->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errbuf_size, "cannot create the Kafka producer: %s", why);
        goto fail;
    }
    return kc;
fail:
    kafka_free(kc);
    return NULL;
}

void kafka_free(kafka_client *kc)
{
    if (kc == NULL)
        return;
    if (kc->rk != NULL) {
        /* A producer that failed (fenced, say) may still have records queued or in flight;
         * they can never commit. Purge them and let librdkafka finish with them before the
         * handle goes: destroying it with records in flight after a fatal error once ended
         * in a double free inside librdkafka 2.0.2 (seen under ASan in backfill_resume). */
        if (rd_kafka_outq_len(kc->rk) > 0) {
            rd_kafka_purge(kc->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            int64_t until = clock_mono_ms() + 2000;
            while (rd_kafka_outq_len(kc->rk) > 0 && clock_mono_ms() < until)
                rd_kafka_poll(kc->rk, 50);
        }
        rd_kafka_destroy(kc->rk);
    }
    for (size_t i = 0; i < kc->ntopics; i++)
        free(kc->topics[i]);
    free(kc->topics);
    free(kc->stamps);
    pthread_mutex_destroy(&kc->lock);
    free(kc);
}

/* Sorts a transactional API error into the class the pipeline acts on (librdkafka's
 * advice: neither retriable nor abortable means fatal) and destroys it. */
static kafka_status classify(kafka_client *kc, rd_kafka_error_t *error, const char *what,
                             char *errbuf, size_t errbuf_size)
{
    kafka_status st;
    rd_kafka_resp_err_t code;

    if (error == NULL)
        return KAFKA_OK;
    code = rd_kafka_error_code(error);
    if (rd_kafka_error_txn_requires_abort(error))
        st = KAFKA_ABORT;
    else if (rd_kafka_error_is_retriable(error))
        st = KAFKA_RETRY;
    else
        st = KAFKA_FATAL;
    if (code == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED) {
        /* run uses the name; check and backfill "<name>/...": a prefix grants those. */
        const char *slash = strchr(kc->txn_id, '/');
        char res[400], acl[400];

        snprintf(res, sizeof res, "TransactionalId \"%s\"", kc->txn_id);
        if (slash != NULL)
            snprintf(acl, sizeof acl, "--transactional-id '%.*s' --resource-pattern-type prefixed",
                     (int)(slash - kc->txn_id + 1), kc->txn_id);
        else
            snprintf(acl, sizeof acl, "--transactional-id '%s'", kc->txn_id);
        deny(kc, errbuf, errbuf_size, "Write", res, acl);
        rd_kafka_error_destroy(error);
        return KAFKA_FATAL;
    }
    if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
        rd_kafka_fatal_error(kc->rk, NULL, 0) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
        snprintf(errbuf, errbuf_size,
                 "%s: fenced: another outbox-relay named \"%s\" started and owns the work now",
                 what, kc->cfg->name);
    else
        snprintf(errbuf, errbuf_size, "%s: %s", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return st;
}

void kafka_set_wait_hook(kafka_client *kc, kafka_wait_fn fn, void *arg)
{
    kc->wait_fn = fn;
    kc->wait_arg = arg;
}

/* The next wait's length: a slice, or what is left until deadline (at least 1 ms). */
static int slice_until(int64_t deadline)
{
    int64_t left = deadline - clock_mono_ms();

    return left >= WAIT_SLICE_MS ? WAIT_SLICE_MS : left > 0 ? (int)left : 1;
}

static void waited(kafka_client *kc)
{
    if (kc->wait_fn != NULL)
        kc->wait_fn(kc->wait_arg);
}

/* True, with the reason in errbuf, when the brokers refused this client's TLS handshake
 * or login (seen by on_error, served here): a retry would get the same answer. */
static bool login_refused(kafka_client *kc, char *errbuf, size_t errbuf_size)
{
    rd_kafka_poll(kc->rk, 0);
    if (kc->refused[0] == '\0')
        return false;
    snprintf(errbuf, errbuf_size, "%s", kc->refused);
    return true;
}

/* Calls a blocking transactional API in slices of WAIT_SLICE_MS until it succeeds, fails
 * for another reason than a retriable one, or timeout_ms passed; the wait hook runs
 * between slices. librdkafka lets these calls be repeated after a retriable timeout:
 * the operation goes on in the background. */
static kafka_status txn_call(kafka_client *kc, rd_kafka_error_t *(*call)(rd_kafka_t *, int),
                             const char *what, int timeout_ms, char *errbuf, size_t errbuf_size)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    kafka_status st;

    for (;;) {
        st = classify(kc, call(kc->rk, slice_until(deadline)), what, errbuf, errbuf_size);
        if ((st == KAFKA_RETRY && login_refused(kc, errbuf, errbuf_size)) ||
            (st != KAFKA_OK && write_denied(kc, errbuf, errbuf_size)))
            return KAFKA_FATAL;
        if (st != KAFKA_RETRY || clock_mono_ms() >= deadline)
            return st;
        waited(kc);
    }
}

/* rd_kafka_metadata, asked again every WAIT_SLICE_MS with the wait hook in between, until
 * it answers or timeout_ms passed. */
static rd_kafka_resp_err_t metadata_waiting(kafka_client *kc, int all_topics,
                                            const struct rd_kafka_metadata **md, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;

    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(kc->rk, all_topics, NULL, md, slice_until(deadline));
        if (err != RD_KAFKA_RESP_ERR__TIMED_OUT || clock_mono_ms() >= deadline)
            return err;
        waited(kc);
    }
}

/* The next event of an admin request's queue, with the wait hook every WAIT_SLICE_MS;
 * NULL when none came within timeout_ms. */
static rd_kafka_event_t *admin_result_waiting(kafka_client *kc, rd_kafka_queue_t *q,
                                              int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    rd_kafka_event_t *ev;

    while ((ev = rd_kafka_queue_poll(q, slice_until(deadline))) == NULL &&
           clock_mono_ms() < deadline)
        waited(kc);
    return ev;
}

static rd_kafka_error_t *call_init(rd_kafka_t *rk, int timeout_ms)
{
    return rd_kafka_init_transactions(rk, timeout_ms);
}

static rd_kafka_error_t *call_commit(rd_kafka_t *rk, int timeout_ms)
{
    return rd_kafka_commit_transaction(rk, timeout_ms);
}

static rd_kafka_error_t *call_abort(rd_kafka_t *rk, int timeout_ms)
{
    return rd_kafka_abort_transaction(rk, timeout_ms);
}

kafka_status kafka_init_transactions(kafka_client *kc, int timeout_ms, char *errbuf,
                                     size_t errbuf_size)
{
    return txn_call(kc, call_init, "init_transactions", timeout_ms, errbuf, errbuf_size);
}

static bool topic_known(const kafka_client *kc, const char *topic)
{
    for (size_t i = 0; i < kc->ntopics; i++)
        if (strcmp(kc->topics[i], topic) == 0)
            return true;
    return false;
}

static void topic_remember(kafka_client *kc, const char *topic)
{
    char **grown = realloc(kc->topics, sizeof(*grown) * (kc->ntopics + 1));
    char *copy = strdup(topic);

    if (grown != NULL)
        kc->topics = grown;
    if (grown == NULL || copy == NULL) {
        free(copy); /* only a cache: the topic is looked up again next time */
        return;
    }
    kc->topics[kc->ntopics++] = copy;
}

/* The metadata of all topics (*md to destroy), or NULL with a message. Asking for one
 * topic by name could auto-create it on brokers that allow that. */
static const struct rd_kafka_metadata *all_topics(kafka_client *kc, char *errbuf,
                                                  size_t errbuf_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = metadata_waiting(kc, 1, &md, METADATA_TIMEOUT_MS);

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return md;
    snprintf(errbuf, errbuf_size, "cannot read metadata from Kafka at %s: %s (check kafka.brokers)",
             kc->cfg->kafka.brokers, rd_kafka_err2str(err));
    return NULL;
}

/* 1 when the cluster has the topic, 0 when not, -1 when metadata failed. */
static int topic_exists(kafka_client *kc, const char *topic, char *errbuf, size_t errbuf_size)
{
    const struct rd_kafka_metadata *md = all_topics(kc, errbuf, errbuf_size);
    int found = 0;

    if (md == NULL)
        return -1;
    for (int i = 0; i < md->topic_cnt && !found; i++)
        found = strcmp(md->topics[i].topic, topic) == 0 &&
                md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[i].partition_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return found;
}

/* *existed: the broker says the topic is there already (though metadata did not show it). */
static kafka_status create_topic(kafka_client *kc, const char *topic, int partitions,
                                 bool compacted, bool *existed, char *errbuf, size_t errbuf_size)
{
    char why[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions,
                                                    kc->cfg->kafka.replication_factor, why,
                                                    sizeof why);
    rd_kafka_queue_t *q = rd_kafka_queue_new(kc->rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(kc->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
    kafka_status st = KAFKA_FATAL;

    if (nt == NULL) {
        snprintf(errbuf, errbuf_size, "cannot create topic %s: %s", topic, why);
        goto out;
    }
    if (compacted) {
        /* Compaction only cleans closed segments: roll them every 10 minutes so the
         * checkpoint topic stays small and reading it at start stays quick. */
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
        rd_kafka_NewTopic_set_config(nt, "segment.ms", "600000");
    }
    rd_kafka_AdminOptions_set_operation_timeout(opts, METADATA_TIMEOUT_MS, why, sizeof why);
    rd_kafka_CreateTopics(kc->rk, &nt, 1, opts, q);
    ev = admin_result_waiting(kc, q, METADATA_TIMEOUT_MS + 5000);
    if (ev == NULL) {
        snprintf(errbuf, errbuf_size, "creating topic %s timed out", topic);
        st = KAFKA_RETRY;
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot create topic %s: %s", topic,
                 rd_kafka_event_error_string(ev));
        st = KAFKA_RETRY;
        goto out;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    rd_kafka_resp_err_t err = n == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
    if (err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED) {
        deny_topic(kc, errbuf, errbuf_size, "Create", "topic", topic,
                   " (to create it; or create it by hand and set kafka.create_topics = false)");
        goto out;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(errbuf, errbuf_size, "cannot create topic %s: %s (create it by hand, e.g. kafka-topics.sh --create --topic %s)",
                 topic, n == 1 ? rd_kafka_topic_result_error_string(res[0]) : "no result", topic);
        goto out;
    }
    *existed = err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
    st = KAFKA_OK;
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    if (nt != NULL)
        rd_kafka_NewTopic_destroy(nt);
    return st;
}

/* Makes sure topic exists, creating it when allowed, then remembers it. */
static kafka_status ensure_topic(kafka_client *kc, const char *topic, int partitions,
                                 bool compacted, bool may_create, char *errbuf,
                                 size_t errbuf_size)
{
    int exists;
    kafka_status st;

    if (topic_known(kc, topic))
        return KAFKA_OK;
    exists = topic_exists(kc, topic, errbuf, errbuf_size);
    if (exists < 0)
        return KAFKA_RETRY;
    if (!exists) {
        if (!may_create) {
            snprintf(errbuf, errbuf_size,
                     "topic %s does not exist: create it (kafka-topics.sh --create --topic %s) or "
                     "set kafka.create_topics = true",
                     topic, topic);
            return KAFKA_FATAL;
        }
        bool existed = false;

        st = create_topic(kc, topic, partitions, compacted, &existed, errbuf, errbuf_size);
        if (st != KAFKA_OK)
            return st;
        if (!existed)
            log_info(kc->lg, "created topic %s (%d partitions%s)", topic, partitions,
                     compacted ? ", compacted" : "");
        /* Wait for the new topic to show in metadata so produce does not race it. */
        for (int64_t until = clock_mono_ms() + METADATA_TIMEOUT_MS;
             topic_exists(kc, topic, errbuf, errbuf_size) != 1;) {
            if (clock_mono_ms() > until && existed) {
                /* There, but hidden from us: Describe is missing, which Write implies. */
                deny_topic(kc, errbuf, errbuf_size, "Write", "topic", topic,
                           " (it exists, but Kafka hides it from a principal without Write, "
                           "which implies Describe)");
                return KAFKA_FATAL;
            }
            if (clock_mono_ms() > until) {
                snprintf(errbuf, errbuf_size, "topic %s was created but does not show up", topic);
                return KAFKA_RETRY;
            }
            rd_kafka_poll(kc->rk, 100);
            waited(kc);
        }
    }
    topic_remember(kc, topic);
    return KAFKA_OK;
}

kafka_status kafka_ensure_checkpoint_topic(kafka_client *kc, char *errbuf, size_t errbuf_size)
{
    return ensure_topic(kc, kc->cfg->kafka.checkpoint_topic, 1, true, true, errbuf, errbuf_size);
}

/* A read_committed consumer of this relay's (group "<name>.<what>": assign() needs a group
 * id, though nothing joins or commits to the group); NULL with a message. */
static rd_kafka_t *new_reader(kafka_client *kc, const char *what, char *errbuf,
                              size_t errbuf_size)
{
    char group[300], why[512];
    const char *const reader[] = {"group.id", group,
                                  "isolation.level", "read_committed",
                                  "enable.auto.commit", "false",
                                  "enable.partition.eof", "true",
                                  NULL};
    rd_kafka_conf_t *conf;
    rd_kafka_t *c;

    snprintf(group, sizeof group, "%s.%s", kc->cfg->name, what);
    if ((conf = make_conf(kc, reader, errbuf, errbuf_size)) == NULL)
        return NULL;
    if ((c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why)) == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errbuf_size, "cannot create a Kafka consumer (%s): %s", what, why);
    }
    return c;
}

/* Errors of a partition that has no leader yet (a topic just created, a broker just
 * started) or of a request that timed out: asked again, they pass. */
static bool leader_pending(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
           err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
           err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
}

/* The watermarks of the checkpoint partition; the high one is the end of what was written,
 * committed or not. A read_committed client's ListOffsets answers the last stable offset instead,
 * which stops before the first record of any open transaction, so it is asked through a
 * read_uncommitted handle. */
static kafka_status checkpoint_watermarks(kafka_client *kc, int64_t *low, int64_t *high,
                                          char *errbuf, size_t errbuf_size)
{
    const char *const probe[] = {"isolation.level", "read_uncommitted", NULL};
    rd_kafka_conf_t *conf = make_conf(kc, probe, errbuf, errbuf_size);
    rd_kafka_t *c;
    rd_kafka_resp_err_t err;
    char why[512];

    if (conf == NULL)
        return KAFKA_FATAL;
    if ((c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why)) == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errbuf_size, "cannot create the checkpoint reader: %s", why);
        return KAFKA_FATAL;
    }
    for (int64_t deadline = clock_mono_ms() + METADATA_TIMEOUT_MS;; waited(kc)) {
        err = rd_kafka_query_watermark_offsets(c, kc->cfg->kafka.checkpoint_topic,
                                               CHECKPOINT_PARTITION, low, high,
                                               slice_until(deadline));
        if (!leader_pending(err) || clock_mono_ms() >= deadline)
            break;
        if (err != RD_KAFKA_RESP_ERR__TIMED_OUT)
            clock_sleep_ms(100); /* the answer came at once: give the election time */
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(errbuf, errbuf_size, "cannot read the checkpoint topic %s: %s",
                 kc->cfg->kafka.checkpoint_topic, rd_kafka_err2str(err));
    rd_kafka_destroy(c);
    return err == RD_KAFKA_RESP_ERR_NO_ERROR ? KAFKA_OK : KAFKA_RETRY;
}

/* The broker's transaction.max.timeout.ms: no transaction stays open longer, so it bounds
 * the wait behind one. Kafka's default (15 minutes) when the broker does not say (no
 * DescribeConfigs right). */
static int64_t broker_txn_max_timeout_ms(kafka_client *kc)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_ConfigResource_t *res = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    int64_t max_ms = 900000;
    char id[16];

    if (metadata_waiting(kc, 0, &md, METADATA_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->broker_cnt < 1)
        goto out;
    snprintf(id, sizeof id, "%d", md->brokers[0].id);
    res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
    q = rd_kafka_queue_new(kc->rk);
    rd_kafka_DescribeConfigs(kc->rk, &res, 1, NULL, q);
    ev = admin_result_waiting(kc, q, METADATA_TIMEOUT_MS);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto out;
    size_t nres = 0, n = 0;
    const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev), &nres);
    if (nres != 1 || rd_kafka_ConfigResource_error(rs[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto out;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &n);
    for (size_t i = 0; i < n; i++) {
        const char *v = rd_kafka_ConfigEntry_value(entries[i]);
        if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), "transaction.max.timeout.ms") == 0 &&
            v != NULL && atoll(v) > 0)
            max_ms = atoll(v);
    }
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (q != NULL)
        rd_kafka_queue_destroy(q);
    if (res != NULL)
        rd_kafka_ConfigResource_destroy(res);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return max_ms;
}

kafka_status kafka_read_latest(kafka_client *kc, const char *key, char *buf, size_t size,
                             size_t *len, bool *found, char *errbuf, size_t errbuf_size)
{
    const char *topic = kc->cfg->kafka.checkpoint_topic;
    size_t key_len = strlen(key);
    rd_kafka_t *c = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t low = 0, high = 0, held_at = -1, deadline, next_hook;
    kafka_status st;
    rd_kafka_resp_err_t err;

    *found = false;
    /* The high watermark after init_transactions bounds what is ours: our own older
     * transaction is aborted by then, so reading up to it sees our newest commit. The last
     * stable offset is not enough: another producer's open transaction on this partition
     * (another relay, a backfill job, one killed mid transaction) holds it back, before
     * our newer checkpoints, until that transaction ends. */
    st = checkpoint_watermarks(kc, &low, &high, errbuf, errbuf_size);
    if (st != KAFKA_OK || high <= low)
        return st;
    if ((c = new_reader(kc, "checkpoint-reader", errbuf, errbuf_size)) == NULL)
        return KAFKA_FATAL;
    st = KAFKA_RETRY;
    parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, CHECKPOINT_PARTITION)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    if ((err = rd_kafka_assign(c, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot read the checkpoint topic %s: %s", topic,
                 rd_kafka_err2str(err));
        goto out;
    }
    deadline = clock_mono_ms() + kc->cfg->kafka.transaction_timeout_ms + METADATA_TIMEOUT_MS;
    next_hook = clock_mono_ms() + WAIT_SLICE_MS;
    for (;;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 200);

        if (msg != NULL && msg->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
            deny_topic(kc, errbuf, errbuf_size, "Read", "the checkpoint topic", topic, "");
            rd_kafka_message_destroy(msg);
            st = KAFKA_FATAL;
            goto out;
        }
        if (msg != NULL && msg->err == RD_KAFKA_RESP_ERR_NO_ERROR && msg->key_len == key_len &&
            memcmp(msg->key, key, key_len) == 0) {
            if (msg->payload == NULL) {
                *found = false; /* a tombstone: an operator reset this relay */
            } else if (msg->len < size) {
                memcpy(buf, msg->payload, msg->len);
                buf[msg->len] = '\0';
                *len = msg->len;
                *found = true;
            } else {
                snprintf(errbuf, errbuf_size,
                         "record %s in %s at offset %" PRId64 " is %zu bytes, more than %zu", key,
                         topic, msg->offset, msg->len, size - 1);
                rd_kafka_message_destroy(msg);
                st = KAFKA_FATAL;
                goto out;
            }
        } else if (msg != NULL && msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                   msg->offset < high && held_at < 0) {
            /* The end of what is stable, short of the high watermark: an open transaction
             * starts there. It ends by commit, abort or the broker's timeout, at the latest
             * transaction.max.timeout.ms after it began. */
            int64_t max_ms = broker_txn_max_timeout_ms(kc);

            held_at = msg->offset;
            deadline = clock_mono_ms() + max_ms + METADATA_TIMEOUT_MS;
            log_info(kc->lg,
                     "checkpoint topic %s: waiting for an open transaction of another producer "
                     "at offset %" PRId64 " to end before reading on to offset %" PRId64
                     " (at most transaction.max.timeout.ms = %" PRId64 " ms)",
                     topic, held_at, high, max_ms);
        } else if (msg != NULL && msg->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                   msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            log_warn(kc->lg, "reading checkpoints: %s", rd_kafka_message_errstr(msg));
        }
        if (msg != NULL)
            rd_kafka_message_destroy(msg);
        rd_kafka_position(c, parts);
        if (parts->elems[0].offset >= high) {
            st = KAFKA_OK;
            break;
        }
        if (clock_mono_ms() > deadline) {
            if (held_at >= 0)
                snprintf(errbuf, errbuf_size,
                         "timed out reading the checkpoint topic %s: a transaction open since "
                         "offset %" PRId64 " did not end within the broker's "
                         "transaction.max.timeout.ms; end that producer's transaction and "
                         "start again",
                         topic, held_at);
            else
                snprintf(errbuf, errbuf_size,
                         "timed out reading the checkpoint topic %s up to offset %" PRId64, topic,
                         high);
            break;
        }
        /* Waiting may take minutes: keep the caller's other connections alive. */
        if (clock_mono_ms() >= next_hook) {
            waited(kc);
            next_hook = clock_mono_ms() + WAIT_SLICE_MS;
        }
    }
out:
    if (parts != NULL)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return st;
}

kafka_status kafka_begin(kafka_client *kc, char *errbuf, size_t errbuf_size)
{
    kc->delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    kc->delivery_msg[0] = '\0';
    kc->rejected_tag = 0;
    kc->rejected_score = 0;
    memset(&kc->refusal, 0, sizeof kc->refusal);
    kc->nstamps = 0;
    if (kc->pause_next) {
        int64_t wait = kc->committed_ms + kc->cfg->kafka.commit_pause_ms - clock_mono_ms();

        kc->pause_next = false;
        if (wait > 0)
            clock_sleep_ms(wait);
    }
    return classify(kc, rd_kafka_begin_transaction(kc->rk), "begin_transaction", errbuf,
                    errbuf_size);
}

/* producev, waiting while the local queue is full (that is the back-pressure: the
 * relay stops reading Postgres until Kafka takes more). Takes ownership of hdrs. */
static kafka_status produce(kafka_client *kc, const char *topic, int32_t partition,
                            const void *key, size_t key_len, const void *value, size_t value_len,
                            int64_t timestamp_ms, rd_kafka_headers_t *hdrs, uint64_t tag,
                            char *errbuf, size_t errbuf_size)
{
    rd_kafka_resp_err_t err;
    int64_t next_hook = clock_mono_ms() + WAIT_SLICE_MS;

    for (;;) {
        err = rd_kafka_producev(kc->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE((void *)value, value_len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(kc->rk, 50);
        if (clock_mono_ms() >= next_hook) {
            waited(kc);
            next_hook = clock_mono_ms() + WAIT_SLICE_MS;
        }
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return KAFKA_OK;
    if (hdrs != NULL)
        rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        snprintf(errbuf, errbuf_size,
                 "record for topic %s is %zu bytes, more than the producer's message.max.bytes: "
                 "raise kafka.properties.message_max_bytes (and the topic's max.message.bytes)",
                 topic, key_len + value_len);
        return KAFKA_REJECTED;
    }
    if (write_denied(kc, errbuf, errbuf_size))
        return KAFKA_FATAL;
    snprintf(errbuf, errbuf_size, "produce to %s: %s", topic, rd_kafka_err2str(err));
    return rd_kafka_fatal_error(kc->rk, NULL, 0) ? KAFKA_FATAL : KAFKA_ABORT;
}

/* Keeps a tagged record's timestamp for note_rejected (tags count from 1 in a transaction). A
 * failed allocation only makes a timestamp refusal fall back to the first record reported. */
static void remember_stamp(kafka_client *kc, uint64_t tag, int64_t timestamp_ms)
{
    if (tag == 0)
        return;
    if (tag > kc->stamps_cap) {
        size_t cap = kc->stamps_cap ? kc->stamps_cap * 2 : 1024;
        int64_t *grown;

        while (cap < tag)
            cap *= 2;
        if ((grown = realloc(kc->stamps, cap * sizeof(*grown))) == NULL)
            return;
        kc->stamps = grown;
        kc->stamps_cap = cap;
    }
    kc->stamps[tag - 1] = timestamp_ms;
    if (tag > kc->nstamps)
        kc->nstamps = tag;
}

kafka_status kafka_produce(kafka_client *kc, const event *ev, uint64_t tag, char *errbuf,
                           size_t errbuf_size)
{
    rd_kafka_headers_t *hdrs;
    kafka_status st = ensure_topic(kc, ev->topic, kc->cfg->kafka.topic_partitions, false,
                                   kc->cfg->kafka.create_topics, errbuf, errbuf_size);

    if (st != KAFKA_OK)
        return st == KAFKA_RETRY ? KAFKA_ABORT : st;
    remember_stamp(kc, tag, ev->timestamp_ms);
    hdrs = rd_kafka_headers_new((size_t)ev->nheaders);
    for (int i = 0; i < ev->nheaders; i++)
        rd_kafka_header_add(hdrs, ev->headers[i].name, -1, ev->headers[i].value,
                            (ssize_t)ev->headers[i].value_len);
    return produce(kc, ev->topic, RD_KAFKA_PARTITION_UA, ev->key, ev->key_len, ev->value,
                   ev->value_len, ev->timestamp_ms, hdrs, tag, errbuf, errbuf_size);
}

kafka_status kafka_produce_state(kafka_client *kc, const char *key, const char *value, size_t len,
                                 char *errbuf, size_t errbuf_size)
{
    return produce(kc, kc->cfg->kafka.checkpoint_topic, CHECKPOINT_PARTITION, key, strlen(key),
                   value, len, clock_wall_us() / 1000, NULL, 0, errbuf, errbuf_size);
}

kafka_status kafka_commit(kafka_client *kc, char *errbuf, size_t errbuf_size)
{
    kafka_status st = txn_call(kc, call_commit, "commit_transaction",
                               kc->cfg->kafka.commit_timeout_ms, errbuf, errbuf_size);

    if (st == KAFKA_ABORT && kc->delivery_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Say why the transaction failed, and stop when retrying cannot help. */
        snprintf(errbuf, errbuf_size, "commit_transaction: %s", kc->delivery_msg);
        if (refuses_record(kc->delivery_err))
            st = KAFKA_REJECTED;
    }
    if (st == KAFKA_OK)
        kc->committed_ms = clock_mono_ms();
    return st;
}

void kafka_pause_next(kafka_client *kc)
{
    kc->pause_next = kc->committed_ms > 0;
}

kafka_status kafka_abort(kafka_client *kc, char *errbuf, size_t errbuf_size)
{
    return txn_call(kc, call_abort, "abort_transaction", kc->cfg->kafka.commit_timeout_ms, errbuf,
                    errbuf_size);
}

void kafka_poll(kafka_client *kc)
{
    rd_kafka_poll(kc->rk, 0);
}

int kafka_broker_count(kafka_client *kc, int timeout_ms, char *errbuf, size_t errbuf_size)
{
    const struct rd_kafka_metadata *md = NULL;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t err;
    int n;

    /* In slices, so that a refused login or TLS handshake stops the wait at once. */
    for (;;) {
        err = rd_kafka_metadata(kc->rk, 0, NULL, &md, slice_until(deadline));
        if ((err != RD_KAFKA_RESP_ERR__TRANSPORT && err != RD_KAFKA_RESP_ERR__TIMED_OUT) ||
            login_refused(kc, errbuf, errbuf_size) || clock_mono_ms() >= deadline)
            break;
        rd_kafka_poll(kc->rk, 100); /* no busy loop when the answer comes at once */
        waited(kc);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (!login_refused(kc, errbuf, errbuf_size))
            snprintf(errbuf, errbuf_size, "cannot reach Kafka at %s: %s (check kafka.brokers)",
                     kc->cfg->kafka.brokers, rd_kafka_err2str(err));
        return -1;
    }
    n = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

int kafka_list_topics(kafka_client *kc, kafka_topic_fn fn, void *arg, char *errbuf,
                      size_t errbuf_size)
{
    const struct rd_kafka_metadata *md = all_topics(kc, errbuf, errbuf_size);
    int n = 0;

    if (md == NULL)
        return -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            fn(arg, md->topics[i].topic, md->topics[i].partition_cnt);
            n++;
        }
    rd_kafka_metadata_destroy(md);
    return n;
}

uint64_t kafka_rejected_record(const kafka_client *kc, kafka_refusal *why)
{
    *why = kc->refusal;
    /* Local errors (a timeout while the broker is away, a purge) may pass; a broker's
     * answer to the same records is the same the next time. */
    why->broker = kc->delivery_err > RD_KAFKA_RESP_ERR_NO_ERROR;
    why->code = rd_kafka_err2name(kc->delivery_err);
    return kc->rejected_tag;
}

const char *kafka_record_header(const kafka_record *r, const char *name, size_t *len)
{
    const void *v = NULL;
    size_t n = 0;

    /* The last of a name wins, as the relay's own headers win over a row's (event.h). */
    if (r->headers == NULL ||
        rd_kafka_header_get_last((rd_kafka_headers_t *)r->headers, name, &v, &n) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (len != NULL)
        *len = n;
    return v;
}

/* Where each partition of topics starts (the first offset at from_ms or later, 0: the
 * beginning) and ends (the read_committed end as of now), into parts and ends. */
static kafka_status topic_extents(kafka_client *kc, rd_kafka_t *c, const char *const *topics,
                                  size_t ntopics, int64_t from_ms,
                                  rd_kafka_topic_partition_list_t *parts, char *errbuf,
                                  size_t errbuf_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = metadata_waiting(kc, 1, &md, METADATA_TIMEOUT_MS);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot read metadata from Kafka at %s: %s",
                 kc->cfg->kafka.brokers, rd_kafka_err2str(err));
        return KAFKA_RETRY;
    }
    for (size_t t = 0; t < ntopics; t++)
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, topics[t]) == 0)
                for (int p = 0; p < md->topics[i].partition_cnt; p++)
                    rd_kafka_topic_partition_list_add(parts, topics[t],
                                                      md->topics[i].partitions[p].id)
                        ->offset = from_ms > 0 ? from_ms : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    if (from_ms > 0 && parts->cnt > 0 &&
        (err = rd_kafka_offsets_for_times(c, parts, METADATA_TIMEOUT_MS)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot look up offsets by time: %s", rd_kafka_err2str(err));
        return KAFKA_RETRY;
    }
    for (int i = 0; i < parts->cnt; i++) {
        int64_t low, high;
        rd_kafka_topic_partition_t *tp = &parts->elems[i];

        err = rd_kafka_query_watermark_offsets(c, tp->topic, tp->partition, &low, &high,
                                               METADATA_TIMEOUT_MS);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errbuf, errbuf_size, "cannot read the end of %s [%d]: %s", tp->topic,
                     tp->partition, rd_kafka_err2str(err));
            return KAFKA_RETRY;
        }
        /* No record at or after from_ms: nothing to read there. */
        if (tp->offset == RD_KAFKA_OFFSET_END || tp->offset < 0)
            tp->offset = tp->offset == RD_KAFKA_OFFSET_BEGINNING ? low : high;
        /* The end: a read_committed client's high watermark is the last stable offset. */
        tp->opaque = (void *)(intptr_t)high;
    }
    return KAFKA_OK;
}

kafka_status kafka_read_topics(kafka_client *kc, const char *const *topics, size_t ntopics,
                               int64_t from_ms, kafka_record_fn fn, void *arg, char *errbuf,
                               size_t errbuf_size)
{
    rd_kafka_t *c = new_reader(kc, "audit", errbuf, errbuf_size);
    rd_kafka_topic_partition_list_t *parts;
    kafka_status st;
    int left = 0;

    if (c == NULL)
        return KAFKA_FATAL;
    parts = rd_kafka_topic_partition_list_new((int)ntopics * 8);
    st = topic_extents(kc, c, topics, ntopics, from_ms, parts, errbuf, errbuf_size);
    for (int i = 0; st == KAFKA_OK && i < parts->cnt; i++)
        left += parts->elems[i].offset < (int64_t)(intptr_t)parts->elems[i].opaque;
    if (st == KAFKA_OK && left > 0 && rd_kafka_assign(c, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot read the topics");
        st = KAFKA_FATAL;
    }
    while (st == KAFKA_OK && left > 0) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 1000);
        rd_kafka_topic_partition_t *tp;

        if (msg == NULL) {
            waited(kc);
            continue;
        }
        tp = rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(msg->rkt),
                                                msg->partition);
        if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR && tp != NULL &&
            tp->offset < (int64_t)(intptr_t)tp->opaque) {
            rd_kafka_headers_t *hdrs = NULL;
            kafka_record r = {.topic = rd_kafka_topic_name(msg->rkt),
                              .partition = msg->partition,
                              .offset = msg->offset,
                              .key = msg->key,
                              .key_len = msg->key_len};

            rd_kafka_message_headers(msg, &hdrs);
            r.headers = hdrs;
            r.timestamp_ms = rd_kafka_message_timestamp(msg, NULL);
            if (fn(arg, &r) != 0)
                st = KAFKA_FATAL;
        } else if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                   msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            snprintf(errbuf, errbuf_size, "reading %s: %s",
                     msg->rkt ? rd_kafka_topic_name(msg->rkt) : "Kafka",
                     rd_kafka_message_errstr(msg));
            st = KAFKA_RETRY;
        }
        /* Done with a partition once past its end as of the start (an aborted
         * transaction's records are skipped, so positions count, not records). */
        if (tp != NULL && tp->offset < (int64_t)(intptr_t)tp->opaque) {
            rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(pos, tp->topic, tp->partition);
            rd_kafka_position(c, pos);
            if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                tp->offset = msg->offset + 1;
            if (pos->elems[0].offset > tp->offset)
                tp->offset = pos->elems[0].offset;
            left -= tp->offset >= (int64_t)(intptr_t)tp->opaque;
            rd_kafka_topic_partition_list_destroy(pos);
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return st;
}
