/*
 * check_main.c — the unit test runner: `check_relay [SUITE...]` runs the named suites
 * (all when none is named) and exits non-zero if any test failed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static const struct {
    const char *name;
    Suite *(*make)(void);
} suites[] = {
    {"lsn", suite_lsn},       {"pgoutput", suite_pgoutput}, {"config", suite_config},
    {"event", suite_event},   {"ledger", suite_ledger},     {"kafka", suite_kafka},
    {"schema", suite_schema},       {"policy", suite_policy},     {"backfill", suite_backfill},
    {"metrics", suite_metrics},
    {"shape", suite_shape},      {"message", suite_message}, {"tables", suite_tables},
};

int main(int argc, char **argv)
{
    SRunner *runner = NULL;
    size_t n = sizeof(suites) / sizeof(suites[0]);
    int failed;

    for (size_t i = 0; i < n; i++) {
        bool wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted = wanted || strcmp(argv[a], suites[i].name) == 0;
        if (!wanted)
            continue;
        if (runner == NULL)
            runner = srunner_create(suites[i].make());
        else
            srunner_add_suite(runner, suites[i].make());
    }
    if (runner == NULL) {
        fprintf(stderr, "check_relay: no suite named %s\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
