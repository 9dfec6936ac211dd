/*
 * Booking routes (ACTIVE token): hold a seat, read it, let it go.
 */
#include <json-c/json.h>

#include "errors_http.h"
#include "handlers.h"
#include "hold_watch.h"
#include "metrics.h"
#include "reply.h"

static void reply_reservation(api_call *call, int status, const concert_reservation *r)
{
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "id");
    json_out_int(&w, r->id);
    JSON_OUT_KEY(&w, "user_id");
    json_out_int(&w, r->user_id);
    JSON_OUT_KEY(&w, "schedule_id");
    json_out_int(&w, r->schedule_id);
    JSON_OUT_KEY(&w, "seat_number");
    json_out_int(&w, r->seat_number);
    JSON_OUT_KEY(&w, "price");
    json_out_int(&w, r->price);
    JSON_OUT_KEY(&w, "status");
    json_out_string(&w, concert_reservation_status_name(r->status));
    JSON_OUT_KEY(&w, "held_until");
    json_out_time(&w, r->held_until);
    json_out_object_end(&w);
    reply_json(call->resp, status, &w);
}

void handle_reservation_create(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    struct json_object *body = NULL;
    int64_t schedule_id = 0;
    int64_t seat_number = 0;
    if (call_body_object(call, &body) != 0)
        return;
    const int bad = call_body_int64(call, body, "schedule_id", &schedule_id) != 0 ||
                    call_body_int64(call, body, "seat_number", &seat_number) != 0;
    json_object_put(body);
    if (bad)
        return;

    concert_reservation r;
    const int rc = concert_reserve_seat(&r, call->ctx->db, token, schedule_id, seat_number);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    if (r.is_new) {
        metrics_add(call->ctx->metrics, METRIC_HOLDS_MADE, 1);
        hold_watch_add(call->ctx->holds, token, r.id, r.held_until);
    }
    reply_reservation(call, r.is_new ? 201 : 200, &r);
}

void handle_reservation_get(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_reservation r;
    const int rc = concert_reservation_get(&r, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    reply_reservation(call, 200, &r);
}

void handle_reservation_release(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    const int64_t before = concert_db_now(call->ctx->db);
    concert_reservation r;
    const int rc = concert_reservation_release(&r, call->ctx->db, token, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    /* Count a hold that was live: one this process made and nobody here
     * settled yet; for one made elsewhere, one whose time had not run out
     * (a second release of it in another process counts again). */
    const int settled = hold_watch_settle(call->ctx->holds, r.id);
    if (settled == 1 || (settled == -1 && r.held_until > before))
        metrics_add(call->ctx->metrics, METRIC_HOLDS_RELEASED, 1);
    reply_empty(call->resp, 204);
}
