/*
 * kafka.h — the transactional producer and the checkpoint topic.
 *
 * Owns: librdkafka configuration, init/begin/produce/commit/abort of Kafka
 * transactions, the sorting of librdkafka errors into the classes the publisher acts on,
 * topic existence (create or report), and the state records' store: producing a record of
 * the checkpoint topic inside a transaction and reading the latest one of a key back with
 * read_committed (their contents are record.h's). Knows nothing of libpq.
 */
#ifndef RELAY_KAFKA_H
#define RELAY_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "log.h"

/* What the caller must do after a failed call (librdkafka's transaction error classes). */
typedef enum {
    KAFKA_OK = 0,
    KAFKA_RETRY, /* transient: call again */
    KAFKA_ABORT, /* the transaction is doomed: kafka_abort, drop the batch, rewind */
    KAFKA_FATAL, /* unrecoverable (fenced by a newer instance, missing topic): exit */
    KAFKA_REJECTED, /* refused for good, retrying cannot help: a record too large (at
                       produce or at commit), or at commit a record the broker would not
                       take (kafka_rejected_record says which and why) */
} kafka_status;

typedef struct kafka_client kafka_client;

/*
 * Creates the transactional producer. transactional_id is normally cfg->name (`check`
 * uses its own, so it does not fence a running relay). lg receives librdkafka's own log
 * lines; it and cfg must outlive the client. Returns NULL with a message on bad
 * librdkafka properties.
 */
kafka_client *kafka_new(const relay_config *cfg, const char *transactional_id, const log_ctx *lg,
                        char *errbuf, size_t errbuf_size);
void kafka_free(kafka_client *kc);

/* True after a call failed because the brokers refused this client for good: its TLS
 * handshake or SASL login, or an ACL it lacks (the message says which). The relay stops
 * with EXIT_KAFKA whichever call it was. */
bool kafka_refused(const kafka_client *kc);

/* Fences older producers with the same transactional id and aborts their open
 * transaction (DESIGN §5.1). */
kafka_status kafka_init_transactions(kafka_client *kc, int timeout_ms, char *errbuf,
                                     size_t errbuf_size);

/* Called about once a second while the client waits on Kafka (local queue full, a slow
 * commit or init), so the caller can keep its other connections alive meanwhile — the
 * relay sends Postgres status updates, so wal_sender_timeout never ends a healthy
 * stream while Kafka is slow or away. */
typedef void (*kafka_wait_fn)(void *arg);
void kafka_set_wait_hook(kafka_client *kc, kafka_wait_fn fn, void *arg);

/* Makes sure the checkpoint topic exists (compacted, one partition); creates it when
 * missing. */
