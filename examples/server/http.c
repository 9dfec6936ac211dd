/*
 * libmicrohttpd glue (see http.h).
 *
 * Threading: MHD runs a pool of worker threads, each with its own epoll set;
 * the access handler and the completion callback run on the worker that owns
 * the connection, so per-request state needs no locks. api_handle() is safe
 * from many threads because the concert_db is.
 *
 * Keep-alive: a response is only ever queued on the second (or a later) call
 * of the access handler for a request. libmicrohttpd 0.9.75 treats a response
 * queued on the first call as "request discarded" and closes the connection
 * after it, which costs every client a new TCP handshake.
 *
 * Bodies over API_MAX_BODY: one announced with "Expect: 100-continue" or
 * a Content-Length beyond DISCARD_LIMIT is answered 413 on the first call,
 * before any of it is read, and the connection closes. A smaller one, or a
 * chunked one of any size, is read and thrown away, then answered 413 on
 * the connection kept alive: closing a socket with unread data makes the
 * kernel send a reset that can destroy the 413 before the client reads it.
 *
 * The edge (docs/http-edge.md): heads whose framing or syntax cannot be
 * trusted (edge_check.h) are answered 400/501 on the first call with
 * "Connection: close", before any body byte is read, so no byte after such
 * a head ever runs as a request; every connection has deadlines for its
 * head and body (edge_watch.h); MHD caps connections per address.
 *
 * Event streams (text/event-stream, sse_stream.h): the body comes from a
 * callback that copies what the hub queued. With nothing queued it
 * suspends the connection and returns 0, so an idle subscriber costs a
 * socket and a little memory but no worker time; the hub resumes it when
 * it queues bytes. Suspended connections do not time out (libmicrohttpd
 * restarts their timeout when they resume), and the hub's keepalive
 * comment every 15 s keeps a stream from ever idling past the 30 s
 * connection timeout while it is resumed.
 */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "access_log.h"
#include "edge_check.h"
#include "edge_ipcap.h"
#include "edge_watch.h"
#include "loopback.h"
#include "metrics.h"
#include "reply.h"
#include "request_id.h"
#include "sse_stream.h"

/* A Content-Length more than this beyond API_MAX_BODY is answered 413
 * before the body is read; up to it the body is read and thrown away. */
#define DISCARD_LIMIT (1024 * 1024)
#define LISTEN_BACKLOG 4096u

struct http_server {
    struct MHD_Daemon *daemon;
    const api_context *api;
    edge_watch *watch;  /* request deadlines (edge_watch.h) */
    edge_ipcap *per_ip; /* connections per address; NULL: no cap */
    int strict_headers; /* --strict-headers (edge_check.h) */
    struct sockaddr_storage addr;
    atomic_int in_flight; /* requests between first call and completion */
    atomic_int stopping;  /* set once http_server_stop() began */
    unsigned port;
    http_log_format log_format;
};

/* Per-request state, created on the first call of the access handler. */
typedef struct request_state {
    struct timespec started;
    int status; /* 0 until a response is queued */
    int too_large;
    char *body;
    size_t body_len;
    size_t body_cap;
    char method[16];
    char path[200];     /* printable copy for the log line; the path
                               only: query strings (which may carry
                               credentials) never reach the log */
    sse_stream *stream; /* an event stream's, until the request ends */
    char detail[160];   /* 5xx detail for the log line */
    const char *route;  /* the route pattern (static), for log and metrics */
    int route_id;
    uint64_t bytes; /* body bytes sent */
    char request_id[REQUEST_ID_SIZE];
} request_state;

/* Per-connection state (libmicrohttpd's "socket context"), from accept to
 * close. */
typedef struct conn_state {
    edge_conn *watch; /* NULL when unwatched (out of memory) */
    int counted;      /* counted by the per-address cap */
} conn_state;

/* The watch entry of connection (NULL when unwatched). */
static edge_conn *watched(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const conn_state *cs = info != NULL ? info->socket_context : NULL;
    return cs != NULL ? cs->watch : NULL;
}

/* Copy text into buf for the log: printable ASCII only (a path can carry
 * decoded control characters that would forge log lines), truncated. */
