/*
 * Command-line parsing for concertd (see flags.h). Both "--flag VALUE" and
 * "--flag=VALUE" are accepted.
 */
#include "flags.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "http.h"

#define DEFAULT_STORE "sqlite:concert.db"
#define DEFAULT_LISTEN "127.0.0.1:8080"

/* Keeps seconds * 1000 far from overflow while parsing; the real bounds of
 * the library's options come from its table (concert_options_info). */
#define MAX_SECONDS_MS (INT64_C(10) * 366 * 24 * 3600 * 1000)
#define MAX_THREADS 1024
/* Request deadlines (docs/http-edge.md): a browser sends its head in one
 * packet and a 64 KiB body in well under a second, so these only ever cut
 * clients that trickle. An hour is surely a typo. */
#define DEFAULT_HEAD_TIMEOUT_MS 10000
#define DEFAULT_BODY_TIMEOUT_MS 30000
#define MAX_EDGE_TIMEOUT_MS INT64_C(3600000)
/* Enough for a NAT'd office or a proxy without a cap of its own; a single
 * client never needs more than a handful. */
#define DEFAULT_MAX_CONNS_PER_IP 64
#define MAX_CONNS_PER_IP 1000000

/* The library's default for an option (its table is the one source). */
static int64_t option_default(const char *name)
{
    const concert_option_info *info = concert_options_info_find(name);
    return info != NULL ? info->default_value : 0;
}

static int64_t option_minimum(const char *name)
{
    const concert_option_info *info = concert_options_info_find(name);
    return info != NULL ? info->min : 0;
}

