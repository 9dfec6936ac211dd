/*
 * concertd: the libconcert booking API over HTTP.
 *
 * main() only wires things: flags, the store, optional catalog loading, the
 * HTTP server, and a clean stop on SIGINT/SIGTERM. Requests are answered by
 * api_handle() (api.c) through http.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <concert/concert.h>

#include "admin_key.h"
#include "api.h"
#include "catalog_json.h"
#include "flags.h"
#include "hold_watch.h"
#include "http.h"
#include "jwt.h"
#include "list_cache.h"
#include "loopback.h"
#include "sse_hub.h"
#include "sse_metrics.h"
#include "stream_quota.h"
#include "metrics.h"
#include "metrics_std.h"
#include "router.h"
#ifdef CONCERTD_TEST_CLOCK
#include "test_clock.h" /* concertd-test only (examples/server/CMakeLists.txt) */
#endif

/* Idle connections are closed after this, so slow or silent clients cannot
 * pin connection slots for long. */
#define CONNECTION_TIMEOUT_S 30
/* File descriptors kept back from connections: the store, logs, libraries. */
#define RESERVED_FDS 64
/* Most file descriptors asked for: thousands of event-stream subscribers
 * each hold a connection for minutes. */
#define WANTED_FDS 65536
/* Fewer connections than this gets a warning at start. */
#define FEW_CONNECTIONS 4096
/* How long a SIGTERM waits for requests already being served. */
#define SHUTDOWN_GRACE_MS 10000
/* Rendered free lists kept (list_cache.h): a 1,000-seat list is about
 * 40 KB, so at most about 10 MB of seat lists; schedule lists are small. */
#define SEAT_LIST_CACHE_ENTRIES 256
#define SCHEDULE_LIST_CACHE_ENTRIES 64
/* A 1,000-seat map is about 65 KB: at most about 8 MB of maps. */
#define SEAT_MAP_CACHE_ENTRIES 128

/* Raise the soft open-file limit towards the hard one and return how many
 * connections fit. */
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

static unsigned default_threads(void)
{
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 1024 ? (unsigned)n : 1;
}

static int load_catalogs(concert_db *db, const server_config *cfg)
{
    char err[512];
    if (cfg->import_path != NULL) {
        const int rc = catalog_json_load_file(db, cfg->import_path, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "concertd: --import %s failed: %s\n", cfg->import_path, err);
            return -1;
        }
        fprintf(stderr, "concertd: imported %s\n", cfg->import_path);
    }
    if (cfg->demo) {
        int loaded = 0;
        const int rc = catalog_demo_load_if_empty(db, &loaded, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "concertd: --demo failed: %s\n", err);
            return -1;
        }
        fprintf(stderr, "concertd: %s\n",
                loaded ? "demo catalog loaded" : "store not empty, demo catalog not loaded");
    }
    return 0;
}

/* Say which queue settings rule: the store's, which the flags only seed. */
static void log_queue_settings(concert_db *db, const server_config *cfg)
{
    concert_queue_settings s;
    if (concert_queue_settings_get(&s, db) < 0) {
        fprintf(stderr, "concertd: cannot read the queue settings: %s\n",
                concert_error_last()->message);
        return;
    }
    const char *state = concert_queue_state_name(s.state);
    fprintf(stderr, "concertd: queue %s, max_active %lld, admit_per_minute %lld%s\n",
            state ? state : "?", (long long)s.max_active, (long long)s.admit_per_minute,
            s.admit_per_minute == 0 ? " (unlimited)" : "");
    const int differs = (cfg->options.max_active != 0 && cfg->options.max_active != s.max_active) ||
                        cfg->options.admit_per_minute != s.admit_per_minute;
    if (cfg->queue_flags_given && differs)
        fprintf(stderr, "concertd: the store already has queue settings, which rule; "
                        "--max-active/--admit-per-minute only seed a new store "
                        "(change them with PUT /api/v1/admin/queue)\n");
}

/* The keys --auth jwt/header read at start. */
typedef struct server_secrets {
    char *jwt_secret;
    size_t jwt_secret_len;
    char *service_key;
    size_t service_key_len;
} server_secrets;

