/*
 * route.h — what becomes of each event before Kafka: publish it, dead-letter it, or stop.
 *
 * Owns: the schema registry of schemas.dir (compiled once, at start), which schema an event
 * gets (its event type, and the version from schemas.version_column or version_header), what
 * is validated (schemas.applies_to: the payload or the record value), the policies
 * schemas.on_invalid and schemas.on_unknown_type, the positions Kafka refused as too large,
 * and the dead-letter record (DESIGN §6). Pure: no sockets, no Kafka. The caller (pipeline,
 * backfill) produces what it decides, the dead-letter record into the same Kafka transaction
 * as the batch, so a dead-lettered event is as "published" as any other: its position is in
 * the checkpoint and it is never re-sent.
 *
 * Use:
 *   route_event(r, &ev, &v);                 after event_map returned 0
 *   route_refused(r, ROUTE_BAD_ROW, err, &v); after event_map returned EVENT_BAD_ROW
 *   route_refused(r, ROUTE_TOO_LARGE, …)     after the producer refused the record's size
 *   then by v.action: produce ev / produce route_dead_letter(r, &ev, &v, …) / stop (EXIT_DATA)
 *   with the one line of route_describe().
 */
#ifndef RELAY_ROUTE_H
#define RELAY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "lsn.h"

/* Headers of a dead-letter record, besides the event's own (event_id, outbox_position, …). */
#define ROUTE_HDR_REASON "dead_letter_reason" /* route_reason_name(): invalid, too_large, … */
#define ROUTE_HDR_ERROR "dead_letter_error"   /* one line: where and why */
#define ROUTE_HDR_SCHEMA "dead_letter_schema" /* schema file applied, "" when none */
#define ROUTE_HDR_TOPIC "dead_letter_original_topic"  /* "" when it could not be computed */
#define ROUTE_HDR_OMITTED "dead_letter_value_omitted" /* size of the value left out, bytes */

typedef enum {
    ROUTE_PUBLISH,     /* produce the event as mapped */
    ROUTE_DEAD_LETTER, /* produce route_dead_letter()'s record instead */
    ROUTE_STOP,        /* stop without confirming the event's transaction (EXIT_DATA) */
} route_action;

typedef enum {
    ROUTE_VALID,        /* passed its schema, or no check applies */
    ROUTE_INVALID,      /* failed its schema */
    ROUTE_UNKNOWN_TYPE, /* no schema for its type (or version) */
    ROUTE_BAD_ROW,      /* the row cannot become a record (NULL key, illegal topic name, …) */
    ROUTE_TOO_LARGE,    /* larger than Kafka accepts */
} route_reason;

typedef struct route_verdict {
    route_action action;
    route_reason reason;
    char schema[256]; /* schema file applied when not valid, "OrderCreated.v2.json"; else "" */
    char error[768];  /* one line, why it is not published as is; "" when valid */
} route_verdict;

typedef struct route route;

/*
 * Loads and compiles schemas.dir (when set) with cfg's dialect and format settings. cfg must
 * outlive the route. NULL with one line in errbuf: the broken file with line:column or the
 * JSON pointer and the reason, a directory that cannot be read or holds no "*.json".
 */
route *route_new(const relay_config *cfg, char *errbuf, size_t errbuf_size);
void route_free(route *r);

/* Number of event-type schemas loaded (0 without schemas.dir). */
int route_schema_count(const route *r);

/* Decides for an event mapped by event_map (return 0). */
void route_event(route *r, const event *ev, route_verdict *v);

/* Decides for an event that cannot be published as it is for reason (ROUTE_BAD_ROW,
 * ROUTE_TOO_LARGE): schemas.on_invalid applies. error is the one-line why. */
void route_refused(route *r, route_reason reason, const char *error, route_verdict *v);

/*
 * Kafka refused the record at (commit_lsn, index) only when the transaction was committed
 * (a broker limit below the producer's message.max.bytes), which dooms the whole Kafka
 * transaction. The caller aborts and replays; route_event then refuses that event as
 * ROUTE_TOO_LARGE, and the rest of the batch goes through. Returns false when the position
 * was marked already (the replay did not help: the caller must stop, not loop).
 */
bool route_mark_too_large(route *r, relay_lsn commit_lsn, uint32_t index);

/*
 * The dead-letter record of ev for verdict v in *out: topic dead_letter.topic, ev's key,
 * value (none when omit_value; always none for ROUTE_TOO_LARGE), timestamp and position, the
 * ROUTE_HDR_* headers and then ev's own headers (as many as fit in EVENT_MAX_HEADERS). out
 * points into ev, v and r: valid while they are and until the next call.
 */
void route_dead_letter(route *r, const event *ev, const route_verdict *v, bool omit_value,
                       event *out);

/* "valid", "invalid", "unknown_type", "bad_row", "too_large": the dead_letter_reason header. */
const char *route_reason_name(route_reason reason);

/*
 * One log line about ev and v: where it went and why, or, for ROUTE_STOP, what to fix, which
 * setting decided it, and then resume: where the caller picks up after the fix.
 */
void route_describe(const route *r, const event *ev, const route_verdict *v, const char *resume,
                    char *buf, size_t size);

#endif