static void print_usage(FILE *out)
{
    fputs("Usage: concertd [options]\n"
          "\n"
          "Serve the libconcert booking API over HTTP (JSON).\n"
          "\n"
          "Options:\n"
          "  --store URI          store to open (default " DEFAULT_STORE ");\n"
          "                       memory:, sqlite:PATH, postgresql://...\n"
          "  --listen HOST:PORT   address to listen on (default " DEFAULT_LISTEN ");\n"
          "                       port 0 picks a free port, printed at start\n",
          out);
    fprintf(out,
            "  --max-active N       queue tokens ACTIVE at once (default %lld)\n"
            "  --admit-per-minute N new buyers admitted per minute (default %lld; 0: unlimited)\n"
            "                       --max-active and --admit-per-minute only SEED a store\n"
            "                       that has no queue settings yet; after that the store's\n"
            "                       settings rule (change them with PUT /api/v1/admin/queue\n"
            "                       or `concert queue set`)\n"
            "  --max-holds-per-user N live seat holds one buyer may have at once\n"
            "                       (default %lld; 0: no limit); a concert's catalog\n"
            "                       max_per_user replaces it for that concert\n"
            "  --queue-refresh-ms N how old this process's view of the queue may get, ms\n"
            "                       (default %lld; 0: read the store on every request)\n",
            (long long)option_default("max_active"), (long long)option_default("admit_per_minute"),
            (long long)option_default("max_holds_per_user"),
            (long long)option_default("queue_refresh_ms"));
    fputs("  --admin-key-file FILE enable /api/v1/admin/* with the key in FILE (sent as\n"
          "                       the X-Admin-Key header; read once at start); without\n"
          "                       it those routes answer 404\n",
          out);
    fprintf(out,
            "  --active-ttl S       lifetime of an ACTIVE token, seconds (default %lld)\n"
            "  --wait-ttl S         a WAITING token not polled for S seconds is dropped\n"
            "                       (default %lld)\n"
            "  --hold-ttl S         how long a seat hold lasts, seconds (default %lld)\n"
            "  --booking-cutoff S   booking closes S seconds after a schedule starts\n"
            "                       (default %lld)\n"
            "  --retention S        keep idempotency records and ended tokens S seconds\n"
            "                       for retries (default %lld: 24 h; at least %lld)\n",
            (long long)(option_default("active_ttl_ms") / 1000),
            (long long)(option_default("wait_ttl_ms") / 1000),
            (long long)(option_default("hold_ttl_ms") / 1000),
            (long long)(option_default("booking_cutoff_ms") / 1000),
            (long long)(option_default("retention_ms") / 1000),
            (long long)(option_minimum("retention_ms") / 1000));
    fputs("  --threads N          HTTP worker threads (default: one per CPU)\n", out);
    /* Two strings: C99 promises only 4095 characters in one literal. */
    fputs("  --head-timeout S     a request's head (request line and headers) must\n"
          "                       arrive within S seconds (default 10); a client that\n"
          "                       trickles it is disconnected\n"
          "  --body-timeout S     its body within S seconds of the head (default 30)\n"
          "  --max-conns-per-ip N connections open at once from one client address\n"
          "                       (default 64; 0: no cap); more get 503 and are closed.\n"
          "                       Loopback peers are not counted (a reverse proxy on\n"
          "                       this host is one peer for every client) unless\n"
          "  --cap-loopback       is given\n"
          "  --strict-headers     refuse (400) a request head with bytes the HTTP parser\n"
          "                       would drop: a NUL in a header value, a folded header\n"
          "                       line, but also padding around values (\"X:  v \"),\n"
          "                       which is valid HTTP and accepted without this flag\n"
          "  --reuse-port         share the port with other concertd processes\n"
          "                       (SO_REUSEPORT: the kernel spreads connections)\n"
          "  --auth MODE          who a request acts for (default none):\n"
          "                         none   anyone may act for any user: demos and tests\n"
          "                                only; refused off loopback without\n"
          "                                --insecure-demo\n"
          "                         jwt    X-User-Token: an HS256 JWT from your login\n"
          "                                service, sub = user id (--jwt-secret-file)\n"
          "                         header a trusted gateway sends the user id in\n"
          "                                --auth-header, and MUST strip that header\n"
          "                                from client requests\n"
          "  --insecure-demo      allow --auth none on a non-loopback address\n"
          "  --jwt-secret-file FILE the HS256 secret (at least 32 characters; --auth jwt)\n"
          "  --auth-header NAME   the gateway's user id header, e.g. X-User-Id\n"
          "                       (--auth header)\n"
          "  --service-key-file FILE  the key (X-Service-Key) the operator's payment\n"
          "                       service sends to charge points (--auth jwt/header)\n"
          "  --allow-self-charge  let an identified user charge their own points (demo)\n"
          "  --metrics-token-file FILE  GET /metrics needs Authorization: Bearer <the\n"
          "                       token in FILE> (what Prometheus sends); without it\n"
          "                       /metrics is open\n"
          "  --no-metrics         record no metrics; /metrics answers 404\n"
          "  --log-format FORMAT  one line per request on stderr: text (default),\n"
          "                       json (one object per line) or off\n"
          "  --import FILE        load a catalog (JSON) before serving; refuse to start\n"
          "                       if it fails\n"
          "  --demo               load the built-in demo catalog if the store is empty\n"
          "  --help               show this text\n"
          "  --version            show the version\n"
          "\n"
          "Seconds may have up to three decimals (--hold-ttl 0.5).\n",
          out);
}

/* Seconds as "D+" or "D+.D{1,3}", > 0, into milliseconds. */
static int parse_seconds_ms(const char *text, int64_t *out_ms)
{
    int64_t whole = 0;
    int64_t frac = 0;
    int frac_digits = 0;
    const char *p = text;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole * 1000 > MAX_SECONDS_MS)
            return -1;
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++frac_digits > 3)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
        if (frac_digits == 0)
            return -1;
        for (int i = frac_digits; i < 3; i++)
            frac *= 10;
    }
    if (*p != '\0')
        return -1;
    const int64_t ms = whole * 1000 + frac;
    if (ms <= 0 || ms > MAX_SECONDS_MS)
        return -1;
    *out_ms = ms;
    return 0;
}

