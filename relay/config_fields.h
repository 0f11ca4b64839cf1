/*
 * config_fields.h — the outbox.fields setting: a list of columns the relay copies into a
 * record header or a top-level member of the envelope (Debezium's
 * table.fields.additional.placement).
 *
 * Owns: reading the list from the file (a libconfig list of groups) and from the
 * environment (one line, "column:placement[:name],…"), the form of each entry, and freeing
 * it; which header and envelope names the relay keeps for itself, and whether the record
 * shape settings fit together (checked at load). Whether the table has the column is found
 * at start (shape.h).
 */
#ifndef RELAY_CONFIG_FIELDS_H
#define RELAY_CONFIG_FIELDS_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* What the setting accepts, for "expected …" lines. */
#define CONFIG_FIELDS_EXPECT                                                                  \
    "a list of groups ({ column = \"tenant\"; placement = \"header\" or \"envelope\"; name = " \
    "\"tenant_id\"; }), or in the environment \"column:placement[:name],...\""

/* Reads the list s (where: "FILE:LINE: outbox.fields", for messages) into *fields and *n,
 * replacing what was there. false with one line in err. */
bool config_fields_read(const config_setting_t *s, const char *where, config_field **fields,
                        size_t *n, char *err, size_t err_size);

/* The same from the environment form: "tenant:header:tenant_id,region:envelope"; "" none. */
bool config_fields_parse(const char *text, const char *where, config_field **fields, size_t *n,
                         char *err, size_t err_size);

void config_fields_free(config_field *fields, size_t n);

/* Whether the relay sets a header of this name itself in cfg's mode: its own (event.h), and
 * content-type and the ce_ ones in a CloudEvents mode. */
bool config_fields_relay_header(const relay_config *cfg, const char *name);

/*
 * Whether the record shape settings fit together: the CloudEvents content modes, each
 * outbox.fields entry's placement against outbox.value, and no entry naming a header or
 * envelope member the relay sets. false with the reason in why (no location) and in *blame
 * the setting to point at.
 */
bool config_fields_check(const relay_config *cfg, const char **blame, char *why,
                         size_t why_size);

#endif
