/*
 * pgoutput.h — pure decoder of the pgoutput logical replication protocol (version 1).
 *
 * Owns: turning the payload of one XLogData message into a typed message, and the
 * relation cache (Relation messages describe a table before its first row in a session
 * and again after ALTER TABLE). Knows nothing of sockets or Kafka.
 *
 * Reference: PostgreSQL "Logical Replication Message Formats" and
 * src/backend/replication/logical/proto.c. Every length and action byte is checked;
 * truncated or malformed input yields -1 and a one-line message in errbuf.
 */
#ifndef RELAY_PGOUTPUT_H
#define RELAY_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "lsn.h"

typedef enum {
    PGO_BEGIN,
    PGO_COMMIT,
    PGO_ORIGIN,
    PGO_RELATION,
    PGO_TYPE,
    PGO_INSERT,
    PGO_UPDATE,
    PGO_DELETE,
    PGO_TRUNCATE,
    PGO_MESSAGE,
} pgo_kind;

/* One column value of a tuple. data points into the decoded input buffer (not
 * NUL-terminated) and is valid as long as that buffer is. */
typedef struct pgo_value {
    char kind;        /* 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary */
    const char *data; /* NULL unless kind is 't' or 'b' */
    uint32_t len;
} pgo_value;

typedef struct pgo_column {
    char *name;
    uint32_t type_oid;
    int32_t type_mod;
    uint8_t flags; /* 1 = part of the replica identity key */
} pgo_column;

/* A table as last described by a Relation message. Owned by the decoder. The struct
 * keeps its address until pgo_decoder_free; a new Relation message for the same oid
 * replaces its strings and columns in place (freeing the old ones, so do not keep
 * pointers to them across calls) and increments version. */
typedef struct pgo_relation {
    uint32_t oid;
    uint32_t version; /* 1 for the first Relation message for this oid, +1 for each next */
    char *nspname;
    char *relname;
    char replident;
    int ncolumns;
    pgo_column *columns;
} pgo_relation;

typedef struct pgo_msg {
    pgo_kind kind;
    union {
        struct {
            relay_lsn final_lsn; /* LSN of the commit record = commit_lsn of the Commit */
            int64_t commit_time; /* microseconds since 2000-01-01 UTC */
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            relay_lsn commit_lsn; /* start of the commit record */
            relay_lsn end_lsn;    /* end of the commit record: what may be confirmed */
            int64_t commit_time;
        } commit;
        struct {
            relay_lsn lsn;
            const char *name; /* points into input */
        } origin;
        struct {
            const pgo_relation *rel; /* the cache entry just updated */
        } relation;
        struct {
            uint32_t oid;
            const char *nspname; /* point into input */
            const char *typname;
        } type;
        /* INSERT, UPDATE, DELETE. new_tuple is set for INSERT and UPDATE; old_tuple for
         * DELETE and for UPDATE with an old key/tuple ('K' or 'O'). Arrays are owned by the
         * decoder and valid until the next pgo_decode call. Each tuple has exactly
         * rel->ncolumns values, in the relation's column order. */
        struct {
            const pgo_relation *rel;
            int nnew;
            const pgo_value *new_tuple;
            char old_kind; /* 'K': key columns only, others 'n'; 'O': whole old row
                              (REPLICA IDENTITY FULL); 0: no old tuple */
            int nold;
            const pgo_value *old_tuple;
        } change;
        struct {
            uint32_t nrelations;
            uint8_t options;        /* 1 = CASCADE, 2 = RESTART IDENTITY */
            const uint32_t *relids; /* nrelations oids, all cached; decoder scratch valid
                                       until the next pgo_decode call */
        } truncate;
        struct {
            uint8_t flags; /* 1 = transactional */
            relay_lsn lsn;
            const char *prefix; /* points into input */
            const char *content; /* points into input, content_len bytes */
            uint32_t content_len;
        } message;
    } u;
} pgo_msg;

typedef struct pgo_decoder pgo_decoder;

pgo_decoder *pgo_decoder_new(void);
void pgo_decoder_free(pgo_decoder *dec);

/*
 * Decodes one pgoutput message (the payload of an XLogData message, starting with its
 * type byte). Returns 0 and fills *out, or -1 with a one-line reason in errbuf for
 * truncated or malformed input, and for a change on a relation that was never described.
 * Pointers in *out refer to buf or to decoder memory: valid until the next call.
 */
int pgo_decode(pgo_decoder *dec, const uint8_t *buf, size_t len, pgo_msg *out, char *errbuf,
               size_t errbuf_size);

/* The cached relation with this oid, or NULL. */
const pgo_relation *pgo_relation_get(const pgo_decoder *dec, uint32_t oid);

/* Index of the column named name in rel, or -1. */
int pgo_relation_column(const pgo_relation *rel, const char *name);

#endif