static void free_auth_secrets(server_secrets *s)
{
    free(s->jwt_secret);
    free(s->service_key);
    memset(s, 0, sizeof *s);
}

/* Read once, before the store, so that a bad file stops the start early. */
static int read_auth_secrets(server_secrets *s, const server_config *cfg)
{
    char err[512];
    memset(s, 0, sizeof *s);
    if (cfg->jwt_secret_file != NULL &&
        key_file_read(&s->jwt_secret, &s->jwt_secret_len, cfg->jwt_secret_file, JWT_SECRET_MIN_LEN,
                      ADMIN_KEY_MAX_LEN, "the JWT secret", err, sizeof err) != 0) {
        fprintf(stderr, "concertd: --jwt-secret-file: %s\n", err);
        return -1;
    }
    if (cfg->service_key_file != NULL &&
        key_file_read(&s->service_key, &s->service_key_len, cfg->service_key_file,
                      ADMIN_KEY_MIN_LEN, ADMIN_KEY_MAX_LEN, "the service key", err,
                      sizeof err) != 0) {
        fprintf(stderr, "concertd: --service-key-file: %s\n", err);
        free_auth_secrets(s);
        return -1;
    }
    return 0;
}

static void log_auth(const server_config *cfg, const server_secrets *s)
{
    static const char *const names[] = { "none", "jwt", "header" };
    fprintf(stderr, "concertd: --auth %s%s%s\n", names[cfg->auth_mode],
            cfg->auth_mode == API_AUTH_HEADER ? ", user id from " : "",
            cfg->auth_mode == API_AUTH_HEADER ? cfg->auth_header : "");
    if (cfg->auth_mode == API_AUTH_NONE && cfg->insecure_demo)
        fprintf(stderr, "concertd: WARNING: --insecure-demo: anyone who can reach this server "
                        "may act for any user\n");
    if (cfg->auth_mode != API_AUTH_NONE && s->service_key == NULL && !cfg->allow_self_charge)
        fprintf(stderr, "concertd: no --service-key-file: charging points is refused\n");
}

/* The metrics of a running server; all NULL with --no-metrics. */
typedef struct server_metrics {
    metrics *registry;
    hold_watch *holds;
    const char **route_names;
} server_metrics;

static void metrics_teardown(server_metrics *sm)
{
    hold_watch_stop(sm->holds); /* first: it counts into the registry */
    metrics_free(sm->registry);
    free(sm->route_names);
    memset(sm, 0, sizeof *sm);
}

/* The registry sized from the route table, its collectors and the hold
 * watcher. Returns 0, or -1 after a message. */
static int metrics_setup(server_metrics *sm, concert_db *db, int64_t hold_ttl_ms)
{
    memset(sm, 0, sizeof *sm);
    size_t count = 0;
    const route *routes = router_routes(&count);
    sm->route_names = calloc(count ? count : 1, sizeof *sm->route_names);
    if (sm->route_names == NULL)
        goto oom;
    for (size_t i = 0; i < count; i++)
        sm->route_names[i] = routes[i].pattern;
    sm->registry = metrics_new(sm->route_names, count);
    if (sm->registry == NULL || metrics_std_register(sm->registry, db) != 0)
        goto oom;
    sm->holds = hold_watch_start(db, sm->registry, hold_ttl_ms);
    if (sm->holds == NULL)
        goto oom;
    return 0;
oom:
    fprintf(stderr, "concertd: out of memory (or threads) for the metrics\n");
    metrics_teardown(sm);
    return -1;
}

/* Block the stop signals in every thread (MHD's workers inherit the mask)
 * so that only the sigwait() below receives them. */
static int block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    signal(SIGPIPE, SIG_IGN); /* a vanished client must not kill the server */
    return pthread_sigmask(SIG_BLOCK, set, NULL) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    server_config cfg;
    switch (server_flags_parse(&cfg, argc, argv, stdout, stderr)) {
    case FLAGS_RUN:
        break;
    case FLAGS_EXIT_OK:
        return 0;
    case FLAGS_EXIT_USAGE:
    default:
        return 2;
    }
