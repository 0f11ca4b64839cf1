/*
 * failpoint.h — named points where a test build can kill the relay (SIGKILL, as
 * `kill -9` would), to prove that a crash at exactly that instant loses and duplicates
 * nothing.
 *
 * Compiled in only with -DRELAY_FAILPOINTS (CMake option RELAY_FAILPOINTS, which
 * tests/run.sh turns on); in a production build FAILPOINT() is empty and the
 * environment variable is never read. Armed by RELAY_FAILPOINT=NAME[:N] (die at the
 * N-th hit, default 1).
 */
#ifndef RELAY_FAILPOINT_H
#define RELAY_FAILPOINT_H

typedef struct failpoint {
    char name[64]; /* "" = disarmed */
    long remaining; /* hits left before it fires */
} failpoint;

/* Reads RELAY_FAILPOINT from envp (NULL-terminated "K=V" array). */
void failpoint_init(failpoint *fp, char *const *envp);

/* Counts a hit of name; kills the process when it is the armed point's N-th. */
void failpoint_hit(failpoint *fp, const char *name);

#ifdef RELAY_FAILPOINTS
#define FAILPOINT(fp, name) failpoint_hit((fp), (name))
#else
#define FAILPOINT(fp, name) ((void)(fp))
#endif

#endif
