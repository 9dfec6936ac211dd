/*
 * concertd's command line.
 */
#ifndef CONCERTD_FLAGS_H
#define CONCERTD_FLAGS_H

#include <stdio.h>

#include <concert/concert.h>

typedef struct server_config {
    const char *store;              /* --store URI */
    const char *listen;             /* --listen HOST:PORT */
    concert_options options;        /* --max-active, --admit-per-minute, --queue-refresh-ms
                                 and the TTLs; 0 = library default */
    unsigned threads;               /* --threads; 0 = one per online CPU */
    const char *import_path;        /* --import FILE, or NULL */
    int demo;                       /* --demo */
    const char *admin_key_file;     /* --admin-key-file FILE, or NULL */
    int queue_flags_given;          /* --max-active or --admit-per-minute was given */
    int auth_mode;                  /* --auth: API_AUTH_NONE (default), _JWT, _HEADER */
    int insecure_demo;              /* --insecure-demo: --auth none off loopback */
    const char *jwt_secret_file;    /* --jwt-secret-file FILE, or NULL */
    const char *auth_header;        /* --auth-header NAME, or NULL */
    const char *service_key_file;   /* --service-key-file FILE, or NULL */
    int allow_self_charge;          /* --allow-self-charge */
    int reuse_port;                 /* --reuse-port: SO_REUSEPORT on the listener */
    const char *metrics_token_file; /* --metrics-token-file FILE, or NULL */
    int no_metrics;                 /* --no-metrics: record nothing, /metrics 404 */
    int log_format;                 /* --log-format: HTTP_LOG_TEXT (default), _JSON, _OFF */
    unsigned head_timeout_ms;       /* --head-timeout (default 10 s) */
    unsigned body_timeout_ms;       /* --body-timeout (default 30 s) */
    unsigned max_conns_per_ip;      /* --max-conns-per-ip (default 64; 0: no cap) */
    int cap_loopback;               /* --cap-loopback: the cap counts loopback peers */
    int strict_headers;             /* --strict-headers */
} server_config;

typedef enum flags_outcome {
    FLAGS_RUN = 0,       /* start the server with *cfg */
    FLAGS_EXIT_OK = 1,   /* --help or --version was printed */
    FLAGS_EXIT_USAGE = 2 /* a message went to err; exit status 2 */
} flags_outcome;

/* Parse argv into cfg (defaults first). Help and version text go to out,
 * problems to err. */
flags_outcome server_flags_parse(server_config *cfg, int argc, char **argv, FILE *out, FILE *err);

/* Split "HOST:PORT" or "[V6]:PORT" into host (hostlen bytes) and port.
 * Returns 0, or -1 if text is not of that form or the port is not 0..65535. */
int server_listen_split(const char *text, char *host, size_t hostlen, unsigned *port);

#endif