/* A decimal integer from min to max (min >= 0). */
static int parse_whole(const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (*text < '0' || *text > '9')
        return -1; /* strtoll would take a sign or spaces */
    errno = 0;
    char *end = NULL;
    const long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* A positive decimal integer no larger than max. */
static int parse_count(const char *text, int64_t max, int64_t *out)
{
    return parse_whole(text, 1, max, out);
}

int server_listen_split(const char *text, char *host, size_t hostlen, unsigned *port)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL)
        return -1;
    const char *host_start = text;
    size_t host_len = (size_t)(colon - text);
    if (host_len >= 2 && text[0] == '[' && text[host_len - 1] == ']') {
        host_start++;
        host_len -= 2;
    } else if (memchr(text, ':', host_len) != NULL) {
        return -1; /* an IPv6 address needs brackets */
    }
    if (host_len == 0 || host_len >= hostlen)
        return -1;
    int64_t value = 0;
    const char *port_text = colon + 1;
    if (strcmp(port_text, "0") == 0)
        value = 0;
    else if (parse_count(port_text, 65535, &value) != 0)
        return -1;
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    *port = (unsigned)value;
    return 0;
}

/* An HTTP header name (RFC 9110 token) that concertd does not read for
 * anything else: the gateway's identity header must be its own. */
static int is_usable_auth_header(const char *name)
{
    static const char *const taken[] = {
        "Authorization", "X-User-Token",   "X-Service-Key", "X-Admin-Key", "Idempotency-Key",
        "Content-Type",  "Content-Length", "Host",          NULL
    };
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    const size_t len = strlen(name);
    if (len == 0 || len > 64)
        return 0;
    for (size_t i = 0; i < len; i++) {
        const char c = name[i];
        const int alnum =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && strchr(tchar, c) == NULL)
            return 0;
    }
    for (size_t i = 0; taken[i] != NULL; i++) {
        if (strcasecmp(name, taken[i]) == 0)
            return 0;
    }
    return 1;
}

/* Flags that only make sense together; 0, or -1 after a message. The
 * loopback rule of --auth none needs the address resolved: main() checks
 * it (loopback.h). */
static int check_auth_flags(const server_config *cfg, FILE *err)
{
    if (cfg->auth_mode == API_AUTH_JWT && cfg->jwt_secret_file == NULL) {
        fprintf(err, "concertd: --auth jwt needs --jwt-secret-file FILE (the HS256 secret "
                     "your login service signs with)\n");
        return -1;
    }
    if (cfg->auth_mode != API_AUTH_JWT && cfg->jwt_secret_file != NULL) {
        fprintf(err, "concertd: --jwt-secret-file is only for --auth jwt\n");
        return -1;
    }
    if (cfg->auth_mode == API_AUTH_HEADER && cfg->auth_header == NULL) {
        fprintf(err, "concertd: --auth header needs --auth-header NAME (the header your "
                     "gateway puts the user id in, e.g. X-User-Id)\n");
        return -1;
    }
    if (cfg->auth_mode != API_AUTH_HEADER && cfg->auth_header != NULL) {
        fprintf(err, "concertd: --auth-header is only for --auth header\n");
        return -1;
    }
    if (cfg->auth_mode != API_AUTH_NONE && cfg->insecure_demo) {
        fprintf(err, "concertd: --insecure-demo is only for --auth none\n");
        return -1;
    }
    if (cfg->auth_mode == API_AUTH_NONE &&
        (cfg->service_key_file != NULL || cfg->allow_self_charge)) {
        fprintf(err, "concertd: --service-key-file and --allow-self-charge need --auth jwt or "
                     "--auth header (with --auth none anyone may charge points)\n");
        return -1;
    }
    return 0;
}

