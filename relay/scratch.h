/*
 * scratch.h — the growable buffer a mapped event lives in.
 *
 * Owns: appending pieces and remembering their offsets, since the buffer moves while it
 * grows; whoever fills it turns offsets into pointers once it stops moving (event.c, and
 * shape.c for the extra fields and CloudEvents). Out of memory is sticky: an append sets
 * failed, and the caller checks once at the end.
 */
#ifndef RELAY_SCRATCH_H
#define RELAY_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct scratch {
    char *buf;
    size_t len, cap;
    bool failed; /* an append ran out of memory since the last reset */
} scratch;

/* Room for more bytes; false (and failed set) out of memory. */
bool sb_reserve(scratch *sb, size_t more);

/* Appends n bytes and a NUL (not counted in the value, but it keeps every piece usable
 * as a C string); returns the offset of the piece. Out of memory sets sb->failed. */
size_t sb_add(scratch *sb, const char *data, size_t n);

/* Appends without the NUL, for pieces built in several steps. */
bool sb_cat(scratch *sb, const char *data, size_t n);

/* Appends text as a JSON string literal, escaped by jansson. */
bool sb_cat_json_string(scratch *sb, const char *text, size_t n);

#endif
