/*
 * libFuzzer target: whole byte streams into a running concertd HTTP layer
 * (libmicrohttpd + http.c + api_handle()), not only into the handler as
 * fuzz_http.c does. The server starts once, in-process, on a loopback port,
 * with a memory store and the demo catalog.
 *
 * Input: the first byte's low two bits say into how many extra pieces the
 * stream is cut; each of the next that many bytes is a piece's length. The
 * rest is the stream, written piece by piece (1 ms apart, so that the server
 * reads them separately), then the write side is shut.
 * Seeds start with '0' (no cuts) so that they stay readable.
 *
 * A failure (abort) is: a reply that is not HTTP/1.x; a JSON-typed body
 * that does not parse, or an error body that is not the JSON envelope; a 5xx
 * other than 501, 503 or 505 from concertd; a body without a Content-Type that is not
 * one of libmicrohttpd's own pages (docs/http-edge.md); GET /healthz not
 * answered 200 afterwards (the server wedged, or connections it never lets
 * go filled it). ASan/UBSan reports and crashes end the run too.
 *
 * A stream neither answered nor closed within STREAM_WAIT_MS (a request cut
 * short: the server waits for the rest until its deadlines) is counted,
 * not failed, since most mutations cut a request short; the count is
 * printed at exit. FUZZ_HTTP_STREAM_STRICT=1 fails on the first one, to
 * find which inputs the server leaves hanging.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api.h"
#include "catalog_json.h"
#include "http.h"
#include "list_cache.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How long a stream's first reply byte or close is waited for. */
#define STREAM_WAIT_MS 40
/* Once a whole reply is in, this long without a byte ends the read: a
 * keep-alive connection stays open after its last reply. */
#define QUIET_AFTER_REPLY_MS 10
/* GET /healthz must answer within this. */
#define HEALTH_BOUND_MS 5000
#define REPLY_MAX (4u << 20)
#define ADMIN_KEY "fuzz-admin-key-0123456789abcdef"

static api_context ctx;
static http_server *server;
static unsigned port;
static int strict;
static unsigned long streams, unanswered, replies;

static void print_counts(void)
{
    fprintf(stderr,
            "fuzz_http_stream: %lu streams, %lu replies checked, %lu neither answered "
            "nor closed within %d ms\n",
            streams, replies, unanswered, STREAM_WAIT_MS);
}