kafka_status kafka_ensure_checkpoint_topic(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* Reads the newest committed value of key in the checkpoint topic (read_committed, up to
 * the high watermark as of the call: another producer's open transaction there is waited
 * out, at most the broker's transaction.max.timeout.ms, the wait hook running meanwhile)
 * into buf (size bytes, NUL-terminated; *len without the NUL).
 * *found is false when there is none, or when the newest is a tombstone. Call after
 * kafka_init_transactions, so this client's own open transaction is aborted and what is
 * read is final. */
kafka_status kafka_read_latest(kafka_client *kc, const char *key, char *buf, size_t size,
                             size_t *len, bool *found, char *errbuf, size_t errbuf_size);

kafka_status kafka_begin(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* Produces ev into the open transaction (copies everything it needs). A topic not yet
 * seen is looked up first and created when kafka.create_topics is set. tag (0: none) is
 * the caller's name for the record, for kafka_rejected_record. */
kafka_status kafka_produce(kafka_client *kc, const event *ev, uint64_t tag, char *errbuf,
                           size_t errbuf_size);

/* Produces value (len bytes) under key into the checkpoint topic, inside the open
 * transaction: it becomes visible exactly when the records produced with it do. */
kafka_status kafka_produce_state(kafka_client *kc, const char *key, const char *value, size_t len,
                                 char *errbuf, size_t errbuf_size);

/* Commits the open transaction; retriable errors are retried within
 * kafka.commit_timeout_ms before KAFKA_RETRY is returned. */
kafka_status kafka_commit(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* The next kafka_begin waits until kafka.commit_pause_ms after the last commit. The broker
 * writes that commit's markers for a moment after it returns, and a transaction that adds
 * partitions sooner is refused (CONCURRENT_TRANSACTIONS) and retried by librdkafka only 20 ms
 * later: for a small transaction that waits on its commit, the pause is the shorter wait
 * (tests/bench/latency.sh measured it). With a backlog the retry overlaps with producing
 * more, and a pause would only stall: do not ask for one then. */
void kafka_pause_next(kafka_client *kc);

/* A record the broker refused for good in the open transaction (kafka_rejected_record). */
typedef struct kafka_refusal {
    size_t size;       /* key and value of the tagged record set aside, bytes */
    bool too_large;    /* refused for its size: its value cannot go to the dead letter either */
    bool unauthorized; /* no WRITE right on topic: not the record's fault, nothing to set aside */
    bool broker;       /* the first failed delivery is a broker's answer (not a timeout, not a
                          purge): replaying the same records gets the same answer */
    const char *code;  /* name of the first failed delivery's error, "INVALID_TIMESTAMP" */
    char topic[256];   /* topic of the refused record */
    char error[160];   /* the broker's answer, "Broker: Invalid timestamp (INVALID_TIMESTAMP)" */
} kafka_refusal;

/*
 * After the broker refused records of the open transaction for good (too large, a timestamp
 * outside the topic's message.timestamp.*.max.ms, an invalid record, no write right; it
 * surfaces at the next produce or the commit): the tag of the tagged record to set aside, 0
 * when none had a tag, and in *why what was refused and how. The broker refuses a produce
 * batch as a whole, so other records of the same batch fail alike; the one set aside is the
 * largest for a size refusal, the one whose timestamp is farthest from now for a timestamp
 * refusal, else the first reported. Complete once the transaction is aborted and kafka_poll
 * served.
 */
uint64_t kafka_rejected_record(const kafka_client *kc, kafka_refusal *why);

/* Aborts the open transaction (after KAFKA_ABORT). */
kafka_status kafka_abort(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* Serves delivery reports and logs; call regularly. */
void kafka_poll(kafka_client *kc);

/* Number of brokers in the cluster metadata, or -1 with a message. */
int kafka_broker_count(kafka_client *kc, int timeout_ms, char *errbuf, size_t errbuf_size);

/* Calls fn for each topic of the cluster that this client's principal may see, with its
 * partition count; returns how many, or -1 with a message. */
typedef void (*kafka_topic_fn)(void *arg, const char *topic, int partitions);
int kafka_list_topics(kafka_client *kc, kafka_topic_fn fn, void *arg, char *errbuf,
                      size_t errbuf_size);

/* A record read back (kafka_read_topics): valid during the callback only. */
typedef struct kafka_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    const void *key;
    size_t key_len;
    const void *headers; /* see kafka_record_header */
} kafka_record;

/* The value of header name (the last of that name), not NUL-terminated; NULL when none. */
const char *kafka_record_header(const kafka_record *r, const char *name, size_t *len);

/* Gets every record; non-zero stops the read. */
typedef int (*kafka_record_fn)(void *arg, const kafka_record *r);

/*
 * Reads with read_committed every record of the topics (those that exist), partition by
 * partition in offset order, from the first with a timestamp of from_ms or later (0: from
 * the beginning) to the end as of the call. The wait hook runs while nothing comes.
 */
kafka_status kafka_read_topics(kafka_client *kc, const char *const *topics, size_t ntopics,
                               int64_t from_ms, kafka_record_fn fn, void *arg, char *errbuf,
                               size_t errbuf_size);

#endif
