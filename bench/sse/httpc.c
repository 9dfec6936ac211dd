/*
 * Blocking keep-alive HTTP client (see httpc.h).
 */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Replies bigger than this are refused: the set-up reads small documents. */
#define REPLY_MAX (4 * 1024 * 1024)

int httpc_open(httpc *c, int port)
{
    c->port = port;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    const int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        const int e = errno;
        close(c->fd);
        c->fd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

void httpc_close(httpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The value of header name (with its colon) in the head, or NULL. */
static const char *header_value(const char *head, const char *name)
{
    const size_t n = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, n) == 0) {
            line += n;
            while (*line == ' ')
                line++;
            return line;
        }
    }
    return NULL;
}

int httpc_request(httpc *c, const char *method, const char *path, const char *token,
                  const char *json, char *body, size_t cap)
{
    if (c->fd < 0 && httpc_open(c, c->port) != 0)
        return -1;
    char req[2048], clen[96] = "";
    const size_t json_len = json ? strlen(json) : 0;
    if (json != NULL)
        snprintf(clen, sizeof clen, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                 json_len);
    const int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s\r\n",
                           method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                           token ? "\r\n" : "", clen);
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    if (send_all(c->fd, req, (size_t)n) != 0 ||
        (json != NULL && send_all(c->fd, json, json_len) != 0)) {
        httpc_close(c);
        return -1;
    }

    size_t have = 0, want = 0, size = 8192;
    char *buf = malloc(size + 1);
    char *head_end = NULL;
    int status = -1, closes = 0;
    if (buf == NULL)
        return -1;
    for (;;) {
        if (head_end != NULL && have >= want)
            break;
        if (have == size) {
            if (size >= REPLY_MAX)
                goto fail;
            size *= 2;
            char *grown = realloc(buf, size + 1);
            if (grown == NULL)
                goto fail;
            buf = grown;
        }
        const ssize_t r = recv(c->fd, buf + have, size - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto fail;
        have += (size_t)r;
        buf[have] = '\0';
        if (head_end == NULL && (head_end = strstr(buf, "\r\n\r\n")) != NULL) {
            *head_end = '\0'; /* the head alone is searched below */
            if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
                goto fail;
            const char *len = header_value(buf, "Content-Length:");
            const char *conn = header_value(buf, "Connection:");
            closes = conn != NULL && strncasecmp(conn, "close", 5) == 0;
            want = (size_t)(head_end - buf) + 4 + (len ? strtoul(len, NULL, 10) : 0);
            head_end[0] = '\r';
        }
    }
    {
        const size_t off = (size_t)(head_end - buf) + 4;
        const size_t blen = want - off;
        if (cap > 0) {
            const size_t k = blen < cap - 1 ? blen : cap - 1;
            memcpy(body, buf + off, k);
            body[k] = '\0';
        }
    }
    free(buf);
    if (closes)
        httpc_close(c);
    return status;
fail:
    free(buf);
    httpc_close(c);
    return -1;
}

static const char *after_key(const char *json, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? p + strlen(pat) : NULL;
}

int json_string_field(const char *json, const char *key, char *out, size_t cap)
{
    const char *p = after_key(json, key);
    if (p == NULL || *p != '"')
        return -1;
    p++;
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

int json_int_field(const char *json, const char *key, long long *out)
{
    const char *p = after_key(json, key);
    if (p == NULL)
        return -1;
    char *end;
    *out = strtoll(p, &end, 10);
    return end == p ? -1 : 0;
}
