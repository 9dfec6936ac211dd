/*
 * api_handle() and the error table without sockets: what the HTTP tests
 * cannot reach through a healthy server (500 INTERNAL, 5xx bodies that must
 * not leak the store's detail) and hostile input straight into the handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>

#include "admin_key.h"
#include "api.h"
#include "errors_http.h"
#include "json_out.h"
#include "reply.h"

typedef struct header_pair {
    const char *name;
    const char *value;
} header_pair;

static const char *find_header(void *ctx, const char *name)
{
    for (const header_pair *h = ctx; h != NULL && h->name != NULL; h++) {
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    }
    return NULL;
}

static concert_db *db;
static api_context ctx;

static void open_memory_store(void)
{
    cr_assert_eq(concert_db_open(&db, "memory:", NULL), 0);
    ctx.db = db;
}

static void close_store(void)
{
    concert_db_close(db);
    db = NULL;
    ctx.admin_key = NULL;
    ctx.admin_key_len = 0;
}

static const char test_admin_key[] = "unit-admin-key-0123456789";

static void open_memory_store_with_admin_key(void)
{
    open_memory_store();
    ctx.admin_key = test_admin_key;
    ctx.admin_key_len = sizeof test_admin_key - 1;
}

static void handle(api_response *resp, const char *method, const char *path,
                   const header_pair *headers, const char *body)
{
    api_request req = {
        .method = method,
        .path = path,
        .header = find_header,
        .header_ctx = (void *)headers,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    api_handle(&ctx, &req, resp);
}

/* The body's "code" value, checked by a plain search: the writer's output
 * is compact and fixed. */
static int body_has_code(const api_response *resp, const char *code)
{
    char needle[96];
    snprintf(needle, sizeof needle, "\"code\":\"%s\"", code);
    return resp->body != NULL && strstr(resp->body, needle) != NULL;
}

Test(error_table, every_library_code_has_its_contract_status)
{
    static const struct {
        int code;
        int status;
        const char *name;
    } expected[] = {
        { CONCERT_EINVAL, 422, "INVALID_ARGUMENT" },
        { CONCERT_ENOMEM, 500, "INTERNAL" },
        { CONCERT_ESTORAGE, 503, "STORAGE_UNAVAILABLE" },
        { CONCERT_EBUSY, 503, "STORAGE_UNAVAILABLE" },
        { CONCERT_ENOTSUP, 500, "INTERNAL" },
        { CONCERT_ESCHEMA, 500, "INTERNAL" },
        { CONCERT_EINTERNAL, 500, "INTERNAL" },
        { CONCERT_ECONFLICT, 409, "CONFLICT" },
        { CONCERT_EUSER_NOT_FOUND, 404, "USER_NOT_FOUND" },
        { CONCERT_ETOKEN_INVALID, 401, "TOKEN_INVALID" },
        { CONCERT_ETOKEN_NOT_ACTIVE, 403, "TOKEN_NOT_ACTIVE" },
        { CONCERT_ECONCERT_NOT_FOUND, 404, "CONCERT_NOT_FOUND" },
        { CONCERT_ECONCERT_NOT_BOOKABLE, 409, "CONCERT_NOT_BOOKABLE" },
        { CONCERT_ESCHEDULE_NOT_FOUND, 404, "SCHEDULE_NOT_FOUND" },
        { CONCERT_EBOOKING_CLOSED, 409, "BOOKING_CLOSED" },
        { CONCERT_ESEAT_NOT_FOUND, 404, "SEAT_NOT_FOUND" },
        { CONCERT_ESEAT_TAKEN, 409, "SEAT_TAKEN" },
        { CONCERT_ERESERVATION_NOT_FOUND, 404, "RESERVATION_NOT_FOUND" },
        { CONCERT_EFORBIDDEN, 403, "FORBIDDEN" },
        { CONCERT_EHOLD_EXPIRED, 409, "HOLD_EXPIRED" },
        { CONCERT_EALREADY_PAID, 409, "ALREADY_PAID" },
        { CONCERT_EINSUFFICIENT_POINTS, 409, "INSUFFICIENT_POINTS" },
        { CONCERT_EINVALID_AMOUNT, 422, "INVALID_AMOUNT" },
        { CONCERT_EIDEMPOTENCY_KEY_REUSED, 409, "IDEMPOTENCY_KEY_REUSED" },
        { CONCERT_EQUEUE_CLOSED, 409, "QUEUE_CLOSED" },
        { -9999, 500, "INTERNAL" },
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const char *name = NULL;
        cr_expect_eq(errors_http_status(expected[i].code, &name), expected[i].status, "code %d",
                     expected[i].code);
        cr_expect_str_eq(name, expected[i].name, "code %d", expected[i].code);
    }
}

