#include "log.h"

#include "clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

#define LINE_MAX_BYTES 2048

/* s as the inside of a JSON string into out (size bytes, always terminated): quotes,
 * backslashes and control characters escaped, bytes that are not UTF-8 replaced by U+FFFD,
 * so every record parses whatever librdkafka or a server wrote. */
static void json_escape(const char *s, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    while (*p != '\0' && n + 8 < size) {
        unsigned char c = *p;
        int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                                 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = len > 0 && !(len == 2 && c < 0xC2) && !(len == 4 && c > 0xF4);

        for (int i = 1; ok && i < len; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (!ok) {
            n += (size_t)snprintf(out + n, size - n, "\\ufffd");
            p++;
        } else if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
            p++;
        } else if (c == '\n') {
            n += (size_t)snprintf(out + n, size - n, "\\n");
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
            p++;
        } else {
            memcpy(out + n, p, (size_t)len);
            n += (size_t)len;
            p += len;
        }
    }
    out[n] = '\0';
}

static void write_record(const log_ctx *lg, log_level level, const log_field *fields,
                         size_t nfields, const char *fmt, va_list ap)
{
    char line[LINE_MAX_BYTES], stamp[40];
    struct timespec now;
    struct tm tm;

    if (lg != NULL && level > lg->level)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + strlen(stamp), sizeof stamp - strlen(stamp), ".%03ldZ",
             now.tv_nsec / 1000000);
    vsnprintf(line, sizeof line, fmt, ap);
    if (lg != NULL && lg->format == LOG_JSON) {
        char rec[LINE_MAX_BYTES * 6 + 1024], esc[LINE_MAX_BYTES * 6];
        size_t n;

        json_escape(line, esc, sizeof esc);
        n = (size_t)snprintf(rec, sizeof rec, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"",
                             stamp, level_names[level], esc);
        for (size_t i = 0; i < nfields && n < sizeof rec; i++) {
            char v[512];
            json_escape(fields[i].value, v, sizeof v);
            n += (size_t)snprintf(rec + n, sizeof rec - n, fields[i].number ? ",\"%s\":%s" :
                                                                              ",\"%s\":\"%s\"",
                                  fields[i].key, v);
        }
        if (n < sizeof rec)
            fprintf(stderr, "%s}\n", rec);
        return;
    }
    /* One record per line: a message with a newline in it (libpq's are) is folded. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    for (size_t n = strlen(line); n > 0 && line[n - 1] == ' '; n--)
        line[n - 1] = '\0';
    fprintf(stderr, "%s %s %s\n", stamp, level_names[level], line);
}

void log_write(const log_ctx *lg, log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    write_record(lg, level, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_write_fields(const log_ctx *lg, log_level level, const log_field *fields,
                      size_t nfields, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    write_record(lg, level, fields, nfields, fmt, ap);
    va_end(ap);
}

void log_repeated(const log_ctx *lg, log_repeat *r, log_level level, const char *fmt, ...)
{
    char line[1800];
    int64_t now = clock_mono_ms();
    va_list ap;

    if (now < r->next_ms) {
        r->held++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (r->held > 0)
        log_write(lg, level, "%s (%lu more like it since the last one)", line, r->held);
    else
        log_write(lg, level, "%s", line);
    r->next_ms = now + LOG_REPEAT_MS;
    r->held = 0;
}

void log_repeat_reset(const log_ctx *lg, log_repeat *r, log_level level)
{
    if (r->held > 0)
        log_write(lg, level, "(%lu more like it since the last one, until now)", r->held);
    r->next_ms = 0;
    r->held = 0;
}
