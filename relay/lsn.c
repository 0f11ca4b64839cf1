#include "lsn.h"

#include <stdio.h>

bool lsn_parse(const char *text, relay_lsn *out)
{
    unsigned hi, lo;
    int end = 0;

    if (text == NULL || sscanf(text, "%X/%X%n", &hi, &lo, &end) != 2 || text[end] != '\0')
        return false;
    *out = ((relay_lsn)hi << 32) | lo;
    return true;
}
