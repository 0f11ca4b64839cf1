/*
 * audit.h — `outbox-relay audit`: whether every selected outbox row reached Kafka exactly
 * once. Reads the rows with SQL (scan.h, one snapshot) and the records of their topics and
 * of the dead-letter topic with read_committed, matches them by event_id, and reports each
 * row as published once, dead-lettered once, missing (or pending, when the relay's
 * checkpoint has not passed it yet), published more than once, or out of order for its
 * key (by outbox_position).
 */
#ifndef RELAY_AUDIT_H
#define RELAY_AUDIT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "record.h"

#define AUDIT_SHOWN 20 /* problems listed per kind */

typedef struct audit_args {
    const char *config;
    record_selection sel;
    char topic[RECORD_TOPIC_MAX]; /* --topic: the records are there instead of outbox.topic */
    int64_t wait_s;               /* --wait: for the relay's checkpoint to pass the rows */
    bool json, help;
} audit_args;

/* Parses `audit` arguments; 0, or -1 with a one-line message. */
int audit_parse_args(int argc, char **argv, int64_t now_us, audit_args *out, char *errbuf,
                     size_t errbuf_size);

void audit_usage(FILE *f);

/* Runs the audit, printing to out: 0 when every row is in Kafka exactly once and in order,
 * 1 when not, or another exit code (exitcode.h) when it could not tell. */
int audit_run(const audit_args *args, const relay_config *cfg, const log_ctx *lg, FILE *out,
              volatile sig_atomic_t *stop);

#endif
