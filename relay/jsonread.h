/*
 * jsonread.h — a fast JSON reader for event payloads: the same jansson values as jansson's own
 * reader, built in one pass over plain text, and a stream reader that reuses the previous value
 * when the next text has its shape.
 *
 * Owns nothing but the reader's last value; knows nothing of schemas (schema_validate_text and
 * policy.c reads instances with it, tests/fuzz/fuzz_schema.c checks it against jansson).
 */
#ifndef RELAY_JSONREAD_H
#define RELAY_JSONREAD_H

#include <stddef.h>

#include <jansson.h>

/*
 * Reads len bytes of JSON text: any value at the top, NUL bytes inside strings allowed, integers
 * beyond 64 bits as doubles. Plain text (no escapes) takes a fast path that builds the same
 * values as jansson's reader, which handles everything else. A new reference, or NULL with *err
 * filled by jansson.
 */
json_t *jsonread_parse(const char *json, size_t len, json_error_t *err);

/*
 * A reader for a stream of documents (the relay's events): jsonread_next reads like
 * jsonread_parse, but when a text has the shape of the previous one (the same keys in the same
 * order, arrays of the same lengths, scalars of the same types) it updates the previous value in
 * place instead of allocating a new one. The value belongs to the reader: valid until the next
 * parse or jsonread_free, not to be modified. NULL with *err filled on a parse error. One
 * reader per thread.
 */
typedef struct jsonread_reader jsonread_reader;

jsonread_reader *jsonread_new(void);
void jsonread_free(jsonread_reader *rd);
json_t *jsonread_next(jsonread_reader *rd, const char *json, size_t len, json_error_t *err);

#endif
