/*
 * log.h — one-line log records on stderr: "TIME LEVEL message".
 *
 * The level lives in a small struct the caller owns (no global state). The pure modules
 * (pgoutput, event, ledger, policy, record, schema) do not log: they return errors in errbuf
 * and let the caller decide. The drivers (pipeline, backfill) log, and so do publish (dead
 * letters, commit retries) and kafka (librdkafka's own lines, through a log_ctx they get).
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdarg.h>
#include <stdint.h>

typedef enum { LVL_ERROR, LVL_WARN, LVL_INFO, LVL_DEBUG } log_level;

typedef struct log_ctx {
    log_level level;
} log_ctx;

void log_write(const log_ctx *lg, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A warning that can come every second for as long as a fault lasts (status updates to a
 * lost server while Kafka is waited for): the first is written, then at most one per
 * LOG_REPEAT_MS, saying how many were held back since. The caller owns the state and
 * clears it once the fault is over (log_repeat_reset: it writes the count still held). */
#define LOG_REPEAT_MS 10000

typedef struct log_repeat {
    int64_t next_ms;
    unsigned long held;
} log_repeat;

void log_repeated(const log_ctx *lg, log_repeat *r, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void log_repeat_reset(const log_ctx *lg, log_repeat *r, log_level level);

#define log_error(lg, ...) log_write((lg), LVL_ERROR, __VA_ARGS__)
#define log_warn(lg, ...) log_write((lg), LVL_WARN, __VA_ARGS__)
#define log_info(lg, ...) log_write((lg), LVL_INFO, __VA_ARGS__)
#define log_debug(lg, ...) log_write((lg), LVL_DEBUG, __VA_ARGS__)

#endif
