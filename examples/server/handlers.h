/*
 * The route handlers and what they share. Each handler reads its request
 * through the call, calls the C API once (or twice for a list) and replies;
 * no booking rule lives here.
 */
#ifndef CONCERTD_HANDLERS_H
#define CONCERTD_HANDLERS_H

#include <stdint.h>

#include "access.h"
#include "api.h"

struct json_object;

/* Most {id} segments any route has. */
#define API_MAX_PATH_IDS 2

/* One request on its way through a handler. */
typedef struct api_call {
    const api_context *ctx;
    const api_request *req;
    api_response *resp;
    int64_t ids[API_MAX_PATH_IDS]; /* the path's {id} values, in order */
    int64_t identity;              /* the user it acts for (access.h); 0: none */
    int owner_unverified;          /* ACCESS_TOKEN_REPLAY let an ended token by */
    int has_idempotency_key;
    char idempotency_key[256]; /* checked and trimmed (idem_key.h) */
} api_call;

typedef void (*api_handler_fn)(api_call *call);

/* ---- helpers (api.c) ---- */

/* Request header name, or NULL. */
const char *call_header(const api_call *call, const char *name);

/*
 * Copy the bearer token of the Authorization header into token
 * (CONCERT_TOKEN_SIZE bytes). Returns 0, or -1 after replying 401
 * TOKEN_INVALID (header missing, another scheme, a token too long to exist).
 */
int call_bearer_token(api_call *call, char *token);

/* Parse the body with the strict reader (json_strict.h) as one JSON object:
 * 0, or -1 after replying 400 MALFORMED_REQUEST (a key given twice, trailing
 * data, too deep, not JSON). */
int call_body_object(api_call *call, struct json_object **out);

/* Read an integer member; 0, or -1 after replying 400. */
int call_body_int64(api_call *call, const struct json_object *obj, const char *key, int64_t *out);

/*
 * Read query argument name as an integer in [min, max]; fallback when
 * absent. 0, or -1 after replying 422 INVALID_ARGUMENT (not a plain decimal
 * integer, out of range, or given twice).
 */
int call_query_int64(api_call *call, const char *name, int64_t min, int64_t max, int64_t fallback,
                     int64_t *out);

/* The Idempotency-Key (trimmed, checked before the handler ran on routes
 * that take one), or NULL when absent. */
const char *call_idempotency_key(const api_call *call);

/* ---- handlers_queue.c ---- */
void handle_queue_issue(api_call *call);
void handle_queue_status(api_call *call);
void handle_queue_leave(api_call *call);
void handle_queue_public(api_call *call);

/* ---- handlers_admin.c (behind the admin key, see api.c) ---- */
void handle_admin_queue_get(api_call *call);
void handle_admin_queue_put(api_call *call);
void handle_admin_queue_pause(api_call *call);
void handle_admin_queue_resume(api_call *call);
void handle_admin_queue_close(api_call *call);
void handle_admin_queue_open(api_call *call);

/* ---- handlers_catalog.c ---- */
void handle_concerts_list(api_call *call);
void handle_concert_get(api_call *call);
void handle_schedules_list(api_call *call);
void handle_seats_list(api_call *call);
void handle_seatmap_get(api_call *call);

/* ---- handlers_booking.c ---- */
void handle_reservation_create(api_call *call);
void handle_reservation_get(api_call *call);
void handle_reservation_release(api_call *call);
void handle_payment_create(api_call *call);

/* ---- handlers_points.c ---- */
void handle_points_charge(api_call *call);
void handle_points_balance(api_call *call);
void handle_points_history(api_call *call);

/* ---- handlers_events.c (Server-Sent Events, sse_hub.h) ---- */
void handle_queue_events(api_call *call);
void handle_seat_events(api_call *call);

/* ---- handlers_ops.c ---- */
void handle_healthz(api_call *call);
void handle_openapi(api_call *call);
void handle_metrics(api_call *call);

/* ---- handlers_session.c ---- */
void handle_session(api_call *call);

/* ---- handlers_static.c: the web app's files (routes flagged ROUTE_STATIC) ---- */
void handle_static(api_call *call);

#endif
