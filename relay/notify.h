/*
 * notify.h — tells a service manager how `run` is doing, over systemd's notify protocol
 * (sd_notify of libsystemd). Without NOTIFY_SOCKET in the environment every call does
 * nothing, so the relay runs the same by hand, in a container or under Kubernetes.
 *
 * What the manager hears:
 *   READY=1     once the relay has started: streaming, or waiting as a standby. A standby
 *               is a healthy replica that has started; it may wait for hours, longer than
 *               any start timeout, so it counts as ready.
 *   STATUS=     one line: "streaming, confirmed X/X", "standby: ...", "stopping".
 *   WATCHDOG=1  at most every half of WatchdogSec (WATCHDOG_USEC), from every turn of the
 *               loops: the stream, a standby's wait, a wait on Kafka.
 *   STOPPING=1  once, when SIGTERM/SIGINT asked the relay to stop.
 *
 * The caller owns the struct (no global state); the clock is the monotonic one of clock.h.
 */
#ifndef RELAY_NOTIFY_H
#define RELAY_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "lsn.h"

typedef struct notify {
    int64_t ping_ms;  /* half of WatchdogSec; 0 when no watchdog is asked for */
    int64_t next_ping_ms, next_status_ms;
    relay_lsn shown;  /* the position STATUS= last told */
    bool ready, stopping;
} notify;

/* Reads WATCHDOG_USEC/WATCHDOG_PID (sd_watchdog_enabled). */
void notify_init(notify *n, int64_t now_ms);

/* READY=1 the first time, with STATUS= the formatted line each time (a standby taking
 * over, a reconnect). */
void notify_ready(notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every turn of a loop: WATCHDOG=1 when half of WatchdogSec has passed since the last. */
void notify_watchdog(notify *n, int64_t now_ms);

/* From the stream loop: the watchdog, and STATUS= with the confirmed position when it
 * moved (at most once a second). */
void notify_streaming(notify *n, int64_t now_ms, relay_lsn confirmed);

/* STOPPING=1 and STATUS=stopping, once. */
void notify_stopping(notify *n);

#endif