static void fail(const char *what, const char *detail, size_t len)
{
    fprintf(stderr, "fuzz_http_stream: %s\n--- reply (%zu bytes) ---\n%.*s\n---\n", what, len,
            (int)(len > 2000 ? 2000 : len), detail ? detail : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    const char *s = getenv("FUZZ_HTTP_STREAM_STRICT");
    strict = s != NULL && strcmp(s, "1") == 0;
    atexit(print_counts);
    char err[256];
    int loaded = 0;
    if (concert_db_open(&ctx.db, "memory:", NULL) != 0 ||
        catalog_demo_load_if_empty(ctx.db, &loaded, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_http_stream: cannot set up the store\n");
        abort();
    }
    ctx.auth_mode = API_AUTH_NONE;
    ctx.admin_key = ADMIN_KEY;
    ctx.admin_key_len = strlen(ADMIN_KEY);
    ctx.seat_lists = list_cache_new(16);
    ctx.schedule_lists = list_cache_new(16);
    ctx.seat_maps = list_cache_new(16);
    const http_settings settings = {
        .host = "127.0.0.1",
        .port = 0,
        .threads = 2,
        /* Every stream here comes from 127.0.0.1, and a connection whose
         * client closed while its request was being answered stays open
         * until the idle timeout (an open finding, see
         * tests/fuzz/http_stream_open/README.md): so no per-address cap, room
         * for a few hundred such connections, and short deadlines. /healthz
         * still fails if connections are never let go. */
        .connection_timeout_s = 5,
        .connection_limit = 1000,
        .max_conns_per_ip = 0,
        .head_timeout_ms = 2000,
        .body_timeout_ms = 2000,
        .log_format = HTTP_LOG_OFF,
    };
    if (http_server_start(&server, &settings, &ctx, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_http_stream: %s\n", err);
        abort();
    }
    port = http_server_port(server);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_server(void)
{
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        /* libFuzzer's timeout alarm can interrupt connect(), which then
         * goes on by itself: wait for it. */
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int rc;
        do
            rc = poll(&p, 1, HEALTH_BOUND_MS);
        while (rc < 0 && errno == EINTR);
        int soerr = 0;
        socklen_t soerr_len = sizeof soerr;
        if (rc <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0 ||
            soerr != 0) {
            errno = rc <= 0 ? ETIMEDOUT : soerr;
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* Write all of buf unless the server closed or reset first (which is an
 * answer too). */
static void write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        const int ready = poll(&p, 1, STREAM_WAIT_MS);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0 || (p.revents & (POLLERR | POLLHUP)))
            return;
        const ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

typedef struct reply {
    char *buf; /* REPLY_MAX bytes */
    size_t len;
    int closed;     /* EOF or reset seen: buf is all the server sent */
    int maybe_head; /* the stream has a HEAD request: a head with a
                       Content-Length may come without its body */
} reply;

static char stream_buf[REPLY_MAX];
static char health_buf[REPLY_MAX];

/* A case-insensitive header lookup in head[0..len): the value's start and
 * length, or NULL. */
static const char *find_header(const char *head, size_t len, const char *name, size_t *vlen)
{
    const size_t nlen = strlen(name);
    const char *line = memchr(head, '\n', len);
    while (line != NULL && (size_t)(line + 1 - head) < len) {
        line++;
        const char *end = memchr(line, '\n', len - (size_t)(line - head));
        if (end == NULL)
            break;
        if ((size_t)(end - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
            line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (v < end && *v == ' ')
                v++;
            const char *ve = end;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = end;
    }
    return NULL;
}

/* libmicrohttpd's own pages (no Content-Type, an HTML body): the statuses
 * docs/http-edge.md lists as answered before concertd sees a request. */
static int mhd_own_status(int status)
{
    switch (status) {
    case 400: /* malformed request line, header line or chunk size; a
                 Content-Length that is not digits */
    case 413: /* Content-Length or a chunk size past 2^64 - 1 */
    case 414: /* request line too long */
    case 431: /* header line too long */
    case 505: /* HTTP version */
        return 1;
    default:
        return 0;
    }
}

static void check_json_body(int status, const char *body, size_t len, const reply *r)
{
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return;
    json_object *doc = json_tokener_parse_ex(tok, body, (int)len);
    const enum json_tokener_error jerr = json_tokener_get_error(tok);
    const size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (doc == NULL || jerr != json_tokener_success)
        fail("a JSON-typed body does not parse", r->buf, r->len);
    for (size_t i = used; i < len; i++)
        if (body[i] != '\n' && body[i] != ' ' && body[i] != '\r')
            fail("bytes after the JSON body", r->buf, r->len);
    if (status >= 400) {
        json_object *e = NULL, *code = NULL, *msg = NULL;
        if (!json_object_object_get_ex(doc, "error", &e) ||
            !json_object_object_get_ex(e, "code", &code) ||
            !json_object_object_get_ex(e, "message", &msg) ||
            !json_object_is_type(code, json_type_string) ||
            !json_object_is_type(msg, json_type_string))
            fail("an error without the JSON envelope", r->buf, r->len);
    }
    json_object_put(doc);
}

/* Check every whole reply in r; returns how many there were, and sets
 * *partial when bytes after them do not yet make a reply. */
static int check_replies(const reply *r, int *partial)
{
    size_t at = 0;
    int whole = 0;
    *partial = 0;
    while (at < r->len) {
        const char *p = r->buf + at;
        const size_t left = r->len - at;
        if (left < 13) {
            *partial = 1;
            break;
        }
        if ((memcmp(p, "HTTP/1.1 ", 9) != 0 && memcmp(p, "HTTP/1.0 ", 9) != 0) || p[9] < '1' ||
            p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
            (p[12] != ' ' && p[12] != '\r'))
            fail("a reply that is not an HTTP/1.x status line", r->buf, r->len);
        const int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        const char *end = NULL;
        for (size_t i = 0; i + 3 < left; i++)
            if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
                end = p + i + 4;
                break;
            }
        if (end == NULL) {
            *partial = 1;
            break;
        }
        const size_t head_len = (size_t)(end - p);
        size_t vlen = 0;
        const char *type = find_header(p, head_len, "Content-Type", &vlen);
        size_t type_len = vlen;
        const char *te = find_header(p, head_len, "Transfer-Encoding", &vlen);
        const char *cl = find_header(p, head_len, "Content-Length", &vlen);
        if (te != NULL)
            return whole + 1; /* chunked (event streams): not followed further */
        size_t body_len = 0;
        int to_close = 0;
        if (cl != NULL) {
            char num[24];
            if (vlen == 0 || vlen >= sizeof num)
                fail("a bad Content-Length in a reply", r->buf, r->len);
            memcpy(num, cl, vlen);
            num[vlen] = '\0';
            char *e = NULL;
            const unsigned long long n = strtoull(num, &e, 10);
            if (*e != '\0' || n > REPLY_MAX)
                fail("a bad Content-Length in a reply", r->buf, r->len);
            body_len = (size_t)n;
        } else if (status >= 200 && status != 204 && status != 304) {
            to_close = 1;
        }
        const size_t body_left = left - head_len;
        /* libmicrohttpd 0.9.75 writes the head of its bad-Content-Length
         * page twice ("The doubled head" in docs/http-edge.md): documented,
         * and the connection closes after it. */
        if (type == NULL && (status == 400 || status == 413) && body_left >= head_len &&
            memcmp(end, p, head_len) == 0) {
            at += head_len;
            continue;
        }
        /* A HEAD reply says Content-Length but sends no body: the next reply
         * (no body starts like one) or nothing follows the head. */
        if (r->maybe_head && body_len > 0 &&
            ((body_left >= 7 && memcmp(end, "HTTP/1.", 7) == 0) || (body_left == 0 && r->closed)))
            body_len = 0;
        if (to_close) {
            if (!r->closed) {
                *partial = 1;
                break;
            }
            body_len = body_left;
        } else if (body_left < body_len) {
            if (r->closed)
                fail("a reply shorter than its Content-Length", r->buf, r->len);
            *partial = 1;
            break;
        }
        const int json =
            type != NULL && type_len >= 16 && strncasecmp(type, "application/json", 16) == 0;
        if (body_len > 0 && type == NULL &&
            (!mhd_own_status(status) || body_len < 6 || memcmp(end, "<html>", 6) != 0))
            fail("a body without a Content-Type that is not libmicrohttpd's own page", r->buf,
                 r->len);
        if (json && body_len > 0)
            check_json_body(status, end, body_len, r);
        /* 501 (a Transfer-Encoding other than chunked) and 505 (the HTTP
         * version) are answers to the request; 503 is the store; any other
         * 5xx is a bug, as in fuzz_http.c. */
        if (status >= 500 && status != 501 && status != 503 && status != 505 &&
            !(type == NULL && mhd_own_status(status)))
            fail("concertd answered a 5xx other than 501, 503 or 505", r->buf, r->len);
        whole++;
        at += head_len + body_len;
    }
    return whole;
}

/* Read until the server closes, or a whole reply is in and the line went
 * quiet, or the bound passes. */
static void read_reply(int fd, reply *r, int64_t bound_ms)
{
    const int64_t deadline = now_ms() + bound_ms;
    for (;;) {
        const int64_t left = deadline - now_ms();
        if (left <= 0)
            return;
        int partial = 0;
        const int whole = r->len > 0 ? check_replies(r, &partial) : 0;
        const int64_t wait = whole > 0 && !partial ? QUIET_AFTER_REPLY_MS : left;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        const int ready = poll(&p, 1, (int)(wait < left ? wait : left));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            if (whole > 0 && !partial)
                return; /* quiet since the last whole reply */
            continue;
        }
        if (r->len == REPLY_MAX)
            fail("a reply over 4 MiB", r->buf, r->len);
        const ssize_t n = recv(fd, r->buf + r->len, REPLY_MAX - r->len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            r->closed = 1;
            return;
        }
        r->len += (size_t)n;
    }
}

static void check_health(void)
{
    static const char GET[] = "GET /healthz HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n";
    static const char OK_BODY[] = "{\"status\":\"ok\"}";
    const int fd = connect_server();
    if (fd < 0)
        fail("cannot connect for /healthz", strerror(errno), strlen(strerror(errno)));
    write_all(fd, (const uint8_t *)GET, sizeof GET - 1);
    reply r = { health_buf, 0, 0, 0 };
    read_reply(fd, &r, HEALTH_BOUND_MS);
    close(fd);
    if (r.len < 12 || memcmp(r.buf, "HTTP/1.1 200", 12) != 0 ||
        memmem(r.buf, r.len, OK_BODY, sizeof OK_BODY - 1) == NULL)
        fail("GET /healthz did not answer 200 after the stream", r.buf, r.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (server == NULL)
        LLVMFuzzerInitialize(NULL, NULL);
    if (size == 0)
        return 0;
    size_t cuts = data[0] & 3u, pos = 1;
    size_t piece[3];
    for (size_t i = 0; i < cuts; i++)
        piece[i] = pos < size ? (size_t)data[pos++] + 1 : 1;
    const uint8_t *stream = data + pos;
    size_t left = size - pos;

    const int fd = connect_server();
    if (fd < 0)
        fail("cannot connect", strerror(errno), strlen(strerror(errno)));
    for (size_t i = 0; i < cuts && left > 0; i++) {
        const size_t n = piece[i] < left ? piece[i] : left;
        write_all(fd, stream, n);
        stream += n;
        left -= n;
        usleep(1000);
    }
    write_all(fd, stream, left);
    shutdown(fd, SHUT_WR);

    reply r = { stream_buf, 0, 0, memmem(data, size, "HEAD", 4) != NULL };
    read_reply(fd, &r, STREAM_WAIT_MS);
    close(fd);
    int partial = 0;
    const int whole = check_replies(&r, &partial);
    streams++;
    replies += (unsigned long)whole;
    if (!r.closed && r.len == 0) {
        unanswered++;
        if (strict)
            fail("neither answered nor closed within the wait", r.buf, r.len);
    }
    check_health();
    return 0;
}
