/*
 * kafka.h — the transactional producer and the checkpoint topic.
 *
 * Owns: librdkafka configuration, init/begin/produce/commit/abort of Kafka
 * transactions, the sorting of librdkafka errors into the three classes the pipeline
 * acts on, topic existence (create or report), and the checkpoint record: its format,
 * writing it inside a transaction and reading the latest one back with read_committed.
 * Knows nothing of libpq.
 */
#ifndef RELAY_KAFKA_H
#define RELAY_KAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "ledger.h"
#include "log.h"

/* What the caller must do after a failed call (librdkafka's transaction error classes). */
typedef enum {
    KAFKA_OK = 0,
    KAFKA_RETRY, /* transient: call again */
    KAFKA_ABORT, /* the transaction is doomed: kafka_abort, drop the batch, rewind */
    KAFKA_FATAL, /* unrecoverable (fenced by a newer instance, missing topic): exit */
    KAFKA_REJECTED, /* this record is refused for good (too large): retrying cannot help */
} kafka_status;

typedef struct kafka_client kafka_client;

/* A checkpoint as stored in the checkpoint topic (key: the relay's name). */
typedef struct kafka_checkpoint {
    ledger_pos pos;
    char system_id[32]; /* Postgres system identifier the positions belong to ("" unknown) */
    char slot[64];      /* slot name the positions belong to */
} kafka_checkpoint;

/*
 * Creates the transactional producer. transactional_id is normally cfg->name (`check`
 * uses its own, so it does not fence a running relay). lg receives librdkafka's own log
 * lines; it and cfg must outlive the client. Returns NULL with a message on bad
 * librdkafka properties.
 */
kafka_client *kafka_new(const relay_config *cfg, const char *transactional_id, const log_ctx *lg,
                        char *errbuf, size_t errbuf_size);
void kafka_free(kafka_client *kc);

/* Fences older producers with the same transactional id and aborts their open
 * transaction (DESIGN §5.1). */
kafka_status kafka_init_transactions(kafka_client *kc, int timeout_ms, char *errbuf,
                                     size_t errbuf_size);

/* Makes sure the checkpoint topic exists (compacted, one partition); creates it when
 * missing. */
kafka_status kafka_ensure_checkpoint_topic(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* Reads the newest committed checkpoint of this relay. *found is false when there is
 * none (a relay that never committed). */
kafka_status kafka_read_checkpoint(kafka_client *kc, kafka_checkpoint *out, bool *found,
                                   char *errbuf, size_t errbuf_size);

kafka_status kafka_begin(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* Produces ev into the open transaction (copies everything it needs). A topic not yet
 * seen is looked up first and created when kafka.create_topics is set. */
kafka_status kafka_produce(kafka_client *kc, const event *ev, char *errbuf, size_t errbuf_size);

/* Produces the checkpoint record into the open transaction. */
kafka_status kafka_produce_checkpoint(kafka_client *kc, const kafka_checkpoint *cp, char *errbuf,
                                      size_t errbuf_size);

/* Commits the open transaction; retriable errors are retried within
 * kafka.commit_timeout_ms before KAFKA_RETRY is returned. */
kafka_status kafka_commit(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* Aborts the open transaction (after KAFKA_ABORT). */
kafka_status kafka_abort(kafka_client *kc, char *errbuf, size_t errbuf_size);

/* Serves delivery reports and logs; call regularly. */
void kafka_poll(kafka_client *kc);

/* Number of brokers in the cluster metadata, or -1 with a message. */
int kafka_broker_count(kafka_client *kc, int timeout_ms, char *errbuf, size_t errbuf_size);

/* The checkpoint record value (JSON) and its parser; pure, for tests. */
int kafka_checkpoint_format(const char *relay, const kafka_checkpoint *cp, char *buf, size_t size);
int kafka_checkpoint_parse(const char *json, size_t len, kafka_checkpoint *out, char *errbuf,
                           size_t errbuf_size);

#endif
