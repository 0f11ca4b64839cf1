#include "event.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "scratch.h"
#include "shape.h"

/* A part of the topic template: literal text, or ${column}. */
typedef struct tmpl_part {
    bool is_column;
    char *text;
    int col; /* bound column index for is_column, or one of the TMPL_ names below */
} tmpl_part;

/* ${schema} and ${table} name the row's table when it has no column of that name. */
#define TMPL_SCHEMA -2
#define TMPL_TABLE -3

enum { COL_ID, COL_AGGREGATE_TYPE, COL_AGGREGATE_ID, COL_EVENT_TYPE, COL_PAYLOAD, COL_HEADERS,
       COL_CREATED_AT, COL_VERSION, NCOLS };

struct event_mapper {
    const relay_config *cfg;
    const char *replay_job; /* NULL, or the backfill job re-publishing the rows */
    tmpl_part *parts;
    int nparts;
    /* Binding of column roles to the indexes of the row shape last seen. */
    bool bound;
    uint64_t bound_shape;
    bool local_zone; /* zone-less created_at values are in the process's TZ, not UTC */
    int col[NCOLS]; /* -1 when the role has no column */
    shape *shape;   /* outbox.fields and CloudEvents */
    scratch sb;
};

static const char *column_setting(const relay_config *cfg, int role)
{
    switch (role) {
    case COL_ID: return cfg->outbox.columns.id;
    case COL_AGGREGATE_TYPE: return cfg->outbox.columns.aggregate_type;
    case COL_AGGREGATE_ID: return cfg->outbox.columns.aggregate_id;
    case COL_EVENT_TYPE: return cfg->outbox.columns.event_type;
    case COL_PAYLOAD: return cfg->outbox.columns.payload;
    case COL_HEADERS: return cfg->outbox.columns.headers;
    case COL_CREATED_AT: return cfg->outbox.columns.created_at;
    default: return cfg->schemas.version_column;
    }
}

/* The setting that names each role's column. */
static const char *const role_settings[NCOLS] = {
    "outbox.columns.id",         "outbox.columns.aggregate_type", "outbox.columns.aggregate_id",
    "outbox.columns.event_type", "outbox.columns.payload",        "outbox.columns.headers",
    "outbox.columns.created_at", "schemas.version_column"};

static int parse_template(event_mapper *m, const char *tmpl, char *errbuf, size_t errbuf_size)
{
    const char *p = tmpl;

    while (*p) {
        const char *open = strstr(p, "${");
        size_t literal = open ? (size_t)(open - p) : strlen(p);
        tmpl_part *grown = realloc(m->parts, sizeof(*grown) * (size_t)(m->nparts + 2));

        if (grown == NULL)
            goto oom;
        m->parts = grown;
        if (literal > 0) {
            m->parts[m->nparts++] = (tmpl_part){false, strndup(p, literal), -1};
            if (m->parts[m->nparts - 1].text == NULL)
                goto oom;
        }
        if (open == NULL)
            break;
        const char *close = strchr(open + 2, '}');
        if (close == NULL || close == open + 2) {
            snprintf(errbuf, errbuf_size, "outbox.topic: bad placeholder in \"%s\"", tmpl);
            return -1;
        }
        m->parts[m->nparts++] = (tmpl_part){true, strndup(open + 2, (size_t)(close - open - 2)), -1};
        if (m->parts[m->nparts - 1].text == NULL)
            goto oom;
        p = close + 1;
    }
    return 0;
oom:
    snprintf(errbuf, errbuf_size, "out of memory");
    return -1;
}

event_mapper *event_mapper_new(const relay_config *cfg, const char *replay_job, char *errbuf,
                               size_t errbuf_size)
{
    event_mapper *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    m->cfg = cfg;
    m->replay_job = replay_job;
    if (parse_template(m, cfg->outbox.topic, errbuf, errbuf_size) != 0 ||
        (m->shape = shape_new(cfg, errbuf, errbuf_size)) == NULL)
        goto fail;
    return m;
fail:
    event_mapper_free(m);
    return NULL;
}

