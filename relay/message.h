/*
 * message.h — a logical decoding message becomes an outbox row (outbox.source = "messages").
 *
 * Owns: which messages of the replication stream are events (transactional, with
 * outbox.message_prefix), and reading one's content, a JSON object
 *   {"aggregate_type": …, "aggregate_id": …, "event_type": …, "payload": …,
 *    "headers": {…}, "id": …}
 * into event.h's neutral row. The row's columns carry the names outbox.columns gives each
 * role, so a message is mapped, checked against its schema and dead-lettered by the same
 * code as a table row. Pure: no sockets, no pgoutput, no Kafka.
 *
 * The row: id is the message's "id", else "<commit LSN>:<index>" (its position, stable
 * across replays); aggregate_type, aggregate_id, event_type and the schemas.version_column
 * key are strings (numbers as written); payload and headers are the JSON text as written
 * (numbers keep their digits); created_at is the transaction's commit time.
 */
#ifndef RELAY_MESSAGE_H
#define RELAY_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "lsn.h"

typedef enum {
    MESSAGE_EVENT,             /* transactional, with the configured prefix */
    MESSAGE_OTHER_PREFIX,      /* transactional, another prefix: ignored */
    MESSAGE_NON_TRANSACTIONAL, /* ignored whatever its prefix: it may belong to a transaction
                                  that rolled back, and has no commit to order it by */
} message_kind;

#define MESSAGE_KINDS 3

message_kind message_classify(const relay_config *cfg, bool transactional, const char *prefix);

/* "event", "other_prefix", "non_transactional": a metric label. */
const char *message_kind_name(message_kind kind);

typedef struct message_reader message_reader;

/* cfg must outlive the reader. NULL when out of memory. */
message_reader *message_reader_new(const relay_config *cfg);
void message_reader_free(message_reader *r);

/*
 * Whether the mapper can map the rows this reader makes (outbox.topic's placeholders name
 * message keys): 0, or -1 with a one-line message naming the setting. Call once at start.
 */
int message_check_mapper(message_reader *r, event_mapper *mapper, char *errbuf,
                         size_t errbuf_size);

/* message_row: the content cannot become an event row. */
#define MESSAGE_BAD 1

/*
 * Reads one event message's content (len bytes), the index-th event (1-based) of the
 * transaction committing at commit_lsn at commit_time_us (µs since 1970), into *row.
 * Returns 0, or MESSAGE_BAD with the reason in errbuf when the content is not a JSON object,
 * lacks aggregate_id, event_type or payload, or holds a key of the wrong type: *row then
 * holds what the content offers, with the whole content as the payload, for a dead letter.
 * The row points into content and the reader: valid until the next call.
 */
int message_row(message_reader *r, const char *content, size_t len, relay_lsn commit_lsn,
                uint32_t index, int64_t commit_time_us, event_row *row, char *errbuf,
                size_t errbuf_size);

#endif