static void copy_printable(char *buf, size_t size, const char *text)
{
    size_t n = 0;
    for (; text[n] != '\0' && n + 1 < size; n++) {
        const unsigned char c = (unsigned char)text[n];
        buf[n] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    buf[n] = '\0';
}

static uint64_t elapsed_us(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int64_t us =
        (int64_t)(now.tv_sec - since->tv_sec) * 1000000 + (now.tv_nsec - since->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

/* One line per request (access_log.h); one write(2) per line. */
static void log_request(const http_server *server, const request_state *st,
                        enum MHD_RequestTerminationCode toe, uint64_t micros)
{
    const access_log_entry e = {
        .method = st->method,
        .path = st->path,
        .route = st->route,
        .status = st->status,
        .duration_us = micros,
        .bytes = st->bytes,
        .request_id = st->request_id,
        .closed_early = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK,
        .detail = st->detail,
    };
    access_log_write(server->log_format, &e);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *server = cls;
    request_state *st = *con_cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) /* kept alive: the next head is due */
        edge_watch_next_request(server->watch, watched(connection));
    if (st == NULL)
        return;
    const uint64_t micros = elapsed_us(&st->started);
    if (st->status != 0)
        metrics_observe_request(server->api->metrics, st->route_id, st->method, st->status, micros,
                                st->bytes);
    log_request(server, st, toe, micros);
    if (st->stream != NULL) { /* no wake may reach this connection any more */
        sse_stream_detach(st->stream);
        sse_stream_unref(st->stream);
    }
    free(st->body);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&server->in_flight, 1);
}

static const char *lookup_query(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static const char *lookup_header(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

typedef struct header_counter {
    const char *name;
    unsigned count;
} header_counter;

static enum MHD_Result count_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    header_counter *counter = cls;
    (void)kind;
    (void)value;
    if (key != NULL && strcasecmp(key, counter->name) == 0)
        counter->count++;
    return MHD_YES;
}

static unsigned count_header(void *ctx, const char *name)
{
    header_counter counter = { name, 0 };
    MHD_get_connection_values(ctx, MHD_HEADER_KIND, count_one, &counter);
    return counter.count;
}

static unsigned count_query(void *ctx, const char *name)
{
    header_counter counter = { name, 0 };
    MHD_get_connection_values(ctx, MHD_GET_ARGUMENT_KIND, count_one, &counter);
    return counter.count;
}

static enum MHD_Result send_response(http_server *server, struct MHD_Connection *connection,
                                     request_state *st, api_response *resp, int must_close)
{
    struct MHD_Response *response;
    /* HEAD is answered without the body (MHD drops it). */
    st->bytes = strcmp(st->method, "HEAD") == 0 ? 0 : resp->body_len;
    if (resp->body != NULL && resp->body_release != NULL) {
        /* A shared body (a cached list): MHD drops our reference when done. */
        response = MHD_create_response_from_buffer_with_free_callback_cls(
            resp->body_len, resp->body, resp->body_release, resp->body_owner);
        if (response != NULL)
            api_response_forget_body(resp);
    } else if (resp->body != NULL) {
        response =
            MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (response != NULL)
            (void)api_response_take_body(resp); /* MHD frees it now */
    } else {
        response = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (response == NULL) {
        api_response_release(resp);
        return MHD_NO; /* out of memory: dropping the connection is all we can do */
    }
    int ok = 1;
    if (resp->status != 204 && resp->status != 304) /* neither has a body */
        ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      resp->content_type ? resp->content_type
                                                         : "application/json") == MHD_YES;
    /* A browser must not guess another type than the one given (a text
     * file read as a script); JSON replies are never run. */
    if (resp->content_type != NULL)
        ok &= MHD_add_response_header(response, "X-Content-Type-Options", "nosniff") == MHD_YES;
    if (resp->content_security_policy != NULL)
        ok &= MHD_add_response_header(response, "Content-Security-Policy",
                                      resp->content_security_policy) == MHD_YES;
    ok &= MHD_add_response_header(response, "X-Request-Id", st->request_id) == MHD_YES;
    if (resp->etag[0] != '\0')
        ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG, resp->etag) == MHD_YES;
    if (resp->allow[0] != '\0')
        ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, resp->allow) == MHD_YES;
    if (resp->www_authenticate[0] != '\0')
        ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                      resp->www_authenticate) == MHD_YES;
    if (resp->cache_control[0] != '\0')
        ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
                                      resp->cache_control) == MHD_YES;
    if (must_close || atomic_load(&server->stopping))
        ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    const enum MHD_Result queued =
        ok ? MHD_queue_response(connection, (unsigned)resp->status, response) : MHD_NO;
    MHD_destroy_response(response);
    st->status = resp->status;
    st->route = resp->route ? resp->route : "unmatched";
    st->route_id = resp->route_id;
    if (resp->detail[0] != '\0') /* rare: only 5xx carry one */
        copy_printable(st->detail, sizeof st->detail, resp->detail);
    return queued;
}