void event_mapper_free(event_mapper *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < m->nparts; i++)
        free(m->parts[i].text);
    free(m->parts);
    shape_free(m->shape);
    free(m->sb.buf);
    free(m);
}

/* Index of the column called name (compared exactly), or -1. */
static int column_index(const event_row *row, const char *name)
{
    for (int i = 0; i < row->ncols; i++)
        if (strcmp(row->names[i], name) == 0)
            return i;
    return -1;
}

/* Resolves column roles and template placeholders against the row's columns; done once
 * per shape, so ALTER TABLE on the outbox is picked up mid-stream. */
static int bind(event_mapper *m, const event_row *rel, char *errbuf, size_t errbuf_size)
{
    for (int role = 0; role < NCOLS; role++) {
        const char *name = column_setting(m->cfg, role);

        m->col[role] = -1;
        if (name[0] == '\0')
            continue;
        m->col[role] = column_index(rel, name);
        if (m->col[role] < 0) {
            snprintf(errbuf, errbuf_size,
                     "outbox table %s.%s has no column \"%s\": set %s to the right column%s",
                     rel->nspname, rel->relname, name, role_settings[role],
                     role == COL_AGGREGATE_TYPE || role == COL_HEADERS ||
                             role == COL_CREATED_AT || role == COL_VERSION
                         ? " (or \"\" if the table has none)"
                         : "");
            return -1;
        }
    }
    for (int i = 0; i < m->nparts; i++) {
        if (!m->parts[i].is_column)
            continue;
        m->parts[i].col = column_index(rel, m->parts[i].text);
        if (m->parts[i].col < 0 && strcmp(m->parts[i].text, "schema") == 0)
            m->parts[i].col = TMPL_SCHEMA;
        else if (m->parts[i].col < 0 && strcmp(m->parts[i].text, "table") == 0)
            m->parts[i].col = TMPL_TABLE;
        if (m->parts[i].col == -1) {
            snprintf(errbuf, errbuf_size,
                     "outbox.topic: placeholder ${%s} names no column of %s.%s", m->parts[i].text,
                     rel->nspname, rel->relname);
            return -1;
        }
    }
    if (shape_bind(m->shape, rel, errbuf, errbuf_size) != 0)
        return -1;
    m->bound = true;
    m->bound_shape = rel->shape;
    return 0;
}

int event_check_columns(event_mapper *m, const event_row *row, char *errbuf, size_t errbuf_size)
{
    int rc = bind(m, row, errbuf, errbuf_size);

    m->bound = false; /* the next row binds again */
    return rc;
}

bool event_topic_legal(const char *t, size_t n)
{
    if (n == 0 || n > 249 || (n == 1 && t[0] == '.') || (n == 2 && memcmp(t, "..", 2) == 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '.' && t[i] != '_' && t[i] != '-')
            return false;
    return true;
}

bool event_topic_matches(const char *tmpl, const char *topic)
{
    const char *open = strstr(tmpl, "${"), *close = open ? strchr(open, '}') : NULL;
    size_t literal = open ? (size_t)(open - tmpl) : strlen(tmpl);

    if (strncmp(tmpl, topic, literal) != 0)
        return false;
    if (close == NULL)
        return open == NULL && topic[literal] == '\0';
    /* ${column}: any run of characters, then the rest of the template */
    for (const char *t = topic + literal;; t++) {
        if (event_topic_matches(close + 1, t))
            return true;
        if (*t == '\0')
            return false;
    }
}

/* Reads exactly n digits. */
static bool read_digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;

    if (end - *p < n)
        return false;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil): no timegm, so no dependence on the process's time zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* A time as written: its fields, and its UTC offset when it has one. */
typedef struct civil {
    int year, mon, day, hour, min, sec;
    int64_t frac_us;
    bool zoned;
    int offset_s; /* east of UTC */
} civil;

