#include "record.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "event.h"

void record_format_time(int64_t us, char *buf, size_t size)
{
    int64_t s = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    time_t t = (time_t)s;
    struct tm tm;

    /* Four-digit years, so that backfill_parse_time reads every output back. */
    gmtime_r(&t, &tm);
    /* gmtime_r keeps the fields in range; the unsigned % says so to GCC, whose Release
     * builds otherwise count 11 digits a field and fail on -Wformat-truncation (at most 38
     * bytes with an 11-character year). */
    snprintf(buf, size, "%04d-%02u-%02u %02u:%02u:%02u.%06u+00", tm.tm_year + 1900,
             (unsigned)tm.tm_mon % 12u + 1, (unsigned)tm.tm_mday % 32u,
             (unsigned)tm.tm_hour % 24u, (unsigned)tm.tm_min % 60u, (unsigned)tm.tm_sec % 61u,
             (unsigned)(us - s * 1000000) % 1000000u);
}

int record_checkpoint_format(const char *relay, const record_checkpoint *cp, char *buf, size_t size)
{
    return snprintf(buf, size,
                    "{\"relay\":\"%s\",\"end_lsn\":\"" LSN_FMT "\",\"commit_lsn\":\"" LSN_FMT
                    "\",\"index\":%" PRIu32 ",\"system_id\":\"%s\",\"timeline\":%" PRIu32
                    ",\"slot\":\"%s\"}",
                    relay, LSN_ARGS(cp->pos.end_lsn), LSN_ARGS(cp->pos.commit_lsn), cp->pos.index,
                    cp->system_id, cp->timeline, cp->slot);
}

int record_checkpoint_parse(const char *json, size_t len, record_checkpoint *out, char *errbuf,
                            size_t errbuf_size)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, 0, &jerr);
    const char *end = NULL, *commit = NULL, *sysid = "", *slot = "";
    json_int_t index = -1, timeline = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (doc == NULL) {
        snprintf(errbuf, errbuf_size, "checkpoint record is not JSON: %s", jerr.text);
        return -1;
    }
    if (json_unpack_ex(doc, &jerr, 0, "{s:s, s:s, s:I, s?s, s?s, s?I}", "end_lsn", &end,
                       "commit_lsn", &commit, "index", &index, "system_id", &sysid, "slot", &slot,
                       "timeline", &timeline) != 0) {
        snprintf(errbuf, errbuf_size, "checkpoint record: %s", jerr.text);
        goto out;
    }
    if (!lsn_parse(end, &out->pos.end_lsn) || !lsn_parse(commit, &out->pos.commit_lsn) ||
        index < 0 || index > UINT32_MAX || timeline < 0 || timeline > UINT32_MAX) {
        snprintf(errbuf, errbuf_size,
                 "checkpoint record: bad end_lsn, commit_lsn, index or timeline");
        goto out;
    }
    out->pos.index = (uint32_t)index;
    out->timeline = (uint32_t)timeline;
    snprintf(out->system_id, sizeof out->system_id, "%s", sysid);
    snprintf(out->slot, sizeof out->slot, "%s", slot);
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

