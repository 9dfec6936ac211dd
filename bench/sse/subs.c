/*
 * The subscriber pool (see subs.h).
 */
#include "subs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOKEN_MAX 128
#define HEAD_MAX 8192
#define EVENT_NAME_MAX 32
/* A stream's data buffer bigger than this is freed after its event (a
 * 1,000-seat map is tens of KB; hundreds of them need not stay around). */
#define DATA_KEEP 4096
#define EPOLL_BATCH 256
#define READ_CHUNK 65536

typedef enum sub_state {
    S_IDLE,       /* not connected */
    S_CONNECTING, /* connect() in progress */
    S_HEAD,       /* request sent, reading the reply's head */
    S_STREAM,     /* reading events */
} sub_state;

/* Chunked transfer decoding. */
typedef enum chunk_phase {
    C_SIZE,
    C_EXT,
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_END
} chunk_phase;

typedef struct sub {
    sub_kind kind;
    sub_state state;
    int fd;
    uint32_t gen; /* bumped at each connection: stale epoll events are ignored */
    int finished; /* the server ended this token's stream for good */
    int failed;
    int got_first;
    char token[TOKEN_MAX];

    char head[HEAD_MAX];
    size_t head_len;
    int chunked;
    chunk_phase cphase;
    uint64_t chunk_left;

    char *line; /* the SSE line being read */
    size_t line_len, line_cap;
    char event[EVENT_NAME_MAX];
    char *data; /* the event's data lines, joined with \n */
    size_t data_len, data_cap;

    long long position; /* queue: last position seen (-1: null) */
    double expect_t;    /* > 0: a change is expected since then */
} sub;

struct subs_pool {
    int port;
    int64_t schedule_id;
    int ep;
    sub *subs;
    size_t n, cap;
    size_t next_idle; /* where subs_connect looks for the next one */
    size_t pending;   /* changes still expected */
    int64_t want_seat;
    char want_status[16];
    samples *lat;
    subs_counts c;
    char *rbuf;
};

subs_pool *subs_new(int port, int64_t schedule_id)
{
    subs_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->port = port;
    p->schedule_id = schedule_id;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    p->rbuf = malloc(READ_CHUNK);
    if (p->ep < 0 || p->rbuf == NULL) {
        subs_free(p);
        return NULL;
    }
    return p;
}

static void sub_close(subs_pool *p, sub *s)
{
    if (s->fd >= 0)
        close(s->fd); /* leaves the epoll set with it */
    s->fd = -1;
    if (s->state == S_STREAM && s->got_first && !s->finished)
        p->c.open[s->kind]--;
    if (s->expect_t > 0) {
        s->expect_t = 0;
        p->pending--;
    }
    s->state = S_IDLE;
    free(s->line);
    free(s->data);
    s->line = s->data = NULL;
    s->line_len = s->line_cap = s->data_len = s->data_cap = 0;
}

void subs_free(subs_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        sub_close(p, &p->subs[i]);
    if (p->ep >= 0)
        close(p->ep);
    free(p->subs);
    free(p->rbuf);
    free(p);
}

int subs_add(subs_pool *p, sub_kind kind, const char *token)
{
    if (strlen(token) >= TOKEN_MAX)
        return -1;
    if (p->n == p->cap) {
        const size_t cap = p->cap ? p->cap * 2 : 1024;
        sub *grown = realloc(p->subs, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        p->subs = grown;
        p->cap = cap;
    }
    sub *s = &p->subs[p->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->fd = -1;
    s->position = -1;
    snprintf(s->token, sizeof s->token, "%s", token);
    return 0;
}

void subs_get_counts(const subs_pool *p, subs_counts *out)
{
    *out = p->c;
}

/* what: detail, kept when it is the first failure. */
static void note_failure(subs_pool *p, sub *s, const char *what, const char *detail)
{
    s->failed = 1;
    p->c.failed++;
    if (p->c.first_failure[0] == '\0')
        snprintf(p->c.first_failure, sizeof p->c.first_failure, "%s: %s", what, detail);
}

static void start_connect(subs_pool *p, sub *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        note_failure(p, s, "socket", strerror(errno));
        return;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p->port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        note_failure(p, s, "connect", strerror(errno));
        sub_close(p, s);
        return;
    }
    s->gen++;
    s->state = S_CONNECTING;
    s->head_len = 0;
    s->chunked = 0;
    s->cphase = C_SIZE;
    s->chunk_left = 0;
    s->event[0] = '\0';
    s->got_first = 0;
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP };
    ev.data.u64 = ((uint64_t)s->gen << 32) | (uint64_t)(s - p->subs);
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
        note_failure(p, s, "epoll_ctl", strerror(errno));
        sub_close(p, s);
    }
}