static void park_connection(void *ctx)
{
    MHD_suspend_connection(ctx);
}

static void wake_connection(void *ctx)
{
    MHD_resume_connection(ctx);
}

/* 0 means "parked": the connection is suspended until the hub queues more. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    const long n = sse_stream_read(cls, buf, max);
    return n == SSE_READ_END ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void release_stream(void *cls)
{
    sse_stream_detach(cls);
    sse_stream_unref(cls);
}

static enum MHD_Result send_stream(http_server *server, struct MHD_Connection *connection,
                                   request_state *st, api_response *resp)
{
    sse_stream *stream = api_response_take_stream(resp);
    const sse_transport transport = { park_connection, wake_connection, connection };
    sse_stream_attach(stream, &transport);
    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, read_stream, stream, release_stream);
    if (response == NULL) {
        sse_stream_unref(stream);
        api_response_release(resp);
        return MHD_NO;
    }
    sse_stream_ref(stream);
    st->stream = stream;
    int ok = MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") ==
             MHD_YES;
    ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_YES;
    /* nginx would otherwise hold the events back in its buffer. */
    ok &= MHD_add_response_header(response, "X-Accel-Buffering", "no") == MHD_YES;
    if (atomic_load(&server->stopping))
        ok &= MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    const enum MHD_Result queued =
        ok ? MHD_queue_response(connection, (unsigned)resp->status, response) : MHD_NO;
    MHD_destroy_response(response);
    st->status = resp->status;
    api_response_release(resp);
    return queued;
}

typedef enum body_verdict {
    BODY_READ = 0,  /* read it (its size is unknown or acceptable) */
    BODY_DISCARD,   /* too large: read, throw away, then 413 */
    BODY_REFUSE_NOW /* too large to read at all: 413 at once */
} body_verdict;

/* Decide from the headers what to do with the body. Malformed
 * Content-Length values are MHD's to reject. */
static body_verdict judge_body(struct MHD_Connection *connection)
{
    const char *value =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (value == NULL)
        return BODY_READ;
    errno = 0;
    char *end = NULL;
    const unsigned long long n = strtoull(value, &end, 10);
    if (end == value || (errno != ERANGE && n <= API_MAX_BODY))
        return BODY_READ;
    if (errno == ERANGE || n > API_MAX_BODY + (unsigned long long)DISCARD_LIMIT ||
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT) != NULL)
        return BODY_REFUSE_NOW;
    return BODY_DISCARD;
}

static int begin_request(http_server *server, struct MHD_Connection *connection, const char *url,
                         const char *method, void **con_cls, request_state **out)
{
    request_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &st->started);
    copy_printable(st->method, sizeof st->method, method);
    copy_printable(st->path, sizeof st->path, url);
    st->route = "unmatched";
    st->route_id = -1;
    request_id_choose(st->request_id,
                      MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Request-Id"));
    *con_cls = st;
    atomic_fetch_add(&server->in_flight, 1);
    *out = st;
    return 0;
}

/* Keep up to API_MAX_BODY bytes; past it, remember and discard. A body
 * with a Content-Length over the discard limit was refused before it was
 * read; a chunked one is thrown away to its end however long, so that it
 * still gets its 413 (libmicrohttpd 0.9.75 accepts no response while a
 * body is arriving), and the body deadline (edge_watch.h) bounds how long
 * that may take. */
static int append_body(request_state *st, const char *data, size_t size)
{
    if (st->too_large || size > API_MAX_BODY - st->body_len) {
        st->too_large = 1;
        free(st->body);
        st->body = NULL;
        st->body_len = 0;
        return 0;
    }
    if (st->body_len + size > st->body_cap) {
        size_t cap = st->body_cap ? st->body_cap : 1024;
        while (cap < st->body_len + size)
            cap *= 2;
        if (cap > API_MAX_BODY)
            cap = API_MAX_BODY;
        char *grown = realloc(st->body, cap);
        if (grown == NULL)
            return -1;
        st->body = grown;
        st->body_cap = cap;
    }
    memcpy(st->body + st->body_len, data, size);
    st->body_len += size;
    return 0;
}

