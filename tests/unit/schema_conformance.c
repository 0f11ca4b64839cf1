/*
 * schema_conformance.c — runs the official JSON-Schema-Test-Suite against relay/schema/.
 *
 *   schema_conformance [-v] [--optional] [--remotes DIR] [SUITE_DIR]
 *
 * SUITE_DIR is one dialect's directory (default: Debian's json-schema-test-suite draft7; a
 * draft2020-12 or draft2019-09 directory works too, the dialect is taken from its name). Every
 * ".json" file in it runs with format as an annotation, then every file in "optional/format"
 * with format as an assertion; --optional adds the other files in "optional" (format asserted).
 *
 * The suite's remote documents (default: SUITE_DIR/../../remotes) are added to each registry
 * under http://localhost:1234/, which is what refRemote.json expects; without them that file is
 * skipped. Each test group gets a fresh registry: groups reuse "$id"s with different content.
 *
 * Prints "PASS|FAIL <file> <passed>/<total>" per file, each failing case under it, and
 *   conformance: files=<n> cases=<n> passed=<n> failed=<n> skipped=<n>
 * Exits 1 if any case that ran failed, 2 on usage or I/O errors.
 */
#include "schema.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_SUITE "/usr/share/json-schema-test-suite/tests/draft7"
#define REMOTE_BASE "http://localhost:1234/"

typedef struct {
    char *uri;
    json_t *doc;
} remote;

typedef struct {
    int draft;
    bool verbose;
    remote *remotes;
    size_t nremotes, remcap;
    long files, cases, passed, failed, skipped;
} runner;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted "*.json" names in dir (NULL-terminated), or NULL when dir cannot be read. */
static char **list_json(const char *dir)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;

    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n + 2 > cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*p));

            if (p == NULL)
                break;
            names = p;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (names == NULL && (names = calloc(1, sizeof(*names))) == NULL)
        return NULL;
    names[n] = NULL;
    qsort(names, n, sizeof(*names), cmp_str);
    return names;
}

static void free_list(char **names)
{
    for (size_t i = 0; names != NULL && names[i] != NULL; i++)
        free(names[i]);
    free(names);
}

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Every remote document under dir, recursively, named by its path relative to the root. */
static void load_remotes(runner *r, const char *dir, const char *rel)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char path[4096], sub[4096];
        size_t len = strlen(de->d_name);
        json_error_t jerr;
        json_t *doc;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(sub, sizeof sub, "%s%s", rel, de->d_name);
        if (is_dir(path)) {
            strncat(sub, "/", sizeof sub - strlen(sub) - 1);
            load_remotes(r, path, sub);
            continue;
        }
        if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if ((doc = json_load_file(path, 0, &jerr)) == NULL) {
            fprintf(stderr, "schema_conformance: %s:%d: %s (remote skipped)\n", path, jerr.line,
                    jerr.text);
            continue;
        }
        if (r->nremotes == r->remcap) {
            remote *p =
                realloc(r->remotes, (r->remcap = r->remcap ? r->remcap * 2 : 32) * sizeof(*p));

            if (p == NULL) {
                json_decref(doc);
                break;
            }
            r->remotes = p;
        }
        r->remotes[r->nremotes].doc = doc;
        r->remotes[r->nremotes].uri = malloc(strlen(REMOTE_BASE) + strlen(sub) + 1);
        if (r->remotes[r->nremotes].uri == NULL) {
            json_decref(doc);
            break;
        }
        strcpy(r->remotes[r->nremotes].uri, REMOTE_BASE);
        strcat(r->remotes[r->nremotes].uri, sub);
        r->nremotes++;
    }
    closedir(d);
}

