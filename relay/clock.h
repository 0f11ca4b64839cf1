/*
 * clock.h — the clocks the relay reads, and the Postgres epoch.
 *
 * Monotonic time measures intervals (batch age, back-off, rates); wall time stamps what
 * leaves the process (records, job starts, status updates). Postgres counts time from
 * 2000-01-01 UTC on the wire; everything inside the relay counts from 1970.
 */
#ifndef RELAY_CLOCK_H
#define RELAY_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds from the Unix epoch (1970-01-01) to the Postgres epoch (2000-01-01). */
#define CLOCK_PG_EPOCH_OFFSET_US 946684800000000LL

static inline int64_t clock_read_us(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic: only differences mean anything. */
static inline int64_t clock_mono_us(void)
{
    return clock_read_us(CLOCK_MONOTONIC);
}

static inline int64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

/* Wall time, µs since 1970 UTC. */
static inline int64_t clock_wall_us(void)
{
    return clock_read_us(CLOCK_REALTIME);
}

/* Sleeps ms milliseconds, or less when a signal arrives. */
static inline void clock_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

#endif