Test(error_table, internal_errors_reveal_nothing)
{
    /* A store that cannot be reached leaves a detailed message (host, user);
     * the 5xx body must carry none of it, the log detail may. */
    concert_options opts = CONCERT_OPTIONS_INIT;
    opts.connect_timeout_ms = 500;
    concert_db *unreachable = NULL;
    const int rc = concert_db_open(&unreachable,
                                   "postgresql://secretuser:secretpw@127.0.0.1:1/secretdb", &opts);
    cr_assert_lt(rc, 0);
    cr_assert_null(unreachable);

    api_response resp;
    memset(&resp, 0, sizeof resp);
    reply_library_error(&resp, rc);
    cr_assert_geq(resp.status, 500);
    cr_assert_not_null(resp.body);
    cr_expect_null(strstr(resp.body, "secret"), "5xx body leaks: %s", resp.body);
    cr_expect_null(strstr(resp.body, "127.0.0.1"), "5xx body leaks: %s", resp.body);
    cr_expect(body_has_code(&resp, resp.status == 503 ? "STORAGE_UNAVAILABLE" : "INTERNAL"));
    api_response_release(&resp);

    memset(&resp, 0, sizeof resp);
    reply_library_error(&resp, CONCERT_EINTERNAL);
    cr_assert_eq(resp.status, 500);
    cr_expect(body_has_code(&resp, "INTERNAL"));
    cr_expect_str_eq(resp.body,
                     "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"internal error\"}}\n");
    api_response_release(&resp);
}

Test(api, routing_without_sockets, .init = open_memory_store, .fini = close_store)
{
    api_response resp;
    handle(&resp, "GET", "/healthz", NULL, NULL);
    cr_expect_eq(resp.status, 200);
    cr_expect_str_eq(resp.body, "{\"status\":\"ok\"}\n");
    api_response_release(&resp);

    handle(&resp, "GET", "/nowhere", NULL, NULL);
    cr_expect_eq(resp.status, 404);
    cr_expect(body_has_code(&resp, "NOT_FOUND"));
    api_response_release(&resp);

    handle(&resp, "PUT", "/api/v1/queue/tokens/current", NULL, NULL);
    cr_expect_eq(resp.status, 405);
    cr_expect_str_eq(resp.allow, "GET, HEAD, DELETE");
    api_response_release(&resp);

    handle(&resp, "GET", "/api/v1/concerts", NULL, NULL);
    cr_expect_eq(resp.status, 401);
    cr_expect(body_has_code(&resp, "TOKEN_INVALID"));
    api_response_release(&resp);

    const header_pair bogus[] = { { "authorization", "Bearer abc" }, { NULL, NULL } };
    handle(&resp, "GET", "/api/v1/concerts", bogus, NULL);
    cr_expect_eq(resp.status, 401);
    api_response_release(&resp);

    handle(&resp, "POST", "/api/v1/queue/tokens", NULL, "{\"user_id\": 1}");
    cr_expect_eq(resp.status, 404);
    cr_expect(body_has_code(&resp, "USER_NOT_FOUND"));
    api_response_release(&resp);

    handle(&resp, "DELETE", "/api/v1/queue/tokens/current", bogus, NULL);
    cr_expect_eq(resp.status, 401);
    api_response_release(&resp);
}

Test(api, body_limit_is_checked_whatever_the_transport, .init = open_memory_store,
     .fini = close_store)
{
    api_response resp;
    api_request req = { .method = "POST", .path = "/api/v1/queue/tokens", .body_too_large = 1 };
    api_handle(&ctx, &req, &resp);
    cr_expect_eq(resp.status, 413);
    cr_expect(body_has_code(&resp, "PAYLOAD_TOO_LARGE"));
    api_response_release(&resp);

    char *big = malloc(API_MAX_BODY + 2);
    cr_assert_not_null(big);
    memset(big, ' ', API_MAX_BODY + 1);
    big[API_MAX_BODY + 1] = '\0';
    handle(&resp, "POST", "/api/v1/queue/tokens", NULL, big);
    cr_expect_eq(resp.status, 413);
    api_response_release(&resp);
    free(big);

    api_request incomplete = { .method = NULL, .path = "/healthz" };
    api_handle(&ctx, &incomplete, &resp);
    cr_expect_eq(resp.status, 400);
    api_response_release(&resp);
}

