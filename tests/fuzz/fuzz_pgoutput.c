/*
 * fuzz_pgoutput.c — libFuzzer target for relay/pgoutput.c, the decoder of the bytes a
 * walsender sends.
 *
 * Input: a session of messages, each a 2-byte big-endian length and that many bytes (the last
 * one takes what is left), decoded in order by one decoder, so Relation messages fill the
 * cache that later Insert/Update/Delete/Truncate messages use. Whatever the decoder returns
 * is walked, so every pointer it hands out is read; a crash, a sanitizer report or a leak is
 * a finding. Seeded from the real captures of tests/unit/fixtures/pgoutput.txt.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte of the values a tuple points at. */
static size_t walk_tuple(const pgo_value *vals, int n)
{
    size_t sum = 0;

    for (int i = 0; i < n; i++)
        for (uint32_t j = 0; vals[i].kind == 't' && j < vals[i].len; j++)
            sum += (uint8_t)vals[i].data[j];
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pgo_decoder *dec = pgo_decoder_new();
    volatile size_t sink = 0;
    char err[256];
    pgo_msg m;

    if (dec == NULL)
        return 0;
    while (size >= 2) {
        size_t len = (size_t)data[0] << 8 | data[1];

        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        if (pgo_decode(dec, data, len, &m, err, sizeof err) == 0 &&
            (m.kind == PGO_INSERT || m.kind == PGO_UPDATE || m.kind == PGO_DELETE)) {
            sink += strlen(m.u.change.rel->relname) + strlen(m.u.change.rel->nspname);
            for (int i = 0; i < m.u.change.rel->ncolumns; i++)
                sink += strlen(m.u.change.rel->columns[i].name);
            if (m.u.change.new_tuple != NULL)
                sink += walk_tuple(m.u.change.new_tuple, m.u.change.nnew);
            if (m.u.change.old_tuple != NULL)
                sink += walk_tuple(m.u.change.old_tuple, m.u.change.nold);
        }
        data += len;
        size -= len;
    }
    (void)sink;
    pgo_decoder_free(dec);
    return 0;
}
