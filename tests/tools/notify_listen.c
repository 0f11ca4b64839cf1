/*
 * notify_listen — plays systemd's side of the notify protocol for the server tests: binds a
 * datagram socket at PATH (what NOTIFY_SOCKET names) and prints each message the service
 * sends as one line, with the monotonic time it arrived:
 *
 *   notify_listen PATH
 *   12345.678<TAB>READY=1<TAB>STATUS=streaming from 0/1A2B3C
 *
 * The fields of a message (newline-separated in the protocol) are tab-separated here. Runs
 * until SIGTERM/SIGINT, then removes PATH.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct sigaction sa;
    struct timespec ts;
    char buf[4096];
    ssize_t n;
    int fd;

    if (argc != 2 || strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "usage: notify_listen PATH (shorter than %zu bytes)\n",
                sizeof addr.sun_path);
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends recv */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    memcpy(addr.sun_path, argv[1], strlen(argv[1]) + 1);
    unlink(argv[1]);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("notify_listen: socket/bind");
        return 1;
    }
    while (!stop) {
        n = recv(fd, buf, sizeof buf - 1, 0);
        if (n < 0)
            continue; /* EINTR: the loop condition decides */
        buf[n] = '\0';
        while (n > 0 && buf[n - 1] == '\n')
            buf[--n] = '\0';
        for (char *c = buf; *c; c++)
            if (*c == '\n')
                *c = '\t';
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf("%lld.%03ld\t%s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000, buf);
        fflush(stdout);
    }
    close(fd);
    unlink(argv[1]);
    return 0;
}
