/*
 * Points routes (no token, as the product's diagrams have it).
 */
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "errors_http.h"
#include "handlers.h"
#include "metrics.h"
#include "reply.h"

static void reply_balance(api_call *call, int64_t user_id, int64_t balance)
{
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "user_id");
    json_out_int(&w, user_id);
    JSON_OUT_KEY(&w, "balance");
    json_out_int(&w, balance);
    json_out_object_end(&w);
    reply_json(call->resp, 200, &w);
}

void handle_points_charge(api_call *call)
{
    struct json_object *body = NULL;
    int64_t amount = 0;
    if (call_body_object(call, &body) != 0)
        return;
    const int bad = call_body_int64(call, body, "amount", &amount);
    json_object_put(body);
    if (bad)
        return;

    /* The library says whether a keyed call replayed an earlier charge:
     * only a new one counts towards the charged total. */
    concert_charge_result result = { .version = CONCERT_CHARGE_RESULT_VERSION };
    const int rc = concert_charge_points_ex(&result, call->ctx->db, call->ids[0], amount,
                                            call_idempotency_key(call));
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    if (!result.replayed)
        metrics_add(call->ctx->metrics, METRIC_POINTS_CHARGED, (uint64_t)amount);
    reply_balance(call, call->ids[0], result.balance);
}

void handle_points_balance(api_call *call)
{
    int64_t balance = 0;
    const int rc = concert_points_balance_get(&balance, call->ctx->db, call->ids[0]);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    reply_balance(call, call->ids[0], balance);
}

/* A page of history: ?limit= (1..500, default 100) entries older than
 * ?cursor= (the next_cursor of the page before; absent: the newest). */
#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT 500

void handle_points_history(api_call *call)
{
    concert_ledger_list *list = NULL;
    int64_t limit, cursor;
    if (call_query_int64(call, "limit", 1, HISTORY_MAX_LIMIT, HISTORY_DEFAULT_LIMIT, &limit) != 0 ||
        call_query_int64(call, "cursor", 1, INT64_MAX, 0, &cursor) != 0)
        return;
    const int rc =
        concert_ledger_list_get_page(&list, call->ctx->db, call->ids[0], cursor, (size_t)limit);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    json_out w;
    json_out_init(&w);
    json_out_reserve(&w, 64 + list->count * 128);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "user_id");
    json_out_int(&w, call->ids[0]);
    JSON_OUT_KEY(&w, "entries");
    json_out_array_begin(&w);
    for (size_t i = 0; i < list->count; i++) {
        const concert_ledger_entry *e = &list->items[i];
        json_out_object_begin(&w);
        JSON_OUT_KEY(&w, "id");
        json_out_int(&w, e->id);
        JSON_OUT_KEY(&w, "type");
        json_out_string(&w, concert_ledger_type_name(e->type));
        JSON_OUT_KEY(&w, "amount");
        json_out_int(&w, e->amount);
        JSON_OUT_KEY(&w, "balance_after");
        json_out_int(&w, e->balance_after);
        JSON_OUT_KEY(&w, "at");
        json_out_time(&w, e->at);
        json_out_object_end(&w);
    }
    json_out_array_end(&w);
    /* A string, so that clients treat it as opaque (it is an entry id today). */
    JSON_OUT_KEY(&w, "next_cursor");
    if (list->next_before_id != 0) {
        char next[24];
        snprintf(next, sizeof next, "%lld", (long long)list->next_before_id);
        json_out_string(&w, next);
    } else {
        json_out_null(&w);
    }
    json_out_object_end(&w);
    concert_ledger_list_free(list);
    reply_json(call->resp, 200, &w);
}