static bool parse_civil(const char *text, size_t len, civil *c)
{
    const char *p = text, *end = text + len;
    int zh = 0, zm = 0, zs = 0, zsign = 0;

    memset(c, 0, sizeof(*c));
    if (!read_digits(&p, end, 4, &c->year) || p == end || *p++ != '-' ||
        !read_digits(&p, end, 2, &c->mon) || p == end || *p++ != '-' ||
        !read_digits(&p, end, 2, &c->day))
        return false;
    if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
        p++;
        if (!read_digits(&p, end, 2, &c->hour) || p == end || *p++ != ':' ||
            !read_digits(&p, end, 2, &c->min))
            return false;
        if (p < end && *p == ':') {
            p++;
            if (!read_digits(&p, end, 2, &c->sec))
                return false;
            if (p < end && *p == '.') {
                int digits = 0;
                for (p++; p < end && isdigit((unsigned char)*p); p++, digits++)
                    if (digits < 6)
                        c->frac_us = c->frac_us * 10 + (*p - '0');
                if (digits == 0)
                    return false;
                for (; digits < 6; digits++)
                    c->frac_us *= 10;
            }
        }
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
            c->zoned = true;
        } else if (p < end && (*p == '+' || *p == '-')) {
            /* Postgres prints +hh, +hh:mm and, for historical zones, +hh:mm:ss. */
            zsign = *p++ == '-' ? -1 : 1;
            if (!read_digits(&p, end, 2, &zh))
                return false;
            if (p < end && *p == ':')
                p++;
            if (p < end && isdigit((unsigned char)*p) && !read_digits(&p, end, 2, &zm))
                return false;
            if (p < end && *p == ':' && (++p, !read_digits(&p, end, 2, &zs)))
                return false;
            c->zoned = true;
        }
    }
    c->offset_s = zsign * (zh * 3600 + zm * 60 + zs);
    return p == end && c->year >= 1 && c->mon >= 1 && c->mon <= 12 && c->day >= 1 &&
           c->day <= days_in_month(c->year, c->mon) && c->hour <= 23 && c->min <= 59 &&
           c->sec <= 59 && zh <= 23 && zm <= 59 && zs <= 59;
}

/* µs since 1970 of a time at its offset (none: UTC). */
static int64_t civil_utc_us(const civil *c)
{
    return ((days_from_civil(c->year, c->mon, c->day) * 86400 + c->hour * 3600 + c->min * 60 +
             c->sec) -
            c->offset_s) *
               1000000LL +
           c->frac_us;
}

bool event_parse_time(const char *text, size_t len, int64_t *out_us)
{
    civil c;

    if (!parse_civil(text, len, &c))
        return false;
    *out_us = civil_utc_us(&c);
    return true;
}

/* µs since 1970 of a zone-less time meant in the mapper's zone (the process's TZ, set by
 * event_mapper_set_zone). A time that does not exist there (a spring-forward gap) is read as
 * mktime reads it: shifted by the gap. */
static bool local_utc_us(const civil *c, int64_t *out_us)
{
    struct tm tm = {.tm_sec = c->sec,
                    .tm_min = c->min,
                    .tm_hour = c->hour,
                    .tm_mday = c->day,
                    .tm_mon = c->mon - 1,
                    .tm_year = c->year - 1900,
                    .tm_isdst = -1};
    time_t t = mktime(&tm);

    if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
        return false;
    *out_us = (int64_t)t * 1000000 + c->frac_us;
    return true;
}

int event_mapper_set_zone(event_mapper *m, const char *zone, char *errbuf, size_t errbuf_size)
{
    static const char *const utc[] = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT",
                                      "Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
                                      "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "Z"};
    const char *dir = getenv("TZDIR");
    char path[512];

    m->local_zone = false;
    for (size_t i = 0; i < sizeof utc / sizeof utc[0]; i++)
        if (strcmp(zone, utc[i]) == 0)
            return 0;
    snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", zone);
    if (zone[0] == '\0' || zone[0] == '/' || strstr(zone, "..") || access(path, R_OK) != 0) {
        snprintf(errbuf, errbuf_size,
                 "time zone \"%s\" for created_at is not in %s (install tzdata, or set "
                 "outbox.timestamp_zone to a zone name such as \"Europe/Berlin\" or \"UTC\")",
                 zone, dir && dir[0] ? dir : "/usr/share/zoneinfo");
        return -1;
    }
    /* The C library converts local times in the process's zone: set once, before any
     * event is mapped, and only ever to this one zone. */
    if (setenv("TZ", zone, 1) != 0) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    tzset();
    m->local_zone = true;
    return 0;
}

