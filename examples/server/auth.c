/*
 * Identifying the user a request acts for (see auth.h).
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json_strict.h"
#include "jwt.h"
#include "reply.h"

static const char *header_value(const api_request *req, const char *name)
{
    return req->header != NULL ? req->header(req->header_ctx, name) : NULL;
}

/* A header sent twice is refused: a gateway that appends its own value to
 * the client's would otherwise let the client's copy win. */
static int sent_more_than_once(const api_request *req, const char *name)
{
    return req->header_count != NULL && req->header_count(req->header_ctx, name) > 1;
}

int auth_parse_user_id(const char *text, int64_t *user_id)
{
    if (text == NULL)
        return -1;
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = 0;
    while (text[len] >= '0' && text[len] <= '9')
        len++;
    const char *rest = text + len;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (len == 0 || len > 16 || text[0] == '0' || *rest != '\0')
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (text[i] - '0');
    if (v > JSON_STRICT_SAFE_INTEGER)
        return -1;
    *user_id = v;
    return 0;
}

static auth_result identify_jwt(const api_context *ctx, const api_request *req, int64_t *user_id,
                                char *why, size_t whylen)
{
    const char *value = header_value(req, AUTH_JWT_HEADER);
    if (value == NULL) {
        snprintf(why, whylen, "an " AUTH_JWT_HEADER " header with your login JWT is required");
        return AUTH_MISSING;
    }
    if (sent_more_than_once(req, AUTH_JWT_HEADER)) {
        snprintf(why, whylen, AUTH_JWT_HEADER " was sent more than once");
        return AUTH_INVALID;
    }
    /* Surrounding spaces and tabs are the transport's, not the token's. */
    while (*value == ' ' || *value == '\t')
        value++;
    char token[JWT_MAX_LEN + 1];
    size_t len = strnlen(value, sizeof token);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len >= sizeof token) {
        snprintf(why, whylen, "the JWT is too long");
        return AUTH_INVALID;
    }
    memcpy(token, value, len);
    token[len] = '\0';
    if (jwt_verify_hs256(token, ctx->jwt_secret, ctx->jwt_secret_len, api_now_ms(ctx), user_id, why,
                         whylen) != 0)
        return AUTH_INVALID;
    return AUTH_IDENTIFIED;
}

static auth_result identify_header(const api_context *ctx, const api_request *req, int64_t *user_id,
                                   char *why, size_t whylen)
{
    const char *value = header_value(req, ctx->auth_header);
    if (value == NULL) {
        snprintf(why, whylen, "the %.64s header is required", ctx->auth_header);
        return AUTH_MISSING;
    }
    if (sent_more_than_once(req, ctx->auth_header)) {
        snprintf(why, whylen, "%.64s was sent more than once", ctx->auth_header);
        return AUTH_INVALID;
    }
    if (auth_parse_user_id(value, user_id) != 0) {
        snprintf(why, whylen, "%.64s must be a user id (a whole number)", ctx->auth_header);
        return AUTH_INVALID;
    }
    return AUTH_IDENTIFIED;
}

auth_result auth_identify(const api_context *ctx, const api_request *req, int64_t *user_id,
                          char *why, size_t whylen)
{
    *user_id = 0;
    why[0] = '\0';
    switch (ctx->auth_mode) {
    case API_AUTH_JWT:
        return identify_jwt(ctx, req, user_id, why, whylen);
    case API_AUTH_HEADER:
        return identify_header(ctx, req, user_id, why, whylen);
    case API_AUTH_NONE:
        break;
    }
    return AUTH_ANONYMOUS;
}

void auth_reply(const api_context *ctx, api_response *resp, auth_result result, const char *why)
{
    const int invalid = result == AUTH_INVALID;
    reply_error(resp, 401, invalid ? "AUTH_INVALID" : "AUTH_REQUIRED",
                why[0] != '\0' ? why : "who you are could not be verified");
    /* The scheme is the header the identity travels in: there is no
     * registered scheme for either, and "Bearer" is the queue token's. */
    const char *scheme = ctx->auth_mode == API_AUTH_HEADER ? ctx->auth_header : AUTH_JWT_HEADER;
    snprintf(resp->www_authenticate, sizeof resp->www_authenticate, "%.48s realm=\"concertd\"%s",
             scheme, invalid ? ", error=\"invalid_token\"" : "");
}