typedef enum flag_id {
    FLAG_STORE,
    FLAG_LISTEN,
    FLAG_MAX_ACTIVE,
    FLAG_ADMIT_PER_MINUTE,
    FLAG_QUEUE_REFRESH_MS,
    FLAG_MAX_HOLDS_PER_USER,
    FLAG_ADMIN_KEY_FILE,
    FLAG_ACTIVE_TTL,
    FLAG_WAIT_TTL,
    FLAG_HOLD_TTL,
    FLAG_BOOKING_CUTOFF,
    FLAG_RETENTION,
    FLAG_THREADS,
    FLAG_HEAD_TIMEOUT,
    FLAG_BODY_TIMEOUT,
    FLAG_MAX_CONNS_PER_IP,
    FLAG_CAP_LOOPBACK,
    FLAG_STRICT_HEADERS,
    FLAG_REUSE_PORT,
    FLAG_IMPORT,
    FLAG_AUTH,
    FLAG_INSECURE_DEMO,
    FLAG_JWT_SECRET_FILE,
    FLAG_AUTH_HEADER,
    FLAG_SERVICE_KEY_FILE,
    FLAG_ALLOW_SELF_CHARGE,
    FLAG_METRICS_TOKEN_FILE,
    FLAG_NO_METRICS,
    FLAG_LOG_FORMAT,
    FLAG_DEMO,
    FLAG_HELP,
    FLAG_VERSION
} flag_id;

typedef struct flag_spec {
    const char *name;
    flag_id id;
    int takes_value;
} flag_spec;

static const flag_spec flag_specs[] = {
    { "--store", FLAG_STORE, 1 },
    { "--listen", FLAG_LISTEN, 1 },
    { "--max-active", FLAG_MAX_ACTIVE, 1 },
    { "--admit-per-minute", FLAG_ADMIT_PER_MINUTE, 1 },
    { "--queue-refresh-ms", FLAG_QUEUE_REFRESH_MS, 1 },
    { "--max-holds-per-user", FLAG_MAX_HOLDS_PER_USER, 1 },
    { "--admin-key-file", FLAG_ADMIN_KEY_FILE, 1 },
    { "--active-ttl", FLAG_ACTIVE_TTL, 1 },
    { "--wait-ttl", FLAG_WAIT_TTL, 1 },
    { "--hold-ttl", FLAG_HOLD_TTL, 1 },
    { "--booking-cutoff", FLAG_BOOKING_CUTOFF, 1 },
    { "--retention", FLAG_RETENTION, 1 },
    { "--threads", FLAG_THREADS, 1 },
    { "--head-timeout", FLAG_HEAD_TIMEOUT, 1 },
    { "--body-timeout", FLAG_BODY_TIMEOUT, 1 },
    { "--max-conns-per-ip", FLAG_MAX_CONNS_PER_IP, 1 },
    { "--cap-loopback", FLAG_CAP_LOOPBACK, 0 },
    { "--strict-headers", FLAG_STRICT_HEADERS, 0 },
    { "--reuse-port", FLAG_REUSE_PORT, 0 },
    { "--import", FLAG_IMPORT, 1 },
    { "--auth", FLAG_AUTH, 1 },
    { "--insecure-demo", FLAG_INSECURE_DEMO, 0 },
    { "--jwt-secret-file", FLAG_JWT_SECRET_FILE, 1 },
    { "--auth-header", FLAG_AUTH_HEADER, 1 },
    { "--service-key-file", FLAG_SERVICE_KEY_FILE, 1 },
    { "--allow-self-charge", FLAG_ALLOW_SELF_CHARGE, 0 },
    { "--metrics-token-file", FLAG_METRICS_TOKEN_FILE, 1 },
    { "--no-metrics", FLAG_NO_METRICS, 0 },
    { "--log-format", FLAG_LOG_FORMAT, 1 },
    { "--demo", FLAG_DEMO, 0 },
    { "--help", FLAG_HELP, 0 },
    { "--version", FLAG_VERSION, 0 },
};

static const flag_spec *find_flag(const char *arg, size_t name_len)
{
    for (size_t i = 0; i < sizeof flag_specs / sizeof flag_specs[0]; i++) {
        if (strlen(flag_specs[i].name) == name_len &&
            strncmp(flag_specs[i].name, arg, name_len) == 0)
            return &flag_specs[i];
    }
    return NULL;
}