/* The text of a required column, or an error naming it. */
static const event_value *required(const event_mapper *m, const event_row *row, int role,
                                   char *errbuf, size_t errbuf_size)
{
    const event_value *v = &row->values[m->col[role]];

    if (v->data == NULL) {
        snprintf(errbuf, errbuf_size, "outbox row in %s.%s: column \"%s\" is NULL", row->nspname,
                 row->relname, column_setting(m->cfg, role));
        return NULL;
    }
    return v;
}

/* Whether name is a header the relay sets itself: a consumer deduplicating by event_id or
 * routing by event_type must see the relay's value only, so the row's copy is dropped. */
static bool reserved_header(const char *name)
{
    static const char *const reserved[] = {EVENT_HDR_ID, EVENT_HDR_TYPE, EVENT_HDR_AGGREGATE_TYPE,
                                           EVENT_HDR_POSITION, EVENT_HDR_REPLAY};

    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0)
            return true;
    return false;
}

/* Adds the row's headers column (a JSON object) as record headers: string values as is,
 * other values as JSON text, the relay's own names skipped. Offsets are stored in the
 * header slots until fix-up. */
static int add_row_headers(event_mapper *m, const event_value *v, event *out, size_t *name_off,
                           size_t *value_off, char *errbuf, size_t errbuf_size)
{
    json_error_t jerr;
    json_t *obj = json_loadb(v->data, v->len, 0, &jerr);
    const char *k;
    json_t *val;
    int rc = -1;

    if (!json_is_object(obj)) {
        snprintf(errbuf, errbuf_size, "outbox row: column \"%s\" is not a JSON object",
                 m->cfg->outbox.columns.headers);
        goto out;
    }
    json_object_foreach(obj, k, val)
    {
        char *dumped = NULL;
        const char *text;
        size_t len;

        if (reserved_header(k) || shape_reserved_header(m->shape, k))
            continue;
        if (out->nheaders >= EVENT_MAX_HEADERS) {
            snprintf(errbuf, errbuf_size, "outbox row: more than %d headers", EVENT_MAX_HEADERS);
            goto out;
        }
        if (json_is_string(val)) {
            text = json_string_value(val);
            len = json_string_length(val);
        } else {
            dumped = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
            text = dumped ? dumped : "";
            len = strlen(text);
        }
        out->headers[out->nheaders] = (event_header){NULL, NULL, len};
        name_off[out->nheaders] = sb_add(&m->sb, k, strlen(k));
        value_off[out->nheaders++] = sb_add(&m->sb, text, len);
        free(dumped);
    }
    rc = 0;
out:
    json_decref(obj);
    return rc;
}

/* How many bytes from s[i] (below n) are in set. */
static size_t span(const char *s, size_t i, size_t n, const char *set)
{
    size_t j = i;

    while (j < n && s[j] != '\0' && strchr(set, s[j]) != NULL)
        j++;
    return j - i;
}

/* Skips a JSON string starting at s[*i] == '"' (escapes checked, not decoded). */
static bool json_skip_string(const char *s, size_t n, size_t *i)
{
    for (size_t j = *i + 1; j < n; j++) {
        unsigned char c = (unsigned char)s[j];
        if (c == '"')
            return *i = j + 1, true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (++j >= n)
            return false;
        if (s[j] == 'u') {
            for (int k = 0; k < 4; k++)
                if (++j >= n || !isxdigit((unsigned char)s[j]))
                    return false;
        } else if (strchr("\"\\/bfnrt", s[j]) == NULL || s[j] == '\0') {
            return false;
        }
    }
    return false;
}

