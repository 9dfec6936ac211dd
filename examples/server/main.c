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
#include "http.h"

/* Idle connections are closed after this, so slow or silent clients cannot
 * pin connection slots for long. */
#define CONNECTION_TIMEOUT_S 30
/* File descriptors kept back from connections: the store, logs, libraries. */
#define RESERVED_FDS 64
/* Most file descriptors asked for; plenty for the 1,000+ clients targeted. */
#define WANTED_FDS 65536
/* How long a SIGTERM waits for requests already being served. */
#define SHUTDOWN_GRACE_MS 10000

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
    const int differs =
        (cfg->options.max_active != 0 && cfg->options.max_active != s.max_active) ||
        cfg->options.admit_per_minute != s.admit_per_minute;
    if (cfg->queue_flags_given && differs)
        fprintf(stderr, "concertd: the store already has queue settings, which rule; "
                        "--max-active/--admit-per-minute only seed a new store "
                        "(change them with PUT /api/v1/admin/queue)\n");
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

    char host[256];
    unsigned port = 0;
    if (server_listen_split(cfg.listen, host, sizeof host, &port) != 0)
        return 2; /* the parser already checked it */

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

    concert_db *db = NULL;
    int rc = concert_open(&db, cfg.store, &cfg.options);
    if (rc < 0) {
        fprintf(stderr, "concertd: cannot open the store: %s\n", concert_error_last()->message);
        free(admin_key);
        return 1;
    }
    if (load_catalogs(db, &cfg) != 0) {
        concert_close(db);
        free(admin_key);
        return 1;
    }
    log_queue_settings(db, &cfg);

    const api_context api = {
        .db = db,
        .admin_key = admin_key,
        .admin_key_len = admin_key ? strlen(admin_key) : 0,
        .queue_refresh_ms = cfg.options.queue_refresh_ms,
    };
    http_settings settings = {
        .host = host,
        .port = port,
        .threads = cfg.threads ? cfg.threads : default_threads(),
        .connection_timeout_s = CONNECTION_TIMEOUT_S,
        .connection_limit = connection_capacity(),
    };
    char err[256];
    http_server *server = NULL;
    if (http_server_start(&server, &settings, &api, err, sizeof err) != 0) {
        fprintf(stderr, "concertd: %s\n", err);
        concert_close(db);
        free(admin_key);
        return 1;
    }
    fprintf(stderr, "concertd: %s store, %u threads, up to %u connections, admin routes %s\n",
            concert_backend_name(db), settings.threads, settings.connection_limit,
            admin_key ? "on" : "off");
    const int bracket = strchr(host, ':') != NULL;
    printf("concertd listening on http://%s%s%s:%u\n", bracket ? "[" : "", host,
           bracket ? "]" : "", http_server_port(server));
    fflush(stdout);

    int signo = 0;
    while (sigwait(&stop_signals, &signo) != 0) {
    }
    fprintf(stderr, "concertd: %s received, finishing requests in progress\n",
            signo == SIGINT ? "SIGINT" : "SIGTERM");
    http_server_stop(server, SHUTDOWN_GRACE_MS);
    concert_close(db);
    free(admin_key);
    fprintf(stderr, "concertd: stopped\n");
    return 0;
}
