/*
 * Verifying the HS256 JSON Web Tokens (RFC 7519, compact JWS of RFC 7515)
 * that the operator's login service signs for its users. concertd never
 * issues them; it only checks them.
 */
#ifndef CONCERTD_JWT_H
#define CONCERTD_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Longest token looked at; a real one is a few hundred bytes. */
#define JWT_MAX_LEN 4096
/* RFC 7518 section 3.2: an HS256 key must have at least 256 bits. */
#define JWT_SECRET_MIN_LEN 32

/*
 * Check token (NUL-terminated) against secret (secret_len bytes) at now_ms:
 *  - three base64url parts without padding, nothing else;
 *  - header: a JSON object whose "alg" is exactly "HS256" (none, HS512,
 *    RS256... are refused: the algorithm is this server's choice, not the
 *    token's) and without "crit";
 *  - signature: HMAC-SHA256 of "header.payload", compared in constant time;
 *  - payload: a JSON object; "sub" is the user id, a decimal string or a
 *    JSON integer from 1 to 2^53 - 1; "exp" (seconds since the epoch, an
 *    integer) is required and must be later than now; "nbf", if present, no
 *    later than now.
 * Both JSON parts go through the strict reader (no duplicate keys).
 * Returns 0 and *user_id, or -1 with a short reason in why ("expired", "alg
 * must be HS256") for the 401 message.
 */
int jwt_verify_hs256(const char *token, const unsigned char *secret, size_t secret_len,
                     int64_t now_ms, int64_t *user_id, char *why, size_t whylen);

#endif
