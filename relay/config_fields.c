#include "config_fields.h"

#include "event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLUMN_MAX 63 /* a Postgres identifier */
#define NAME_MAX_BYTES 249

static bool say(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool say(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && err_size > 0) {
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return false;
}

void config_fields_free(config_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(fields[i].column);
        free(fields[i].name);
    }
    free(fields);
}

/* Printable ASCII or UTF-8, no control characters: a name a header or JSON member can have. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Checks one entry (column, placement text, name or NULL) and appends it to the list. */
static bool add(const char *where, size_t i, const char *column, const char *placement,
                const char *name, config_field **fields, size_t *n, char *err, size_t err_size)
{
    config_field f = {0};
    config_field *grown;

    if (column == NULL || column[0] == '\0' || strlen(column) > COLUMN_MAX || !printable(column))
        return say(err, err_size,
                   "%s[%zu]: column: expected a column name of 1-%d bytes without control "
                   "characters",
                   where, i, COLUMN_MAX);
    if (placement == NULL)
        return say(err, err_size,
                   "%s[%zu]: placement is missing: set placement = \"header\" or \"envelope\"",
                   where, i);
    if (strcmp(placement, "header") == 0)
        f.placement = CONFIG_PLACE_HEADER;
    else if (strcmp(placement, "envelope") == 0)
        f.placement = CONFIG_PLACE_ENVELOPE;
    else if (!printable(placement) || strchr(placement, '"') != NULL)
        return say(err, err_size, "%s[%zu]: placement: expected \"header\" or \"envelope\"",
                   where, i);
    else
        return say(err, err_size,
                   "%s[%zu]: placement: expected \"header\" or \"envelope\", got \"%.40s\"",
                   where, i, placement);
    if (name == NULL || name[0] == '\0')
        name = column;
    if (strlen(name) > NAME_MAX_BYTES || !printable(name))
        return say(err, err_size,
                   "%s[%zu]: name: expected 1-%d bytes without control characters", where, i,
                   NAME_MAX_BYTES);
    for (size_t j = 0; j < *n; j++)
        if ((*fields)[j].placement == f.placement && strcmp((*fields)[j].name, name) == 0)
            return say(err, err_size, "%s[%zu]: the %s name \"%s\" is already given by entry %zu",
                       where, i, placement, name, j);
    grown = realloc(*fields, (*n + 1) * sizeof(*grown));
    if (grown == NULL)
        return say(err, err_size, "out of memory");
    *fields = grown;
    f.column = strdup(column);
    f.name = strdup(name);
    grown[*n] = f;
    (*n)++;
    if (f.column == NULL || f.name == NULL)
        return say(err, err_size, "out of memory");
    return true;
}

/* A string member of an entry group into *out (NULL when absent); false when not a string. */
static bool member(const config_setting_t *g, const char *key, const char **out)
{
    const config_setting_t *m = config_setting_get_member(g, key);

    *out = NULL;
    if (m == NULL)
        return true;
    if (config_setting_type(m) != CONFIG_TYPE_STRING)
        return false;
    *out = config_setting_get_string(m);
    return true;
}

bool config_fields_read(const config_setting_t *s, const char *where, config_field **fields,
                        size_t *n, char *err, size_t err_size)
{
    int type = config_setting_type(s);
    int len = config_setting_length(s);

    config_fields_free(*fields, *n);
    *fields = NULL;
    *n = 0;
    /* An empty list may be written [] (an array) or (). */
    if (type == CONFIG_TYPE_ARRAY && len == 0)
        return true;
    if (type != CONFIG_TYPE_LIST)
        return say(err, err_size, "%s: expected %s", where, CONFIG_FIELDS_EXPECT);
    for (int i = 0; i < len; i++) {
        const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
        const char *col, *place, *name;

        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
            return say(err, err_size,
                       "%s[%d]: expected a group { column = \"...\"; placement = \"header\"; }",
                       where, i);
        for (int k = 0; k < config_setting_length(g); k++) {
            const char *key = config_setting_name(config_setting_get_elem(g, (unsigned)k));
            if (strcmp(key, "column") != 0 && strcmp(key, "placement") != 0 &&
                strcmp(key, "name") != 0)
                return say(err, err_size,
                           "%s[%d]: unknown setting \"%s\" (known: column, placement, name)",
                           where, i, key);
        }
        if (!member(g, "column", &col) || !member(g, "placement", &place) ||
            !member(g, "name", &name))
            return say(err, err_size, "%s[%d]: column, placement and name are strings", where,
                       i);
        if (!add(where, (size_t)i, col, place, name, fields, n, err, err_size))
            return false;
    }
    return true;
}

