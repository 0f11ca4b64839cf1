/*
 * lsn.h — Postgres WAL positions (LSNs): one type, one way to print and parse.
 *
 * An LSN is a byte position in the WAL. Printed as Postgres does: "%X/%X"
 * (high 32 bits / low 32 bits), e.g. "0/16B3748". An event's position (commit LSN and
 * index) has a fixed-width form of its own, for its record header.
 */
#ifndef RELAY_LSN_H
#define RELAY_LSN_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t relay_lsn;

#define LSN_FMT "%X/%X"
#define LSN_ARGS(lsn) (unsigned)((lsn) >> 32), (unsigned)(lsn)

/* Parses "X/X" into *out. Returns false when text is not an LSN. */
bool lsn_parse(const char *text, relay_lsn *out);

/*
 * An event's position as its outbox_position header spells it: the commit LSN of its
 * transaction in 16 upper-case hex digits, '-', its 1-based index among the transaction's
 * events in 8 upper-case hex digits: "00000000016B3748-00000003" is the third event of the
 * transaction that committed at 0/16B3748. Fixed width, so positions sort as bytes (text)
 * in the order they sort as numbers.
 */
#define LSN_POSITION_LEN 25 /* without the NUL */
#define LSN_POSITION_FMT "%016" PRIX64 "-%08" PRIX32
#define LSN_POSITION_ARGS(lsn, index) (uint64_t)(lsn), (uint32_t)(index)

/* Parses a position of len bytes (not NUL-terminated): the form above, or the "X/X:N" of
 * relays before it, so records written by either can be compared. */
bool lsn_position_parse(const char *text, size_t len, relay_lsn *lsn, uint32_t *index);

#endif
