/*
 * format.c — the "format" checkers of the schema library (see format.h): pure functions over a
 * UTF-8 string and its length (strings may hold NUL bytes, so never strlen).
 *
 * What "valid" means follows the RFCs the JSON Schema specification names (RFC 3339 dates and
 * times, RFC 5321 mailboxes, RFC 1123 host names, RFC 4291 IPv6 text, RFC 3986 URIs, RFC 4122
 * UUIDs, RFC 6901 JSON pointers, RFC 6570 URI templates). Internationalised forms are checked
 * loosely: idn-hostname applies the host name rules per label in code points and refuses a few
 * code points IDNA2008 disallows, it does not run the full IDNA2008 tables or Punycode.
 */
#include "format.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

enum {
    FMT_NONE,
    FMT_DATE_TIME,
    FMT_DATE,
    FMT_TIME,
    FMT_DURATION,
    FMT_EMAIL,
    FMT_IDN_EMAIL,
    FMT_HOSTNAME,
    FMT_IDN_HOSTNAME,
    FMT_IPV4,
    FMT_IPV6,
    FMT_UUID,
    FMT_URI,
    FMT_URI_REFERENCE,
    FMT_IRI,
    FMT_IRI_REFERENCE,
    FMT_URI_TEMPLATE,
    FMT_REGEX,
    FMT_JSON_POINTER,
    FMT_RELATIVE_JSON_POINTER,
};

static const struct {
    const char *name;
    int id;
} formats[] = {
    {"date-time", FMT_DATE_TIME},
    {"date", FMT_DATE},
    {"time", FMT_TIME},
    {"duration", FMT_DURATION},
    {"email", FMT_EMAIL},
    {"idn-email", FMT_IDN_EMAIL},
    {"hostname", FMT_HOSTNAME},
    {"idn-hostname", FMT_IDN_HOSTNAME},
    {"ipv4", FMT_IPV4},
    {"ipv6", FMT_IPV6},
    {"uuid", FMT_UUID},
    {"uri", FMT_URI},
    {"uri-reference", FMT_URI_REFERENCE},
    {"iri", FMT_IRI},
    {"iri-reference", FMT_IRI_REFERENCE},
    {"uri-template", FMT_URI_TEMPLATE},
    {"regex", FMT_REGEX},
    {"json-pointer", FMT_JSON_POINTER},
    {"relative-json-pointer", FMT_RELATIVE_JSON_POINTER},
};

int schema_format_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].name, name) == 0)
            return formats[i].id;
    return FMT_NONE;
}

/* ASCII classes by hand: <ctype.h> depends on the locale and on the sign of char. */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return n > 0;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* --- RFC 3339 ------------------------------------------------------------------------------ */

static bool check_date(const char *s, size_t n)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day;

    if (n != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) || !all_digits(s + 5, 2) ||
        !all_digits(s + 8, 2))
        return false;
    year = num2(s) * 100 + num2(s + 2);
    month = num2(s + 5);
    day = num2(s + 8);
    if (month < 1 || month > 12 || day < 1 || day > mdays[month - 1])
        return false;
    if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return false;
    return true;
}

