/*
 * message.c — a logical decoding message's content becomes an outbox row (see message.h).
 *
 * The content is parsed once with the project's JSON reader (jsonread.h: strict, integers
 * beyond 64 bits kept), which gives the string keys decoded; payload and headers are then
 * taken as the text the writer wrote, found by a scan of the (now known valid) top-level
 * object, so a payload's numbers reach Kafka with their digits as written.
 */
#include "message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jsonread.h"

/* The row's columns, in this order; a role whose outbox.columns setting is "" has none. */
enum { ROLE_ID, ROLE_AGGREGATE_TYPE, ROLE_AGGREGATE_ID, ROLE_EVENT_TYPE, ROLE_PAYLOAD,
       ROLE_HEADERS, ROLE_CREATED_AT, ROLE_VERSION, NROLES };

/* Rows of a reader all have one shape. Table shapes are oid << 32 | version, and oid 0 is
 * no table's, so this one never equals a table's. */
#define MESSAGE_SHAPE 1

struct message_reader {
    const relay_config *cfg;
    const char *keys[NROLES]; /* the content's key of each role; NULL: none (created_at) */
    int col[NROLES];          /* the role's column in the row, or -1 */
    int ncols;
    const char *names[NROLES];
    event_value values[NROLES];
    json_t *doc;   /* the last content read: string values point into it */
    char id[48];   /* the position, as outbox_position spells it (LSN_POSITION_FMT) */
    char time[96]; /* the commit time, as Postgres prints a timestamptz (room for any int) */
};

message_kind message_classify(const relay_config *cfg, bool transactional, const char *prefix)
{
    if (!transactional)
        return MESSAGE_NON_TRANSACTIONAL;
    return strcmp(prefix, cfg->outbox.message_prefix) == 0 ? MESSAGE_EVENT : MESSAGE_OTHER_PREFIX;
}

const char *message_kind_name(message_kind kind)
{
    switch (kind) {
    case MESSAGE_EVENT: return "event";
    case MESSAGE_OTHER_PREFIX: return "other_prefix";
    default: return "non_transactional";
    }
}

message_reader *message_reader_new(const relay_config *cfg)
{
    message_reader *r = calloc(1, sizeof(*r));
    const char *columns[NROLES] = {
        cfg->outbox.columns.id,       cfg->outbox.columns.aggregate_type,
        cfg->outbox.columns.aggregate_id, cfg->outbox.columns.event_type,
        cfg->outbox.columns.payload,  cfg->outbox.columns.headers,
        cfg->outbox.columns.created_at, cfg->schemas.version_column};
    const char *keys[NROLES] = {"id",      "aggregate_type", "aggregate_id", "event_type",
                                "payload", "headers",        NULL,           NULL};

    if (r == NULL)
        return NULL;
    r->cfg = cfg;
    keys[ROLE_VERSION] = cfg->schemas.version_column; /* the key is named like the column */
    for (int role = 0; role < NROLES; role++) {
        r->keys[role] = keys[role];
        r->col[role] = -1;
        if (columns[role][0] == '\0')
            continue;
        r->col[role] = r->ncols;
        r->names[r->ncols++] = columns[role];
    }
    return r;
}

void message_reader_free(message_reader *r)
{
    if (r == NULL)
        return;
    json_decref(r->doc);
    free(r);
}

static void set(message_reader *r, int role, const char *data, size_t len)
{
    if (r->col[role] >= 0)
        r->values[r->col[role]] = (event_value){data, len};
}

static event_row row_of(message_reader *r, int64_t commit_time_us)
{
    return (event_row){"message", r->cfg->outbox.message_prefix, r->ncols, r->names, r->values,
                       MESSAGE_SHAPE, commit_time_us, NULL};
}

int message_check_mapper(message_reader *r, event_mapper *mapper, char *errbuf,
                         size_t errbuf_size)
{
    event_row row = row_of(r, 0);
    event ev;
    char why[512];

    for (int i = 0; i < r->ncols; i++)
        r->values[i] = (event_value){"{}", 2};
    if (event_map(mapper, &row, 0, 0, &ev, why, sizeof why) >= 0)
        return 0;
    snprintf(errbuf, errbuf_size,
             "outbox.source = \"messages\": %s (a message offers only the keys id, "
             "aggregate_type, aggregate_id, event_type, payload and headers, under the column "
             "names of outbox.columns)",
             why);
    return -1;
}

/* ---- the raw text of top-level members ---- */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

/* From the opening quote to after the closing one. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* After the value starting at s[i], in text known to be valid JSON. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
    int depth = 0;

    if (i < n && s[i] == '"')
        return skip_string(s, n, i);
    if (i < n && s[i] != '{' && s[i] != '[') {
        while (i < n && strchr(",}] \t\r\n", s[i]) == NULL)
            i++;
        return i;
    }
    while (i < n) {
        if (s[i] == '"') {
            i = skip_string(s, n, i);
            continue;
        }
        if (s[i] == '{' || s[i] == '[')
            depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

/* Whether the key written as raw (between its quotes, len bytes) is name; an escaped key is
 * decoded first, as the parser did. */