/* Skips a JSON number or literal (true, false, null) at s[*i]. */
static bool json_skip_scalar(const char *s, size_t n, size_t *i)
{
    static const char *const literals[] = {"true", "false", "null"};
    size_t j = *i, digits;

    for (int k = 0; k < 3; k++)
        if (n - j >= strlen(literals[k]) && memcmp(s + j, literals[k], strlen(literals[k])) == 0)
            return *i = j + strlen(literals[k]), true;
    if (j < n && s[j] == '-')
        j++;
    if (j < n && s[j] == '0')
        j++;
    else if ((digits = span(s, j, n, "0123456789")) > 0 && j + digits <= n)
        j += digits;
    else
        return false;
    if (j < n && s[j] == '.') {
        if ((digits = span(s, j + 1, n, "0123456789")) == 0)
            return false;
        j += 1 + digits;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        j += j + 1 < n && (s[j + 1] == '+' || s[j + 1] == '-') ? 2 : 1;
        if ((digits = span(s, j, n, "0123456789")) == 0)
            return false;
        j += digits;
    }
    return *i = j, j <= n;
}

/*
 * Whether len bytes are one JSON value (RFC 8259 syntax, any depth, no allocation unless
 * deeper than 64). The envelope embeds the payload column's text as JSON: jsonb and json
 * always are, a text or bytea column need not be.
 */
static bool json_text_valid(const char *s, size_t n)
{
    char fixed[64], *open = fixed; /* the closer of each open container */
    size_t depth = 0, cap = sizeof fixed, i = 0;
    bool ok = false;

    for (;;) {
        /* A value. */
        i += span(s, i, n, " \t\r\n");
        if (i >= n)
            goto out;
        if (s[i] == '{' || s[i] == '[') {
            if (depth == cap) {
                char *grown = realloc(open == fixed ? NULL : open, cap * 2);
                if (grown == NULL)
                    goto out;
                if (open == fixed)
                    memcpy(grown, fixed, sizeof fixed);
                open = grown, cap *= 2;
            }
            open[depth++] = s[i] == '{' ? '}' : ']';
            i += 1 + span(s, i + 1, n, " \t\r\n");
            if (i < n && s[i] == open[depth - 1]) {
                depth--, i++;
            } else if (open[depth - 1] == '}') {
                goto member;
            } else {
                continue;
            }
        } else if (!(s[i] == '"' ? json_skip_string(s, n, &i) : json_skip_scalar(s, n, &i))) {
            goto out;
        }
        /* After a value: the end, a comma or a closer. */
        for (;;) {
            i += span(s, i, n, " \t\r\n");
            if (depth == 0) {
                ok = i == n;
                goto out;
            }
            if (i >= n)
                goto out;
            if (s[i] == open[depth - 1]) {
                depth--, i++;
                continue;
            }
            if (s[i++] != ',')
                goto out;
            if (open[depth - 1] == ']')
                break;
        member:
            i += span(s, i, n, " \t\r\n");
            if (i >= n || s[i] != '"' || !json_skip_string(s, n, &i))
                goto out;
            i += span(s, i, n, " \t\r\n");
            if (i >= n || s[i++] != ':')
                goto out;
            break;
        }
    }
out:
    if (open != fixed)
        free(open);
    return ok;
}

/* The text of an optional role's column, or NULL when the table has none or it is NULL. */
static const event_value *text_of(const event_mapper *m, const event_row *row, int role)
{
    return m->col[role] >= 0 && row->values[m->col[role]].data != NULL ? &row->values[m->col[role]]
                                                                       : NULL;
}

/* Appends the value of the header that says where the event comes from: its position, or
 * for a re-published row the backfill job. */
static size_t add_origin(event_mapper *m, relay_lsn commit_lsn, uint32_t index,
                         event_header *h)
{
    char pos[LSN_POSITION_LEN + 1];

    if (m->replay_job != NULL) {
        *h = (event_header){EVENT_HDR_REPLAY, NULL, strlen(m->replay_job)};
        return sb_add(&m->sb, m->replay_job, h->value_len);
    }
    snprintf(pos, sizeof pos, LSN_POSITION_FMT, LSN_POSITION_ARGS(commit_lsn, index));
    *h = (event_header){EVENT_HDR_POSITION, NULL, strlen(pos)};
    return sb_add(&m->sb, pos, h->value_len);
}

