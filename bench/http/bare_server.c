/*
 * concert-bench-bare-http: the ceiling of concertd's HTTP stack.
 *
 * A libmicrohttpd server set up exactly as concertd's (examples/server/
 * http.c and main.c): the same daemon flags (internal polling thread,
 * epoll, ITC), a worker pool of one thread per CPU, the same connection
 * timeout, connection limit and listen backlog, and a response queued only
 * on the second call of the access handler so keep-alive works. Instead of
 * calling the library it answers every request with a fixed body read from
 * a file, picked by the longest matching path prefix, so that the bytes on
 * the wire are those concertd sends. Listens on 127.0.0.1 only.
 *
 * Usage: concert-bench-bare-http --port N [--threads N]
 *            --route PREFIX STATUS FILE [--headers FILE] [--when NAME VALUE]
 *            [--route ...]
 *
 * --headers FILE: the route's response headers, as `curl -D FILE` wrote
 * them from concertd's reply (the status line and the headers MHD writes
 * itself are skipped), sent instead of the default Content-Type; so the
 * headers on the wire (ETag, Cache-Control) are concertd's too.
 * --when NAME VALUE: the route answers only requests whose header NAME is
 * exactly VALUE (the 304 of a seat listing asked with If-None-Match); such
 * a route wins over one of the same prefix without a condition.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <microhttpd.h>

/* The same values as concertd (examples/server/main.c, http.c). */
#define CONNECTION_TIMEOUT_S 30
#define RESERVED_FDS 64
#define WANTED_FDS 65536
#define LISTEN_BACKLOG 4096u
#define MAX_ROUTES 16
#define MAX_BODY_FILE (64 * 1024 * 1024)
#define MAX_HEADERS 16

typedef struct header {
    char *name;
    char *value;
} header;

typedef struct route {
    const char *prefix;
    size_t prefix_len;
    unsigned status;
    char *body;
    size_t body_len;
    /* From --headers; when 0, Content-Type: application/json alone. */
    header headers[MAX_HEADERS];
    size_t header_count;
    char *headers_text; /* owns the names and values above */
    /* From --when; NULL: any request. */
    const char *when_name;
    const char *when_value;
} route;

static route routes[MAX_ROUTES];
static size_t route_count;

/* A non-NULL per-request marker: the first call only sets it. */
static int request_seen;

/* A conditional route is asked about its header only when its prefix
 * matches, so the routes without one cost what they did before. */
static int route_applies(const route *r, struct MHD_Connection *connection, const char *url)
{
    if (strncmp(url, r->prefix, r->prefix_len) != 0)
        return 0;
    if (r->when_name == NULL)
        return 1;
    const char *v = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, r->when_name);
    return v != NULL && strcmp(v, r->when_value) == 0;
}

static const route *route_for(struct MHD_Connection *connection, const char *url)
{
    const route *best = NULL;
    for (size_t i = 0; i < route_count; i++) {
        const route *r = &routes[i];
        if (best && (r->prefix_len < best->prefix_len ||
                     (r->prefix_len == best->prefix_len && (best->when_name || !r->when_name))))
            continue;
        if (route_applies(r, connection, url))
            best = r;
    }
    return best;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &request_seen; /* first call: no response yet (keep-alive) */
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* the body is read and ignored */
        return MHD_YES;
    }
    const route *r = route_for(connection, url);
    static const char not_found[] = "{\"error\":\"NOT_FOUND\"}";
    struct MHD_Response *response =
        r ? MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_PERSISTENT)
          : MHD_create_response_from_buffer(sizeof not_found - 1, (void *)not_found,
                                            MHD_RESPMEM_PERSISTENT);
    if (!response)
        return MHD_NO;
    if (r && r->header_count > 0) {
        for (size_t i = 0; i < r->header_count; i++)
            MHD_add_response_header(response, r->headers[i].name, r->headers[i].value);
    } else {
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
    const enum MHD_Result queued = MHD_queue_response(connection, r ? r->status : 404, response);
    MHD_destroy_response(response);
    return queued;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    *con_cls = NULL;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    if (!f)
        return -1;
    buf = malloc(MAX_BODY_FILE);
    if (buf)
        n = fread(buf, 1, MAX_BODY_FILE, f);
    const int bad = !buf || ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    /* Keep only what the file holds. */
    char *fit = realloc(buf, n ? n : 1);
    *out = fit ? fit : buf;
    *len = n;
    return 0;
}

/* Headers MHD writes on its own: sending them from the file would double them. */
static int mhd_writes_itself(const char *name)
{
    static const char *const own[] = { MHD_HTTP_HEADER_DATE, MHD_HTTP_HEADER_CONTENT_LENGTH,
                                       MHD_HTTP_HEADER_CONNECTION,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING, "Keep-Alive" };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcasecmp(name, own[i]) == 0)
            return 1;
    return 0;
}

