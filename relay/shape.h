/*
 * shape.h — what a record carries beyond the payload: the outbox.fields columns, as
 * headers or envelope members, and CloudEvents 1.0 in either content mode of the Kafka
 * protocol binding (structured: outbox.value = "cloudevents"; binary:
 * outbox.cloudevents_headers = true).
 *
 * Owns: binding the field columns to a row's columns, a column's value as JSON, the
 * CloudEvents document, the ce_* and content-type headers and RFC 3339 times. Pure:
 * appends to the mapper's scratch buffer (scratch.h) by offset; event.c decides when.
 * Which names the relay keeps and which settings fit together: config_fields.h.
 */
#ifndef RELAY_SHAPE_H
#define RELAY_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "scratch.h"

#define SHAPE_CE_SPECVERSION "1.0"
#define SHAPE_CE_STRUCTURED "application/cloudevents+json" /* content-type, structured mode */
#define SHAPE_JSON "application/json"
#define SHAPE_TEXT "text/plain; charset=utf-8" /* a payload that is not JSON */
#define SHAPE_HDR_CONTENT_TYPE "content-type"

/* What the CloudEvent says of one event; pointers into the row or the scratch buffer. */
typedef struct shape_facts {
    const char *id, *type, *subject, *payload;
    size_t id_len, type_len, subject_len, payload_len;
    bool payload_json; /* the payload is one JSON value */
    int64_t time_us;   /* created_at (or the commit time), µs since 1970 UTC */
} shape_facts;

typedef struct shape shape;

/* NULL only out of memory (a line in errbuf). cfg must outlive it. */
shape *shape_new(const relay_config *cfg, char *errbuf, size_t errbuf_size);
void shape_free(shape *s);

/* Finds the outbox.fields columns among row's; -1 with a line naming a missing one. */
int shape_bind(shape *s, const event_row *row, char *errbuf, size_t errbuf_size);

/* Whether a header of the row's headers column gives way: the relay sets it in this mode
 * (content-type, ce_*), or an outbox.fields entry does. */
bool shape_reserved_header(const shape *s, const char *name);

/* Appends ,"name":value for each envelope-placed field that is not NULL. false out of
 * memory. */
bool shape_envelope_fields(const shape *s, scratch *sb, const event_row *row);

/* Appends the structured CloudEvent of f (the value of outbox.value = "cloudevents"): its
 * offset and length in *off and *len. false out of memory. */
bool shape_cloudevent(const shape *s, scratch *sb, const event_row *row, const shape_facts *f,
                      size_t *off, size_t *len);

/*
 * Adds the header-placed fields and, in a CloudEvents mode, the content-type and ce_*
 * headers to out (names set; values as offsets in value_off, event.c's fix-up). -1 with a
 * line when they do not fit in EVENT_MAX_HEADERS.
 */
int shape_headers(const shape *s, scratch *sb, const event_row *row, const shape_facts *f,
                  event *out, size_t *value_off, char *errbuf, size_t errbuf_size);

/* "2026-11-27T07:51:30.250000Z": a time as CloudEvents' time attribute (RFC 3339, UTC). */
void shape_format_time(int64_t us, char *buf, size_t size);

#endif
