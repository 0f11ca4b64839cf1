/*
 * schema.h — JSON Schema (draft-07 and 2020-12) for events: compile once, validate many.
 *
 * Owns: a registry of schema documents (by URI, and by event type when loaded from a directory),
 * the compiled keyword tree built from them (pre-compiled regexes, pre-resolved $ref targets),
 * and validation of jansson values against it. Knows nothing of Kafka, Postgres or sockets.
 *
 * Ownership and lifetime:
 *   - The registry owns every compiled node. A `schema` is a handle into that graph: it is valid
 *     until schema_registry_free(), and handles from schema_compile() are released with
 *     schema_free() (before or after the registry, either works; handles from
 *     schema_registry_lookup() belong to the registry).
 *   - Documents given to the registry are kept by reference (json_incref); they must not be
 *     modified afterwards, because compiled nodes point into them.
 *   - Compiling mutates the registry: serialise it. Validation only reads the compiled graph, so
 *     any number of threads may validate against the same schemas at once.
 *
 * Errors come back in `char *errbuf, size_t errbuf_size` (NULL/0 allowed), one line without a
 * trailing newline:
 *   - compile: "<JSON pointer into the schema>: <reason>", e.g.
 *     "/properties/sku/pattern: invalid regex \"(\": missing closing parenthesis at offset 1";
 *     a pointer into another document carries its URI ("file:///s/Common.json#/$defs/Money/type").
 *   - load: "<file>:<line>:<column>: <reason>" for JSON syntax errors, "<file>: <compile error>".
 *   - validate: "<instance JSON pointer>: <keyword>: <why>", e.g.
 *     "/payload/amount: type: expected number, got string"; the document root prints as "(root)".
 */
#ifndef RELAY_SCHEMA_H
#define RELAY_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * Dialects. draft-04/06 are treated as draft-07; 2019-09 as 2020-12 except that "items" and
 * "additionalItems" keep their draft-07 array form there ("$recursiveRef" is not supported).
 */
#define SCHEMA_DRAFT7 7
#define SCHEMA_DRAFT2019 2019
#define SCHEMA_DRAFT2020 2020

typedef struct schema_registry schema_registry;
typedef struct schema schema;

/*
 * A new, empty registry. default_draft (SCHEMA_DRAFT7 or SCHEMA_DRAFT2020) applies to documents
 * without "$schema". format_assert makes "format" an assertion (date-time, date, time, email,
 * hostname, ipv4, ipv6, uuid, uri, uri-reference, regex, json-pointer, ...); otherwise it is an
 * annotation and never fails. The draft-07 and 2020-12 meta-schemas are built in, so "$ref" to
 * them works offline. NULL only when out of memory.
 */
schema_registry *schema_registry_new(int default_draft, bool format_assert);
void schema_registry_free(schema_registry *reg);

/*
 * Adds a document under an absolute URI (its "$id", if any, is resolved against it and also
 * registered, as are embedded "$id" resources and anchors), so that "$ref" from other documents
 * can reach it. uri may be NULL when the document has an absolute "$id". Takes a new reference
 * to doc. Returns 0, or -1 with errbuf filled (duplicate URI, not a schema).
 */
int schema_registry_add(schema_registry *reg, const char *uri, json_t *doc, char *errbuf,
                        size_t errbuf_size);

/*
 * Loads every "*.json" in dir (not recursive, hidden files skipped), each under its
 * "file://<absolute path>" URI, then compiles each. The file name without ".json" is the event
 * type; "OrderCreated.v2.json" is type "OrderCreated" version 2. Relative "$ref"s such as
 * "Common.json#/$defs/Money" reach the other files. Returns the number of schemas loaded, or -1
 * at the first broken file with errbuf naming the file and the place.
 */
int schema_registry_load_dir(schema_registry *reg, const char *dir, char *errbuf,
                             size_t errbuf_size);

/*
 * One file of a directory check: its event type and version (0 when unversioned), and either the
 * compiled schema (owned by the registry) or the one-line error ("<dir>/<file>:<line>:<col>: …"
 * or "<dir>/<file>: <pointer>: …").
 */
typedef void (*schema_dir_report_fn)(void *ctx, const char *type, int version, const schema *s,
                                     const char *error);

/*
 * Like schema_registry_load_dir, but goes on past a broken file, so that every problem of the
 * directory is found at once (`outbox-relay schema check`). report is called once per file, in
 * name order. Returns the number of broken files, or -1 with errbuf filled when dir cannot be
 * read.
 */
int schema_registry_check_dir(schema_registry *reg, const char *dir, schema_dir_report_fn report,
                              void *ctx, char *errbuf, size_t errbuf_size);

/*
 * The schema of an event type: version 0 asks for the unversioned file ("OrderCreated"), or when
 * there is none the highest version; version N > 0 for exactly "OrderCreated.vN". *version_out
 * (may be NULL) receives the version found (0: the unversioned file). NULL when unknown.
 */
const schema *schema_registry_lookup(const schema_registry *reg, const char *type, int version,
                                     int *version_out);

/* "file://" + an absolute path, percent-encoded: the URI load_dir registers a file under.
 * Caller frees; NULL when out of memory. */
char *schema_file_uri(const char *path);

/*
 * Compiles doc (adding it to the registry first: under its "$id" if it has one, else under a
 * generated "urn:relay:schema:<n>"; a doc already added is compiled from there). Every reachable
 * subschema and every "$defs"/"definitions" entry is checked, so a broken schema fails here and
 * not during validation. Takes a new reference to doc. NULL with errbuf filled on error.
 */
schema *schema_compile(schema_registry *reg, json_t *doc, char *errbuf, size_t errbuf_size);

/* Compiles the document or subschema a URI names ("http://x/s.json", "...#/$defs/a", "#anchor"). */
schema *schema_compile_uri(schema_registry *reg, const char *uri, char *errbuf, size_t errbuf_size);

void schema_free(schema *s);

/* The dialect the schema's root was compiled as (SCHEMA_DRAFT7, _DRAFT2019 or _DRAFT2020). */
int schema_draft(const schema *s);

/*
 * Validates instance. Returns 0 valid, 1 invalid (errbuf: the first failure found), or -1 when
 * validation itself failed (out of memory, a regex engine error, a reference cycle that never
 * reaches the instance: errbuf says which). Allocation-free except for regex match data and
 * "uniqueItems" on long arrays.
 */
int schema_validate(const schema *s, const json_t *instance, char *errbuf, size_t errbuf_size);

/*
 * Parses len bytes of JSON text with jsonread_parse (NUL bytes inside strings allowed; integers
 * beyond 64 bits are read as doubles) and validates them. A parse error is "invalid": 1, with
 * "(json):<line>:<column>: <reason>".
 */
int schema_validate_text(const schema *s, const char *json, size_t len, char *errbuf,
                         size_t errbuf_size);

#endif
