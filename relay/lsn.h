/*
 * lsn.h — Postgres WAL positions (LSNs): one type, one way to print and parse.
 *
 * An LSN is a byte position in the WAL. Printed as Postgres does: "%X/%X"
 * (high 32 bits / low 32 bits), e.g. "0/16B3748".
 */
#ifndef RELAY_LSN_H
#define RELAY_LSN_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t relay_lsn;

#define LSN_FMT "%X/%X"
#define LSN_ARGS(lsn) (unsigned)((lsn) >> 32), (unsigned)(lsn)

/* Parses "X/X" into *out. Returns false when text is not an LSN. */
bool lsn_parse(const char *text, relay_lsn *out);

#endif
