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

typedef enum { LVL_ERROR, LVL_WARN, LVL_INFO, LVL_DEBUG } log_level;

typedef struct log_ctx {
    log_level level;
} log_ctx;

void log_write(const log_ctx *lg, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(lg, ...) log_write((lg), LVL_ERROR, __VA_ARGS__)
#define log_warn(lg, ...) log_write((lg), LVL_WARN, __VA_ARGS__)
#define log_info(lg, ...) log_write((lg), LVL_INFO, __VA_ARGS__)
#define log_debug(lg, ...) log_write((lg), LVL_DEBUG, __VA_ARGS__)

#endif
