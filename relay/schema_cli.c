#include "schema_cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "schema.h"

#define USAGE                                                                                      \
    "usage: outbox-relay schema check [--draft 7|2020-12] DIR\n"                                   \
    "       outbox-relay schema validate [--draft 7|2020-12] [--assert-format] SCHEMA_FILE "       \
    "[JSON_FILE|-]\n"                                                                              \
    "exit codes: 0 valid, 1 invalid (reasons on stderr), 2 usage or schema errors\n"

typedef struct opts {
    int draft; /* 0: "$schema" decides, else 2020-12 */
    bool draft_forced;
    bool assert_format;
    const char *args[3];
    int nargs;
} opts;

static int usage(FILE *err, const char *why)
{
    if (why != NULL)
        fprintf(err, "outbox-relay schema: %s\n", why);
    fputs(USAGE, err);
    return SCHEMA_CLI_ERROR;
}

/* Options anywhere among the arguments; "-" is an argument (standard input), "--" ends them. */
static int parse(int argc, char **argv, opts *o, FILE *err)
{
    bool options = true;
    char why[256];

    memset(o, 0, sizeof(*o));
    o->draft = SCHEMA_DRAFT2020;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *value = NULL;

        if (options && strcmp(a, "--") == 0) {
            options = false;
        } else if (options && strncmp(a, "--draft", 7) == 0 && (a[7] == '\0' || a[7] == '=')) {
            value = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (value == NULL)
                return usage(err, "--draft needs a value: 7 or 2020-12");
            if (strcmp(value, "7") == 0 || strcmp(value, "draft-07") == 0)
                o->draft = SCHEMA_DRAFT7;
            else if (strcmp(value, "2020-12") == 0)
                o->draft = SCHEMA_DRAFT2020;
            else {
                snprintf(why, sizeof why, "--draft \"%s\": expected 7 or 2020-12", value);
                return usage(err, why);
            }
            o->draft_forced = true;
        } else if (options && strcmp(a, "--assert-format") == 0) {
            o->assert_format = true;
        } else if (options && strcmp(a, "-h") == 0) {
            return usage(err, NULL);
        } else if (options && a[0] == '-' && a[1] != '\0') {
            snprintf(why, sizeof why, "unknown option \"%s\"", a);
            return usage(err, why);
        } else if (o->nargs < 3) {
            o->args[o->nargs++] = a;
        } else {
            snprintf(why, sizeof why, "unexpected argument \"%s\"", a);
            return usage(err, why);
        }
    }
    return SCHEMA_CLI_OK;
}

static const char *draft_name(int draft)
{
    return draft == SCHEMA_DRAFT7 ? "draft-07" : draft == SCHEMA_DRAFT2019 ? "2019-09" : "2020-12";
}

/* ---- schema check DIR ---- */

typedef struct check_ctx {
    FILE *out, *err;
    int ok;
} check_ctx;

static void report(void *arg, const char *type, int version, const schema *s, const char *error)
{
    check_ctx *c = arg;
    char file[300];

    if (version > 0)
        snprintf(file, sizeof file, "%s.v%d.json", type, version);
    else
        snprintf(file, sizeof file, "%s.json", type);
    if (s == NULL) {
        fprintf(c->err, "FAIL %s\n", error);
        return;
    }
    c->ok++;
    if (version > 0)
        fprintf(c->out, "OK   %-32s event type %s version %d, %s\n", file, type, version,
                draft_name(schema_draft(s)));
    else
        fprintf(c->out, "OK   %-32s event type %s, %s\n", file, type, draft_name(schema_draft(s)));
}

static int cmd_check(const opts *o, FILE *out, FILE *err)
{
    schema_registry *reg;
    check_ctx c = {out, err, 0};
    char why[1024];
    int broken;

    if (o->nargs != 1)
        return usage(err, o->nargs == 0 ? "check needs a directory" : "check takes one directory");
    if ((reg = schema_registry_new(o->draft, o->assert_format)) == NULL) {
        fprintf(err, "outbox-relay schema: out of memory\n");
        return SCHEMA_CLI_ERROR;
    }
    broken = schema_registry_check_dir(reg, o->args[0], report, &c, why, sizeof why);
    schema_registry_free(reg);
    if (broken < 0) {
        fprintf(err, "FAIL %s\n", why);
        return SCHEMA_CLI_ERROR;
    }
    if (broken == 0 && c.ok == 0) {
        fprintf(err, "FAIL %s: no *.json schema files (one per event type: OrderCreated.json)\n",
                o->args[0]);
        return SCHEMA_CLI_ERROR;
    }
    fprintf(broken ? err : out, "%d schema%s compiled, %d broken\n", c.ok, c.ok == 1 ? "" : "s",
            broken);
    return broken ? SCHEMA_CLI_ERROR : SCHEMA_CLI_OK;
}

/* ---- schema validate SCHEMA_FILE [JSON_FILE|-] ---- */

