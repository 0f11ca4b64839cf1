#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#define STATUS_EVERY_MS 1000

void notify_init(notify *n, int64_t now_ms)
{
    uint64_t usec = 0;

    *n = (notify){0};
    /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        n->ping_ms = (int64_t)(usec / 2000);
        if (n->ping_ms < 1)
            n->ping_ms = 1;
    }
    n->next_ping_ms = now_ms;
    n->next_status_ms = now_ms;
}

void notify_ready(notify *n, const char *fmt, ...)
{
    char status[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(status, sizeof status, fmt, ap);
    va_end(ap);
    sd_notifyf(0, "%sSTATUS=%s", n->ready ? "" : "READY=1\n", status);
    n->ready = true;
    n->shown = 0;
}

void notify_watchdog(notify *n, int64_t now_ms)
{
    if (n->ping_ms == 0 || now_ms < n->next_ping_ms)
        return;
    sd_notify(0, "WATCHDOG=1");
    n->next_ping_ms = now_ms + n->ping_ms;
}

void notify_streaming(notify *n, int64_t now_ms, relay_lsn confirmed)
{
    notify_watchdog(n, now_ms);
    if (now_ms < n->next_status_ms || confirmed == n->shown || n->stopping)
        return;
    sd_notifyf(0, "STATUS=streaming, confirmed " LSN_FMT, LSN_ARGS(confirmed));
    n->shown = confirmed;
    n->next_status_ms = now_ms + STATUS_EVERY_MS;
}

void notify_stopping(notify *n)
{
    if (n->stopping)
        return;
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    n->stopping = true;
}