/* full-time: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM). A leap second is valid only at 23:59 UTC. */
static bool check_time(const char *s, size_t n)
{
    int hour, minute, second, off = 0;
    size_t i = 8;

    if (n < 9 || s[2] != ':' || s[5] != ':' || !all_digits(s, 2) || !all_digits(s + 3, 2) ||
        !all_digits(s + 6, 2))
        return false;
    hour = num2(s);
    minute = num2(s + 3);
    second = num2(s + 6);
    if (hour > 23 || minute > 59 || second > 60)
        return false;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start)
            return false;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '+' ? 1 : -1;
        const char *o = s + i + 1;

        if (n - i != 6 || o[2] != ':' || !all_digits(o, 2) || !all_digits(o + 3, 2))
            return false;
        if (num2(o) > 23 || num2(o + 3) > 59)
            return false;
        off = sign * (num2(o) * 60 + num2(o + 3));
        i = n;
    } else {
        return false;
    }
    if (i != n)
        return false;
    if (second == 60) {
        int utc = ((hour * 60 + minute - off) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

static bool check_date_time(const char *s, size_t n)
{
    return n > 11 && (s[10] == 'T' || s[10] == 't') && check_date(s, 10) &&
           check_time(s + 11, n - 11);
}

/* ISO 8601 duration as RFC 3339 appendix A has it: P[nY][nM][nD][T[nH][nM][nS]] or PnW. */
static bool check_duration(const char *s, size_t n)
{
    static const char date_units[] = "YMD", time_units[] = "HMS";
    size_t i = 1;
    int next = 0, count = 0;

    if (n < 3 || s[0] != 'P')
        return false;
    if (s[n - 1] == 'W')
        return all_digits(s + 1, n - 2);
    while (i < n && s[i] != 'T') {
        size_t start = i;
        const char *u;

        while (i < n && is_digit(s[i]))
            i++;
        if (i == start || i == n || (u = strchr(date_units + next, s[i])) == NULL || s[i] == 0)
            return false;
        next = (int)(u - date_units) + 1;
        count++;
        i++;
    }
    if (i < n) {
        int tcount = 0;

        next = 0;
        for (i++; i < n; i++) {
            size_t start = i;
            const char *u;

            while (i < n && is_digit(s[i]))
                i++;
            if (i == start || i == n || (u = strchr(time_units + next, s[i])) == NULL || s[i] == 0)
                return false;
            next = (int)(u - time_units) + 1;
            tcount++;
        }
        if (tcount == 0)
            return false;
        count += tcount;
    }
    return count > 0;
}

/* --- host names and addresses -------------------------------------------------------------- */

static bool check_ipv4(const char *s, size_t n)
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        size_t start = i;
        int value = 0;

        if (part > 0) {
            if (i >= n || s[i] != '.')
                return false;
            start = ++i;
        }
        while (i < n && is_digit(s[i]) && i - start < 3)
            value = value * 10 + (s[i++] - '0');
        /* Leading zeros are refused: some parsers read them as octal. */
        if (i == start || value > 255 || (s[start] == '0' && i - start > 1))
            return false;
    }
    return i == n;
}

static bool check_ipv6(const char *s, size_t n)
{
    size_t i = 0;
    int groups = 0;
    bool compressed = false;

    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
    } else if (n == 0 || s[0] == ':') {
        return false;
    }
    while (i < n) {
        size_t j = i;

        while (j < n && is_hex(s[j]) && j - i < 5)
            j++;
        if (j < n && s[j] == '.') {
            /* An IPv4 tail stands for the last two groups. */
            if (!check_ipv4(s + i, n - i))
                return false;
            groups += 2;
            i = n;
            break;
        }
        if (j == i || j - i > 4)
            return false;
        groups++;
        if (j == n) {
            i = j;
            break;
        }
        if (s[j] != ':')
            return false;
        if (j + 1 < n && s[j + 1] == ':') {
            if (compressed)
                return false;
            compressed = true;
            i = j + 2;
        } else {
            i = j + 1;
            if (i == n)
                return false;
        }
    }
    return compressed ? groups < 8 : groups == 8;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1..63 each. */
static bool check_hostname(const char *s, size_t n)
{
    size_t i = 0;

    if (n > 0 && s[n - 1] == '.')
        n--; /* the root label of a fully qualified name */
    if (n == 0 || n > 253)
        return false;
    while (i <= n) {
        size_t start = i;

        while (i < n && s[i] != '.') {
            if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
                return false;
            i++;
        }
        if (i == start || i - start > 63 || s[start] == '-' || s[i - 1] == '-')
            return false;
        /* "xn--" marks an A-label; other labels must not have hyphens in places 3 and 4. */
        if (i - start >= 4 && s[start + 2] == '-' && s[start + 3] == '-' &&
            !((s[start] == 'x' || s[start] == 'X') && (s[start + 1] == 'n' || s[start + 1] == 'N')))
            return false;
        i++;
    }
    return true;
}

/* Decodes one UTF-8 sequence (input already valid UTF-8: jansson checks it). */
static uint32_t utf8_next(const char *s, size_t n, size_t *i)
{
    unsigned char c = (unsigned char)s[*i];
    uint32_t cp;
    int extra;

    if (c < 0x80) {
        (*i)++;
        return c;
    }
    extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    cp = c & (0x3F >> extra);
    (*i)++;
    while (extra-- > 0 && *i < n)
        cp = (cp << 6) | ((unsigned char)s[(*i)++] & 0x3F);
    return cp;
}