/* Reads all of f; NULL when out of memory or on a read error (errno set). */
static char *read_all(FILE *f, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0, got;

    *len = 0;
    do {
        if (cap - *len < 4096) {
            char *grown = realloc(buf, cap + 65536);

            if (grown == NULL) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            buf = grown;
            cap += 65536;
        }
        got = fread(buf + *len, 1, cap - *len - 1, f);
        *len += got;
    } while (got > 0);
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

/*
 * Adds the other "*.json" files next to the schema, so relative "$ref"s resolve as they do in
 * the relay's schemas.dir. Best effort: a sibling that does not parse is skipped, since it may
 * be nothing the schema refers to (a "$ref" into it then fails with its own message).
 */
static void add_siblings(schema_registry *reg, const char *schema_abs)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(schema_abs, '/');
    DIR *d;
    struct dirent *de;

    snprintf(dir, sizeof dir, "%.*s", (int)(slash - schema_abs), schema_abs);
    if ((d = opendir(dir[0] ? dir : "/")) == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char path[PATH_MAX + 256], *uri;
        json_t *doc;

        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (strcmp(path, schema_abs) == 0 ||
            (doc = json_load_file(path, JSON_DECODE_ANY, NULL)) == NULL)
            continue;
        if ((uri = schema_file_uri(path)) != NULL)
            schema_registry_add(reg, uri, doc, NULL, 0);
        free(uri);
        json_decref(doc);
    }
    closedir(d);
}

static int cmd_validate(const opts *o, FILE *out, FILE *err)
{
    const char *schema_path, *json_path;
    const char *json_name;
    schema_registry *reg = NULL;
    schema *s = NULL;
    json_t *doc = NULL, *inst = NULL;
    json_error_t jerr;
    char abs[PATH_MAX], why[1024], *uri = NULL, *text = NULL;
    size_t len;
    FILE *f;
    int rc = SCHEMA_CLI_ERROR, r;

    if (o->nargs < 1 || o->nargs > 2)
        return usage(err, o->nargs == 0 ? "validate needs a schema file" : "too many arguments");
    schema_path = o->args[0];
    json_path = o->nargs == 2 ? o->args[1] : "-";
    json_name = strcmp(json_path, "-") == 0 ? "(stdin)" : json_path;

    /* JSON_DECODE_ANY: a schema may be just true or false. */
    if ((doc = json_load_file(schema_path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr)) ==
        NULL) {
        if (jerr.line < 0)
            fprintf(err, "%s: %s\n", schema_path, jerr.text);
        else
            fprintf(err, "%s:%d:%d: %s\n", schema_path, jerr.line, jerr.column, jerr.text);
        goto out;
    }
    /* --draft wins over "$schema": the dialect of files without one is the registry's. */
    if (o->draft_forced && json_is_object(doc))
        json_object_del(doc, "$schema");
    if (realpath(schema_path, abs) == NULL || (uri = schema_file_uri(abs)) == NULL ||
        (reg = schema_registry_new(o->draft, o->assert_format)) == NULL) {
        fprintf(err, "%s: %s\n", schema_path, strerror(errno ? errno : ENOMEM));
        goto out;
    }
    /* The schema first: a sibling claiming the same "$id" must not take its place. */
    if (schema_registry_add(reg, uri, doc, why, sizeof why) != 0) {
        fprintf(err, "%s: %s\n", schema_path, why);
        goto out;
    }
    add_siblings(reg, abs);
    if ((s = schema_compile_uri(reg, uri, why, sizeof why)) == NULL) {
        fprintf(err, "%s: %s\n", schema_path, why);
        goto out;
    }

    f = strcmp(json_path, "-") == 0 ? stdin : fopen(json_path, "r");
    if (f == NULL) {
        fprintf(err, "%s: cannot read: %s\n", json_name, strerror(errno));
        goto out;
    }
    text = read_all(f, &len);
    if (f != stdin)
        fclose(f);
    if (text == NULL) {
        fprintf(err, "%s: cannot read: %s\n", json_name, strerror(errno));
        goto out;
    }
    inst = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    /* Integers beyond 64 bits are JSON too: read them as doubles, as the relay does. */
    if (inst == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
        inst = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                          &jerr);
    if (inst == NULL) {
        fprintf(err, "%s:%d:%d: invalid: not JSON: %s\n", json_name, jerr.line, jerr.column,
                jerr.text);
        rc = SCHEMA_CLI_INVALID;
        goto out;
    }
    r = schema_validate(s, inst, why, sizeof why);
    if (r == 0) {
        fprintf(out, "%s: valid (%s, %s)\n", json_name, schema_path, draft_name(schema_draft(s)));
        rc = SCHEMA_CLI_OK;
    } else if (r == 1) {
        fprintf(err, "%s: invalid: %s\n", json_name, why);
        rc = SCHEMA_CLI_INVALID;
    } else {
        fprintf(err, "%s: cannot validate against %s: %s\n", json_name, schema_path, why);
    }
out:
    json_decref(inst);
    free(text);
    schema_free(s);
    schema_registry_free(reg);
    json_decref(doc);
    free(uri);
    return rc;
}

int schema_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    opts o;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc >= 2) {
            fputs(USAGE, out);
            return SCHEMA_CLI_OK;
        }
        return usage(err, NULL);
    }
    if ((rc = parse(argc, argv, &o, err)) != SCHEMA_CLI_OK)
        return rc;
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(&o, out, err);
    if (strcmp(argv[1], "validate") == 0)
        return cmd_validate(&o, out, err);
    fprintf(err, "outbox-relay schema: unknown command \"%s\" (check or validate)\n", argv[1]);
    return usage(err, NULL);
}
