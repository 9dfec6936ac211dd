/*
 * concertd's identity and input rules without sockets: JWT exp/nbf against
 * the server's one clock (moved by the test, never waited for), the JWT
 * parser's edges, the strict JSON reader, Idempotency-Key rules, and a
 * route without an access rule being refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "access.h"
#include "api.h"
#include "handlers.h"
#include "idem_key.h"
#include "json_strict.h"
#include "jwt.h"

static const char secret[] = "unit-jwt-secret-0123456789abcdef0123";
#define SECRET_LEN (sizeof secret - 1)

static char *b64url(const unsigned char *data, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    unsigned long acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = alphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[n++] = alphabet[(acc << (6 - bits)) & 63];
    out[n] = '\0';
    return out;
}

/* header.payload.signature for the two JSON texts, signed with secret. */
static void make_jwt(char *out, size_t outlen, const char *header, const char *payload)
{
    char h[512], p[512], sig[64];
    b64url((const unsigned char *)header, strlen(header), h);
    b64url((const unsigned char *)payload, strlen(payload), p);
    char signing[1100];
    snprintf(signing, sizeof signing, "%s.%s", h, p);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    cr_assert_not_null(HMAC(EVP_sha256(), secret, (int)SECRET_LEN, (const unsigned char *)signing,
                            strlen(signing), mac, &mac_len));
    b64url(mac, mac_len, sig);
    snprintf(out, outlen, "%s.%s", signing, sig);
}

/* ---- JWT through api_handle(), the clock moved by hand ---- */

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static concert_db *db;
static api_context ctx;

static void open_jwt_server(void)
{
    cr_assert_eq(concert_db_open(&db, "memory:", NULL), 0);
    memset(&ctx, 0, sizeof ctx);
    ctx.db = db;
    ctx.auth_mode = API_AUTH_JWT;
    ctx.jwt_secret = (const unsigned char *)secret;
    ctx.jwt_secret_len = SECRET_LEN;
    ctx.clock = fake_clock;
    fake_now = INT64_C(1800000000000);
}

static void close_server(void)
{
    concert_db_close(db);
    db = NULL;
}

typedef struct one_header {
    const char *name;
    const char *value;
} one_header;

static const char *lookup(void *p, const char *name)
{
    const one_header *h = p;
    return strcasecmp(h->name, name) == 0 ? h->value : NULL;
}

/* GET /api/v1/users/1/points with token; the status, and the body kept. */
static int get_points(const char *token, api_response *resp)
{
    one_header h = { "X-User-Token", token };
    api_request req = {
        .method = "GET", .path = "/api/v1/users/1/points", .header = lookup, .header_ctx = &h
    };
    api_handle(&ctx, &req, resp);
    return resp->status;
}

static int status_of(const char *token)
{
    api_response resp;
    const int status = get_points(token, &resp);
    api_response_release(&resp);
    return status;
}

Test(jwt_clock, exp_is_checked_against_the_server_clock, .init = open_jwt_server,
     .fini = close_server)
{
    char token[1400], payload[128];
    const long long exp = (long long)(fake_now / 1000) + 60;
    snprintf(payload, sizeof payload, "{\"sub\":\"1\",\"exp\":%lld}", exp);
    make_jwt(token, sizeof token, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload);

    /* Identified: the store has no user 1, so the library answers 404. */
    cr_expect_eq(status_of(token), 404);
    fake_now = exp * 1000 - 1;
    cr_expect_eq(status_of(token), 404);
    fake_now = exp * 1000;
    api_response resp;
    cr_expect_eq(get_points(token, &resp), 401);
    cr_expect_not_null(strstr(resp.body, "AUTH_INVALID"));
    cr_expect_not_null(strstr(resp.body, "expired"), "%s", resp.body);
    cr_expect_str_eq(resp.www_authenticate,
                     "X-User-Token realm=\"concertd\", error=\"invalid_token\"");
    api_response_release(&resp);
}

Test(jwt_clock, nbf_waits_for_the_server_clock, .init = open_jwt_server, .fini = close_server)
{
    char token[1400], payload[160];
    const long long nbf = (long long)(fake_now / 1000) + 30;
    snprintf(payload, sizeof payload, "{\"sub\":1,\"nbf\":%lld,\"exp\":%lld}", nbf, nbf + 600);
    make_jwt(token, sizeof token, "{\"alg\":\"HS256\"}", payload);
    cr_expect_eq(status_of(token), 401);
    fake_now = nbf * 1000 - 1;
    cr_expect_eq(status_of(token), 401);
    fake_now = nbf * 1000;
    cr_expect_eq(status_of(token), 404);
}