typedef struct {
    uint32_t lo, hi;
} cp_range;

static bool in_ranges(uint32_t cp, const cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi)
            return true;
    return false;
}

#define IN(cp, table) in_ranges(cp, table, sizeof(table) / sizeof(table[0]))

/* The common combining-mark blocks (general category M): a label must not start with one. */
static const cp_range marks[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x05BF, 0x05C7}, {0x0610, 0x061A},
    {0x064B, 0x065F}, {0x0670, 0x0670}, {0x06D6, 0x06ED}, {0x0900, 0x0903}, {0x093A, 0x094F},
    {0x0951, 0x0957}, {0x0962, 0x0963}, {0x0981, 0x0983}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
    {0x20D0, 0x20FF}, {0xFE20, 0xFE2F},
};

/* IDNA2008 DISALLOWED exceptions and spacing/punctuation that is never in a label. */
static const cp_range disallowed[] = {
    {0x00A0, 0x00A0}, {0x0640, 0x0640}, {0x07FA, 0x07FA}, {0x2000, 0x200B}, {0x200E, 0x206F},
    {0x3000, 0x3000}, {0x302E, 0x302F}, {0x3031, 0x3035}, {0x303B, 0x303B},
};

static const cp_range viramas[] = {
    {0x094D, 0x094D}, {0x09CD, 0x09CD}, {0x0A4D, 0x0A4D}, {0x0ACD, 0x0ACD}, {0x0B4D, 0x0B4D},
    {0x0BCD, 0x0BCD}, {0x0C4D, 0x0C4D}, {0x0CCD, 0x0CCD}, {0x0D4D, 0x0D4D}, {0x0DCA, 0x0DCA},
    {0x0E3A, 0x0E3A}, {0x0F84, 0x0F84}, {0x1039, 0x103A}, {0x1714, 0x1714}, {0x1734, 0x1734},
    {0x17D2, 0x17D2}, {0x1B44, 0x1B44}, {0xA806, 0xA806}, {0xA8C4, 0xA8C4}, {0xA953, 0xA953},
    {0xA9C0, 0xA9C0}, {0xAAF6, 0xAAF6}, {0xABED, 0xABED},
};

/* Letters that join in Arabic script: ZWNJ between two of them is allowed (RFC 5892 A.1). */
static const cp_range joining[] = {
    {0x0620, 0x064A}, {0x066E, 0x06D3}, {0x06FA, 0x06FF}, {0x0710, 0x072F}, {0x074D, 0x07B1},
};

static const cp_range kana_han[] = {
    {0x3040, 0x309F}, {0x30A0, 0x30FA}, {0x30FC, 0x30FF},   {0x3400, 0x4DBF},
    {0x4E00, 0x9FFF}, {0xF900, 0xFAFF}, {0x20000, 0x2FFFF},
};

/* RFC 3492 Punycode: the code points of an A-label's tail, false when it is not Punycode. */
static bool punycode_decode(const char *in, size_t len, uint32_t *out, size_t *out_len, size_t cap)
{
    enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700 };
    uint64_t n = 128, i = 0, bias = 72;
    size_t b = 0, pos, count;

    for (size_t k = 0; k < len; k++)
        if (in[k] == '-')
            b = k;
    if (b > cap)
        return false;
    for (count = 0; count < b; count++)
        out[count] = (unsigned char)in[count];
    for (pos = b > 0 ? b + 1 : 0; pos < len;) {
        uint64_t oldi = i, w = 1, delta;
        int shift = 0;

        for (uint64_t k = BASE;; k += BASE) {
            char c = pos < len ? in[pos++] : 0;
            uint64_t digit = is_digit(c)            ? (uint64_t)(c - '0' + 26)
                             : c >= 'a' && c <= 'z' ? (uint64_t)(c - 'a')
                             : c >= 'A' && c <= 'Z' ? (uint64_t)(c - 'A')
                                                    : BASE;
            uint64_t t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;

            if (digit >= BASE)
                return false;
            i += digit * w;
            if (i > 0x10FFFF * (uint64_t)(cap + 1))
                return false;
            if (digit < t)
                break;
            w *= BASE - t;
        }
        /* bias adaptation (RFC 3492 6.1) */
        delta = oldi == 0 ? (i - oldi) / DAMP : (i - oldi) / 2;
        delta += delta / (count + 1);
        while (delta > ((BASE - TMIN) * TMAX) / 2) {
            delta /= BASE - TMIN;
            shift += BASE;
        }
        bias = (uint64_t)shift + ((BASE - TMIN + 1) * delta) / (delta + SKEW);
        n += i / (count + 1);
        i %= count + 1;
        if (n > 0x10FFFF || count >= cap)
            return false;
        memmove(out + i + 1, out + i, (count - i) * sizeof(*out));
        out[i++] = (uint32_t)n;
        count++;
    }
    *out_len = count;
    return true;
}

