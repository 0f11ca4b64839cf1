#include "log.h"

#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_write(const log_ctx *lg, log_level level, const char *fmt, ...)
{
    char line[2048], stamp[32];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (lg != NULL && level > lg->level)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One record per line: a message with a newline in it (libpq's are) is folded. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    for (size_t n = strlen(line); n > 0 && line[n - 1] == ' '; n--)
        line[n - 1] = '\0';
    fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, now.tv_nsec / 1000000, level_names[level], line);
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