/* Parse `curl -D` output into r->headers: "Name: value" lines, CRLF or LF;
 * a status line starts the list again (curl writes one block per reply,
 * e.g. after a 100 Continue: the last reply's headers are the ones sent). */
static int read_headers(const char *path, route *r)
{
    size_t len = 0;
    if (read_file(path, &r->headers_text, &len) != 0)
        return -1;
    char *text = realloc(r->headers_text, len + 1);
    if (!text)
        return -1;
    text[len] = '\0';
    r->headers_text = text;
    r->header_count = 0;
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        char *colon = strchr(line, ':');
        if (strncmp(line, "HTTP/", 5) == 0) {
            r->header_count = 0;
        } else if (colon && colon != line) {
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            if (!mhd_writes_itself(line)) {
                if (r->header_count == MAX_HEADERS)
                    return -1;
                r->headers[r->header_count++] = (header){ line, value };
            }
        } else if (n > 0) {
            return -1; /* not a header line: not curl -D output */
        }
        line = next;
    }
    return 0;
}

static int parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    const unsigned long long v = text ? strtoull(text, &end, 10) : 0;
    if (!text || text[0] == '-' || errno != 0 || end == text || *end != '\0' || v > max)
        return -1;
    *out = (unsigned long)v;
    return 0;
}

static unsigned connection_capacity(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 1000;
    rlim_t wanted = WANTED_FDS;
    if (lim.rlim_max != RLIM_INFINITY && wanted > lim.rlim_max)
        wanted = lim.rlim_max;
    if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur < wanted) {
        struct rlimit raised = lim;
        raised.rlim_cur = wanted;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            lim = raised;
    }
    const rlim_t usable = lim.rlim_cur == RLIM_INFINITY ? WANTED_FDS : lim.rlim_cur;
    return usable > RESERVED_FDS + 16 ? (unsigned)(usable - RESERVED_FDS) : 16;
}

static void usage(void)
{
    fputs("usage: concert-bench-bare-http --port N [--threads N] "
          "--route PREFIX STATUS FILE [--headers FILE] [--when NAME VALUE] [--route ...]\n",
          stderr);
}

int main(int argc, char **argv)
{
    unsigned long port = 0, threads = 0, status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            if (parse_uint(argv[++i], 65535, &port) != 0)
                return usage(), 2;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (parse_uint(argv[++i], 1024, &threads) != 0)
                return usage(), 2;
        } else if (strcmp(argv[i], "--route") == 0 && i + 3 < argc && route_count < MAX_ROUTES) {
            route *r = &routes[route_count];
            r->prefix = argv[i + 1];
            r->prefix_len = strlen(r->prefix);
            if (parse_uint(argv[i + 2], 599, &status) != 0 || status < 100 ||
                read_file(argv[i + 3], &r->body, &r->body_len) != 0) {
                fprintf(stderr, "bare: bad route %s %s %s\n", argv[i + 1], argv[i + 2],
                        argv[i + 3]);
                return 2;
            }
            r->status = (unsigned)status;
            route_count++;
            i += 3;
        } else if (strcmp(argv[i], "--headers") == 0 && i + 1 < argc && route_count > 0) {
            route *r = &routes[route_count - 1];
            if (r->headers_text != NULL || read_headers(argv[++i], r) != 0) {
                fprintf(stderr, "bare: bad --headers %s (one per route, curl -D output)\n",
                        argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--when") == 0 && i + 2 < argc && route_count > 0) {
            route *r = &routes[route_count - 1];
            if (r->when_name != NULL || argv[i + 1][0] == '\0') {
                fprintf(stderr, "bare: bad --when %s (one per route)\n", argv[i + 1]);
                return 2;
            }
            r->when_name = argv[i + 1];
            r->when_value = argv[i + 2];
            i += 2;
        } else {
            usage();
            return 2;
        }
    }
    if (threads == 0) {
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n >= 1 && n <= 1024 ? (unsigned long)n : 1;
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0)
        return 1;

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem options[] = {
        { MHD_OPTION_SOCK_ADDR, 0, &addr },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)CONNECTION_TIMEOUT_S, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)connection_capacity(), NULL },
        { MHD_OPTION_LISTEN_BACKLOG_SIZE, (intptr_t)LISTEN_BACKLOG, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL },
        { threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_Daemon *daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                                                 MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "bare: cannot listen on 127.0.0.1:%lu\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("bare listening on http://127.0.0.1:%u (%lu threads, %zu routes)\n",
           info ? info->port : (unsigned)port, threads, route_count);
    fflush(stdout);
    int signo = 0;
    while (sigwait(&stop, &signo) != 0) {
    }
    MHD_stop_daemon(daemon);
    for (size_t i = 0; i < route_count; i++) {
        free(routes[i].body);
        free(routes[i].headers_text);
    }
    return 0;
}