/* Answer status with the error envelope and close: used for requests
 * whose framing cannot be trusted, so that no byte after the head is ever
 * read as a request of its own. */
static enum MHD_Result refuse(http_server *server, struct MHD_Connection *connection,
                              request_state *st, int status, const char *message)
{
    api_response resp;
    memset(&resp, 0, sizeof resp);
    reply_error(&resp, status, status == 413 ? "PAYLOAD_TOO_LARGE" : "MALFORMED_REQUEST", message);
    resp.route_id = -1;
    edge_watch_answering(server->watch, watched(connection));
    return send_response(server, connection, st, &resp, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_server *server = cls;
    request_state *st = *con_cls;

    if (st == NULL) {
        if (begin_request(server, connection, url, method, con_cls, &st) != 0)
            return MHD_NO;
        const size_t target_len =
            server->strict_headers ? edge_conn_target_len(watched(connection)) : 0;
        const edge_verdict bad = edge_check_head(connection, method, version, target_len);
        if (bad.status != 0)
            return refuse(server, connection, st, bad.status, bad.message);
        edge_watch_head_done(server->watch, watched(connection));
        const body_verdict verdict = judge_body(connection);
        st->too_large = verdict != BODY_READ;
        if (verdict != BODY_REFUSE_NOW)
            return MHD_YES; /* first call: state only, see the top of this file */
    } else if (*upload_data_size != 0) {
        const int kept = append_body(st, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return kept == 0 ? MHD_YES : MHD_NO;
    }

    edge_watch_answering(server->watch, watched(connection));
    api_request req = {
        .method = method,
        .path = url,
        .header = lookup_header,
        .header_count = count_header,
        .query = lookup_query,
        .query_count = count_query,
        .header_ctx = connection,
        .body = st->body,
        .body_len = st->body_len,
        .body_too_large = st->too_large,
    };
    api_response resp;
    api_handle(server->api, &req, &resp);
    if (resp.stream != NULL)
        return send_stream(server, connection, st, &resp);
    return send_response(server, connection, st, &resp, 0);
}

/* Called when libmicrohttpd has parsed a request line, with the raw
 * target: its length lets edge_check_head() see bytes the parser dropped.
 * Returns the request's initial state: none (on_request makes it). */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void)cls;
    edge_conn_note_target(watched(connection), strlen(uri));
    return NULL;
}

/* What a connection over its address's cap gets before it is shut: the
 * client may not have sent anything yet, and nothing else writes to the
 * socket before libmicrohttpd reads from it. */
static const char over_cap_reply[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Connection: close\r\n"
    "Content-Length: 84\r\n" /* the body below, its newline included */
    "\r\n"
    "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections from your "
    "address\"}}\n";

static const struct sockaddr *peer_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info != NULL ? info->client_addr : NULL;
}

/* Connections come and go: each is watched and counted from accept to
 * close. */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_state *cs = calloc(1, sizeof *cs);
        *socket_context = cs;
        if (cs == NULL || info == NULL)
            return; /* out of memory: served, unwatched and uncounted */
        cs->watch = edge_watch_open(server->watch, info->connect_fd);
        const int counted =
            server->per_ip != NULL ? edge_ipcap_enter(server->per_ip, peer_of(connection)) : 0;
        cs->counted = counted == 1;
        if (counted < 0) {
            ssize_t ignored = send(info->connect_fd, over_cap_reply, sizeof over_cap_reply - 1,
                                   MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            /* libmicrohttpd's first read sees the end and closes it. */
            (void)shutdown(info->connect_fd, SHUT_RDWR);
        }
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* libmicrohttpd closes the socket only after this returns. */
        conn_state *cs = *socket_context;
        if (cs == NULL)
            return;
        edge_watch_close(server->watch, cs->watch);
        if (cs->counted)
            edge_ipcap_leave(server->per_ip, peer_of(connection));
        free(cs);
        *socket_context = NULL;
    }
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 0)))
#endif
static void
log_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char message[512];
    (void)cls;
    vsnprintf(message, sizeof message, fmt, ap);
    size_t len = strlen(message);
    while (len > 0 && message[len - 1] == '\n')
        message[--len] = '\0';
    char line[600];
    const int n = snprintf(line, sizeof line, "concertd: libmicrohttpd: %s\n", message);
    if (n > 0) {
        ssize_t ignored =
            write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)ignored;
    }
}

