/*
 * Who a request acts for, by the server's --auth mode:
 *  none    nobody is identified; every route acts for whoever the request
 *          names (demos and tests on loopback only);
 *  jwt     the X-User-Token header holds an HS256 JWT (jwt.h) whose sub is
 *          the user id;
 *  header  a trusted gateway puts the user id in a configured header (and
 *          must strip that header from what clients send).
 * Errors are 401 AUTH_REQUIRED (no identity) or AUTH_INVALID (an identity
 * that does not verify), each with a WWW-Authenticate header.
 */
#ifndef CONCERTD_AUTH_H
#define CONCERTD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* The header that carries the JWT in jwt mode. */
#define AUTH_JWT_HEADER "X-User-Token"

typedef enum auth_result {
    AUTH_ANONYMOUS = 0, /* --auth none: no identity is asked for */
    AUTH_IDENTIFIED,    /* *user_id is who the request acts for */
    AUTH_MISSING,       /* jwt/header mode, and no identity was sent */
    AUTH_INVALID        /* sent, but it does not verify; why says how */
} auth_result;

/* Identify req under ctx's mode. why (whylen bytes) gets the reason for
 * AUTH_MISSING and AUTH_INVALID. Never calls the library. */
auth_result auth_identify(const api_context *ctx, const api_request *req, int64_t *user_id,
                          char *why, size_t whylen);

/* Reply 401 AUTH_REQUIRED or AUTH_INVALID (result) with why and the
 * WWW-Authenticate header of ctx's mode. */
void auth_reply(const api_context *ctx, api_response *resp, auth_result result, const char *why);

/* Parse a user id as a header carries it: 1 to 16 decimal digits, no sign
 * or leading zero, at most 2^53 - 1, surrounding spaces and tabs allowed.
 * Returns 0, or -1. */
int auth_parse_user_id(const char *text, int64_t *user_id);

#endif
