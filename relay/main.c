/*
 * main.c — the command line: `outbox-relay run|check|backfill|audit -c FILE`, signals, exit codes.
 *
 * Owns: argument parsing, loading the config, the SIGTERM/SIGINT flag and the choice
 * of subcommand. Knows no wire format.
 */
#include <getopt.h>
#include <pthread.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit.h"
#include "backfill.h"
#include "clock.h"
#include "checklist.h"
#include "config.h"
#include "exitcode.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "schema_cli.h"
#include "slotwatch.h"

extern char **environ;

/* The only mutable global: set by the signal handler, read by the loop. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fputs("usage: outbox-relay run -c FILE [--accept-slot-position]\n"
          "                                     relay outbox inserts to Kafka until SIGTERM\n"
          "       outbox-relay check -c FILE    check config, Postgres and Kafka, print fixes\n"
          "       outbox-relay backfill -c FILE --job NAME [--from-id N] [--to-id N] [--since TS]\n"
          "                    [--until TS] [--event-type T] [--aggregate-id K] [--topic T]\n"
          "                    [--rate N] [--dry-run] [--restart]\n"
          "                                     re-publish outbox rows read with SQL (--help)\n"
          "       outbox-relay audit -c FILE [SELECTION] [--topic T] [--wait S] [--json]\n"
          "                                     is every row in Kafka exactly once? (--help)\n"
          "       outbox-relay schema check DIR | schema validate SCHEMA_FILE [JSON_FILE|-]\n"
          "                                     compile schemas, validate a document (--help)\n"
          "       outbox-relay --help | --version\n"
          "\n"
          "Every setting can be overridden by OUTBOX_RELAY_<PATH> (e.g.\n"
          "OUTBOX_RELAY_POSTGRES_CONNINFO); see etc/outbox-relay.conf and README.md.\n"
          "\n"
          "exit codes: 0 ok, 1 check or audit failed, 64 usage, 65 event stopped by policy, 69 server\n"
          "unreachable, 70 internal error, 77 Postgres refused the user,\n"
          "78 config or server setup, 79 slot and checkpoint disagree, 80 Kafka fatal/fenced,\n"
          "81 backfill stopped by a signal before its end\n",
          f);
}

/* The log before the config is read: the format the environment asks for, so that even a
 * broken file's line reaches a JSON log collector as JSON. */
static log_ctx first_log(void)
{
    const char *f = getenv("OUTBOX_RELAY_LOG_FORMAT");

    return (log_ctx){LVL_INFO, f != NULL && strcasecmp(f, "json") == 0 ? LOG_JSON : LOG_TEXT};
}

/* No SA_RESTART: a signal interrupts the wait on the replication socket. */
static void catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Threads started between block_stop_signals and restore leave SIGTERM/SIGINT to the main
 * thread, whose waits they interrupt. */