static void send_request(subs_pool *p, sub *s)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        note_failure(p, s, "connect", strerror(err ? err : errno));
        sub_close(p, s);
        return;
    }
    char req[512], path[128];
    if (s->kind == SUB_QUEUE)
        snprintf(path, sizeof path, "/api/v1/queue/tokens/current/events");
    else
        snprintf(path, sizeof path, "/api/v1/schedules/%lld/seats/events",
                 (long long)p->schedule_id);
    const int n = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                           "Authorization: Bearer %s\r\n\r\n",
                           path, s->token);
    /* A fresh socket takes a few hundred bytes in one go. */
    if (n < 0 || send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        note_failure(p, s, "send", strerror(errno));
        sub_close(p, s);
        return;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
    ev.data.u64 = ((uint64_t)s->gen << 32) | (uint64_t)(s - p->subs);
    epoll_ctl(p->ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->state = S_HEAD;
}

/* Does the object of seat `seat` in data say status? */
static int seat_has_status(const char *data, int64_t seat, const char *status)
{
    char pat[48];
    snprintf(pat, sizeof pat, "{\"number\":%lld,", (long long)seat);
    const char *o = strstr(data, pat);
    if (o == NULL)
        return 0;
    const char *end = strchr(o, '}');
    const char *st = strstr(o, "\"status\":\"");
    if (st == NULL || (end != NULL && st > end))
        return 0;
    st += strlen("\"status\":\"");
    /* "!FREE": any status but FREE (a hold shows HELD in the map's
     * vocabulary, TAKEN where a renderer only knows free or not). */
    const int negate = status[0] == '!';
    const char *want = status + negate;
    const int same = strncmp(st, want, strlen(want)) == 0 && st[strlen(want)] == '"';
    return negate ? !same : same;
}

static void delivered(subs_pool *p, sub *s)
{
    samples_add(p->lat, (now_s() - s->expect_t) * 1000.0);
    s->expect_t = 0;
    p->pending--;
}

static void on_event(subs_pool *p, sub *s)
{
    const char *data = s->data ? s->data : "";
    p->c.events++;
    if (strcmp(s->event, "error") == 0) {
        p->c.error_events++;
        if (p->c.first_failure[0] == '\0')
            snprintf(p->c.first_failure, sizeof p->c.first_failure, "event: error %.200s", data);
        if (s->got_first && !s->finished)
            p->c.open[s->kind]--;
        s->finished = 1;
        p->c.finished++;
        if (s->expect_t > 0) { /* not the change expected: not counted */
            s->expect_t = 0;
            p->pending--;
        }
        return;
    }
    const int first = !s->got_first;
    if (first && !s->finished) {
        s->got_first = 1;
        p->c.open[s->kind]++;
    }
    if (s->kind == SUB_QUEUE && strcmp(s->event, "queue") == 0) {
        long long pos = -1;
        const char *ps = strstr(data, "\"position\":");
        if (ps != NULL && ps[11] != 'n')
            pos = strtoll(ps + 11, NULL, 10);
        const int waiting = strstr(data, "\"status\":\"WAITING\"") != NULL;
        if (!first && s->expect_t > 0 && (!waiting || (pos >= 0 && pos < s->position)))
            delivered(p, s);
        s->position = pos;
        if (!waiting) { /* ACTIVE (or ended): the stream ends after this event */
            if (!s->finished) {
                p->c.open[s->kind]--;
                p->c.finished++;
            }
            s->finished = 1;
        }
    } else if (s->kind == SUB_SEATS && strcmp(s->event, "seats") == 0) {
        if (s->expect_t > 0 && seat_has_status(data, p->want_seat, p->want_status))
            delivered(p, s);
    }
}

/* One SSE line (without its end). */
static int on_line(subs_pool *p, sub *s, const char *line, size_t len)
{
    if (len == 0) {
        if (s->event[0] != '\0' || s->data_len > 0) {
            if (s->event[0] == '\0')
                snprintf(s->event, sizeof s->event, "message");
            on_event(p, s);
        }
        s->event[0] = '\0';
        s->data_len = 0;
        if (s->data_cap > DATA_KEEP) {
            free(s->data);
            s->data = NULL;
            s->data_cap = 0;
        }
        return 0;
    }
    if (line[0] == ':') {
        p->c.keepalives++;
        return 0;
    }
    const char *colon = memchr(line, ':', len);
    const size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    if (colon && value < line + len && *value == ' ')
        value++;
    const size_t value_len = (size_t)(line + len - value);
    if (name_len == 5 && strncmp(line, "event", 5) == 0) {
        snprintf(s->event, sizeof s->event, "%.*s", (int)value_len, value);
    } else if (name_len == 4 && strncmp(line, "data", 4) == 0) {
        const size_t need = s->data_len + value_len + 2;
        if (need > s->data_cap) {
            size_t cap = s->data_cap ? s->data_cap : 256;
            while (cap < need)
                cap *= 2;
            char *grown = realloc(s->data, cap);
            if (grown == NULL)
                return -1;
            s->data = grown;
            s->data_cap = cap;
        }
        if (s->data_len > 0)
            s->data[s->data_len++] = '\n';
        memcpy(s->data + s->data_len, value, value_len);
        s->data_len += value_len;
        s->data[s->data_len] = '\0';
    }
    /* id: and retry: are not needed here */
    return 0;
}

/* Event-stream bytes (after any chunk framing). */
static int feed_sse(subs_pool *p, sub *s, const char *b, size_t n)
{
    p->c.bytes += n;
    while (n > 0) {
        const char *nl = memchr(b, '\n', n);
        const size_t take = nl ? (size_t)(nl - b) : n;
        if (nl != NULL && s->line_len == 0) {
            /* a whole line in the buffer: no copy */
            size_t len = take;
            if (len > 0 && b[len - 1] == '\r')
                len--;
            if (on_line(p, s, b, len) != 0)
                return -1;
        } else {
            const size_t need = s->line_len + take + 1;
            if (need > s->line_cap) {
                size_t cap = s->line_cap ? s->line_cap : 256;
                while (cap < need)
                    cap *= 2;
                char *grown = realloc(s->line, cap);
                if (grown == NULL)
                    return -1;
                s->line = grown;
                s->line_cap = cap;
            }
            memcpy(s->line + s->line_len, b, take);
            s->line_len += take;
            if (nl != NULL) {
                size_t len = s->line_len;
                if (len > 0 && s->line[len - 1] == '\r')
                    len--;
                const int rc = on_line(p, s, s->line, len);
                s->line_len = 0;
                if (s->line_cap > DATA_KEEP) {
                    free(s->line);
                    s->line = NULL;
                    s->line_cap = 0;
                }
                if (rc != 0)
                    return -1;
            }
        }
        if (nl == NULL)
            break;
        b += take + 1;
        n -= take + 1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Body bytes: undo the chunk framing when there is one. */
static int feed_body(subs_pool *p, sub *s, const char *b, size_t n)
{
    if (!s->chunked)
        return feed_sse(p, s, b, n);
    while (n > 0) {
        switch (s->cphase) {
        case C_SIZE: {
            const int h = hexval(*b);
            if (h >= 0)
                s->chunk_left = s->chunk_left * 16 + (uint64_t)h;
            else if (*b == ';')
                s->cphase = C_EXT;
            else if (*b == '\r')
                s->cphase = C_SIZE_LF;
            else if (*b == '\n')
                s->cphase = s->chunk_left ? C_DATA : C_END;
            else
                return -1;
            b++, n--;
            break;
        }
        case C_EXT:
            if (*b == '\n')
                s->cphase = s->chunk_left ? C_DATA : C_END;
            b++, n--;
            break;
        case C_SIZE_LF:
            if (*b != '\n')
                return -1;
            s->cphase = s->chunk_left ? C_DATA : C_END;
            b++, n--;
            break;
        case C_DATA: {
            const size_t take = s->chunk_left < n ? (size_t)s->chunk_left : n;
            if (feed_sse(p, s, b, take) != 0)
                return -1;
            b += take, n -= take;
            s->chunk_left -= take;
            if (s->chunk_left == 0)
                s->cphase = C_DATA_CR;
            break;
        }
        case C_DATA_CR:
            s->cphase = *b == '\r' ? C_DATA_LF : C_SIZE;
            if (*b == '\n')
                s->cphase = C_SIZE;
            b++, n--;
            break;
        case C_DATA_LF:
            if (*b != '\n')
                return -1;
            s->cphase = C_SIZE;
            b++, n--;
            break;
        case C_END: /* trailers: nothing wanted */
            b++, n--;
            break;
        }
    }
    return 0;
}

/* The reply's head is in s->head up to its blank line at head_end. */
static int on_head(subs_pool *p, sub *s, size_t head_end)
{
    s->head[head_end] = '\0';
    int status = 0;
    if (sscanf(s->head, "HTTP/1.%*d %d", &status) != 1 || status != 200) {
        char what[160];
        snprintf(what, sizeof what, "%.150s", s->head);
        for (char *c = what; *c; c++)
            if (*c == '\r' || *c == '\n')
                *c = ' ';
        note_failure(p, s, "reply", what);
        return -1;
    }
    for (char *line = strstr(s->head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked") != NULL)
            s->chunked = 1;
    }
    s->state = S_STREAM;
    return 0;
}

static void on_readable(subs_pool *p, sub *s)
{
    for (;;) {
        const ssize_t r = recv(s->fd, p->rbuf, READ_CHUNK, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            /* The server closed: expected after an ACTIVE or error event. */
            if (!s->finished && !s->failed) {
                if (s->state == S_STREAM && s->got_first) {
                    p->c.dropped++;
                } else {
                    note_failure(p, s, "stream",
                                 r == 0 ? "closed before the first event" : strerror(errno));
                }
            }
            sub_close(p, s);
            return;
        }
        const char *b = p->rbuf;
        size_t n = (size_t)r;
        if (s->state == S_HEAD) {
            const size_t take = n < HEAD_MAX - 1 - s->head_len ? n : HEAD_MAX - 1 - s->head_len;
            memcpy(s->head + s->head_len, b, take);
            const size_t old = s->head_len;
            s->head_len += take;
            s->head[s->head_len] = '\0';
            const char *end = strstr(s->head, "\r\n\r\n");
            if (end == NULL) {
                if (s->head_len == HEAD_MAX - 1) {
                    note_failure(p, s, "reply", "head too long");
                    sub_close(p, s);
                    return;
                }
                continue;
            }
            const size_t head_end = (size_t)(end - s->head);
            if (on_head(p, s, head_end) != 0) {
                sub_close(p, s);
                return;
            }
            const size_t used = head_end + 4 - old; /* bytes of this read in the head */
            b += used;
            n -= used;
        }
        if (n > 0 && feed_body(p, s, b, n) != 0) {
            note_failure(p, s, "stream", "malformed");
            sub_close(p, s);
            return;
        }
    }
}

void subs_pump(subs_pool *p, int timeout_ms)
{
    struct epoll_event evs[EPOLL_BATCH];
    const int n = epoll_wait(p->ep, evs, EPOLL_BATCH, timeout_ms);
    for (int i = 0; i < n; i++) {
        const uint32_t idx = (uint32_t)evs[i].data.u64;
        const uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
        if (idx >= p->n)
            continue;
        sub *s = &p->subs[idx];
        if (s->fd < 0 || s->gen != gen)
            continue;
        if (s->state == S_CONNECTING) {
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                send_request(p, s);
            continue;
        }
        on_readable(p, s);
    }
}

static int connectable(const sub *s)
{
    return s->state == S_IDLE && !s->finished && !s->failed;
}

size_t subs_connect(subs_pool *p, size_t inflight, double timeout_s)
{
    const double deadline = now_s() + timeout_s;
    p->next_idle = 0;
    for (;;) {
        size_t busy = 0, waiting = 0;
        for (size_t i = 0; i < p->n; i++) {
            const sub *s = &p->subs[i];
            if (s->state != S_IDLE && !s->got_first && !s->finished)
                busy++;
        }
        while (busy < inflight && p->next_idle < p->n) {
            sub *s = &p->subs[p->next_idle++];
            if (connectable(s)) {
                start_connect(p, s);
                busy++;
            }
        }
        for (size_t i = p->next_idle; i < p->n; i++)
            waiting += (size_t)connectable(&p->subs[i]);
        if ((busy == 0 && waiting == 0) || now_s() > deadline)
            break;
        subs_pump(p, 50);
    }
    return p->c.open[SUB_QUEUE] + p->c.open[SUB_SEATS];
}

void subs_disconnect(subs_pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->subs[i].fd >= 0)
            sub_close(p, &p->subs[i]);
}

static size_t expect(subs_pool *p, sub_kind kind, double t0, samples *latencies)
{
    size_t n = 0;
    p->lat = latencies;
    for (size_t i = 0; i < p->n; i++) {
        sub *s = &p->subs[i];
        if (s->kind != kind || s->state != S_STREAM || !s->got_first || s->finished)
            continue;
        if (s->expect_t == 0)
            p->pending++;
        s->expect_t = t0;
        n++;
    }
    return n;
}

size_t subs_expect_queue(subs_pool *p, double t0, samples *latencies)
{
    return expect(p, SUB_QUEUE, t0, latencies);
}

size_t subs_expect_seat(subs_pool *p, double t0, int64_t seat, const char *status,
                        samples *latencies)
{
    p->want_seat = seat;
    snprintf(p->want_status, sizeof p->want_status, "%s", status);
    return expect(p, SUB_SEATS, t0, latencies);
}

size_t subs_wait(subs_pool *p, double timeout_s)
{
    const size_t before = p->lat ? p->lat->n : 0;
    const double deadline = now_s() + timeout_s;
    while (p->pending > 0 && now_s() < deadline)
        subs_pump(p, 20);
    if (p->pending > 0) {
        for (size_t i = 0; i < p->n; i++)
            p->subs[i].expect_t = 0;
        p->pending = 0;
    }
    return (p->lat ? p->lat->n : 0) - before;
}
