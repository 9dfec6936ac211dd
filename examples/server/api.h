/*
 * concertd's request handling, independent of any HTTP library.
 *
 * api_handle() takes one parsed request (method, path, a header lookup and
 * the body) and fills a response (status, Allow, JSON body). It never touches
 * a socket, so a fuzzer or a unit test can drive the whole HTTP contract
 * (routing, JSON bodies, headers, error mapping) on a memory store.
 */
#ifndef CONCERTD_API_H
#define CONCERTD_API_H

#include <stddef.h>
#include <stdint.h>

#include <concert/concert.h>

/* Largest request body accepted; larger ones get 413 PAYLOAD_TOO_LARGE. */
#define API_MAX_BODY (64 * 1024)
/* Deepest nesting accepted in a body; more is 400, never a deep recursion. */
#define API_MAX_BODY_DEPTH 16

/* Return the value of request header name (case-insensitive), or NULL. */
typedef const char *(*api_header_fn)(void *ctx, const char *name);
/* How many times header name was sent (case-insensitive). */
typedef unsigned (*api_header_count_fn)(void *ctx, const char *name);

/* Who a request acts for (--auth): see auth.h and docs/http.md. */
typedef enum api_auth_mode {
    API_AUTH_NONE = 0, /* anyone may act for any user (demos, tests) */
    API_AUTH_JWT,      /* X-User-Token: an HS256 JWT whose sub is the user */
    API_AUTH_HEADER    /* a trusted gateway's header carries the user id */
} api_auth_mode;

/* Now in ms since the epoch; see clock.h. */
typedef int64_t (*api_clock_fn)(void *ctx);

/* What the server needs to answer requests; shared by every thread. */
typedef struct api_context {
    concert_db *db;
    api_auth_mode auth_mode;
    /* API_AUTH_JWT: the HS256 secret (--jwt-secret-file). */
    const unsigned char *jwt_secret;
    size_t jwt_secret_len;
    /* API_AUTH_HEADER: the header that carries the user id (--auth-header). */
    const char *auth_header;
    /* --service-key-file: X-Service-Key lets the operator's payment service
     * charge points; NULL: no service key. */
    const char *service_key;
    size_t service_key_len;
    /* --allow-self-charge: an identified user may charge their own points. */
    int allow_self_charge;
    /* NULL: the system real-time clock. */
    api_clock_fn clock;
    void *clock_ctx;
    /* The admin key (--admin-key-file), admin_key_len bytes; NULL: the
     * admin routes do not exist (every /api/v1/admin path is 404). */
    const char *admin_key;
    size_t admin_key_len;
    /* options.queue_refresh_ms the db was opened with: how long the public
     * queue page may be cached. */
    int64_t queue_refresh_ms;
    /* The rendered seat lists (by schedule id) and schedule lists (by
     * concert id), kept while their version holds (list_cache.h); NULL:
     * render every time (the ETag and 304 work the same). */
    struct list_cache *seat_lists;
    struct list_cache *schedule_lists;
    /* The rendered seat maps (by schedule id), the same way. */
    struct list_cache *seat_maps;
    /* The live-update hub (sse_hub.h) the event routes subscribe to; NULL:
     * those routes answer 503 and clients poll. */
    struct sse_hub *events;
    /* Live-update streams per queue token (stream_quota.h); NULL: no cap. */
    struct stream_quota *stream_quota;
    /* The metrics registry (metrics.h); NULL: --no-metrics (nothing is
     * recorded and /metrics is 404). */
    struct metrics *metrics;
    /* The holds this process made, for concert_holds_expired_total
     * (hold_watch.h); NULL: not watched. */
    struct hold_watch *holds;
    /* --metrics-token-file: /metrics needs Authorization: Bearer <it>;
     * NULL: /metrics is open. */
    const char *metrics_token;
    size_t metrics_token_len;
} api_context;

typedef struct api_request {
    const char *method;               /* "GET", "POST", ... */
    const char *path;                 /* decoded path without the query string */
    api_header_fn header;             /* may be NULL: no headers */
    api_header_count_fn header_count; /* may be NULL: each header at most once */
    api_header_fn query;              /* query-string argument by name (decoded), or
                                  NULL: no query string */
    api_header_count_fn query_count;  /* may be NULL: each argument at most once */
    void *header_ctx;
    const char *body; /* body_len bytes, need not be NUL-terminated */
    size_t body_len;
    int body_too_large; /* the transport saw more than API_MAX_BODY */
} api_request;

typedef struct api_response {
    int status;
    char *body; /* malloc()ed JSON, or NULL for no body; with
                                  body_release, a shared body not to be
                                  written or freed */
    size_t body_len;
    /* NULL: free(body) releases it. Else body belongs to body_owner (a
     * reference-counted list body, list_cache.h) and body_release(body_owner)
     * drops the response's reference (a transport may call it later). */
    void (*body_release)(void *owner);
    void *body_owner;
    /* Non-NULL: a text/event-stream answer (status 200, no body) whose
     * bytes come from this stream (sse_stream.h) until it ends; the
     * response holds one reference, which a transport takes over with
     * api_response_take_stream(). */
    struct sse_stream *stream;
    char allow[40];            /* Allow header for 405, else "" */
    char cache_control[48];    /* Cache-Control header, or "" for none */
    char etag[96];             /* ETag header (quotes included), or "" */
    char www_authenticate[96]; /* WWW-Authenticate header (401s), or "" */
    char detail[160];          /* for the server log on 5xx; never sent */
    /* NULL: "application/json". Else a static string (the web app's
     * "text/html; charset=utf-8"...); such a reply also says
     * X-Content-Type-Options: nosniff. */
    const char *content_type;
    /* Content-Security-Policy header (a static string), or NULL for none. */
    const char *content_security_policy;
    /* The route pattern that served the request (static text, for metrics
     * and the log): "unmatched" when no route matched; route_id its index
     * in the route table, -1 for "unmatched". */
    const char *route;
    int route_id;
} api_response;

/*
 * Answer req into resp (every field of resp is set). Never fails: running
 * out of memory gives a 500 without a body. Safe to call from many threads
 * with one ctx. Release the body with api_response_release().
 */
void api_handle(const api_context *ctx, const api_request *req, api_response *resp);

/* Take resp's stream (or NULL) with its reference; resp forgets it. */
struct sse_stream *api_response_take_stream(api_response *resp);

/* Release resp's body (if any); resp may be reused afterwards. */
void api_response_release(api_response *resp);

/* Give up ownership of a body without body_release: returns it (may be
 * NULL; the caller free()s it) and clears resp. */
char *api_response_take_body(api_response *resp);

/* Forget the body without releasing it: the caller has taken over what
 * releasing it requires (body_release and body_owner, or free()). */
void api_response_forget_body(api_response *resp);

#endif