/* The flags that set a concert_options field. Their bounds, defaults and
 * what 0 means are the library's (concert_options_info): concertd refuses
 * exactly what concert_db_open() would, with the same limits. A flag that
 * would set a field to 0 meaning "the default" is refused, since naming a
 * value and getting another is a surprise; a 0 with a meaning of its own
 * (unlimited, no limit, read every time) is accepted. */
typedef struct option_flag {
    flag_id id;
    const char *option; /* the concert_options field */
    int in_seconds;     /* the flag takes seconds, the field is ms */
    size_t offset;      /* of the int64_t field */
} option_flag;

static const option_flag option_flags[] = {
    { FLAG_MAX_ACTIVE, "max_active", 0, offsetof(concert_options, max_active) },
    { FLAG_ADMIT_PER_MINUTE, "admit_per_minute", 0, offsetof(concert_options, admit_per_minute) },
    { FLAG_QUEUE_REFRESH_MS, "queue_refresh_ms", 0, offsetof(concert_options, queue_refresh_ms) },
    { FLAG_MAX_HOLDS_PER_USER, "max_holds_per_user", 0,
      offsetof(concert_options, max_holds_per_user) },
    { FLAG_ACTIVE_TTL, "active_ttl_ms", 1, offsetof(concert_options, active_ttl_ms) },
    { FLAG_WAIT_TTL, "wait_ttl_ms", 1, offsetof(concert_options, wait_ttl_ms) },
    { FLAG_HOLD_TTL, "hold_ttl_ms", 1, offsetof(concert_options, hold_ttl_ms) },
    { FLAG_BOOKING_CUTOFF, "booking_cutoff_ms", 1, offsetof(concert_options, booking_cutoff_ms) },
    { FLAG_RETENTION, "retention_ms", 1, offsetof(concert_options, retention_ms) },
};

/* "seconds from 0.001 to 31622400" / "a whole number from 0 (unlimited) to
 * 6000000": the accepted range as the flag's user writes it. */
static void describe_range(const option_flag *of, const concert_option_info *info, int zero_ok,
                           FILE *err)
{
    if (of->in_seconds) {
        const int64_t lo = info->min;
        if (lo % 1000 == 0)
            fprintf(err, "seconds from %lld", (long long)(lo / 1000));
        else
            fprintf(err, "seconds from %lld.%03lld", (long long)(lo / 1000),
                    (long long)(lo % 1000));
        fprintf(err, " to %lld (e.g. 300 or 0.5)", (long long)(info->max / 1000));
    } else if (zero_ok) {
        fprintf(err, "a whole number from 0 (%s) to %lld", info->zero_means, (long long)info->max);
    } else {
        fprintf(err, "a whole number from %lld to %lld", (long long)info->min,
                (long long)info->max);
    }
}

static int apply_option(server_config *cfg, const flag_spec *spec, const char *value, FILE *err)
{
    const option_flag *of = NULL;
    for (size_t i = 0; i < sizeof option_flags / sizeof option_flags[0]; i++)
        if (option_flags[i].id == spec->id)
            of = &option_flags[i];
    const concert_option_info *info = of != NULL ? concert_options_info_find(of->option) : NULL;
    if (info == NULL) { /* a library without the option: a build mismatch */
        fprintf(err, "concertd: %s: this libconcert has no such option\n", spec->name);
        return -1;
    }
    const int zero_ok = strcmp(info->zero_means, "default") != 0;
    int64_t n = 0;
    const int parsed =
        of->in_seconds ? parse_seconds_ms(value, &n) : parse_whole(value, 0, INT64_MAX, &n);
    if (parsed != 0 || (n == 0 && !zero_ok) || concert_options_check(info->name, n) != 0) {
        fprintf(err, "concertd: %s: expected ", spec->name);
        describe_range(of, info, zero_ok, err);
        fprintf(err, ", got '%s'\n", value);
        return -1;
    }
    memcpy((char *)&cfg->options + of->offset, &n, sizeof n);
    return 0;
}

