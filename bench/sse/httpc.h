/*
 * A blocking HTTP/1.1 client for the bench's set-up and triggers (joins,
 * leaves, holds): one keep-alive connection to 127.0.0.1, one request at a
 * time, replies with a Content-Length (what concertd sends for JSON).
 */
#ifndef SSE_BENCH_HTTPC_H
#define SSE_BENCH_HTTPC_H

#include <stddef.h>

typedef struct httpc {
    int fd;
    int port;
} httpc;

/* Connect to 127.0.0.1:port. 0 or -1 (errno set). */
int httpc_open(httpc *c, int port);
void httpc_close(httpc *c);

/* Send METHOD PATH with an optional bearer token and JSON body (NULL: none)
 * and read the reply: its status, or -1 on a transport error. The body is
 * copied NUL-terminated into body[cap] (cut short if longer). A reply that
 * closes the connection reopens it for the next request. */
int httpc_request(httpc *c, const char *method, const char *path, const char *token,
                  const char *json, char *body, size_t cap);

/* The string value of "key":"..." in json, copied into out[cap]: 0 or -1. */
int json_string_field(const char *json, const char *key, char *out, size_t cap);
/* The integer value of "key":N in json: 0 or -1 (absent, null, not a number). */
int json_int_field(const char *json, const char *key, long long *out);

#endif