/*
 * One IDN label as code points: length, hyphens, leading combining marks, DISALLOWED code points
 * and the RFC 5892 contextual rules (MIDDLE DOT, KERAIA, GERESH, KATAKANA MIDDLE DOT,
 * Arabic-Indic digits, ZWJ/ZWNJ). A-labels ("xn--") are decoded and checked the same way.
 */
static bool check_idn_label(const uint32_t *cp, size_t n, bool decoded)
{
    bool arabic_digits = false, extended_digits = false;

    if (n == 0 || n > 63 || cp[0] == '-' || cp[n - 1] == '-' || IN(cp[0], marks))
        return false;
    if (n >= 4 && cp[2] == '-' && cp[3] == '-') {
        uint32_t a = cp[0] | 0x20, b = cp[1] | 0x20;
        char buf[64];
        uint32_t u[64];
        size_t ulen;

        if (decoded || a != 'x' || b != 'n')
            return false;
        for (size_t k = 4; k < n; k++) {
            if (cp[k] >= 0x80)
                return false;
            buf[k - 4] = (char)cp[k];
        }
        return punycode_decode(buf, n - 4, u, &ulen, sizeof(u) / sizeof(u[0])) &&
               check_idn_label(u, ulen, true);
    }
    for (size_t k = 0; k < n; k++) {
        uint32_t c = cp[k], prev = k > 0 ? cp[k - 1] : 0, next = k + 1 < n ? cp[k + 1] : 0;

        if (c < 0x80) {
            if (!is_alpha((char)c) && !is_digit((char)c) && c != '-')
                return false;
            continue;
        }
        if (IN(c, disallowed))
            return false;
        switch (c) {
        case 0x00B7: /* MIDDLE DOT: only in "l·l" (Catalan) */
            if (prev != 'l' || next != 'l')
                return false;
            break;
        case 0x0375: /* GREEK KERAIA: before a Greek letter */
            if (!((next >= 0x0370 && next <= 0x03FF) || (next >= 0x1F00 && next <= 0x1FFF)))
                return false;
            break;
        case 0x05F3: /* HEBREW GERESH, GERSHAYIM: after a Hebrew letter */
        case 0x05F4:
            if (!(prev >= 0x0590 && prev <= 0x05FF))
                return false;
            break;
        case 0x30FB: { /* KATAKANA MIDDLE DOT: in a label with Hiragana, Katakana or Han */
            bool ok = false;

            for (size_t j = 0; j < n && !ok; j++)
                ok = IN(cp[j], kana_han);
            if (!ok)
                return false;
            break;
        }
        case 0x200D: /* ZERO WIDTH JOINER: after a virama */
            if (!IN(prev, viramas))
                return false;
            break;
        case 0x200C: /* ZERO WIDTH NON-JOINER: after a virama, or between joining letters */
            if (!IN(prev, viramas) && !(IN(prev, joining) && IN(next, joining)))
                return false;
            break;
        default:
            break;
        }
        arabic_digits = arabic_digits || (c >= 0x0660 && c <= 0x0669);
        extended_digits = extended_digits || (c >= 0x06F0 && c <= 0x06F9);
    }
    return !(arabic_digits && extended_digits);
}

static bool is_idn_dot(uint32_t cp)
{
    return cp == '.' || cp == 0x3002 || cp == 0xFF0E || cp == 0xFF61;
}

