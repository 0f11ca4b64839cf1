#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonread.h"
#include "schema.h"

#define MIN_MARKS 32 /* refused positions remembered at least; a ring, oldest replaced */

typedef enum { RULE_ALLOW, RULE_DEAD_LETTER, RULE_STOP } rule;

typedef struct mark {
    relay_lsn commit_lsn;
    uint32_t index;
    policy_reason reason;
    char error[160]; /* the broker's answer */
} mark;

/* Keeps pointers into the config's strings (dir, version_header, dead_letter.topic). */
struct policy {
    schema_registry *reg;    /* NULL: no schemas.dir, nothing to check */
    jsonread_reader *reader; /* parses each event, reusing the previous one's values */
    int nschemas;
    const char *dir;
    rule on_invalid, on_unknown;
    bool check_value;           /* schemas.applies_to = "value" */
    const char *version_header; /* NULL when the version comes from a column, or nowhere */
    const char *dead_letter_topic;
    mark *marks; /* grown on demand up to max_marks */
    int nmarks, next_mark, max_marks;
    char omitted[24]; /* POLICY_HDR_OMITTED's value of the last dead-letter record */
};

policy *policy_new(const relay_config *cfg, char *errbuf, size_t errbuf_size)
{
    policy *r = calloc(1, sizeof(*r));
    char why[1024];
    int n;

    if (r == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    r->dir = cfg->schemas.dir;
    r->on_invalid =
        cfg->schemas.on_invalid == CONFIG_ON_INVALID_STOP ? RULE_STOP : RULE_DEAD_LETTER;
    r->on_unknown = cfg->schemas.on_unknown_type == CONFIG_ON_UNKNOWN_STOP ? RULE_STOP
                    : cfg->schemas.on_unknown_type == CONFIG_ON_UNKNOWN_DEAD_LETTER
                        ? RULE_DEAD_LETTER
                        : RULE_ALLOW;
    r->check_value = cfg->schemas.applies_to == CONFIG_APPLIES_TO_VALUE;
    r->version_header = cfg->schemas.version_header[0] ? cfg->schemas.version_header : NULL;
    r->dead_letter_topic = cfg->dead_letter.topic;
    r->max_marks = cfg->batch.max_events > MIN_MARKS ? cfg->batch.max_events : MIN_MARKS;
    if (r->dir[0] == '\0')
        return r;
    r->reg =
        schema_registry_new(cfg->schemas.draft == CONFIG_DRAFT_7 ? SCHEMA_DRAFT7 : SCHEMA_DRAFT2020,
                            cfg->schemas.format_assert);
    r->reader = jsonread_new();
    if (r->reg == NULL || r->reader == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto fail;
    }
    n = schema_registry_load_dir(r->reg, r->dir, why, sizeof why);
    if (n < 0) {
        snprintf(errbuf, errbuf_size,
                 "schemas.dir: %s (outbox-relay schema check %s lists every problem)", why, r->dir);
        goto fail;
    }
    if (n == 0) {
        snprintf(errbuf, errbuf_size,
                 "schemas.dir \"%s\" holds no *.json schema: add one per event type "
                 "(OrderCreated.json), or set schemas.dir = \"\" to check none",
                 r->dir);
        goto fail;
    }
    r->nschemas = n;
    return r;
fail:
    policy_free(r);
    return NULL;
}

void policy_free(policy *r)
{
    if (r == NULL)
        return;
    jsonread_free(r->reader);
    schema_registry_free(r->reg);
    free(r->marks);
    free(r);
}

int policy_schema_count(const policy *r)
{
    return r->nschemas;
}

const char *policy_reason_name(policy_reason reason)
{
    switch (reason) {
    case POLICY_VALID:
        return "valid";
    case POLICY_INVALID:
        return "invalid";
    case POLICY_UNKNOWN_TYPE:
        return "unknown_type";
    case POLICY_BAD_ROW:
        return "bad_row";
    case POLICY_REJECTED:
        return "rejected";
    default:
        return "too_large";
    }
}

static policy_action act(rule p)
{
    return p == RULE_STOP          ? POLICY_STOP
           : p == RULE_DEAD_LETTER ? POLICY_DEAD_LETTER
                                   : POLICY_PUBLISH;
}

void policy_refused(policy *r, policy_reason reason, const char *error, policy_verdict *v)
{
    v->action = act(r->on_invalid);
    v->reason = reason;
    v->schema[0] = '\0';
    snprintf(v->error, sizeof v->error, "%s", error);
}

static const mark *marked(const policy *r, relay_lsn commit_lsn, uint32_t index)
{
    for (int i = 0; i < r->nmarks; i++)
        if (r->marks[i].commit_lsn == commit_lsn && r->marks[i].index == index)
            return &r->marks[i];
    return NULL;
}

bool policy_mark(policy *r, relay_lsn commit_lsn, uint32_t index, policy_reason reason,
                 const char *error)
{
    mark *m;

    if (marked(r, commit_lsn, index) != NULL)
        return false;
    if (r->next_mark == r->nmarks && r->nmarks < r->max_marks) {
        /* Grown one at a time: marks are rare, and a batch needs at most one per event. */
        mark *grown = realloc(r->marks, sizeof(*grown) * (size_t)(r->nmarks + 1));
        if (grown == NULL)
            return false; /* the caller stops rather than loops */
        r->marks = grown;
        r->nmarks++;
    }
    m = &r->marks[r->next_mark];
    *m = (mark){.commit_lsn = commit_lsn, .index = index, .reason = reason};
    snprintf(m->error, sizeof m->error, "%s", error);
    r->next_mark = (r->next_mark + 1) % r->max_marks;
    return true;
}

/* The verdict on an event the broker refused at an earlier commit (policy_mark). */
static void refused_before(policy *r, const event *ev, const mark *m, policy_verdict *v)
{
    char error[sizeof v->error], when[48] = "";
    time_t secs = (time_t)(ev->timestamp_ms / 1000);
    struct tm tm;

    if (m->reason == POLICY_TOO_LARGE) {
        policy_refused(r, POLICY_TOO_LARGE,
                       "the Kafka broker refused the record as too large (its message.max.bytes "
                       "or the topic's max.message.bytes is below the producer's)",
                       v);
        return;
    }
    /* The record's timestamp in UTC: a created_at without time zone written by a session
     * in another one is read as UTC, hours off, and that is what the broker saw. */
    if (ev->timestamp_ms != 0 && gmtime_r(&secs, &tm) != NULL)
        strftime(when, sizeof when, " (record timestamp %Y-%m-%dT%H:%M:%SZ)", &tm);
    snprintf(error, sizeof error, "the Kafka broker refused the record: %s%s", m->error, when);
    policy_refused(r, m->reason, error, v);
}

/*
 * The event's schema version: from the column or the header, "2" or "v2". Returns 0 when it
 * has none, the version, or -1 when the text is not a version.
 */
static int event_version(const policy *r, const event *ev, const char **text, size_t *len)
{
    long v = 0;
    size_t i = 0;

    *text = ev->version;
    *len = ev->version_len;
    if (r->version_header != NULL) {
        *text = NULL;
        for (int h = 0; h < ev->nheaders; h++)
            if (strcmp(ev->headers[h].name, r->version_header) == 0) {
                *text = ev->headers[h].value;
                *len = ev->headers[h].value_len;
            }
    }
    if (*text == NULL || *len == 0)
        return 0;
    if ((*text)[0] == 'v' || (*text)[0] == 'V')
        i = 1;
    if (i == *len)
        return -1;
    for (; i < *len; i++) {
        if (!isdigit((unsigned char)(*text)[i]) || v > 1000000)
            return -1;
        v = v * 10 + ((*text)[i] - '0');
    }
    return v > 0 && v <= 1000000 ? (int)v : -1;
}

static void unknown(policy *r, policy_verdict *v)
{
    v->action = act(r->on_unknown);
    v->reason = POLICY_UNKNOWN_TYPE;
}

void policy_event(policy *r, const event *ev, policy_verdict *v)
{
    const schema *s;
    const mark *m;
    const char *vtext;
    size_t vlen;
    int version, found = 0, rc;
    json_t *inst;
    json_error_t jerr;

    v->action = POLICY_PUBLISH;
    v->reason = POLICY_VALID;
    v->schema[0] = v->error[0] = '\0';
    if (r->nmarks > 0 && (m = marked(r, ev->commit_lsn, ev->index)) != NULL) {
        refused_before(r, ev, m, v);
        return;
    }
    if (r->reg == NULL)
        return;
    version = event_version(r, ev, &vtext, &vlen);
    if (version < 0) {
        unknown(r, v);
        snprintf(v->error, sizeof v->error,
                 "event type \"%s\": version \"%.*s\" is not a schema version (2 or v2)", ev->type,
                 (int)vlen, vtext);
        return;
    }
    s = schema_registry_lookup(r->reg, ev->type, version, &found);
    if (s == NULL) {
        unknown(r, v);
        if (version > 0)
            snprintf(v->error, sizeof v->error,
                     "no schema for event type \"%s\" version %d in \"%s\" (%s.v%d.json)", ev->type,
                     version, r->dir, ev->type, version);
        else
            snprintf(v->error, sizeof v->error,
                     "no schema for event type \"%s\" in \"%s\" (%s.json)", ev->type, r->dir,
                     ev->type);
        return;
    }
    inst = r->check_value ? jsonread_next(r->reader, ev->value, ev->value_len, &jerr)
                          : jsonread_next(r->reader, ev->payload, ev->payload_len, &jerr);
    if (inst == NULL) {
        /* Not JSON (a payload column of type text): as invalid as it gets. */
        snprintf(v->error, sizeof v->error, "not JSON: %d:%d: %s", jerr.line, jerr.column,
                 jerr.text);
        rc = 1;
    } else {
        rc = schema_validate(s, inst, v->error, sizeof v->error);
    }
    /* The schema's name only matters for a record that is not published as is: formatting
     * it for every valid event would cost as much as validating a small one. */
    if (rc == 0)
        return;
    if (found > 0)
        snprintf(v->schema, sizeof v->schema, "%s.v%d.json", ev->type, found);
    else
        snprintf(v->schema, sizeof v->schema, "%s.json", ev->type);
    /* rc < 0: validation itself failed (a regex engine limit, a "$ref" loop); the event is
     * not known to be valid, so it is treated as invalid, with that reason. */
    v->action = act(r->on_invalid);
    v->reason = POLICY_INVALID;
}

void policy_dead_letter(policy *r, const event *ev, const policy_verdict *v, bool omit_value,
                        event *out)
{
    int n = 0;

    omit_value = omit_value || v->reason == POLICY_TOO_LARGE;
    memset(out, 0, offsetof(event, headers));
    out->topic = r->dead_letter_topic;
    out->key = ev->key;
    out->key_len = ev->key_len;
    if (!omit_value && ev->value != NULL) {
        out->value = out->payload = ev->value;
        out->value_len = out->payload_len = ev->value_len;
    }
    out->version = ev->version;
    out->version_len = ev->version_len;
    out->id = ev->id;
    out->type = ev->type;
    out->timestamp_ms = v->reason == POLICY_REJECTED ? 0 : ev->timestamp_ms;
    out->commit_lsn = ev->commit_lsn;
    out->index = ev->index;
    out->headers[n++] = (event_header){POLICY_HDR_REASON, policy_reason_name(v->reason),
                                       strlen(policy_reason_name(v->reason))};
    out->headers[n++] = (event_header){POLICY_HDR_ERROR, v->error, strlen(v->error)};
    out->headers[n++] = (event_header){POLICY_HDR_SCHEMA, v->schema, strlen(v->schema)};
    out->headers[n++] = (event_header){POLICY_HDR_TOPIC, ev->topic ? ev->topic : "",
                                       ev->topic ? strlen(ev->topic) : 0};
    if (omit_value && ev->value != NULL) {
        snprintf(r->omitted, sizeof r->omitted, "%zu", ev->value_len);
        out->headers[n++] = (event_header){POLICY_HDR_OMITTED, r->omitted, strlen(r->omitted)};
    }
    /* The event's own headers after ours: a row with EVENT_MAX_HEADERS headers loses its
     * last few here rather than the reason. */
    for (int i = 0; i < ev->nheaders && n < EVENT_MAX_HEADERS; i++)
        out->headers[n++] = ev->headers[i];
    out->nheaders = n;
}

void policy_describe(const policy *r, const event *ev, const policy_verdict *v, const char *resume,
                     char *buf, size_t size)
{
    const char *fix;
    char used[300] = "";

    if (v->schema[0] != '\0')
        snprintf(used, sizeof used, " (schema %s)", v->schema);
    if (v->action != POLICY_STOP) {
        snprintf(buf, size, "event %s of type %s at " LSN_FMT ":%u%s: %s: %s; sent to %s", ev->id,
                 ev->type, LSN_ARGS(ev->commit_lsn), ev->index, used, policy_reason_name(v->reason),
                 v->error, v->action == POLICY_DEAD_LETTER ? r->dead_letter_topic : ev->topic);
        return;
    }
    switch (v->reason) {
    case POLICY_INVALID:
        fix = "schemas.on_invalid is \"stop\": fix the event's schema in schemas.dir (or set "
              "schemas.on_invalid = \"dead_letter\") and restart";
        break;
    case POLICY_UNKNOWN_TYPE:
        fix = "schemas.on_unknown_type is \"stop\": add its schema to schemas.dir (or set "
              "schemas.on_unknown_type to \"allow\" or \"dead_letter\") and restart";
        break;
    case POLICY_BAD_ROW:
        fix = "schemas.on_invalid is \"stop\": fix the mapping (outbox.topic, outbox.columns) "
              "or set schemas.on_invalid = \"dead_letter\", and restart";
        break;
    case POLICY_REJECTED:
        fix = "schemas.on_invalid is \"stop\": make the record acceptable to the broker (an "
              "INVALID_TIMESTAMP is a created_at outside the topic's "
              "message.timestamp.before.max.ms/after.max.ms: store it as timestamptz, or widen "
              "those), or set schemas.on_invalid = \"dead_letter\", and restart";
        break;
    default:
        fix = "schemas.on_invalid is \"stop\": raise kafka.properties.message_max_bytes and the "
              "topic's max.message.bytes, or set schemas.on_invalid = \"dead_letter\", and "
              "restart";
        break;
    }
    snprintf(buf, size, "%s: %s (event %s of type %s at " LSN_FMT ":%u%s); %s: %s",
             policy_reason_name(v->reason), v->error, ev->id[0] ? ev->id : "?",
             ev->type[0] ? ev->type : "?", LSN_ARGS(ev->commit_lsn), ev->index, used, fix, resume);
}
