/*
 * POST /api/v1/payments: pay one hold ({"reservation_id": n}) or several at
 * once ({"reservation_ids": [..]}, an order), with the token's user's points.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "errors_http.h"
#include "handlers.h"
#include "hold_watch.h"
#include "metrics.h"
#include "json_strict.h"
#include "reply.h"

/*
 * The reservation ids of the body: exactly one of reservation_id (an
 * integer) and reservation_ids (an array of integers). Returns the count,
 * or -1 after replying. Counts and repeats are the library's to judge
 * (422), except a list too long to carry.
 */
static int body_reservation_ids(api_call *call, const json_object *body,
                                int64_t ids[CONCERT_ORDER_MAX])
{
    json_object *list = NULL;
    const int has_one = json_object_object_get_ex(body, "reservation_id", NULL);
    const int has_list = json_object_object_get_ex(body, "reservation_ids", &list);
    char message[128];

    if (has_one && has_list) {
        reply_malformed(call->resp, "give reservation_id or reservation_ids, not both");
        return -1;
    }
    if (!has_list)
        return call_body_int64(call, body, "reservation_id", &ids[0]) == 0 ? 1 : -1;
    if (!json_object_is_type(list, json_type_array)) {
        reply_malformed(call->resp, "reservation_ids: must be an array of integers");
        return -1;
    }
    const size_t count = json_object_array_length(list);
    if (count < 1 || count > CONCERT_ORDER_MAX) {
        snprintf(message, sizeof message, "reservation_ids: an order pays for 1 to %d reservations",
                 CONCERT_ORDER_MAX);
        reply_error(call->resp, 422, "INVALID_ARGUMENT", message);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (json_strict_int(json_object_array_get_idx(list, i), 1, INT64_MAX - 1, &ids[i]) !=
            JSON_INT_OK) {
            snprintf(message, sizeof message, "reservation_ids[%zu]: must be a positive integer",
                     i);
            reply_malformed(call->resp, message);
            return -1;
        }
    }
    return (int)count;
}

static int id_compare(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*
 * Count a payment once; 1 if it was new. Without an Idempotency-Key every success is a new
 * payment. With one, a replay answers with the first payment: it was made
 * before this request began (paid_at < before) or, when both fell in one
 * millisecond or raced, its id was counted already.
 */
static int count_payment(api_call *call, const concert_payment *p, int64_t before,
                         const int64_t *ids, int count)
{
    metrics *m = call->ctx->metrics;
    for (int i = 0; i < count; i++)
        (void)hold_watch_settle(call->ctx->holds, ids[i]);
    if (call_idempotency_key(call) != NULL &&
        (p->paid_at < before || !metrics_first_sight(m, METRICS_ID_PAYMENT, p->id)))
        return 0;
    metrics_add(m, METRIC_PAYMENTS, 1);
    metrics_add(m, METRIC_POINTS_PAID, p->amount > 0 ? (uint64_t)p->amount : 0);
    return 1;
}

void handle_payment_create(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    int64_t ids[CONCERT_ORDER_MAX];
    struct json_object *body = NULL;
    if (call_bearer_token(call, token) != 0)
        return;
    if (call_body_object(call, &body) != 0)
        return;
    const int count = body_reservation_ids(call, body, ids);
    json_object_put(body);
    if (count < 0)
        return;

    const int64_t before = concert_db_now(call->ctx->db);
    concert_payment p;
    const int rc =
        concert_order_pay(&p, call->ctx->db, token, ids, (size_t)count, call_idempotency_key(call));
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    /* A replay through an ended token answers only to the payment's user. */
    if (access_answer_user(call, p.user_id) != 0)
        return;
    /* A new payment ended this token (a replay may come with a later one). */
    if (count_payment(call, &p, before, ids, count))
        hold_watch_token_ended(call->ctx->holds, token);
    /* The library paid them in ascending order; list them that way. */
    qsort(ids, (size_t)count, sizeof ids[0], id_compare);
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "id");
    json_out_int(&w, p.id);
    JSON_OUT_KEY(&w, "reservation_id");
    json_out_int(&w, p.reservation_id);
    JSON_OUT_KEY(&w, "reservation_ids");
    json_out_array_begin(&w);
    for (int i = 0; i < count; i++)
        json_out_int(&w, ids[i]);
    json_out_array_end(&w);
    JSON_OUT_KEY(&w, "user_id");
    json_out_int(&w, p.user_id);
    JSON_OUT_KEY(&w, "amount");
    json_out_int(&w, p.amount);
    JSON_OUT_KEY(&w, "balance");
    json_out_int(&w, p.balance);
    JSON_OUT_KEY(&w, "paid_at");
    json_out_time(&w, p.paid_at);
    json_out_object_end(&w);
    /* A replay with the same key answers exactly like the first payment. */
    reply_json(call->resp, 201, &w);
}
