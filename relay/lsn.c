#include "lsn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool lsn_parse(const char *text, relay_lsn *out)
{
    unsigned hi, lo;
    int end = 0;

    if (text == NULL || sscanf(text, "%X/%X%n", &hi, &lo, &end) != 2 || text[end] != '\0')
        return false;
    *out = ((relay_lsn)hi << 32) | lo;
    return true;
}

/* n hex digits into *out; false on any other byte. */
static bool hex_digits(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];
        if (!isxdigit(c))
            return false;
        v = v << 4 | (uint64_t)(isdigit(c) ? c - '0' : toupper(c) - 'A' + 10);
    }
    *out = v;
    return true;
}

bool lsn_position_parse(const char *text, size_t len, relay_lsn *lsn, uint32_t *index)
{
    char buf[64], *colon, *end;
    uint64_t l, i;
    unsigned long n;

    if (len == LSN_POSITION_LEN && text[16] == '-') {
        if (!hex_digits(text, 16, &l) || !hex_digits(text + 17, 8, &i))
            return false;
        *lsn = l;
        *index = (uint32_t)i;
        return true;
    }
    /* "X/X:N", written by relays before the fixed-width form */
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if ((colon = strchr(buf, ':')) == NULL || colon[1] < '0' || colon[1] > '9')
        return false;
    *colon = '\0';
    n = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || n > UINT32_MAX || !lsn_parse(buf, lsn))
        return false;
    *index = (uint32_t)n;
    return true;
}
