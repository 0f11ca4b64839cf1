/* suites.h — one Check suite per module; check_main.c runs them by name. */
#ifndef RELAY_TEST_SUITES_H
#define RELAY_TEST_SUITES_H

#include <check.h>

Suite *suite_lsn(void);
Suite *suite_pgoutput(void);
Suite *suite_config(void);
Suite *suite_event(void);
Suite *suite_ledger(void);
Suite *suite_kafka(void);
Suite *suite_schema(void);
Suite *suite_route(void);
Suite *suite_backfill(void);

#endif