/* Apply one flag's value; 0, or -1 after a message on err. */
static int apply_value(server_config *cfg, const flag_spec *spec, const char *value, FILE *err)
{
    int64_t n = 0;
    switch (spec->id) {
    case FLAG_STORE:
        if (*value == '\0')
            break;
        cfg->store = value;
        return 0;
    case FLAG_LISTEN: {
        char host[256];
        unsigned port = 0;
        if (server_listen_split(value, host, sizeof host, &port) != 0) {
            fprintf(err, "concertd: --listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got '%s'\n",
                    value);
            return -1;
        }
        cfg->listen = value;
        return 0;
    }
    case FLAG_MAX_ACTIVE:
    case FLAG_ADMIT_PER_MINUTE:
    case FLAG_QUEUE_REFRESH_MS:
    case FLAG_MAX_HOLDS_PER_USER:
        if (apply_option(cfg, spec, value, err) != 0)
            return -1;
        if (spec->id == FLAG_MAX_ACTIVE || spec->id == FLAG_ADMIT_PER_MINUTE)
            cfg->queue_flags_given = 1;
        return 0;
    case FLAG_ADMIN_KEY_FILE:
        if (*value == '\0')
            break;
        cfg->admin_key_file = value;
        return 0;
    case FLAG_ACTIVE_TTL:
    case FLAG_WAIT_TTL:
    case FLAG_HOLD_TTL:
    case FLAG_BOOKING_CUTOFF:
    case FLAG_RETENTION:
        return apply_option(cfg, spec, value, err);
    case FLAG_THREADS:
        if (parse_count(value, MAX_THREADS, &n) != 0) {
            fprintf(err, "concertd: --threads: expected a whole number from 1 to %d, got '%s'\n",
                    MAX_THREADS, value);
            return -1;
        }
        cfg->threads = (unsigned)n;
        return 0;
    case FLAG_HEAD_TIMEOUT:
    case FLAG_BODY_TIMEOUT:
        if (parse_seconds_ms(value, &n) != 0 || n > MAX_EDGE_TIMEOUT_MS) {
            fprintf(err,
                    "concertd: %s: expected seconds from 0.001 to %lld (e.g. 10 or 0.5), "
                    "got '%s'\n",
                    spec->name, (long long)(MAX_EDGE_TIMEOUT_MS / 1000), value);
            return -1;
        }
        if (spec->id == FLAG_HEAD_TIMEOUT)
            cfg->head_timeout_ms = (unsigned)n;
        else
            cfg->body_timeout_ms = (unsigned)n;
        return 0;
    case FLAG_MAX_CONNS_PER_IP:
        if (parse_whole(value, 0, MAX_CONNS_PER_IP, &n) != 0) {
            fprintf(err,
                    "concertd: --max-conns-per-ip: expected a whole number from 0 (no cap) "
                    "to %d, got '%s'\n",
                    MAX_CONNS_PER_IP, value);
            return -1;
        }
        cfg->max_conns_per_ip = (unsigned)n;
        return 0;
    case FLAG_IMPORT:
        if (*value == '\0')
            break;
        cfg->import_path = value;
        return 0;
    case FLAG_AUTH:
        if (strcmp(value, "none") == 0)
            cfg->auth_mode = API_AUTH_NONE;
        else if (strcmp(value, "jwt") == 0)
            cfg->auth_mode = API_AUTH_JWT;
        else if (strcmp(value, "header") == 0)
            cfg->auth_mode = API_AUTH_HEADER;
        else {
            fprintf(err, "concertd: --auth: expected none, jwt or header, got '%s'\n", value);
            return -1;
        }
        return 0;
    case FLAG_JWT_SECRET_FILE:
        if (*value == '\0')
            break;
        cfg->jwt_secret_file = value;
        return 0;
    case FLAG_AUTH_HEADER:
        if (*value == '\0')
            break;
        if (!is_usable_auth_header(value)) {
            fprintf(err,
                    "concertd: --auth-header: expected a header name such as X-User-Id (not "
                    "one concertd reads for something else), got '%s'\n",
                    value);
            return -1;
        }
        cfg->auth_header = value;
        return 0;
    case FLAG_SERVICE_KEY_FILE:
        if (*value == '\0')
            break;
        cfg->service_key_file = value;
        return 0;
    case FLAG_METRICS_TOKEN_FILE:
        if (*value == '\0')
            break;
        cfg->metrics_token_file = value;
        return 0;
    case FLAG_LOG_FORMAT:
        if (strcmp(value, "text") == 0)
            cfg->log_format = HTTP_LOG_TEXT;
        else if (strcmp(value, "json") == 0)
            cfg->log_format = HTTP_LOG_JSON;
        else if (strcmp(value, "off") == 0)
            cfg->log_format = HTTP_LOG_OFF;
        else {
            fprintf(err, "concertd: --log-format: expected text, json or off, got '%s'\n", value);
            return -1;
        }
        return 0;
    case FLAG_NO_METRICS:
    case FLAG_CAP_LOOPBACK:
    case FLAG_STRICT_HEADERS:
    case FLAG_INSECURE_DEMO:
    case FLAG_REUSE_PORT:
    case FLAG_ALLOW_SELF_CHARGE:
    case FLAG_DEMO:
    case FLAG_HELP:
    case FLAG_VERSION:
        break;
    }
    fprintf(err, "concertd: %s: the value must not be empty\n", spec->name);
    return -1;
}

