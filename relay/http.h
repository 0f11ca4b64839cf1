/*
 * http.h — the operator's endpoint: GET /metrics, /healthz and /readyz, served by
 * libmicrohttpd from its own thread.
 *
 * Owns: the listening socket (http.listen), the server thread and its limits. It only reads
 * the relay_metrics it is given (metrics.h): a slow, hostile or crowded client costs the
 * HTTP thread, never the replication loop. Limits: HTTP_MAX_CONNECTIONS connections in all
 * (HTTP_MAX_PER_IP from one address), each closed after HTTP_TIMEOUT_S without progress,
 * each with HTTP_CONNECTION_MEMORY bytes for its request (larger headers get 431).
 */
#ifndef RELAY_HTTP_H
#define RELAY_HTTP_H

#include <stddef.h>

#include "metrics.h"

#define HTTP_MAX_CONNECTIONS 32
#define HTTP_MAX_PER_IP 16
#define HTTP_TIMEOUT_S 10
#define HTTP_CONNECTION_MEMORY (32 * 1024)
/* /healthz fails when the loop has not turned for this long. The loop turns at least once a
 * second while streaming, and waits (Kafka commits, back-off, standby polls) are sliced so
 * that it still does. */
#define HTTP_LIVENESS_WINDOW_MS 60000

typedef struct http_server http_server;

/*
 * Listens on addr ("host:port", "[v6addr]:port" or ":port" for every address) and serves
 * m, which must outlive the server. NULL with one line in errbuf naming the address and the
 * fix when it cannot listen (address in use, no such host, no permission).
 */
http_server *http_start(const char *addr, relay_metrics *m, char *errbuf, size_t errbuf_size);

/* Stops the thread and closes the socket; NULL is fine. */
void http_stop(http_server *s);

/* The address actually bound, "host:port" (port 0 in listen picks a free one). */
const char *http_address(const http_server *s);

#endif
