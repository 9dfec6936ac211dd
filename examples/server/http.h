/*
 * libmicrohttpd glue: turns HTTP connections into api_handle() calls, logs
 * one line per request and shuts down without cutting requests short.
 */
#ifndef CONCERTD_HTTP_H
#define CONCERTD_HTTP_H

#include <stddef.h>

#include "api.h"

typedef struct http_server http_server;

/* --log-format: how each request is logged on stderr. */
typedef enum http_log_format {
    HTTP_LOG_TEXT = 0, /* "<time> <method> <path> <status> <ms>ms route=... bytes=N id=..." */
    HTTP_LOG_JSON,     /* one JSON object per line, keys as in docs/http.md */
    HTTP_LOG_OFF       /* no request lines (start and stop messages remain) */
} http_log_format;

typedef struct http_settings {
    const char *host;              /* numeric address or name to bind */
    unsigned port;                 /* 0: any free port */
    unsigned threads;              /* worker threads, >= 1 */
    unsigned connection_timeout_s; /* idle connections are closed after it */
    unsigned connection_limit;     /* most connections open at once */
    unsigned max_conns_per_ip;     /* most connections from one address; 0: no cap */
    int cap_loopback;              /* 1: the cap counts loopback peers too */
    int strict_headers;            /* 1: refuse heads libmicrohttpd dropped bytes
                                      of (edge_check.h) */
    unsigned head_timeout_ms;      /* a request head must arrive within it */
    unsigned body_timeout_ms;      /* a request body within it of the head */
    int reuse_port;                /* 1: SO_REUSEPORT, so that several
                                      processes can serve one port */
    http_log_format log_format;
} http_settings;

/*
 * Start serving api (kept, not copied: it must outlive the server) as set
 * out in settings. Returns 0 and *out, or -1 with a message in err.
 */
int http_server_start(http_server **out, const http_settings *settings, const api_context *api,
                      char *err, size_t errlen);

/* The port actually bound (useful after asking for port 0). */
unsigned http_server_port(const http_server *server);

/*
 * Stop accepting, give requests already in progress up to grace_ms to finish
 * (their responses say "Connection: close"), then close every connection and
 * free the server. NULL is a no-op.
 */
void http_server_stop(http_server *server, unsigned grace_ms);

#endif