flags_outcome server_flags_parse(server_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->store = DEFAULT_STORE;
    cfg->listen = DEFAULT_LISTEN;
    cfg->head_timeout_ms = DEFAULT_HEAD_TIMEOUT_MS;
    cfg->body_timeout_ms = DEFAULT_BODY_TIMEOUT_MS;
    cfg->max_conns_per_ip = DEFAULT_MAX_CONNS_PER_IP;
    concert_options defaults = CONCERT_OPTIONS_INIT;
    cfg->options = defaults;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        const size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const flag_spec *spec = strncmp(arg, "--", 2) == 0 ? find_flag(arg, name_len) : NULL;
        if (spec == NULL) {
            fprintf(err, "concertd: unknown option '%s' (see concertd --help)\n", arg);
            return FLAGS_EXIT_USAGE;
        }
        if (!spec->takes_value) {
            if (eq != NULL) {
                fprintf(err, "concertd: %s takes no value\n", spec->name);
                return FLAGS_EXIT_USAGE;
            }
            if (spec->id == FLAG_HELP) {
                print_usage(out);
                return FLAGS_EXIT_OK;
            }
            if (spec->id == FLAG_VERSION) {
                fprintf(out, "concertd %s (libconcert %s)\n", CONCERT_VERSION_STRING,
                        concert_version_string());
                return FLAGS_EXIT_OK;
            }
            if (spec->id == FLAG_INSECURE_DEMO)
                cfg->insecure_demo = 1;
            else if (spec->id == FLAG_ALLOW_SELF_CHARGE)
                cfg->allow_self_charge = 1;
            else if (spec->id == FLAG_REUSE_PORT)
                cfg->reuse_port = 1;
            else if (spec->id == FLAG_NO_METRICS)
                cfg->no_metrics = 1;
            else if (spec->id == FLAG_CAP_LOOPBACK)
                cfg->cap_loopback = 1;
            else if (spec->id == FLAG_STRICT_HEADERS)
                cfg->strict_headers = 1;
            else
                cfg->demo = 1;
            continue;
        }
        const char *value = NULL;
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(err, "concertd: %s needs a value (see concertd --help)\n", spec->name);
            return FLAGS_EXIT_USAGE;
        }
        if (apply_value(cfg, spec, value, err) != 0)
            return FLAGS_EXIT_USAGE;
    }
    if (cfg->no_metrics && cfg->metrics_token_file != NULL) {
        fprintf(err, "concertd: --metrics-token-file and --no-metrics contradict each other\n");
        return FLAGS_EXIT_USAGE;
    }
    return check_auth_flags(cfg, err) == 0 ? FLAGS_RUN : FLAGS_EXIT_USAGE;
}
