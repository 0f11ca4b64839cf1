/*
 * format.h — the "format" checkers and the ECMA-262 regex dialect of the schema library
 * (format.c): pure functions over a UTF-8 string and its length, shared by compile.c (which
 * format a keyword names, "pattern" regexes) and validate.c (checking a string).
 */
#ifndef RELAY_SCHEMA_FORMAT_H
#define RELAY_SCHEMA_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Format checkers, shared with the validator. schema_format_lookup returns 0 for a format this
 * module does not check (an annotation then, even with format_assert).
 */
int schema_format_lookup(const char *name);
bool schema_format_check(int format, const char *s, size_t len);

/*
 * Compiles an ECMA-262 regular expression with PCRE2 (the engine of "pattern",
 * "patternProperties" and format "regex"): UTF-8 code points, "$" only at the very end, "\uHHHH"
 * and "\u{H...}", ECMA's Unicode "\s"; escapes ECMA does not have ("\a", "\Z") are errors. Returns
 * a pcre2_code (free with pcre2_code_free), or NULL with err filled ("<reason> at offset <n>").
 */
struct pcre2_real_code_8 *schema_format_regex_compile(const char *src, size_t len, char *err,
                                                      size_t err_size);

#endif
