/*
 * HS256 JWT verification (see jwt.h) with OpenSSL's HMAC and CRYPTO_memcmp.
 *
 * The order matters: the header is read first only to refuse any algorithm
 * but HS256; the signature is checked before the payload is even decoded,
 * so that nothing an attacker wrote is interpreted unless the login
 * service signed it.
 */
#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "json_strict.h"

#define SHA256_LEN 32
/* Header and payload are small flat objects. */
#define JWT_JSON_DEPTH 8
/* exp and nbf in seconds, so that * 1000 stays far inside int64. */
#define MAX_NUMERIC_DATE (JSON_STRICT_SAFE_INTEGER / 1000)

static int reason(char *why, size_t whylen, const char *text)
{
    snprintf(why, whylen, "%s", text);
    return -1;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decode len chars of unpadded base64url into out (room for len * 3 / 4
 * bytes). Refuses padding, other alphabets, an impossible length and
 * leftover bits that are not zero (so one value has one spelling).
 * Returns the decoded length, or -1. */
static long b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    unsigned long acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        const int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1ul << bits) - 1;
        }
    }
    if (acc != 0)
        return -1;
    return (long)n;
}

/* Decode a part and read it as one JSON object with the strict reader. */
static json_object *decode_json_part(const char *part, size_t len)
{
    unsigned char *raw = malloc(len * 3 / 4 + 1);
    if (raw == NULL)
        return NULL;
    json_object *obj = NULL;
    const long n = b64url_decode(part, len, raw);
    json_strict_error e;
    if (n > 0 && json_strict_parse(&obj, (const char *)raw, (size_t)n, json_type_object,
                                   JWT_JSON_DEPTH, &e) != 0)
        obj = NULL;
    free(raw);
    return obj;
}

static int header_acceptable(const char *part, size_t len, char *why, size_t whylen)
{
    json_object *header = decode_json_part(part, len);
    if (header == NULL)
        return reason(why, whylen, "the JWT header is not a base64url JSON object");
    json_object *alg = NULL;
    int rc = 0;
    if (!json_object_object_get_ex(header, "alg", &alg) ||
        !json_object_is_type(alg, json_type_string) ||
        strcmp(json_object_get_string(alg), "HS256") != 0 ||
        (size_t)json_object_get_string_len(alg) != strlen("HS256"))
        rc = reason(why, whylen, "the JWT alg must be HS256");
    else if (json_object_object_get_ex(header, "crit", NULL))
        rc = reason(why, whylen, "the JWT header has crit extensions this server does not know");
    json_object_put(header);
    return rc;
}

static int signature_matches(const char *token, size_t signed_len, const char *sig, size_t sig_len,
                             const unsigned char *secret, size_t secret_len)
{
    /* 43 characters carry 32 bytes; anything else cannot be an HS256 MAC. */
    unsigned char given[SHA256_LEN + 3];
    if (sig_len != 43 || b64url_decode(sig, sig_len, given) != SHA256_LEN)
        return 0;
    unsigned char expected[EVP_MAX_MD_SIZE];
    unsigned int expected_len = 0;
    if (secret_len == 0 || secret_len > 0x7fffffff ||
        HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token, signed_len,
             expected, &expected_len) == NULL ||
        expected_len != SHA256_LEN)
        return 0;
    return CRYPTO_memcmp(expected, given, SHA256_LEN) == 0;
}

/* "sub": a decimal string of a user id (no sign, no leading zero) or an
 * integer, 1 to 2^53 - 1. */
static int read_subject(json_object *payload, int64_t *user_id)
{
    json_object *sub = NULL;
    if (!json_object_object_get_ex(payload, "sub", &sub))
        return -1;
    if (json_object_is_type(sub, json_type_string)) {
        const char *text = json_object_get_string(sub);
        const size_t len = (size_t)json_object_get_string_len(sub);
        if (len == 0 || len > 16 || text[0] == '0')
            return -1;
        int64_t v = 0;
        for (size_t i = 0; i < len; i++) {
            if (text[i] < '0' || text[i] > '9')
                return -1;
            v = v * 10 + (text[i] - '0');
        }
        if (v > JSON_STRICT_SAFE_INTEGER)
            return -1;
        *user_id = v;
        return 0;
    }
    return json_strict_int(sub, 1, JSON_STRICT_SAFE_INTEGER, user_id) == JSON_INT_OK ? 0 : -1;
}

/* Claim name as NumericDate seconds: 1 present (in *out), 0 absent, -1 bad. */
static int read_date(json_object *payload, const char *name, int64_t *out)
{
    json_object *value = NULL;
    if (!json_object_object_get_ex(payload, name, &value))
        return 0;
    return json_strict_int(value, 0, MAX_NUMERIC_DATE, out) == JSON_INT_OK ? 1 : -1;
}

static int claims_acceptable(const char *part, size_t len, int64_t now_ms, int64_t *user_id,
                             char *why, size_t whylen)
{
    json_object *payload = decode_json_part(part, len);
    if (payload == NULL)
        return reason(why, whylen, "the JWT payload is not a base64url JSON object");
    int64_t exp = 0, nbf = 0, sub = 0;
    const int has_exp = read_date(payload, "exp", &exp);
    const int has_nbf = read_date(payload, "nbf", &nbf);
    int rc = 0;
    if (read_subject(payload, &sub) != 0)
        rc = reason(why, whylen, "the JWT sub must be a user id");
    else if (has_exp == 0)
        rc = reason(why, whylen, "the JWT has no exp");
    else if (has_exp < 0 || has_nbf < 0)
        rc = reason(why, whylen, "the JWT exp and nbf must be whole seconds since the epoch");
    else if (now_ms >= exp * 1000)
        rc = reason(why, whylen, "the JWT has expired");
    else if (has_nbf && now_ms < nbf * 1000)
        rc = reason(why, whylen, "the JWT is not valid yet (nbf)");
    json_object_put(payload);
    if (rc == 0)
        *user_id = sub;
    return rc;
}

int jwt_verify_hs256(const char *token, const unsigned char *secret, size_t secret_len,
                     int64_t now_ms, int64_t *user_id, char *why, size_t whylen)
{
    if (token == NULL || strnlen(token, JWT_MAX_LEN + 1) > JWT_MAX_LEN)
        return reason(why, whylen, "the JWT is too long");
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL || dot1 == token ||
        dot2 == dot1 + 1 || dot2[1] == '\0')
        return reason(why, whylen, "not a JWT: expected three base64url parts");
    const size_t header_len = (size_t)(dot1 - token);
    const size_t payload_len = (size_t)(dot2 - dot1 - 1);
    const char *sig = dot2 + 1;

    if (header_acceptable(token, header_len, why, whylen) != 0)
        return -1;
    if (!signature_matches(token, (size_t)(dot2 - token), sig, strlen(sig), secret, secret_len))
        return reason(why, whylen, "the JWT signature does not match");
    return claims_acceptable(dot1 + 1, payload_len, now_ms, user_id, why, whylen);
}