/* Labels split at '.' or its ideographic and fullwidth forms (RFC 3490 3.1). */
static bool check_idn_hostname(const char *s, size_t n)
{
    uint32_t label[64];
    size_t i = 0, len = 0, total = 0;

    if (n > 0 && s[n - 1] == '.')
        n--; /* the root label of a fully qualified name */
    if (n == 0)
        return false;
    for (;;) {
        bool end = i >= n;
        uint32_t cp = end ? '.' : utf8_next(s, n, &i);

        if (is_idn_dot(cp)) {
            if (!check_idn_label(label, len, false))
                return false;
            total += len + 1;
            len = 0;
            if (end)
                break;
            continue;
        }
        if (len == sizeof(label) / sizeof(label[0]))
            return false; /* longer than any label may be */
        label[len++] = cp;
    }
    return total - 1 <= 253;
}

/* --- mail addresses ------------------------------------------------------------------------- */

static bool is_atext(char c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 Mailbox: dot-atom or quoted local part, "@", host name or address literal. */
static bool check_email(const char *s, size_t n, bool idn)
{
    const char *at = NULL, *dom;
    size_t local_len, dom_len;

    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == '@') {
            at = s + i - 1;
            break;
        }
    if (at == NULL)
        return false;
    local_len = (size_t)(at - s);
    dom = at + 1;
    dom_len = n - local_len - 1;
    if (local_len == 0 || local_len > 64 || dom_len == 0)
        return false;
    if (s[0] == '"') {
        size_t i = 1;

        while (i < local_len - 1) {
            if (s[i] == '\\' && i + 1 < local_len - 1)
                i++;
            else if (s[i] == '"')
                return false;
            i++;
        }
        if (local_len < 2 || s[local_len - 1] != '"')
            return false;
    } else {
        for (size_t i = 0; i < local_len; i++) {
            char c = s[i];

            if (c == '.') {
                if (i == 0 || i == local_len - 1 || s[i + 1] == '.')
                    return false;
            } else if (!is_atext(c) && !(idn && (unsigned char)c >= 0x80)) {
                return false;
            }
        }
    }
    if (dom[0] == '[') {
        if (dom[dom_len - 1] != ']')
            return false;
        if (dom_len > 7 && memcmp(dom + 1, "IPv6:", 5) == 0)
            return check_ipv6(dom + 6, dom_len - 7);
        return check_ipv4(dom + 1, dom_len - 2);
    }
    return idn ? check_idn_hostname(dom, dom_len) : check_hostname(dom, dom_len);
}

/* --- URIs (RFC 3986), IRIs (RFC 3987, loosely: any non-ASCII code point is allowed) ------- */

static bool is_unreserved(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(char c)
{
    return c != 0 && strchr("!$&'()*+,;=", c) != NULL;
}

/* Checks s[*i..end) for chars in unreserved / pct-encoded / sub-delims / extra. */
static bool uri_run(const char *s, size_t end, size_t *i, const char *extra, bool iri)
{
    while (*i < end) {
        char c = s[*i];

        if (c == '%') {
            if (*i + 2 >= end || !is_hex(s[*i + 1]) || !is_hex(s[*i + 2]))
                return false;
            *i += 3;
            continue;
        }
        if (!(is_unreserved(c) || is_sub_delim(c) || (c != 0 && strchr(extra, c) != NULL) ||
              (iri && (unsigned char)c >= 0x80)))
            return false;
        (*i)++;
    }
    return true;
}

static size_t find_any(const char *s, size_t from, size_t n, const char *set)
{
    while (from < n && strchr(set, s[from]) == NULL)
        from++;
    return from;
}

static bool check_uri(const char *s, size_t n, bool need_scheme, bool iri)
{
    size_t i = 0, end;

    if (memchr(s, '\0', n) != NULL)
        return false;
    /* A scheme is letters, digits, "+-." before the first ':' that precedes any "/?#". */
    end = find_any(s, 0, n, ":/?#");
    if (end < n && s[end] == ':') {
        if (end == 0 || !is_alpha(s[0]))
            return false;
        for (size_t k = 1; k < end; k++)
            if (!is_alpha(s[k]) && !is_digit(s[k]) && s[k] != '+' && s[k] != '-' && s[k] != '.')
                return false;
        i = end + 1;
    } else if (need_scheme) {
        return false;
    }
    if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t auth_end = find_any(s, i + 2, n, "/?#");
        size_t at = i + 2, host;

        for (size_t k = i + 2; k < auth_end; k++)
            if (s[k] == '@')
                at = k + 1;
        host = i + 2;
        if (at != i + 2) {
            if (!uri_run(s, at - 1, &host, ":", iri))
                return false;
            host = at;
        }
        if (host < auth_end && s[host] == '[') {
            size_t close = find_any(s, host, auth_end, "]");

            if (close == auth_end || !check_ipv6(s + host + 1, close - host - 1))
                return false;
            host = close + 1;
        } else {
            size_t colon = find_any(s, host, auth_end, ":");

            if (!uri_run(s, colon, &host, "", iri))
                return false;
        }
        if (host < auth_end) {
            if (s[host] != ':')
                return false;
            for (size_t k = host + 1; k < auth_end; k++)
                if (!is_digit(s[k]))
                    return false;
        }
        i = auth_end;
    }
    end = find_any(s, i, n, "?#");
    if (!uri_run(s, end, &i, ":@/", iri))
        return false;
    if (i < n && s[i] == '?') {
        i++;
        end = find_any(s, i, n, "#");
        if (!uri_run(s, end, &i, ":@/?", iri))
            return false;
    }
    if (i < n && s[i] == '#') {
        i++;
        if (!uri_run(s, n, &i, ":@/?", iri))
            return false;
    }
    return i == n;
}

