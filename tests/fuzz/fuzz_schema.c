/*
 * fuzz_schema.c — libFuzzer target for relay/schema/: compile a schema, validate a document.
 *
 * Input: one flags byte, then the schema's JSON text, a NUL byte, the document's JSON text (no
 * NUL: the schema is validated against itself, which meta-schema-like inputs make interesting).
 * Flags: bit 0 draft-07 (else 2020-12) for schemas without "$schema"; bit 1 format as an
 * assertion; bits 2-3 the error buffer (512 bytes, 1 byte, 17 bytes, none) so truncated
 * messages are exercised too.
 *
 * The document is also read by jsonread_parse (relay/jsonread.c, the validator's fast reader
 * with jansson's as fallback), by a jsonread_reader (which updates its previous value in place)
 * and by jansson alone: they must agree on every input, value for value and in key order, or the
 * target aborts.
 *
 * Built by tests/fuzz/run.sh (clang, -fsanitize=fuzzer,address,undefined), or by CMake when
 * the compiler is clang. Every json_t and compiled schema is released, so a leak is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonread.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless jansson reads text as fast (from jsonread_parse or a reader) did. */
static void readers_agree(const char *text, size_t len, json_t *fast)
{
    json_error_t jerr;
    json_t *slow = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    char *a = NULL, *b = NULL;
    size_t flags = JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17);

    if (slow == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
        slow = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                          &jerr);
    if (fast != NULL)
        a = json_dumps(fast, flags);
    if (slow != NULL)
        b = json_dumps(slow, flags);
    if ((fast == NULL) != (slow == NULL) || (a != NULL && b != NULL && strcmp(a, b) != 0)) {
        fprintf(stderr, "readers disagree on %.*s\nfast: %s\njansson: %s\n", (int)len, text,
                a ? a : "(error)", b ? b : "(error)");
        abort();
    }
    free(a);
    free(b);
    json_decref(slow);
}

/* The document read fresh, then through a reader that read the schema's text first: the
 * update in place must give what a fresh read gives, whether the shapes match or not. */
static void check_readers(const char *text, size_t text_len, const char *inst, size_t inst_len)
{
    json_error_t jerr;
    json_t *fresh = jsonread_parse(inst, inst_len, &jerr);
    jsonread_reader *rd = jsonread_new();

    readers_agree(inst, inst_len, fresh);
    json_decref(fresh);
    if (rd == NULL)
        return;
    readers_agree(text, text_len, jsonread_next(rd, text, text_len, &jerr));
    readers_agree(inst, inst_len, jsonread_next(rd, inst, inst_len, &jerr));
    readers_agree(inst, inst_len, jsonread_next(rd, inst, inst_len, &jerr));
    jsonread_free(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t errsizes[] = {512, 1, 17, 0};
    char errbuf[512];
    const char *text, *inst;
    const uint8_t *sep;
    size_t text_len, inst_len, errsize;
    unsigned flags;
    schema_registry *reg;
    json_error_t jerr;
    json_t *doc;
    schema *s;

    if (size < 1)
        return 0;
    flags = data[0];
    text = (const char *)data + 1;
    text_len = size - 1;
    sep = memchr(text, '\0', text_len);
    inst = sep != NULL ? (const char *)sep + 1 : text;
    inst_len = sep != NULL ? text_len - (size_t)((const char *)sep + 1 - text) : text_len;
    if (sep != NULL)
        text_len = (size_t)((const char *)sep - text);
    errsize = errsizes[(flags >> 2) & 3];

    check_readers(text, text_len, inst, inst_len);
    reg = schema_registry_new((flags & 1) ? SCHEMA_DRAFT7 : SCHEMA_DRAFT2020, (flags & 2) != 0);
    if (reg == NULL)
        return 0;
    doc = json_loadb(text, text_len, JSON_DECODE_ANY, &jerr);
    if (doc != NULL) {
        s = schema_compile(reg, doc, errsize ? errbuf : NULL, errsize);
        if (s != NULL) {
            schema_validate_text(s, inst, inst_len, errsize ? errbuf : NULL, errsize);
            schema_free(s);
        }
        json_decref(doc);
    }
    schema_registry_free(reg);
    return 0;
}