/*
 * A row that cannot become a record still has to be dead-lettered (schemas.on_invalid), so
 * this keeps what it offers: key and payload as stored (NULL when NULL), id and type when
 * present, the topic when it was computed (has_topic: a NUL-terminated name at topic_off in
 * the scratch buffer), the position and aggregate type headers, the commit time. Appends to
 * the scratch buffer; errbuf keeps the reason. Returns EVENT_BAD_ROW, or -1 out of memory.
 */
static int salvage(event_mapper *m, const event_row *row, relay_lsn commit_lsn, uint32_t index,
                   bool has_topic, size_t topic_off, event *out, char *errbuf, size_t errbuf_size)
{
    scratch *sb = &m->sb;
    const event_value *id = text_of(m, row, COL_ID), *key = text_of(m, row, COL_AGGREGATE_ID);
    const event_value *type = text_of(m, row, COL_EVENT_TYPE);
    const event_value *payload = text_of(m, row, COL_PAYLOAD);
    const event_value *agg = text_of(m, row, COL_AGGREGATE_TYPE);
    const event_value *version = text_of(m, row, COL_VERSION);
    size_t empty_off, key_off = 0, value_off = 0, id_off, type_off, version_off = 0, origin_off;
    size_t hval_off[4];
    event_header origin;

    memset(out, 0, offsetof(event, headers));
    empty_off = sb_add(sb, "", 0);
    if (key != NULL)
        key_off = sb_add(sb, key->data, key->len);
    if (payload != NULL)
        value_off = sb_add(sb, payload->data, payload->len);
    id_off = id != NULL ? sb_add(sb, id->data, id->len) : empty_off;
    type_off = type != NULL ? sb_add(sb, type->data, type->len) : empty_off;
    if (version != NULL)
        version_off = sb_add(sb, version->data, version->len);
    origin_off = add_origin(m, commit_lsn, index, &origin);
    out->nheaders = 0;
    if (id != NULL) {
        out->headers[out->nheaders] = (event_header){EVENT_HDR_ID, NULL, id->len};
        hval_off[out->nheaders++] = id_off;
    }
    if (type != NULL) {
        out->headers[out->nheaders] = (event_header){EVENT_HDR_TYPE, NULL, type->len};
        hval_off[out->nheaders++] = type_off;
    }
    out->headers[out->nheaders] = origin;
    hval_off[out->nheaders++] = origin_off;
    if (agg != NULL) {
        out->headers[out->nheaders] = (event_header){EVENT_HDR_AGGREGATE_TYPE, NULL, agg->len};
        hval_off[out->nheaders++] = sb_add(sb, agg->data, agg->len);
    }
    if (sb->failed) {
        snprintf(errbuf, errbuf_size, "out of memory while mapping an event");
        return -1;
    }
    out->topic = sb->buf + (has_topic ? topic_off : empty_off);
    out->key = key != NULL ? sb->buf + key_off : NULL;
    out->key_len = key != NULL ? key->len : 0;
    out->value = out->payload = payload != NULL ? sb->buf + value_off : NULL;
    out->value_len = out->payload_len = payload != NULL ? payload->len : 0;
    out->id = sb->buf + id_off;
    out->type = sb->buf + type_off;
    out->version = version != NULL ? sb->buf + version_off : NULL;
    out->version_len = version != NULL ? version->len : 0;
    out->timestamp_ms = row->commit_time_us / 1000;
    out->commit_lsn = commit_lsn;
    out->index = index;
    for (int i = 0; i < out->nheaders; i++)
        out->headers[i].value = sb->buf + hval_off[i];
    return EVENT_BAD_ROW;
}

