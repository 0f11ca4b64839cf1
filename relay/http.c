#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

struct http_server {
    struct MHD_Daemon *daemon;
    relay_metrics *metrics;
    int fd;
    char address[128];
};

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;

    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    return reply(conn, status, "text/plain; charset=utf-8", (char *)msg, strlen(msg),
                 MHD_RESPMEM_PERSISTENT);
}

/* Each request is answered at its first call: GET and HEAD have no body to wait for, and
 * anything else is refused before its body is read. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server *s = cls;
    relay_metrics *m = s->metrics;
    metrics_state st;
    bool alive;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    alive = metrics_alive(m, clock_mono_ms(), HTTP_LIVENESS_WINDOW_MS);
    st = metrics_get_state(m);
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = metrics_render(m, &len);
        if (body == NULL)
            return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return reply(conn, MHD_HTTP_OK, METRICS_TYPE, body, len, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0)
        return alive ? text(conn, MHD_HTTP_OK, "ok\n")
                     : text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stalled\n");
    if (strcmp(url, "/readyz") == 0) {
        static const char *const words[] = {
            [METRICS_STARTING] = "starting\n",
            [METRICS_STANDBY] = "standby\n",
            [METRICS_STREAMING] = "streaming\n",
            [METRICS_STOPPING] = "stopping\n",
        };
        if (!alive)
            return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stalled\n");
        return text(conn, st == METRICS_STREAMING ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                    words[st]);
    }
    return text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

/* Splits "host:port", "[v6]:port" or ":port" into host (empty for every address) and port. */
static int split_listen(const char *addr, char *host, size_t host_size, char *port,
                        size_t port_size)
{
    const char *colon;
    size_t hlen;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        hlen = (size_t)(close - addr - 1);
        addr++;
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - addr);
    }
    if (hlen >= host_size || strlen(colon + 1) == 0 || strlen(colon + 1) >= port_size ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -1;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    snprintf(port, port_size, "%s", colon + 1);
    return 0;
}

/* Binds and listens; the descriptor, or -1 with errbuf set. */
static int open_socket(const char *addr, char *bound, size_t bound_size, char *errbuf,
                       size_t errbuf_size)
{
    char host[256], port[16], h[INET6_ADDRSTRLEN];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res, *ai;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    int fd = -1, rc, err = 0, one = 1;

    if (split_listen(addr, host, sizeof host, port, sizeof port) != 0) {
        snprintf(errbuf, errbuf_size,
                 "http.listen \"%s\" is not host:port, [ipv6]:port or :port (set "
                 "OUTBOX_RELAY_HTTP_LISTEN or http.listen, or \"\" to turn the endpoint off)",
                 addr);
        return -1;
    }
    if ((rc = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, port, &hints, &res)) !=
        0) {
        snprintf(errbuf, errbuf_size, "http.listen \"%s\": %s (fix the host name in http.listen)",
                 addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size,
                 "http.listen \"%s\": cannot listen: %s (%s; set http.listen or "
                 "OUTBOX_RELAY_HTTP_LISTEN to a free host:port, or \"\" to turn the endpoint off)",
                 addr, strerror(err),
                 err == EADDRINUSE ? "another process holds the port" : "the address is not usable");
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0) {
        if (sa.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
            inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof h);
            snprintf(bound, bound_size, "[%s]:%u", h, ntohs(a->sin6_port));
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&sa;
            inet_ntop(AF_INET, &a->sin_addr, h, sizeof h);
            snprintf(bound, bound_size, "%s:%u", h, ntohs(a->sin_port));
        }
    }
    return fd;
}

http_server *http_start(const char *addr, relay_metrics *m, char *errbuf, size_t errbuf_size)
{
    http_server *s = calloc(1, sizeof *s);

    if (s == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    s->metrics = m;
    s->fd = open_socket(addr, s->address, sizeof s->address, errbuf, errbuf_size);
    if (s->fd < 0) {
        free(s);
        return NULL;
    }
    /* One internal thread polls every connection; nothing it does waits for the loop. */
    s->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
        s->fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_END);
    if (s->daemon == NULL) {
        snprintf(errbuf, errbuf_size, "http.listen \"%s\": libmicrohttpd did not start", addr);
        close(s->fd);
        free(s);
        return NULL;
    }
    return s;
}

void http_stop(http_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon); /* closes the listening socket too */
    free(s);
}

const char *http_address(const http_server *s)
{
    return s->address;
}