static int resolve(http_server *server, const char *host, unsigned port, char *err, size_t errlen)
{
    struct addrinfo *found = NULL;
    const int rc = listen_resolve(host, &found);
    if (rc != 0 || found == NULL) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    if (found->ai_addrlen > sizeof server->addr) {
        freeaddrinfo(found);
        snprintf(err, errlen, "cannot use the address of '%s'", host);
        return -1;
    }
    memcpy(&server->addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (server->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&server->addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&server->addr)->sin_port = htons((uint16_t)port);
    return 0;
}

int http_server_start(http_server **out, const http_settings *settings, const api_context *api,
                      char *err, size_t errlen)
{
    *out = NULL;
    http_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    server->api = api;
    server->log_format = settings->log_format;
    server->strict_headers = settings->strict_headers;
    atomic_init(&server->in_flight, 0);
    atomic_init(&server->stopping, 0);
    if (resolve(server, settings->host, settings->port, err, errlen) != 0) {
        free(server);
        return -1;
    }
    server->watch =
        edge_watch_new((int64_t)settings->head_timeout_ms, (int64_t)settings->body_timeout_ms,
                       (int64_t)settings->connection_timeout_s * 1000);
    if (settings->max_conns_per_ip > 0)
        server->per_ip = edge_ipcap_new(settings->max_conns_per_ip, settings->cap_loopback);
    if (server->watch == NULL || edge_watch_start(server->watch) != 0 ||
        (settings->max_conns_per_ip > 0 && server->per_ip == NULL)) {
        snprintf(err, errlen, "cannot start the request deadline watch (out of memory?)");
        edge_watch_free(server->watch);
        edge_ipcap_free(server->per_ip);
        free(server);
        return -1;
    }

    /* MHD_USE_ITC lets MHD_stop_daemon() wake the worker threads at once. */
    /* MHD_ALLOW_SUSPEND_RESUME: idle event streams are suspended (above). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (server->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem options[] = {
        /* First, so that MHD's messages about the other options use it. */
        { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_mhd_error, NULL },
        { MHD_OPTION_SOCK_ADDR, 0, &server->addr },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)settings->connection_timeout_s, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)settings->connection_limit, NULL },
        { MHD_OPTION_LISTEN_BACKLOG_SIZE, (intptr_t)LISTEN_BACKLOG, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, server },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, server },
        { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_request_line, server },
        /* Filled below: a pool (a pool of one is no pool) and the port
         * sharing, each only when asked for. */
        { MHD_OPTION_END, 0, NULL },
        { MHD_OPTION_END, 0, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    size_t extra = sizeof options / sizeof options[0] - 3;
    if (settings->threads > 1)
        options[extra++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
                                                    (intptr_t)settings->threads, NULL };
    if (settings->reuse_port) /* 1: SO_REUSEPORT */
        options[extra++] = (struct MHD_OptionItem){ MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL };
    server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, server, MHD_OPTION_ARRAY,
                                      options, MHD_OPTION_END);
    if (server->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%u (address in use or not local?)",
                 settings->host, settings->port);
        edge_watch_free(server->watch);
        edge_ipcap_free(server->per_ip);
        free(server);
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info != NULL ? info->port : settings->port;
    *out = server;
    return 0;
}

unsigned http_server_port(const http_server *server)
{
    return server->port;
}

void http_server_stop(http_server *server, unsigned grace_ms)
{
    if (server == NULL)
        return;
    /* Replies from now on say "Connection: close". No MHD_quiesce_daemon():
     * with worker threads on epoll, libmicrohttpd 0.9.75 sometimes aborts
     * inside it or in the stop that follows ("Failed to remove listen FD
     * from epoll set"), seen in about one CI run in three. A connection
     * that arrives during the grace period is served and closed. */
    atomic_store(&server->stopping, 1);

    const struct timespec tick = { 0, 10 * 1000 * 1000 };
    for (unsigned waited = 0; waited < grace_ms && atomic_load(&server->in_flight) > 0;
         waited += 10)
        nanosleep(&tick, NULL);

    /* The watch stops cutting first; the daemon's stop then closes every
     * connection, and each close takes its entry out of the watch. */
    edge_watch_stop(server->watch);
    MHD_stop_daemon(server->daemon);
    edge_watch_free(server->watch);
    edge_ipcap_free(server->per_ip);
    free(server);
}