int event_map(event_mapper *m, const event_row *row, relay_lsn commit_lsn, uint32_t index,
              event *out, char *errbuf, size_t errbuf_size)
{
    const event_value *id, *key, *type, *payload, *version;
    const event_value *headers;
    size_t topic_off, key_off, id_off, type_off, value_off, value_len;
    size_t payload_off, version_off = 0;
    int64_t time_us = row->commit_time_us;
    shape_facts facts;
    size_t name_off[EVENT_MAX_HEADERS], hval_off[EVENT_MAX_HEADERS];
    scratch *sb = &m->sb;

    if ((!m->bound || m->bound_shape != row->shape) && bind(m, row, errbuf, errbuf_size) != 0)
        return -1;
    memset(out, 0, offsetof(event, headers));
    sb->len = 0;
    sb->failed = false;
    if ((id = required(m, row, COL_ID, errbuf, errbuf_size)) == NULL ||
        (key = required(m, row, COL_AGGREGATE_ID, errbuf, errbuf_size)) == NULL ||
        (type = required(m, row, COL_EVENT_TYPE, errbuf, errbuf_size)) == NULL ||
        (payload = required(m, row, COL_PAYLOAD, errbuf, errbuf_size)) == NULL)
        return salvage(m, row, commit_lsn, index, false, 0, out, errbuf, errbuf_size);
    version = text_of(m, row, COL_VERSION);

    /* Topic: literal parts and column values, validated as a Kafka topic name. */
    topic_off = sb->len;
    for (int i = 0; i < m->nparts; i++) {
        const tmpl_part *part = &m->parts[i];
        if (!part->is_column || part->col < 0) {
            const char *text = !part->is_column            ? part->text
                               : part->col == TMPL_SCHEMA ? row->nspname
                                                          : row->relname;
            sb_cat(sb, text, strlen(text));
            continue;
        }
        const event_value *v = &row->values[part->col];
        if (v->data == NULL) {
            snprintf(errbuf, errbuf_size, "outbox.topic: column \"%s\" is NULL in event %.*s",
                     part->text, (int)id->len, id->data);
            return salvage(m, row, commit_lsn, index, false, 0, out, errbuf, errbuf_size);
        }
        sb_cat(sb, v->data, v->len);
    }
    if (!sb_reserve(sb, 1) || sb->failed)
        goto oom;
    if (!event_topic_legal(sb->buf + topic_off, sb->len - topic_off)) {
        snprintf(errbuf, errbuf_size,
                 "event %.*s: topic \"%.*s\" is not a legal Kafka topic name (1-249 of "
                 "[A-Za-z0-9._-])",
                 (int)id->len, id->data, (int)(sb->len - topic_off), sb->buf + topic_off);
        sb->buf[sb->len++] = '\0';
        return salvage(m, row, commit_lsn, index, true, topic_off, out, errbuf, errbuf_size);
    }
    sb->buf[sb->len++] = '\0';

    key_off = sb_add(sb, key->data, key->len);
    id_off = sb_add(sb, id->data, id->len);
    type_off = sb_add(sb, type->data, type->len);
    if (version != NULL)
        version_off = sb_add(sb, version->data, version->len);

    /* Value: the payload as stored (jsonb text is already valid JSON), or the envelope. */
    value_off = payload_off = sb->len;
    if (m->cfg->outbox.value == CONFIG_VALUE_ENVELOPE) {
        if (!json_text_valid(payload->data, payload->len)) {
            snprintf(errbuf, errbuf_size,
                     "event %.*s: column \"%s\" is not JSON, which outbox.value = \"envelope\" "
                     "requires (a text or bytea column holds any text)",
                     (int)id->len, id->data, m->cfg->outbox.columns.payload);
            return salvage(m, row, commit_lsn, index, true, topic_off, out, errbuf, errbuf_size);
        }
        if (!sb_cat(sb, "{\"event_id\":", 12) || !sb_cat_json_string(sb, id->data, id->len) ||
            !sb_cat(sb, ",\"type\":", 8) || !sb_cat_json_string(sb, type->data, type->len) ||
            !sb_cat(sb, ",\"payload\":", 11))
            goto oom;
        payload_off = sb->len;
        if (!sb_cat(sb, payload->data, payload->len) ||
            !shape_envelope_fields(m->shape, sb, row) || !sb_cat(sb, "}", 1))
            goto oom;
    } else if (m->cfg->outbox.value == CONFIG_VALUE_PAYLOAD &&
               !sb_cat(sb, payload->data, payload->len)) {
        goto oom;
    }
    value_len = sb->len - value_off;
    if (!sb_cat(sb, "", 1))
        goto oom;

    /* Fixed headers (static names); values are offsets until the buffer stops moving. */
    out->headers[0] = (event_header){EVENT_HDR_ID, NULL, id->len};
    hval_off[0] = id_off;
    out->headers[1] = (event_header){EVENT_HDR_TYPE, NULL, type->len};
    hval_off[1] = type_off;
    hval_off[2] = add_origin(m, commit_lsn, index, &out->headers[2]);
    out->nheaders = 3;
    {
        const event_value *agg = text_of(m, row, COL_AGGREGATE_TYPE);
        if (agg != NULL) {
            out->headers[3] = (event_header){EVENT_HDR_AGGREGATE_TYPE, NULL, agg->len};
            hval_off[3] = sb_add(sb, agg->data, agg->len);
            out->nheaders = 4;
        }
    }
    headers = text_of(m, row, COL_HEADERS);
    if (headers != NULL &&
        add_row_headers(m, headers, out, name_off, hval_off, errbuf, errbuf_size) != 0)
        return salvage(m, row, commit_lsn, index, true, topic_off, out, errbuf, errbuf_size);

    if (m->col[COL_CREATED_AT] >= 0) {
        const event_value *v = &row->values[m->col[COL_CREATED_AT]];
        int64_t us = 0;
        civil c;
        bool ok = v->data != NULL && parse_civil(v->data, v->len, &c);

        if (ok && (c.zoned || !m->local_zone))
            us = civil_utc_us(&c);
        else if (ok)
            ok = local_utc_us(&c, &us);
        if (!ok) {
            snprintf(errbuf, errbuf_size, "event %.*s: column \"%s\" is not a timestamp",
                     (int)id->len, id->data, m->cfg->outbox.columns.created_at);
            return salvage(m, row, commit_lsn, index, true, topic_off, out, errbuf, errbuf_size);
        }
        out->timestamp_ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
        time_us = us;
    } else {
        out->timestamp_ms = row->commit_time_us / 1000;
    }

    /* outbox.fields headers, CloudEvents: the value then the headers (value_off, payload_off). */
    facts = (shape_facts){id->data, type->data, key->data, payload->data, id->len, type->len,
                          key->len, payload->len, false, time_us};
    if (m->cfg->outbox.value == CONFIG_VALUE_ENVELOPE)
        facts.payload_json = true; /* checked above: the envelope needs it */
    else if (m->cfg->outbox.value == CONFIG_VALUE_CLOUDEVENTS || m->cfg->outbox.cloudevents_headers)
        facts.payload_json = json_text_valid(payload->data, payload->len);
    if (m->cfg->outbox.value == CONFIG_VALUE_CLOUDEVENTS) {
        if (!shape_cloudevent(m->shape, sb, row, &facts, &value_off, &value_len))
            goto oom;
        payload_off = sb_add(sb, payload->data, payload->len);
    }
    if (shape_headers(m->shape, sb, row, &facts, out, hval_off, errbuf, errbuf_size) != 0)
        return salvage(m, row, commit_lsn, index, true, topic_off, out, errbuf, errbuf_size);

    if (sb->failed)
        goto oom;

    out->topic = sb->buf + topic_off;
    out->key = sb->buf + key_off;
    out->key_len = key->len;
    out->id = sb->buf + id_off;
    out->type = sb->buf + type_off;
    out->value = sb->buf + value_off;
    out->value_len = value_len;
    out->payload = sb->buf + payload_off;
    out->payload_len = payload->len;
    out->version = version != NULL ? sb->buf + version_off : NULL;
    out->version_len = version != NULL ? version->len : 0;
    out->commit_lsn = commit_lsn;
    out->index = index;
    for (int i = 0; i < out->nheaders; i++) {
        if (out->headers[i].name == NULL)
            out->headers[i].name = sb->buf + name_off[i];
        out->headers[i].value = sb->buf + hval_off[i];
    }
    return 0;
oom:
    snprintf(errbuf, errbuf_size, "out of memory while mapping an event");
    return -1;
}