Test(admin_key, compares_whole_keys_only)
{
    const char *key = test_admin_key;
    const size_t len = strlen(key);
    cr_expect(admin_key_matches(key, len, "unit-admin-key-0123456789"));
    cr_expect_not(admin_key_matches(key, len, NULL));
    cr_expect_not(admin_key_matches(key, len, ""));
    cr_expect_not(admin_key_matches(key, len, "unit-admin-key-012345678"), "a prefix");
    cr_expect_not(admin_key_matches(key, len, "unit-admin-key-0123456789x"), "longer");
    cr_expect_not(admin_key_matches(key, len, "unit-admin-key-0123456780"), "last byte");
    cr_expect_not(admin_key_matches(key, len, "Unit-admin-key-0123456789"), "first byte");
    cr_expect_not(admin_key_matches(NULL, 0, ""), "no key never matches");
    cr_expect_not(admin_key_matches(key, 0, ""), "an empty key never matches");
}

Test(admin_key, file_is_read_without_its_trailing_newline)
{
    char path[] = "/tmp/concertd-admin-key-XXXXXX";
    const int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fputs("abcdefghijklmnop-key\r\n\n", f);
    fclose(f);
    char *key = NULL;
    char err[256] = "";
    cr_assert_eq(admin_key_read_file(&key, path, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(key, "abcdefghijklmnop-key");
    free(key);

    f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_expect_eq(admin_key_read_file(&key, path, err, sizeof err), -1);
    cr_expect_null(key);
    cr_expect_not_null(strstr(err, "empty"), "%s", err);
    remove(path);
    cr_expect_eq(admin_key_read_file(&key, path, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "cannot read"), "%s", err);
}

Test(api, admin_paths_are_404_without_a_key, .init = open_memory_store, .fini = close_store)
{
    const header_pair key[] = { { "X-Admin-Key", test_admin_key }, { NULL, NULL } };
    static const char *paths[] = { "/api/v1/admin", "/api/v1/admin/", "/api/v1/admin/queue",
                                   "/api/v1/admin/queue/pause", "/api/v1/admin/zzz" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        api_response resp;
        handle(&resp, "POST", paths[i], key, "{}");
        cr_expect_eq(resp.status, 404, "%s", paths[i]);
        cr_expect(body_has_code(&resp, "NOT_FOUND"));
        api_response_release(&resp);
    }
}

Test(api, admin_key_is_checked_before_anything_else, .init = open_memory_store_with_admin_key,
     .fini = close_store)
{
    const header_pair right[] = { { "x-admin-key", test_admin_key }, { NULL, NULL } };
    const header_pair wrong[] = { { "X-Admin-Key", "unit-admin-key-0123456780" }, { NULL, NULL } };
    api_response resp;

    /* Oversized, unknown sub-route, wrong method: the key comes first. */
    api_request big = { .method = "PUT", .path = "/api/v1/admin/queue", .body_too_large = 1 };
    api_handle(&ctx, &big, &resp);
    cr_expect_eq(resp.status, 401);
    cr_expect(body_has_code(&resp, "ADMIN_KEY_REQUIRED"));
    api_response_release(&resp);
    handle(&resp, "DELETE", "/api/v1/admin/nothing", wrong, NULL);
    cr_expect_eq(resp.status, 403);
    cr_expect(body_has_code(&resp, "ADMIN_KEY_INVALID"));
    api_response_release(&resp);
    handle(&resp, "PUT", "/api/v1/admin/queue", wrong, "{\"max_active\": 1}");
    cr_expect_eq(resp.status, 403);
    api_response_release(&resp);

    /* With the key, the usual answers. */
    handle(&resp, "DELETE", "/api/v1/admin/queue", right, NULL);
    cr_expect_eq(resp.status, 405);
    cr_expect_str_eq(resp.allow, "GET, HEAD, PUT");
    api_response_release(&resp);
    handle(&resp, "GET", "/api/v1/admin/nothing", right, NULL);
    cr_expect_eq(resp.status, 404);
    api_response_release(&resp);
    handle(&resp, "PUT", "/api/v1/admin/queue", right, "{\"max_active\": 3}");
    cr_expect_eq(resp.status, 200, "%s", resp.body ? resp.body : "");
    cr_expect_not_null(resp.body && strstr(resp.body, "\"max_active\":3") ? resp.body : NULL);
    cr_expect_str_eq(resp.cache_control, "no-store");
    api_response_release(&resp);
    handle(&resp, "POST", "/api/v1/admin/queue/pause", right, NULL);
    cr_expect_eq(resp.status, 204);
    cr_expect_null(resp.body);
    api_response_release(&resp);

    /* Only the admin prefix is gated. */
    handle(&resp, "GET", "/api/v1/administrator", NULL, NULL);
    cr_expect_eq(resp.status, 404);
    cr_expect(body_has_code(&resp, "NOT_FOUND"));
    api_response_release(&resp);
    handle(&resp, "GET", "/api/v1/queue", NULL, NULL);
    cr_expect_eq(resp.status, 200);
    cr_expect_not_null(resp.body && strstr(resp.body, "\"state\":\"PAUSED\"") ? resp.body : NULL,
                       "%s", resp.body ? resp.body : "");
    api_response_release(&resp);
}

/* xorshift: deterministic, so a failure reproduces. */
static unsigned next_random(unsigned *state)
{
    unsigned x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

Test(api, hostile_input_always_gets_a_well_formed_answer, .init = open_memory_store_with_admin_key,
     .fini = close_store)
{
    static const char *methods[] = { "GET", "POST", "DELETE", "PUT", "HEAD", "", "get" };
    static const char *paths[] = {
        "/api/v1/queue/tokens",
        "/api/v1/concerts/1",
        "/api/v1/users/1/points/charge",
        "/api/v1/reservations",
        "/api/v1/payments",
        "/api/v1/schedules/9/seats",
        "//",
        "/api/v1/users//points",
        "/api/v1/concerts/1/schedules/",
        "/api/v1/admin/queue",
        "",
    };
    const size_t path_count = sizeof paths / sizeof paths[0];
    static const char alphabet[] = "{}[]\":,0123456789-+.eEtrufalsn \\\x01\xff\xc3\xa9user_id";
    unsigned seed = 12345;
    char body[256];
    const header_pair headers[] = { { "Authorization", "Bearer \xff\xfe\x01" },
                                    { "Idempotency-Key", "\x7f" },
                                    { "X-Admin-Key", test_admin_key },
                                    { NULL, NULL } };
    for (int i = 0; i < 20000; i++) {
        const size_t len = next_random(&seed) % (sizeof body - 1);
        for (size_t j = 0; j < len; j++)
            body[j] = alphabet[next_random(&seed) % (sizeof alphabet - 1)];
        body[len] = '\0';
        api_response resp;
        handle(&resp, methods[next_random(&seed) % 7], paths[next_random(&seed) % path_count],
               i % 2 ? headers : NULL, body);
        cr_assert(resp.status >= 200 && resp.status < 600, "status %d", resp.status);
        cr_assert_lt(resp.status, 500, "request %d gave %d", i, resp.status);
        if (resp.status != 204)
            cr_assert_not_null(resp.body);
        api_response_release(&resp);
    }
}

Test(json_out, escapes_strings_and_replaces_invalid_utf8)
{
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    json_out_key(&w, "s");
    json_out_string(&w, "a\"b\\c\n\x01 \xc3\xa9 \xe2\x98\x85 \xf0\x9f\x8e\xb5");
    json_out_key(&w, "bad");
    json_out_string(&w, "\xff\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf\xe2\x82");
    json_out_key(&w, "n");
    json_out_array_begin(&w);
    json_out_int(&w, 0);
    json_out_int(&w, -7);
    json_out_int(&w, INT64_MAX);
    json_out_int(&w, INT64_MIN);
    json_out_null(&w);
    json_out_array_end(&w);
    json_out_key(&w, "t");
    json_out_time(&w, 1798138800123);
    json_out_object_end(&w);
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(json_out_finish(&w, &text, &len), 0);
    cr_expect_str_eq(text,
                     "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001 \xc3\xa9 \xe2\x98\x85 \xf0\x9f\x8e\xb5\","
                     /* ff, c3 then "(", ed a0 80 (a surrogate), f4 90 80 80 (past
                      * U+10FFFF), c0 af (overlong), e2 82 (cut short): every
                      * byte that starts no valid sequence becomes U+FFFD. */
                     "\"bad\":\"\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
                     "\\ufffd\\ufffd\\ufffd\\ufffd\","
                     "\"n\":[0,-7,9223372036854775807,-9223372036854775808,null],"
                     "\"t\":\"2026-12-24T19:00:00.123Z\"}");
    cr_expect_eq(len, strlen(text));
    free(text);
}

Test(json_out, misuse_is_reported_not_written)
{
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    json_out_key(&w, "a");
    json_out_object_end(&w); /* a key without a value */
    char *text = NULL;
    size_t len = 0;
    cr_expect_eq(json_out_finish(&w, &text, &len), -1);
    cr_expect_null(text);

    json_out_init(&w);
    for (int i = 0; i < JSON_OUT_MAX_DEPTH + 1; i++)
        json_out_array_begin(&w);
    cr_expect_eq(json_out_finish(&w, &text, &len), -1);

    json_out_init(&w);
    json_out_array_begin(&w);
    cr_expect_eq(json_out_finish(&w, &text, &len), -1, "an unclosed array is not a document");
}
