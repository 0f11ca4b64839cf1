#include "failpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void failpoint_init(failpoint *fp, char *const *envp)
{
    memset(fp, 0, sizeof(*fp));
#ifdef RELAY_FAILPOINTS
    for (; envp != NULL && *envp != NULL; envp++) {
        const char *v = *envp;
        if (strncmp(v, "RELAY_FAILPOINT=", 16) != 0)
            continue;
        v += 16;
        size_t n = strcspn(v, ":");
        snprintf(fp->name, sizeof fp->name, "%.*s", (int)n, v);
        fp->remaining = v[n] == ':' ? strtol(v + n + 1, NULL, 10) : 1;
        fprintf(stderr, "failpoint armed: %s at hit %ld\n", fp->name, fp->remaining);
    }
#else
    (void)envp;
#endif
}

void failpoint_hit(failpoint *fp, const char *name)
{
    if (fp->name[0] == '\0' || strcmp(fp->name, name) != 0 || --fp->remaining > 0)
        return;
    /* Unbuffered write: stdio may not get to flush before the kill. */
    static const char msg[] = "failpoint fired: killing the process\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing to do: the process dies next */
    }
    raise(SIGKILL);
}