int record_job_format(const char *relay, const char *job, const record_job *j, char *buf,
                      size_t size)
{
    const record_selection *s = &j->sel;
    char started[40], t[40];
    json_t *o;
    int rc = -1, bad = 0;
    size_t n;

    record_format_time(j->started_us, started, sizeof started);
    /* json_pack fails on strings that are not UTF-8 (options are checked for it). */
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:b}", "relay", relay, "job", job,
                  "topic", j->topic, "max_id", j->max_id, "cursor", j->cursor, "published",
                  (json_int_t)j->published, "dead_lettered", (json_int_t)j->dead_lettered,
                  "started", started, "done", j->done);
    if (o == NULL)
        return -1;
    if (s->has_from_id)
        bad |= json_object_set_new(o, "from_id", json_integer(s->from_id));
    if (s->has_to_id)
        bad |= json_object_set_new(o, "to_id", json_integer(s->to_id));
    if (s->has_since) {
        record_format_time(s->since_us, t, sizeof t);
        bad |= json_object_set_new(o, "since", json_string(t));
    }
    if (s->has_until) {
        record_format_time(s->until_us, t, sizeof t);
        bad |= json_object_set_new(o, "until", json_string(t));
    }
    if (s->has_event_type)
        bad |= json_object_set_new(o, "event_type", json_string(s->event_type));
    if (s->has_aggregate_id)
        bad |= json_object_set_new(o, "aggregate_id", json_string(s->aggregate_id));
    if (s->has_table)
        bad |= json_object_set_new(o, "table", json_string(s->table));
    if (bad)
        goto out;
    n = json_dumpb(o, buf, size, JSON_COMPACT);
    if (n == 0 || n >= size)
        goto out;
    buf[n] = '\0';
    rc = (int)n;
out:
    json_decref(o);
    return rc;
}

/* Copies a string member of o into a fixed buffer; false when it is too long. */
static bool copy_member(json_t *o, const char *key, char *dst, size_t size, bool *has)
{
    json_t *v = json_object_get(o, key);

    if (has != NULL)
        *has = v != NULL;
    if (v == NULL)
        return has != NULL;
    if (!json_is_string(v) || json_string_length(v) >= size ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

int record_job_parse(const char *json, size_t len, record_job *out, char *errbuf,
                     size_t errbuf_size)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, 0, &jerr);
    record_selection *s = &out->sel;
    json_int_t published = 0, dead = 0, from = 0, to = 0;
    int done = 0;
    char since[64] = "", until[64] = "", started[64] = "";
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (doc == NULL) {
        snprintf(errbuf, errbuf_size, "job record is not JSON: %s", jerr.text);
        return -1;
    }
    if (json_unpack_ex(doc, &jerr, 0, "{s:I, s:b, s?I, s?I, s?I}", "published", &published, "done",
                       &done, "dead_lettered", &dead, "from_id", &from, "to_id", &to) != 0) {
        snprintf(errbuf, errbuf_size, "job record: %s", jerr.text);
        goto out;
    }
    s->has_from_id = json_object_get(doc, "from_id") != NULL;
    s->has_to_id = json_object_get(doc, "to_id") != NULL;
    s->from_id = from;
    s->to_id = to;
    if (!copy_member(doc, "topic", out->topic, sizeof out->topic, NULL) ||
        !copy_member(doc, "max_id", out->max_id, sizeof out->max_id, NULL) ||
        !copy_member(doc, "cursor", out->cursor, sizeof out->cursor, NULL) ||
        !copy_member(doc, "started", started, sizeof started, NULL) ||
        !copy_member(doc, "since", since, sizeof since, &s->has_since) ||
        !copy_member(doc, "until", until, sizeof until, &s->has_until) ||
        !copy_member(doc, "event_type", s->event_type, sizeof s->event_type, &s->has_event_type) ||
        !copy_member(doc, "aggregate_id", s->aggregate_id, sizeof s->aggregate_id,
                     &s->has_aggregate_id) ||
        !copy_member(doc, "table", s->table, sizeof s->table, &s->has_table)) {
        snprintf(errbuf, errbuf_size, "job record: a member is missing, not a string or too long");
        goto out;
    }
    /* Stored times are always absolute. */
    if (!event_parse_time(started, strlen(started), &out->started_us) ||
        (s->has_since && !event_parse_time(since, strlen(since), &s->since_us)) ||
        (s->has_until && !event_parse_time(until, strlen(until), &s->until_us)) || published < 0 ||
        dead < 0 || dead > published) {
        snprintf(errbuf, errbuf_size,
                 "job record: bad started, since, until, published or dead_lettered");
        goto out;
    }
    out->published = (uint64_t)published;
    out->dead_lettered = (uint64_t)dead;
    out->done = done != 0;
    rc = 0;
out:
    json_decref(doc);
    return rc;
}
