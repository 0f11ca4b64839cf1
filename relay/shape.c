#include "shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_fields.h"
#include "record.h"

/* pg_type oids, fixed in every Postgres: how an envelope member renders a column. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
};

struct shape {
    const relay_config *cfg;
    bool structured, binary; /* the CloudEvents content mode, if any */
    int *col;                /* per outbox.fields entry: the bound column index */
};

shape *shape_new(const relay_config *cfg, char *errbuf, size_t errbuf_size)
{
    shape *s = calloc(1, sizeof(*s));

    if (s != NULL)
        s->col = calloc(cfg->outbox.nfields + 1, sizeof(*s->col));
    if (s == NULL || s->col == NULL) {
        free(s);
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->structured = cfg->outbox.value == CONFIG_VALUE_CLOUDEVENTS;
    s->binary = cfg->outbox.cloudevents_headers;
    return s;
}

void shape_free(shape *s)
{
    if (s == NULL)
        return;
    free(s->col);
    free(s);
}

int shape_bind(shape *s, const event_row *row, char *errbuf, size_t errbuf_size)
{
    for (size_t i = 0; i < s->cfg->outbox.nfields; i++) {
        const char *column = s->cfg->outbox.fields[i].column;

        s->col[i] = -1;
        for (int c = 0; c < row->ncols && s->col[i] < 0; c++)
            if (strcmp(row->names[c], column) == 0)
                s->col[i] = c;
        if (s->col[i] < 0) {
            snprintf(errbuf, errbuf_size,
                     "outbox table %s.%s has no column \"%s\", which outbox.fields names: add "
                     "the column or remove the entry",
                     row->nspname, row->relname, column);
            return -1;
        }
    }
    return 0;
}

bool shape_reserved_header(const shape *s, const char *name)
{
    if (config_fields_relay_header(s->cfg, name))
        return true;
    for (size_t i = 0; i < s->cfg->outbox.nfields; i++)
        if (s->cfg->outbox.fields[i].placement == CONFIG_PLACE_HEADER &&
            strcmp(s->cfg->outbox.fields[i].name, name) == 0)
            return true;
    return false;
}

/* Whether a number's text form is a JSON number: all but NaN and [-]Infinity are. */
static bool json_number(const char *t, size_t n)
{
    size_t i = n > 0 && t[0] == '-' ? 1 : 0;

    return i < n && t[i] >= '0' && t[i] <= '9';
}

/*
 * A column's value as JSON, by its type: booleans and numbers as JSON's, json and jsonb as
 * they are, everything else (and a row without types) as a string of its text form.
 */
static bool cat_value(scratch *sb, const event_row *row, int c)
{
    const event_value *v = &row->values[c];
    uint32_t type = row->types != NULL ? row->types[c] : 0;

    switch (type) {
    case OID_BOOL:
        if (v->len == 1 && (v->data[0] == 't' || v->data[0] == 'f'))
            return v->data[0] == 't' ? sb_cat(sb, "true", 4) : sb_cat(sb, "false", 5);
        break;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        if (json_number(v->data, v->len))
            return sb_cat(sb, v->data, v->len);
        break;
    case OID_JSON:
    case OID_JSONB: return sb_cat(sb, v->data, v->len);
    default: break;
    }
    return sb_cat_json_string(sb, v->data, v->len);
}

bool shape_envelope_fields(const shape *s, scratch *sb, const event_row *row)
{
    for (size_t i = 0; i < s->cfg->outbox.nfields; i++) {
        const config_field *f = &s->cfg->outbox.fields[i];

        if (f->placement != CONFIG_PLACE_ENVELOPE || row->values[s->col[i]].data == NULL)
            continue;
        if (!sb_cat(sb, ",", 1) || !sb_cat_json_string(sb, f->name, strlen(f->name)) ||
            !sb_cat(sb, ":", 1) || !cat_value(sb, row, s->col[i]))
            return false;
    }
    return true;
}

void shape_format_time(int64_t us, char *buf, size_t size)
{
    /* record.h's form "2026-11-27 07:51:30.250000+00", as RFC 3339 in UTC. */
    char t[48];
    size_t n;

    record_format_time(us, t, sizeof t);
    n = strlen(t);
    if (n > 3 && strcmp(t + n - 3, "+00") == 0)
        t[n - 3] = '\0';
    if (strchr(t, ' ') != NULL)
        *strchr(t, ' ') = 'T';
    snprintf(buf, size, "%sZ", t);
}

/* Appends "key":"text" (first: without the comma before it). */
static bool cat_member(scratch *sb, bool first, const char *key, const char *text, size_t n)
{
    return (first || sb_cat(sb, ",", 1)) && sb_cat_json_string(sb, key, strlen(key)) &&
           sb_cat(sb, ":", 1) && sb_cat_json_string(sb, text, n);
}

bool shape_cloudevent(const shape *s, scratch *sb, const event_row *row, const shape_facts *f,
                      size_t *off, size_t *len)
{
    const char *src = s->cfg->outbox.cloudevents_source;
    const char *ctype = f->payload_json ? SHAPE_JSON : SHAPE_TEXT;
    char when[48];
    bool ok;

    shape_format_time(f->time_us, when, sizeof when);
    *off = sb->len;
    /* A payload that is not JSON is the data as a string, said by datacontenttype. */
    ok = sb_cat(sb, "{", 1) &&
         cat_member(sb, true, "specversion", SHAPE_CE_SPECVERSION, strlen(SHAPE_CE_SPECVERSION)) &&
         cat_member(sb, false, "id", f->id, f->id_len) &&
         cat_member(sb, false, "source", src, strlen(src)) &&
         cat_member(sb, false, "type", f->type, f->type_len) &&
         cat_member(sb, false, "subject", f->subject, f->subject_len) &&
         cat_member(sb, false, "time", when, strlen(when)) &&
         cat_member(sb, false, "datacontenttype", ctype, strlen(ctype)) &&
         sb_cat(sb, ",\"data\":", 8) &&
         (f->payload_json ? sb_cat(sb, f->payload, f->payload_len)
                          : sb_cat_json_string(sb, f->payload, f->payload_len)) &&
         shape_envelope_fields(s, sb, row) && sb_cat(sb, "}", 1);
    *len = sb->len - *off;
    return ok && sb_cat(sb, "", 1) && !sb->failed;
}

/* Adds one header: a static or config name, the value copied into the scratch buffer. */
static void add_header(scratch *sb, event *out, size_t *value_off, const char *name,
                       const char *value, size_t n)
{
    out->headers[out->nheaders] = (event_header){name, NULL, n};
    value_off[out->nheaders++] = sb_add(sb, value, n);
}

int shape_headers(const shape *s, scratch *sb, const event_row *row, const shape_facts *f,
                  event *out, size_t *value_off, char *errbuf, size_t errbuf_size)
{
    int need = s->structured ? 1 : s->binary ? 7 : 0;
    char when[48];

    for (size_t i = 0; i < s->cfg->outbox.nfields; i++)
        need += s->cfg->outbox.fields[i].placement == CONFIG_PLACE_HEADER &&
                row->values[s->col[i]].data != NULL;
    if (out->nheaders + need > EVENT_MAX_HEADERS) {
        snprintf(errbuf, errbuf_size,
                 "event %.*s: more than %d headers with the outbox.fields and CloudEvents ones",
                 (int)f->id_len, f->id, EVENT_MAX_HEADERS);
        return -1;
    }
    for (size_t i = 0; i < s->cfg->outbox.nfields; i++) {
        const config_field *fd = &s->cfg->outbox.fields[i];
        const event_value *v = &row->values[s->col[i]];

        if (fd->placement == CONFIG_PLACE_HEADER && v->data != NULL)
            add_header(sb, out, value_off, fd->name, v->data, v->len);
    }
    if (s->structured) {
        add_header(sb, out, value_off, SHAPE_HDR_CONTENT_TYPE, SHAPE_CE_STRUCTURED,
                   strlen(SHAPE_CE_STRUCTURED));
    } else if (s->binary) {
        /* The value is the CloudEvent's data as is: its media type is the content-type. */
        const char *ctype = s->cfg->outbox.value == CONFIG_VALUE_ENVELOPE || f->payload_json
                                ? SHAPE_JSON
                                : SHAPE_TEXT;
        const char *src = s->cfg->outbox.cloudevents_source;

        shape_format_time(f->time_us, when, sizeof when);
        add_header(sb, out, value_off, SHAPE_HDR_CONTENT_TYPE, ctype, strlen(ctype));
        add_header(sb, out, value_off, "ce_specversion", SHAPE_CE_SPECVERSION,
                   strlen(SHAPE_CE_SPECVERSION));
        add_header(sb, out, value_off, "ce_id", f->id, f->id_len);
        add_header(sb, out, value_off, "ce_source", src, strlen(src));
        add_header(sb, out, value_off, "ce_type", f->type, f->type_len);
        add_header(sb, out, value_off, "ce_subject", f->subject, f->subject_len);
        add_header(sb, out, value_off, "ce_time", when, strlen(when));
    }
    return 0;
}
