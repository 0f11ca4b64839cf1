/* suites.h — one Check suite per module; check_main.c runs them by name. */
#ifndef RELAY_TEST_SUITES_H
#define RELAY_TEST_SUITES_H

#include <check.h>

typedef struct relay_config relay_config;

/* The defaults as config_load(NULL, no environment) makes them, loaded once and kept for
 * the process (check_config.c). Copy it by value and change what a test needs: its strings
 * live as long as the process. */
const relay_config *test_config_defaults(void);

Suite *suite_lsn(void);
Suite *suite_pgoutput(void);
Suite *suite_config(void);
Suite *suite_event(void);
Suite *suite_ledger(void);
Suite *suite_kafka(void);
Suite *suite_schema(void);
Suite *suite_policy(void);
Suite *suite_backfill(void);
Suite *suite_metrics(void);
Suite *suite_shape(void);
Suite *suite_message(void);
Suite *suite_tables(void);

#endif
