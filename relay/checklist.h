/*
 * checklist.h — `outbox-relay check`: a checklist of everything `run` needs, each line OK
 * or FAIL with the exact fix (the SQL to run, the setting to change).
 *
 * Owns: the order of the checks and their wording; the probing itself is done through
 * config, pgrepl and kafka, the same code `run` uses.
 */
#ifndef RELAY_CHECKLIST_H
#define RELAY_CHECKLIST_H

#include <stdio.h>

/* Prints the checklist to out; returns EXIT_OK when every item passed, else
 * EXIT_CHECK_FAILED (or EXIT_CONFIG when the file itself cannot be loaded). */
int checklist_run(const char *config_path, char *const *envp, FILE *out);

#endif