static void block_stop_signals(sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

/* The HTTP endpoint over m on addr (http.listen, backfill's --http-listen); *srv stays NULL
 * when addr is NULL or "". An address that cannot be bound is a configuration error: one
 * line, EXIT_CONFIG. */
static int start_http(const char *addr, relay_metrics *m, const log_ctx *lg, http_server **srv)
{
    char err[1024];

    *srv = NULL;
    if (addr == NULL || addr[0] == '\0')
        return EXIT_OK;
    if ((*srv = http_start(addr, m, err, sizeof err)) == NULL) {
        log_error(lg, "%s", err);
        return EXIT_CONFIG;
    }
    log_info(lg, "http: /metrics, /healthz and /readyz on %s", http_address(*srv));
    return EXIT_OK;
}

/* A config file holding a password that others may read is worth a line at every start. */
static void warn_exposed(const relay_config *cfg, const log_ctx *lg)
{
    char warning[PATH_MAX * 2 + 256];

    if (config_exposed_warning(cfg, warning, sizeof warning)[0] != '\0')
        log_warn(lg, "%s", warning);
}

static int cmd_run(const char *path, bool accept_slot_position)
{
    char err[1024];
    relay_config *cfg = config_load(path, environ, err, sizeof err);
    log_ctx lg = first_log();
    failpoint fp;
    relay_metrics metrics;
    http_server *srv = NULL;
    slotwatch *watch = NULL;
    pipeline_opts opts = {accept_slot_position, &fp, &metrics};
    sigset_t sigs;
    int rc;

    if (cfg == NULL) {
        log_error(&lg, "%s", err);
        return EXIT_CONFIG;
    }
    lg.level = cfg->log.level;
    lg.format = cfg->log.format;
    if (metrics_init(&metrics, "run") != 0) {
        config_free(cfg);
        return EXIT_INTERNAL;
    }
    warn_exposed(cfg, &lg);
    catch_stop_signals();
    log_info(&lg, "outbox-relay %s starting as \"%s\" (config %s)", RELAY_VERSION, cfg->name,
             path);
    block_stop_signals(&sigs);
    rc = start_http(cfg->http.listen, &metrics, &lg, &srv);
    if (rc == EXIT_OK && (watch = slotwatch_start(cfg, &lg, &metrics)) == NULL) {
        log_error(&lg, "cannot start the slot watch thread (out of memory or threads)");
        rc = EXIT_INTERNAL;
    }
    pthread_sigmask(SIG_SETMASK, &sigs, NULL);
    if (rc == EXIT_OK) {
        failpoint_init(&fp, environ);
        rc = pipeline_run(cfg, &opts, &lg, &stop_requested);
    }
    snprintf(err, sizeof err, "%d", rc);
    log_write_fields(&lg, LVL_INFO, &(log_field){"exit_code", err, 1}, 1,
                     "outbox-relay stopped (exit %d)", rc);
    slotwatch_stop(watch);
    http_stop(srv);
    metrics_destroy(&metrics);
    config_free(cfg);
    return rc;
}

/* The configuration of a command with its own options (backfill, audit), its log level, and
 * the stop signals caught; NULL after saying why. */
static relay_config *load_for_command(const char *path, log_ctx *lg)
{
    char err[1024];
    relay_config *cfg = config_load(path, environ, err, sizeof err);

    if (cfg == NULL) {
        log_error(lg, "%s", err);
        return NULL;
    }
    lg->level = cfg->log.level;
    lg->format = cfg->log.format;
    warn_exposed(cfg, lg);
    catch_stop_signals();
    return cfg;
}

/* Backfill and audit read the outbox table with SQL; logical messages are only in the WAL,
 * which a slot reads once. True, after saying so, when the configuration reads messages. */
static bool refuse_messages(const relay_config *cfg, const char *cmd, const log_ctx *lg)
{
    if (cfg->outbox.source != CONFIG_SOURCE_MESSAGES)
        return false;
    log_error(lg,
              "outbox-relay %s reads the outbox table with SQL and cannot see logical messages "
              "(outbox.source = \"messages\"%s%s): there is no table to read; a message "
              "outbox has no %s (README \"Logical-message outbox\")",
              cmd, cfg->source != NULL ? " in " : "", cfg->source != NULL ? cfg->source : "",
              strcmp(cmd, "backfill") == 0 ? "replay" : "audit");
    return true;
}

/* Backfill has its own options (backfill.h): a mistyped one is one line and exit 64. */
static int cmd_backfill(int argc, char **argv)
{
    backfill_args args;
    char err[1024];
    relay_config *cfg;
    log_ctx lg = first_log();
    relay_metrics metrics;
    http_server *srv = NULL;
    sigset_t sigs;
    int rc;

    if (backfill_parse_args(argc, argv, clock_wall_us(), &args, err, sizeof err) != 0) {
        fprintf(stderr, "outbox-relay backfill: %s\n", err);
        return EXIT_USAGE;
    }
    if (args.help) {
        backfill_usage(stdout);
        return EXIT_OK;
    }
    if ((cfg = load_for_command(args.config, &lg)) == NULL)
        return EXIT_CONFIG;
    if (refuse_messages(cfg, "backfill", &lg)) {
        config_free(cfg);
        return EXIT_CONFIG;
    }
    if (metrics_init(&metrics, "backfill") != 0) {
        config_free(cfg);
        return EXIT_INTERNAL;
    }
    block_stop_signals(&sigs);
    rc = start_http(args.http_listen, &metrics, &lg, &srv);
    pthread_sigmask(SIG_SETMASK, &sigs, NULL);
    if (rc == EXIT_OK)
        rc = backfill_run(&args, cfg, &lg, &metrics, &stop_requested);
    http_stop(srv);
    metrics_destroy(&metrics);
    config_free(cfg);
    return rc;
}

/* Audit has its own options (audit.h), with backfill's selection. */
static int cmd_audit(int argc, char **argv)
{
    audit_args args;
    char err[1024];
    relay_config *cfg;
    log_ctx lg = first_log();
    int rc;

    if (audit_parse_args(argc, argv, clock_wall_us(), &args, err, sizeof err) != 0) {
        fprintf(stderr, "outbox-relay audit: %s\n", err);
        return EXIT_USAGE;
    }
    if (args.help) {
        audit_usage(stdout);
        return EXIT_OK;
    }
    if ((cfg = load_for_command(args.config, &lg)) == NULL)
        return EXIT_CONFIG;
    if (refuse_messages(cfg, "audit", &lg)) {
        config_free(cfg);
        return EXIT_CONFIG;
    }
    rc = audit_run(&args, cfg, &lg, stdout, &stop_requested);
    config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"accept-slot-position", no_argument, NULL, 'A'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *cmd;
    bool accept_slot_position = false;
    int c;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return EXIT_OK;
    }
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("outbox-relay %s\n", RELAY_VERSION);
        return EXIT_OK;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* Its own arguments and exit codes (0 valid, 1 invalid, 2 usage): made for CI scripts. */
    if (strcmp(argv[1], "schema") == 0)
        return schema_cli_main(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "audit") == 0)
        return cmd_audit(argc - 1, argv + 1);
    if (strcmp(argv[1], "backfill") == 0)
        return cmd_backfill(argc - 1, argv + 1);
    cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'A': accept_slot_position = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        case 'V': printf("outbox-relay %s\n", RELAY_VERSION); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "outbox-relay: unexpected argument \"%s\"\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "check") != 0) {
        fprintf(stderr, "outbox-relay: unknown command \"%s\" (try --help)\n", cmd);
        return EXIT_USAGE;
    }
    if (config == NULL) {
        fprintf(stderr, "outbox-relay %s: -c FILE is required (see etc/outbox-relay.conf)\n",
                cmd);
        return EXIT_USAGE;
    }
    if (accept_slot_position && strcmp(cmd, "run") != 0) {
        fprintf(stderr, "outbox-relay: --accept-slot-position is an option of run\n");
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "check") == 0)
        return checklist_run(config, environ, stdout);
    return cmd_run(config, accept_slot_position);
}