/* RFC 6570: literals with {expressions}, braces neither nested nor unbalanced. */
static bool check_uri_template(const char *s, size_t n)
{
    bool open = false;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '{') {
            if (open)
                return false;
            open = true;
        } else if (c == '}') {
            if (!open)
                return false;
            open = false;
        } else if (c == ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
                   c == '^' || c == '`' || c == '|' || (unsigned char)c < 0x20) {
            return false;
        }
    }
    return !open;
}

/* --- JSON pointers, regexes, UUIDs ---------------------------------------------------------- */

static bool check_json_pointer(const char *s, size_t n)
{
    if (n > 0 && s[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '~' && (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1')))
            return false;
    return true;
}

static bool check_relative_json_pointer(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && is_digit(s[i]))
        i++;
    if (i == 0 || (s[0] == '0' && i > 1))
        return false;
    if (i < n && s[i] == '#')
        return i + 1 == n;
    return check_json_pointer(s + i, n - i);
}

/*
 * ECMA-262 white space and line terminators, which "\s" means there (PCRE2's is ASCII). Written
 * with ALT_BSUX escapes: under that option "\x" takes exactly two hex digits, "\x{...}" is none.
 */
#define ECMA_SPACE                                                                                 \
    "\\t\\n\\x0B\\f\\r \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF"

/* ECMA's long Unicode general category names for "\p{...}"; PCRE2 10.42 knows the short ones. */
static const char *short_category(const char *name, size_t len)
{
    static const char *const names[][2] = {
        {"Letter", "L"},
        {"Cased_Letter", "L&"},
        {"Uppercase_Letter", "Lu"},
        {"Lowercase_Letter", "Ll"},
        {"Titlecase_Letter", "Lt"},
        {"Modifier_Letter", "Lm"},
        {"Other_Letter", "Lo"},
        {"Mark", "M"},
        {"Number", "N"},
        {"Decimal_Number", "Nd"},
        {"digit", "Nd"},
        {"Letter_Number", "Nl"},
        {"Other_Number", "No"},
        {"Punctuation", "P"},
        {"Symbol", "S"},
        {"Separator", "Z"},
        {"Space_Separator", "Zs"},
        {"Other", "C"},
        {"Control", "Cc"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i][0]) == len && memcmp(names[i][0], name, len) == 0)
            return names[i][1];
    return NULL;
}

pcre2_code *schema_format_regex_compile(const char *src, size_t len, char *err, size_t err_size)
{
    char pbuf[16];
    char *buf = NULL;
    size_t n = 0, cap = 0;
    bool in_class = false, translated = false;
    pcre2_compile_context *cc = NULL;
    pcre2_code *re = NULL;
    int errcode;
    PCRE2_SIZE erroff;

    for (size_t i = 0; i < len; i++) {
        const char *put = src + i;
        size_t put_len = 1;
        char c = src[i];

        if (c == '\\' && i + 1 < len) {
            char e = src[i + 1];

            /* ECMA-262 (unicode mode) knows only these letter escapes; "\a", "\Z" are errors. */
            if (is_alpha(e) && strchr("dDwWsSbBfnrtvcxupPk", e) == NULL) {
                if (err_size > 0)
                    snprintf(err, err_size, "\\%c is not an ECMA-262 escape at offset %zu", e, i);
                goto out;
            }
            put_len = 2;
            if ((e == 'p' || e == 'P') && i + 2 < len && src[i + 2] == '{') {
                const char *close = memchr(src + i + 3, '}', len - i - 3);
                const char *cat = close != NULL
                                      ? short_category(src + i + 3, (size_t)(close - src - i - 3))
                                      : NULL;

                if (cat != NULL) {
                    snprintf(pbuf, sizeof pbuf, "\\%c{%s}", e, cat);
                    put = pbuf;
                    put_len = strlen(pbuf);
                    translated = true;
                    i = (size_t)(close - src);
                    goto append;
                }
            }
            if (e == 's' || (e == 'S' && !in_class)) {
                put = e == 's' ? (in_class ? ECMA_SPACE : "[" ECMA_SPACE "]") : "[^" ECMA_SPACE "]";
                put_len = strlen(put);
                translated = true;
            }
            i++;
        } else if (c == '[' && !in_class) {
            in_class = true;
        } else if (c == ']' && in_class) {
            in_class = false;
        }
    append:
        if (n + put_len + 1 > cap) {
            char *p = realloc(buf, cap = (n + put_len + 1) * 2 + 64);

            if (p == NULL) {
                snprintf(err, err_size, "out of memory");
                goto out;
            }
            buf = p;
        }
        memcpy(buf + n, put, put_len);
        n += put_len;
    }
    if ((cc = pcre2_compile_context_create(NULL)) == NULL) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    /* "\u{1F600}" as well as "\uD83D": ECMA's unicode-mode escapes. */
    pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
    re = pcre2_compile((PCRE2_SPTR)(buf != NULL ? buf : ""), n,
                       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &errcode, &erroff, cc);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];

        pcre2_get_error_message(errcode, msg, sizeof msg);
        /* An offset into the translated text would mislead; give it only when untranslated. */
        if (translated)
            snprintf(err, err_size, "%s", (const char *)msg);
        else
            snprintf(err, err_size, "%s at offset %zu", (const char *)msg, (size_t)erroff);
        goto out;
    }
    /*
     * JIT makes matching several times faster; without JIT support PCRE2 interprets. Valgrind
     * cannot see into JIT code and reports false "uninitialised value" errors there: build with
     * -DSCHEMA_NO_JIT for valgrind runs.
     */