/* Runs one test file; returns false when it could not be read. */
static bool run_file(runner *r, const char *path, const char *label, bool format_assert)
{
    json_error_t jerr;
    json_t *groups = json_load_file(path, JSON_ALLOW_NUL, &jerr), *group;
    long passed = 0, total = 0;
    size_t gi;
    char errbuf[512];
    char *report = NULL;
    size_t report_len = 0;
    FILE *out;

    /* bignum.json: jansson stops at 64-bit integers; doubles are what schema_validate_text uses. */
    if (groups == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
        groups = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (groups == NULL) {
        printf("FAIL %s 0/0\n    cannot parse: %d:%d: %s\n", label, jerr.line, jerr.column,
               jerr.text);
        r->files++;
        return false;
    }
    if ((out = open_memstream(&report, &report_len)) == NULL) {
        json_decref(groups);
        return false;
    }
    json_array_foreach(groups, gi, group)
    {
        const char *gdesc = json_string_value(json_object_get(group, "description"));
        json_t *tests = json_object_get(group, "tests"), *test;
        schema_registry *reg = schema_registry_new(r->draft, format_assert);
        schema *s = NULL;
        size_t ti;

        for (size_t i = 0; reg != NULL && i < r->nremotes; i++)
            (void)schema_registry_add(reg, r->remotes[i].uri, r->remotes[i].doc, NULL, 0);
        if (reg != NULL)
            s = schema_compile(reg, json_object_get(group, "schema"), errbuf, sizeof errbuf);
        if (s == NULL && reg == NULL)
            snprintf(errbuf, sizeof errbuf, "out of memory");
        json_array_foreach(tests, ti, test)
        {
            const char *tdesc = json_string_value(json_object_get(test, "description"));
            bool want = json_is_true(json_object_get(test, "valid"));
            int got = -2;

            total++;
            if (s != NULL) {
                errbuf[0] = '\0';
                got = schema_validate(s, json_object_get(test, "data"), errbuf, sizeof errbuf);
            }
            if ((got == 0 && want) || (got == 1 && !want)) {
                passed++;
                if (r->verbose)
                    fprintf(out, "    ok  %s / %s%s%s\n", gdesc, tdesc, got ? ": " : "", errbuf);
                continue;
            }
            fprintf(out, "    - %s / %s: expected %s, got %s%s%s\n", gdesc, tdesc,
                    want ? "valid" : "invalid",
                    got == 0    ? "valid"
                    : got == 1  ? "invalid"
                    : got == -1 ? "error"
                                : "compile error",
                    got != 0 ? ": " : "", got != 0 ? errbuf : "");
        }
        schema_free(s);
        schema_registry_free(reg);
    }
    fclose(out);
    printf("%s %s %ld/%ld\n", passed == total ? "PASS" : "FAIL", label, passed, total);
    if (report_len > 0)
        fputs(report, stdout);
    free(report);
    r->files++;
    r->cases += total;
    r->passed += passed;
    r->failed += total - passed;
    json_decref(groups);
    return true;
}

static long count_cases(const char *path)
{
    json_t *groups = json_load_file(path, JSON_ALLOW_NUL, NULL), *group;
    size_t gi;
    long n = 0;

    json_array_foreach(groups, gi, group)
    {
        n += (long)json_array_size(json_object_get(group, "tests"));
    }
    json_decref(groups);
    return n;
}

static void run_dir(runner *r, const char *dir, const char *prefix, bool format_assert)
{
    char **names = list_json(dir);

    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        char path[4096], label[512];

        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(label, sizeof label, "%s%s", prefix, names[i]);
        if (strcmp(names[i], "refRemote.json") == 0 && r->nremotes == 0) {
            long n = count_cases(path);

            printf("SKIP %s %ld cases: remote documents not found (--remotes DIR)\n", label, n);
            r->skipped += n;
            continue;
        }
        run_file(r, path, label, format_assert);
    }
    free_list(names);
}

int main(int argc, char **argv)
{
    runner r = {0};
    const char *suite = DEFAULT_SUITE, *remotes = NULL;
    bool optional = false;
    char path[4096], remotes_default[4096];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            r.verbose = true;
        } else if (strcmp(argv[i], "--optional") == 0) {
            optional = true;
        } else if (strcmp(argv[i], "--remotes") == 0 && i + 1 < argc) {
            remotes = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: schema_conformance [-v] [--optional] [--remotes DIR] "
                            "[SUITE_DIR]\n");
            return 2;
        } else {
            suite = argv[i];
        }
    }
    if (!is_dir(suite)) {
        fprintf(stderr,
                "schema_conformance: %s: not a directory (install json-schema-test-suite)\n",
                suite);
        return 2;
    }
    r.draft = strstr(suite, "2020-12") || strstr(suite, "next") ? SCHEMA_DRAFT2020
              : strstr(suite, "2019-09")                        ? SCHEMA_DRAFT2019
                                                                : SCHEMA_DRAFT7;
    if (remotes == NULL) {
        snprintf(remotes_default, sizeof remotes_default, "%s/../../remotes", suite);
        remotes = remotes_default;
    }
    load_remotes(&r, remotes, "");

    run_dir(&r, suite, "", false);
    snprintf(path, sizeof path, "%s/optional/format", suite);
    run_dir(&r, path, "optional/format/", true);
    if (optional) {
        snprintf(path, sizeof path, "%s/optional", suite);
        run_dir(&r, path, "optional/", true);
    }

    printf("conformance: files=%ld cases=%ld passed=%ld failed=%ld skipped=%ld\n", r.files, r.cases,
           r.passed, r.failed, r.skipped);
    for (size_t i = 0; i < r.nremotes; i++) {
        free(r.remotes[i].uri);
        json_decref(r.remotes[i].doc);
    }
    free(r.remotes);
    return r.failed > 0 ? 1 : 0;
}