Test(jwt_clock, no_token_is_auth_required, .init = open_jwt_server, .fini = close_server)
{
    api_response resp;
    api_request req = { .method = "GET", .path = "/api/v1/users/1/points" };
    api_handle(&ctx, &req, &resp);
    cr_expect_eq(resp.status, 401);
    cr_expect_not_null(strstr(resp.body, "AUTH_REQUIRED"));
    cr_expect_str_eq(resp.www_authenticate, "X-User-Token realm=\"concertd\"");
    api_response_release(&resp);
}

/* ---- the JWT parser's edges ---- */

static int verify(const char *token, char *why)
{
    int64_t user = 0;
    return jwt_verify_hs256(token, (const unsigned char *)secret, SECRET_LEN,
                            INT64_C(1800000000000), &user, why, 160);
}

Test(jwt, one_spelling_per_value)
{
    char token[1400], why[160];
    make_jwt(token, sizeof token, "{\"alg\":\"HS256\"}", "{\"sub\":\"7\",\"exp\":1900000000}");
    cr_assert_eq(verify(token, why), 0, "%s", why);
    /* The signature's last character carries 4 spare bits: set one, and the
     * decoded bytes are the same but the text is not; refused. */
    char *last = token + strlen(token) - 1;
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const long pos = strchr(alphabet, *last) - alphabet;
    *last = alphabet[pos ^ 1];
    cr_expect_eq(verify(token, why), -1);
}

Test(jwt, refuses_what_is_not_compact_hs256)
{
    char token[1400], why[160];
    make_jwt(token, sizeof token, "{\"alg\":\"HS256\",\"alg\":\"none\"}",
             "{\"sub\":\"7\",\"exp\":1900000000}");
    cr_expect_eq(verify(token, why), -1);
    make_jwt(token, sizeof token, "{\"alg\":\"HS256\"}", "{\"sub\":\"7\",\"exp\":1900000000.0}");
    cr_expect_eq(verify(token, why), -1);
    make_jwt(token, sizeof token, "{\"alg\":\"HS256\"}", "{\"sub\":\"7\",\"exp\":99999999999999}");
    cr_expect_eq(verify(token, why), -1);
    make_jwt(token, sizeof token, "{\"alg\":\"HS256\"}", "{\"sub\":\"\",\"exp\":1900000000}");
    cr_expect_eq(verify(token, why), -1);
    cr_expect_eq(verify("..", why), -1);
    cr_expect_eq(verify("a.b.c", why), -1);
    char huge[JWT_MAX_LEN + 10];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    cr_expect_eq(verify(huge, why), -1);
    cr_expect_str_eq(why, "the JWT is too long");
}

/* ---- the strict JSON reader ---- */

static json_strict_status parse_status(const char *text)
{
    json_object *obj = NULL;
    json_strict_error e;
    const int rc = json_strict_parse(&obj, text, strlen(text), json_type_object, 16, &e);
    json_object_put(obj);
    cr_expect_eq(rc == 0, e.status == JSON_STRICT_OK);
    return e.status;
}

Test(json_strict, duplicates_anywhere_and_however_spelt)
{
    cr_expect_eq(parse_status("{\"a\":1,\"b\":2}"), JSON_STRICT_OK);
    cr_expect_eq(parse_status("{\"a\":1,\"a\":2}"), JSON_STRICT_DUPLICATE);
    cr_expect_eq(parse_status("{\"a\":1,\"\\u0061\":2}"), JSON_STRICT_DUPLICATE);
    cr_expect_eq(parse_status("{\"x\":[{\"a\":1},{\"b\":{\"a\":1,\"a\":1}}]}"),
                 JSON_STRICT_DUPLICATE);
    /* Past the eight keys the old scanner looked at. */
    char text[4096];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "{");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "\"k%d\":%d,", i, i);
    snprintf(text + n, sizeof text - n, "\"k7\":0}");
    cr_expect_eq(parse_status(text), JSON_STRICT_DUPLICATE);

    char path[64];
    cr_expect_eq(json_strict_find_duplicate("{\"u\":[{\"id\":1},{\"id\":1,\"id\":2}]}", 32, path,
                                            sizeof path),
                 1);
    cr_expect_str_eq(path, "u[1].id");
}