static bool key_is(const char *raw, size_t len, const char *name)
{
    json_t *decoded;
    bool same;

    if (memchr(raw, '\\', len) == NULL)
        return len == strlen(name) && memcmp(raw, name, len) == 0;
    decoded = json_loadb(raw - 1, len + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    same = json_is_string(decoded) && json_string_length(decoded) == strlen(name) &&
           memcmp(json_string_value(decoded), name, strlen(name)) == 0;
    json_decref(decoded);
    return same;
}

/* The text of member `name` of the object text s, the last one when repeated (the parser
 * keeps the last too); false when there is none. */
static bool raw_member(const char *s, size_t n, const char *name, const char **out,
                       size_t *out_len)
{
    size_t i = skip_ws(s, n, 0);
    bool found = false;

    if (i >= n || s[i] != '{')
        return false;
    for (i = skip_ws(s, n, i + 1); i < n && s[i] == '"'; i = skip_ws(s, n, i + 1)) {
        size_t key = i + 1, key_end, value;

        i = skip_string(s, n, i);
        key_end = i - 1;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':')
            break;
        value = skip_ws(s, n, i + 1);
        i = skip_value(s, n, value);
        if (key_is(s + key, key_end - key, name)) {
            *out = s + value;
            *out_len = i - value;
            found = true;
        }
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ',')
            break;
    }
    return found;
}

/* ---- reading a message ---- */

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A key read as text: a string's value, a number as written; absent or null leaves the
 * column NULL. False, with why, for another type. */
static bool text_key(message_reader *r, const char *content, size_t len, int role, char *why,
                     size_t why_size)
{
    json_t *v = json_object_get(r->doc, r->keys[role]);
    const char *raw;
    size_t raw_len;

    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        set(r, role, json_string_value(v), json_string_length(v));
        return true;
    }
    if (json_is_number(v) && raw_member(content, len, r->keys[role], &raw, &raw_len)) {
        set(r, role, raw, raw_len);
        return true;
    }
    snprintf(why, why_size, "message key \"%s\" is %s; expected a string or a number",
             r->keys[role], json_kind(v));
    return false;
}

/* A key kept as the JSON text written (payload, headers). */
static void json_key(message_reader *r, const char *content, size_t len, int role)
{
    json_t *v = json_object_get(r->doc, r->keys[role]);
    const char *raw;
    size_t raw_len;

    if (v != NULL && !json_is_null(v) && raw_member(content, len, r->keys[role], &raw, &raw_len))
        set(r, role, raw, raw_len);
}

/* The commit time as Postgres prints a timestamptz in UTC: event_map reads it back. */
static void format_time(int64_t us, char *buf, size_t size)
{
    time_t s = (time_t)(us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000));
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(us - (int64_t)s * 1000000));
}

int message_row(message_reader *r, const char *content, size_t len, relay_lsn commit_lsn,
                uint32_t index, int64_t commit_time_us, event_row *row, char *errbuf,
                size_t errbuf_size)
{
    static const int required[] = {ROLE_AGGREGATE_ID, ROLE_EVENT_TYPE, ROLE_PAYLOAD};
    json_error_t jerr;
    int rc = 0;

    for (int i = 0; i < r->ncols; i++)
        r->values[i] = (event_value){NULL, 0};
    json_decref(r->doc);
    r->doc = NULL;
    *row = row_of(r, commit_time_us);
    /* Without an "id" key (or with "id": null), the position. */
    snprintf(r->id, sizeof r->id, LSN_POSITION_FMT, LSN_POSITION_ARGS(commit_lsn, index));
    set(r, ROLE_ID, r->id, strlen(r->id));
    format_time(commit_time_us, r->time, sizeof r->time);
    set(r, ROLE_CREATED_AT, r->time, strlen(r->time));

    r->doc = jsonread_parse(content, len, &jerr);
    if (r->doc == NULL) {
        snprintf(errbuf, errbuf_size, "message content is not JSON: %s at line %d, column %d",
                 jerr.text, jerr.line, jerr.column);
        goto bad;
    }
    if (!json_is_object(r->doc)) {
        snprintf(errbuf, errbuf_size,
                 "message content is %s, not a JSON object {\"aggregate_id\", \"event_type\", "
                 "\"payload\", ...}",
                 json_kind(r->doc));
        goto bad;
    }
    for (int role = 0; role < NROLES; role++) {
        if (r->keys[role] == NULL || r->col[role] < 0)
            continue;
        if (role == ROLE_PAYLOAD || role == ROLE_HEADERS)
            json_key(r, content, len, role);
        else if (!text_key(r, content, len, role, errbuf, errbuf_size)) {
            rc = MESSAGE_BAD;
            break;
        }
    }
    for (size_t i = 0; rc == 0 && i < sizeof required / sizeof required[0]; i++) {
        if (r->values[r->col[required[i]]].data != NULL)
            continue;
        snprintf(errbuf, errbuf_size,
                 "message content has no \"%s\" (an event message needs aggregate_id, "
                 "event_type and payload)",
                 r->keys[required[i]]);
        rc = MESSAGE_BAD;
    }
    if (rc == 0)
        return 0;
bad:
    /* The dead letter carries what the writer sent. */
    set(r, ROLE_PAYLOAD, content, len);
    return MESSAGE_BAD;
}