#ifndef SCHEMA_NO_JIT
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
#endif
out:
    pcre2_compile_context_free(cc);
    free(buf);
    return re;
}

static bool check_regex(const char *s, size_t n)
{
    char err[8];
    pcre2_code *re = schema_format_regex_compile(s, n, err, sizeof err);

    if (re == NULL)
        return false;
    pcre2_code_free(re);
    return true;
}

static bool check_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

bool schema_format_check(int format, const char *s, size_t len)
{
    switch (format) {
    case FMT_DATE_TIME:
        return check_date_time(s, len);
    case FMT_DATE:
        return check_date(s, len);
    case FMT_TIME:
        return check_time(s, len);
    case FMT_DURATION:
        return check_duration(s, len);
    case FMT_EMAIL:
        return check_email(s, len, false);
    case FMT_IDN_EMAIL:
        return check_email(s, len, true);
    case FMT_HOSTNAME:
        return check_hostname(s, len);
    case FMT_IDN_HOSTNAME:
        return check_idn_hostname(s, len);
    case FMT_IPV4:
        return check_ipv4(s, len);
    case FMT_IPV6:
        return check_ipv6(s, len);
    case FMT_UUID:
        return check_uuid(s, len);
    case FMT_URI:
        return check_uri(s, len, true, false);
    case FMT_URI_REFERENCE:
        return check_uri(s, len, false, false);
    case FMT_IRI:
        return check_uri(s, len, true, true);
    case FMT_IRI_REFERENCE:
        return check_uri(s, len, false, true);
    case FMT_URI_TEMPLATE:
        return check_uri_template(s, len);
    case FMT_REGEX:
        return check_regex(s, len);
    case FMT_JSON_POINTER:
        return check_json_pointer(s, len);
    case FMT_RELATIVE_JSON_POINTER:
        return check_relative_json_pointer(s, len);
    default:
        return true;
    }
}