Test(json_strict, only_rfc_8259)
{
    static const char *const bad[] = {
        "{'a':1}",
        "{\"a\":NaN}",
        "{\"a\":-Infinity}",
        "{\"a\":1.}",
        "{\"a\":01}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":\"\t\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800x\"}",
        "{\"a\":tru}",
        "{\"a\":nulll}",
        "{\"a\":1}x",
        "{} {}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":1,}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_neq(parse_status(bad[i]), JSON_STRICT_OK, "accepted: %s", bad[i]);
    cr_expect_eq(parse_status(" {\"a\":[-0,1e5,1.5E-3,true,false,null,\"\\ud83d\\ude00\"]} "),
                 JSON_STRICT_OK);
    cr_expect_eq(parse_status("[]"), JSON_STRICT_TYPE);
    cr_expect_eq(parse_status(""), JSON_STRICT_EMPTY);
    cr_expect_eq(parse_status("[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]"), JSON_STRICT_DEPTH);
}

Test(json_strict, integers_within_bounds)
{
    json_object *obj = NULL;
    json_strict_error e;
    const char *text = "{\"a\":9007199254740991,\"b\":9007199254740992,"
                       "\"c\":99999999999999999999,\"d\":-99999999999999999999,\"e\":1.0}";
    cr_assert_eq(json_strict_parse(&obj, text, strlen(text), json_type_object, 4, &e), 0);
    int64_t v = 0;
    json_object *m = NULL;
    json_object_object_get_ex(obj, "a", &m);
    cr_expect_eq(json_strict_int(m, 1, JSON_STRICT_SAFE_INTEGER, &v), JSON_INT_OK);
    json_object_object_get_ex(obj, "b", &m);
    cr_expect_eq(json_strict_int(m, 1, JSON_STRICT_SAFE_INTEGER, &v), JSON_INT_OUT_OF_RANGE);
    cr_expect_eq(json_strict_int(m, INT64_MIN, INT64_MAX, &v), JSON_INT_OK);
    json_object_object_get_ex(obj, "c", &m);
    cr_expect_eq(json_strict_int(m, INT64_MIN, INT64_MAX, &v), JSON_INT_OUT_OF_RANGE);
    json_object_object_get_ex(obj, "d", &m);
    cr_expect_eq(json_strict_int(m, INT64_MIN, INT64_MAX, &v), JSON_INT_OUT_OF_RANGE);
    json_object_object_get_ex(obj, "e", &m);
    cr_expect_eq(json_strict_int(m, INT64_MIN, INT64_MAX, &v), JSON_INT_NOT_INTEGER);
    cr_expect_eq(json_strict_int(NULL, INT64_MIN, INT64_MAX, &v), JSON_INT_NOT_INTEGER);
    json_object_put(obj);
}

/* ---- Idempotency-Key ---- */

Test(idem_key, trimmed_printable_ascii_only)
{
    char out[IDEM_KEY_MAX_LEN + 1];
    const char *why = NULL;
    cr_expect_eq(idem_key_read(NULL, out, &why), IDEM_KEY_ABSENT);
    cr_expect_eq(idem_key_read(" \tk-1\t ", out, &why), IDEM_KEY_OK);
    cr_expect_str_eq(out, "k-1");
    cr_expect_eq(idem_key_read(" \t ", out, &why), IDEM_KEY_INVALID);
    cr_expect_not_null(strstr(why, "blank"));
    cr_expect_eq(idem_key_read("a b", out, &why), IDEM_KEY_INVALID);
    cr_expect_eq(idem_key_read("k\xc3\xa9", out, &why), IDEM_KEY_INVALID);
    cr_expect_eq(idem_key_read("k\x7f", out, &why), IDEM_KEY_INVALID);
    char longest[IDEM_KEY_MAX_LEN + 2];
    memset(longest, 'k', sizeof longest - 1);
    longest[IDEM_KEY_MAX_LEN] = '\0';
    cr_expect_eq(idem_key_read(longest, out, &why), IDEM_KEY_OK);
    longest[IDEM_KEY_MAX_LEN] = 'k';
    longest[IDEM_KEY_MAX_LEN + 1] = '\0';
    cr_expect_eq(idem_key_read(longest, out, &why), IDEM_KEY_INVALID);
}

/* ---- a route without a rule ---- */

Test(access, a_route_without_a_rule_is_refused)
{
    api_context c;
    memset(&c, 0, sizeof c);
    api_request req = { .method = "GET", .path = "/x" };
    api_response resp;
    memset(&resp, 0, sizeof resp);
    api_call call;
    memset(&call, 0, sizeof call);
    call.ctx = &c;
    call.req = &req;
    call.resp = &resp;
    cr_expect_eq(access_check(&call, ACCESS_UNSET), -1);
    cr_expect_eq(resp.status, 500);
    api_response_release(&resp);
    cr_expect_eq(access_check(&call, ACCESS_PUBLIC), 0);
    cr_expect_str_eq(access_name(ACCESS_TOKEN_REPLAY), "TOKEN_REPLAY");
}