#ifdef CONCERTD_TEST_CLOCK
    if (test_clock_install(&cfg.options, stderr) != 0)
        return 2;
#endif

    char host[256];
    unsigned port = 0;
    if (server_listen_split(cfg.listen, host, sizeof host, &port) != 0)
        return 2; /* the parser already checked it */

    if (cfg.auth_mode == API_AUTH_NONE && !cfg.insecure_demo && !loopback_only(host)) {
        fprintf(stderr,
                "concertd: refusing to serve --auth none on %s: without authentication anyone "
                "who can reach it may act for any user (join the queue as them, pay with "
                "their points). Listen on 127.0.0.1, use --auth jwt or --auth header, or add "
                "--insecure-demo for a throwaway demo.\n",
                host);
        return 2;
    }

    sigset_t stop_signals;
    if (block_stop_signals(&stop_signals) != 0) {
        fprintf(stderr, "concertd: cannot set up signal handling\n");
        return 1;
    }

    /* Read once, before the store: a bad key file stops the start early. */
    char *admin_key = NULL;
    if (cfg.admin_key_file != NULL) {
        char key_err[512];
        if (admin_key_read_file(&admin_key, cfg.admin_key_file, key_err, sizeof key_err) != 0) {
            fprintf(stderr, "concertd: --admin-key-file: %s\n", key_err);
            return 1;
        }
    }

    server_secrets secrets;
    if (read_auth_secrets(&secrets, &cfg) != 0) {
        free(admin_key);
        return 1;
    }
    /* Like the admin key: the file must exist and hold a usable token. */
    char *metrics_token = NULL;
    if (cfg.metrics_token_file != NULL) {
        char key_err[512];
        if (key_file_read(&metrics_token, NULL, cfg.metrics_token_file, ADMIN_KEY_MIN_LEN,
                          ADMIN_KEY_MAX_LEN, "the metrics token", key_err, sizeof key_err) != 0) {
            fprintf(stderr, "concertd: --metrics-token-file: %s\n", key_err);
            free(admin_key);
            free_auth_secrets(&secrets);
            return 1;
        }
    }

    concert_db *db = NULL;
    int rc = concert_db_open(&db, cfg.store, &cfg.options);
    if (rc < 0) {
        fprintf(stderr, "concertd: cannot open the store: %s\n", concert_error_last()->message);
        free(admin_key);
        free(metrics_token);
        free_auth_secrets(&secrets);
        return 1;
    }
    if (load_catalogs(db, &cfg) != 0) {
        concert_db_close(db);
        free(admin_key);
        free(metrics_token);
        free_auth_secrets(&secrets);
        return 1;
    }
    log_queue_settings(db, &cfg);

    server_metrics sm;
    memset(&sm, 0, sizeof sm);
    /* The library's default hold TTL when the flag left it 0 (options.h). */
    const int64_t hold_ttl_ms =
        cfg.options.hold_ttl_ms > 0 ? cfg.options.hold_ttl_ms : INT64_C(300000);
    if (!cfg.no_metrics && metrics_setup(&sm, db, hold_ttl_ms) != 0) {
        concert_db_close(db);
        free(admin_key);
        free(metrics_token);
        free_auth_secrets(&secrets);
        return 1;
    }

    /* Without them every listing is rendered: slower, never wrong. */
    list_cache *seat_lists = list_cache_new(SEAT_LIST_CACHE_ENTRIES);
    list_cache *schedule_lists = list_cache_new(SCHEDULE_LIST_CACHE_ENTRIES);
    list_cache *seat_maps = list_cache_new(SEAT_MAP_CACHE_ENTRIES);
    if (seat_lists == NULL || schedule_lists == NULL || seat_maps == NULL)
        fprintf(stderr, "concertd: out of memory for the list cache; rendering every list\n");

    /* Without it the event routes answer 503 and clients poll. */
    sse_hub *events = sse_hub_new(db);
    if (events == NULL || sse_hub_start(events) != 0) {
        fprintf(stderr, "concertd: cannot start the live-update hub; event streams are off\n");
        sse_hub_free(events);
        events = NULL;
    }
    /* Without it a token's streams are not capped: still correct. */
    stream_quota *streams_per_token = stream_quota_new(STREAM_QUOTA_PER_TOKEN);
    if (streams_per_token == NULL)
        fprintf(stderr, "concertd: out of memory for the stream quota; streams are not capped\n");
    if (sm.registry != NULL && sse_metrics_register(sm.registry, events) != 0)
        fprintf(stderr, "concertd: out of memory for the live-update metrics; left out\n");

    const api_context api = {
        .db = db,
        .auth_mode = (api_auth_mode)cfg.auth_mode,
        .jwt_secret = (const unsigned char *)secrets.jwt_secret,
        .jwt_secret_len = secrets.jwt_secret_len,
        .auth_header = cfg.auth_header,
        .service_key = secrets.service_key,
        .service_key_len = secrets.service_key_len,
        .allow_self_charge = cfg.allow_self_charge,
        .admin_key = admin_key,
        .admin_key_len = admin_key ? strlen(admin_key) : 0,
        .queue_refresh_ms = cfg.options.queue_refresh_ms,
        .seat_lists = seat_lists,
        .schedule_lists = schedule_lists,
        .seat_maps = seat_maps,
        .events = events,
        .stream_quota = streams_per_token,
        .metrics = sm.registry,
        .holds = sm.holds,
        .metrics_token = metrics_token,
        .metrics_token_len = metrics_token ? strlen(metrics_token) : 0,
    };
    log_auth(&cfg, &secrets);
    http_settings settings = {
        .host = host,
        .port = port,
        .threads = cfg.threads ? cfg.threads : default_threads(),
        .connection_timeout_s = CONNECTION_TIMEOUT_S,
        .connection_limit = connection_capacity(),
        .max_conns_per_ip = cfg.max_conns_per_ip,
        .cap_loopback = cfg.cap_loopback,
        .strict_headers = cfg.strict_headers,
        .head_timeout_ms = cfg.head_timeout_ms,
        .body_timeout_ms = cfg.body_timeout_ms,
        .reuse_port = cfg.reuse_port,
        .log_format = (http_log_format)cfg.log_format,
    };
    char err[256];
    http_server *server = NULL;
    int exit_code = 1;
    if (http_server_start(&server, &settings, &api, err, sizeof err) != 0) {
        fprintf(stderr, "concertd: %s\n", err);
        goto release; /* the same release as after a stop */
    }
    fprintf(stderr,
            "concertd: %s store, %u threads, up to %u connections, admin routes %s, "
            "metrics %s\n",
            concert_db_backend_name(db), settings.threads, settings.connection_limit,
            admin_key ? "on" : "off",
            cfg.no_metrics  ? "off"
            : metrics_token ? "on (token)"
                            : "on (open)");
    if (settings.connection_limit < FEW_CONNECTIONS)
        fprintf(stderr,
                "concertd: the open-file limit leaves room for only %u connections; each "
                "live-update (SSE) client holds one: raise it (ulimit -n, LimitNOFILE=) "
                "for thousands\n",
                settings.connection_limit);
    const int bracket = strchr(host, ':') != NULL;
    printf("concertd listening on http://%s%s%s:%u\n", bracket ? "[" : "", host, bracket ? "]" : "",
           http_server_port(server));
    fflush(stdout);

    int signo = 0;
    while (sigwait(&stop_signals, &signo) != 0) {
    }
    fprintf(stderr, "concertd: %s received, finishing requests in progress\n",
            signo == SIGINT ? "SIGINT" : "SIGTERM");
    /* First the streams, which would otherwise hold the grace period: each
     * ends after what is queued, and their connections finish. */
    sse_hub_stop(events);
    http_server_stop(server, SHUTDOWN_GRACE_MS);
    exit_code = 0;
release:
    sse_hub_free(events);
    stream_quota_free(streams_per_token);
    metrics_teardown(&sm);
    list_cache_free(seat_lists);
    list_cache_free(schedule_lists);
    list_cache_free(seat_maps);
    concert_db_close(db);
    free(admin_key);
    free(metrics_token);
    free_auth_secrets(&secrets);
    if (exit_code == 0)
        fprintf(stderr, "concertd: stopped\n");
    return exit_code;
}
