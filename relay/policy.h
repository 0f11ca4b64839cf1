/*
 * policy.h — what becomes of each event before Kafka: publish it, dead-letter it, or stop.
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
 *   policy_event(r, &ev, &v);                 after event_map returned 0
 *   policy_refused(r, POLICY_BAD_ROW, err, &v); after event_map returned EVENT_BAD_ROW
 *   policy_refused(r, POLICY_TOO_LARGE, …)     after the producer refused the record's size
 *   policy_mark(r, …)                          after the broker refused it at commit, before
 *                                              the replay
 *   then by v.action: produce ev / produce policy_dead_letter(r, &ev, &v, …) / stop (EXIT_DATA)
 *   with the one line of policy_describe().
 */
#ifndef RELAY_POLICY_H
#define RELAY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "lsn.h"

/* Headers of a dead-letter record, besides the event's own (event_id, outbox_position, …). */
#define POLICY_HDR_REASON "dead_letter_reason" /* policy_reason_name(): invalid, too_large, … */
#define POLICY_HDR_ERROR "dead_letter_error"   /* one line: where and why */
#define POLICY_HDR_SCHEMA "dead_letter_schema" /* schema file applied, "" when none */
#define POLICY_HDR_TOPIC "dead_letter_original_topic"  /* "" when it could not be computed */
#define POLICY_HDR_OMITTED "dead_letter_value_omitted" /* size of the value left out, bytes */

typedef enum {
    POLICY_PUBLISH,     /* produce the event as mapped */
    POLICY_DEAD_LETTER, /* produce policy_dead_letter()'s record instead */
    POLICY_STOP,        /* stop without confirming the event's transaction (EXIT_DATA) */
} policy_action;

typedef enum {
    POLICY_VALID,        /* passed its schema, or no check applies */
    POLICY_INVALID,      /* failed its schema */
    POLICY_UNKNOWN_TYPE, /* no schema for its type (or version) */
    POLICY_BAD_ROW,      /* the row cannot become a record (NULL key, illegal topic name, …) */
    POLICY_TOO_LARGE,    /* larger than Kafka accepts */
    POLICY_REJECTED,     /* refused by the broker for another reason (a timestamp out of the
                            topic's bounds, an invalid record): the broker's error says which */
} policy_reason;

typedef struct policy_verdict {
    policy_action action;
    policy_reason reason;
    char schema[256]; /* schema file applied when not valid, "OrderCreated.v2.json"; else "" */
    char error[768];  /* one line, why it is not published as is; "" when valid */
} policy_verdict;

typedef struct policy policy;

/*
 * Loads and compiles schemas.dir (when set) with cfg's dialect and format settings. cfg must
 * outlive the policy. NULL with one line in errbuf: the broken file with line:column or the
 * JSON pointer and the reason, a directory that cannot be read or holds no "*.json".
 */
policy *policy_new(const relay_config *cfg, char *errbuf, size_t errbuf_size);
void policy_free(policy *r);

/* Number of event-type schemas loaded (0 without schemas.dir). */
int policy_schema_count(const policy *r);

/* Decides for an event mapped by event_map (return 0). */
void policy_event(policy *r, const event *ev, policy_verdict *v);

/* Decides for an event that cannot be published as it is for reason (POLICY_BAD_ROW,
 * POLICY_TOO_LARGE): schemas.on_invalid applies. error is the one-line why. */
void policy_refused(policy *r, policy_reason reason, const char *error, policy_verdict *v);

/*
 * The broker refused the record at (commit_lsn, index) (a broker limit below the producer's
 * message.max.bytes, a timestamp out of the topic's bounds, an invalid record): it surfaces
 * only at the commit and dooms the whole Kafka transaction. The caller aborts and replays;
 * policy_event then refuses that event for reason (POLICY_TOO_LARGE or POLICY_REJECTED, with
 * error, the broker's answer, in the verdict), and the rest of the batch goes through. Up to
 * max(32, batch.max_events) positions are kept, the oldest replaced, so one batch's marks are
 * never lost to its own. Returns false when the position was marked already (the replay did
 * not help: the caller must stop, not loop).
 */
bool policy_mark(policy *r, relay_lsn commit_lsn, uint32_t index, policy_reason reason,
                 const char *error);

/*
 * The dead-letter record of ev for verdict v in *out: topic dead_letter.topic, ev's key,
 * value (none when omit_value; always none for POLICY_TOO_LARGE), timestamp (none, so Kafka's
 * time of the dead letter, for POLICY_REJECTED: the broker may have refused ev's timestamp,
 * and the dead-letter topic would refuse it alike; the error header names it) and position, the
 * POLICY_HDR_* headers and then ev's own headers (as many as fit in EVENT_MAX_HEADERS). out
 * points into ev, v and r: valid while they are and until the next call.
 */
void policy_dead_letter(policy *r, const event *ev, const policy_verdict *v, bool omit_value,
                        event *out);

/* "valid", "invalid", "unknown_type", "bad_row", "too_large", "rejected": the
 * dead_letter_reason header. */
const char *policy_reason_name(policy_reason reason);

/*
 * One log line about ev and v: where it went and why, or, for POLICY_STOP, what to fix, which
 * setting decided it, and then resume: where the caller picks up after the fix.
 */
void policy_describe(const policy *r, const event *ev, const policy_verdict *v, const char *resume,
                     char *buf, size_t size);

#endif