bool config_fields_parse(const char *text, const char *where, config_field **fields, size_t *n,
                         char *err, size_t err_size)
{
    char *copy = strdup(text), *save = NULL;
    size_t i = 0;
    bool ok = true;

    config_fields_free(*fields, *n);
    *fields = NULL;
    *n = 0;
    if (copy == NULL)
        return say(err, err_size, "out of memory");
    for (char *entry = strtok_r(copy, ",", &save); entry != NULL && ok;
         entry = strtok_r(NULL, ",", &save), i++) {
        char *place = strchr(entry, ':'), *name = NULL;

        if (place != NULL) {
            *place++ = '\0';
            if ((name = strchr(place, ':')) != NULL)
                *name++ = '\0';
        }
        ok = add(where, i, entry, place, name, fields, n, err, err_size);
    }
    free(copy);
    return ok;
}

/* Envelope members of each value shape; the relay writes them, a field may not. */
static const char *const envelope_keys[] = {"event_id", "type", "payload", NULL};
static const char *const cloudevent_keys[] = {
    "specversion", "id",         "source", "type", "subject", "time", "datacontenttype",
    "dataschema",  "data_base64", "data",  NULL};
/* Headers every record carries (event.h). */
static const char *const relay_headers[] = {EVENT_HDR_ID, EVENT_HDR_TYPE, EVENT_HDR_AGGREGATE_TYPE,
                                            EVENT_HDR_POSITION, EVENT_HDR_REPLAY, NULL};
/* Headers of the binary content mode. */
static const char *const ce_headers[] = {"content-type", "ce_specversion", "ce_id",
                                         "ce_source", "ce_type", "ce_subject", "ce_time",
                                         "ce_datacontenttype", "ce_dataschema", NULL};

static bool listed(const char *const *names, const char *name)
{
    for (; *names != NULL; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

bool config_fields_relay_header(const relay_config *cfg, const char *name)
{
    if (listed(relay_headers, name))
        return true;
    if (cfg->outbox.value == CONFIG_VALUE_CLOUDEVENTS)
        /* A structured CloudEvent carries no ce_ headers at all (the Kafka binding 3.3). */
        return strcmp(name, "content-type") == 0 || strncmp(name, "ce_", 3) == 0;
    return cfg->outbox.cloudevents_headers && listed(ce_headers, name);
}

/* A CloudEvents extension attribute name: lower-case letters and digits (spec 1.0 §3.1.1). */
static bool extension_name(const char *name)
{
    size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789");

    return n > 0 && name[n] == '\0';
}

static bool field_fits(const relay_config *cfg, const config_field *f, char *why,
                       size_t why_size)
{
    config_value v = cfg->outbox.value;

    if (f->placement == CONFIG_PLACE_HEADER) {
        if (!config_fields_relay_header(cfg, f->name))
            return true;
        snprintf(why, why_size,
                 "outbox.fields: column \"%s\" goes to header \"%s\", which the relay sets "
                 "itself%s: give the entry another name",
                 f->column, f->name,
                 v == CONFIG_VALUE_CLOUDEVENTS ? " (a structured CloudEvent has no ce_ headers)"
                                               : "");
        return false;
    }
    if (v == CONFIG_VALUE_PAYLOAD) {
        snprintf(why, why_size,
                 "outbox.fields: column \"%s\" has placement \"envelope\", but outbox.value = "
                 "\"payload\" has no envelope: set outbox.value to \"envelope\" or "
                 "\"cloudevents\", or the placement to \"header\"",
                 f->column);
        return false;
    }
    if (listed(v == CONFIG_VALUE_ENVELOPE ? envelope_keys : cloudevent_keys, f->name)) {
        snprintf(why, why_size,
                 "outbox.fields: column \"%s\" goes to envelope member \"%s\", which the relay "
                 "writes itself: give the entry another name",
                 f->column, f->name);
        return false;
    }
    if (v == CONFIG_VALUE_CLOUDEVENTS && !extension_name(f->name)) {
        char fit[64];
        size_t n = 0;

        for (const char *p = f->name; *p && n + 1 < sizeof fit; p++)
            if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
                fit[n++] = *p;
            else if (*p >= 'A' && *p <= 'Z')
                fit[n++] = (char)(*p - 'A' + 'a');
        fit[n] = '\0';
        snprintf(why, why_size,
                 "outbox.fields: column \"%s\" becomes CloudEvents extension attribute \"%s\", "
                 "but such names are lower-case letters and digits only: set name = \"%s\"",
                 f->column, f->name, n > 0 ? fit : "ext");
        return false;
    }
    return true;
}

bool config_fields_check(const relay_config *cfg, const char **blame, char *why,
                        size_t why_size)
{
    if (cfg->outbox.value == CONFIG_VALUE_CLOUDEVENTS && cfg->outbox.cloudevents_headers) {
        *blame = "outbox.cloudevents_headers";
        snprintf(why, why_size,
                 "outbox.cloudevents_headers = true with outbox.value = \"cloudevents\": a "
                 "structured CloudEvent carries its attributes in the value and no ce_ "
                 "headers; choose one content mode (binary: outbox.value = \"payload\" or "
                 "\"envelope\" with the headers)");
        return false;
    }
    for (size_t i = 0; i < cfg->outbox.nfields; i++) {
        if (!field_fits(cfg, &cfg->outbox.fields[i], why, why_size)) {
            *blame = "outbox.fields";
            return false;
        }
    }
    return true;
}
