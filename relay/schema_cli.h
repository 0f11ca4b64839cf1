/*
 * schema_cli.h — `outbox-relay schema …`: the schema registry for producers' CI, without a
 * config file, Postgres or Kafka.
 *
 *   outbox-relay schema check [--draft 7|2020-12] DIR
 *       compiles every "*.json" of DIR as the relay would (schemas.dir) and reports every
 *       problem, not only the first;
 *   outbox-relay schema validate [--draft 7|2020-12] [--assert-format] SCHEMA_FILE [JSON_FILE|-]
 *       validates one JSON document (standard input without JSON_FILE, or with "-").
 *
 * Without --draft, "$schema" decides; absent both, 2020-12 (as schemas.draft). Relative "$ref"s
 * reach the other "*.json" files of the schema's directory, as in the relay.
 */
#ifndef RELAY_SCHEMA_CLI_H
#define RELAY_SCHEMA_CLI_H

#include <stdio.h>

/* Exit codes of `schema`: its own, because CI scripts test for them. */
enum {
    SCHEMA_CLI_OK = 0,      /* every schema compiles; the document is valid */
    SCHEMA_CLI_INVALID = 1, /* the document is invalid (or not JSON): reasons on err */
    SCHEMA_CLI_ERROR = 2,   /* bad usage, unreadable file, or a schema that does not compile */
};

/* argv[0] is "schema". Results go to out, problems to err, one line each. */
int schema_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
