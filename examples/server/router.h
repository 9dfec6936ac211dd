/*
 * The route table: which handler serves a method and path, which methods a
 * path allows (for 405), and the numeric ids in the path.
 */
#ifndef CONCERTD_ROUTER_H
#define CONCERTD_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

/* Route flags. */
#define ROUTE_TAKES_IDEMPOTENCY_KEY 1u /* Idempotency-Key is read (idem_key.h) */
#define ROUTE_QUERY_CREDENTIALS 2u     /* ?token= and ?user_token= count (query_auth.h) */
#define ROUTE_STATIC                                                                               \
    4u /* a web app file (handlers_static.c): not
                                          part of the API, so not in openapi.json */

typedef struct route {
    const char *method;  /* "GET", "POST", "PUT", "DELETE" */
    const char *pattern; /* "/api/v1/concerts/{id}"; {id} is a path id */
    api_handler_fn handler;
    route_access access; /* who may call it (access.h) */
    unsigned flags;      /* ROUTE_* */
} route;

typedef enum route_result {
    ROUTE_FOUND = 0,
    ROUTE_NOT_FOUND,          /* no route has this path: 404 */
    ROUTE_METHOD_NOT_ALLOWED, /* the path exists for other methods: 405 */
    ROUTE_BAD_ID              /* an {id} segment is not a number: 400 */
} route_result;

typedef struct route_match {
    api_handler_fn handler;
    route_access access;
    unsigned flags;
    /* The route's index in the table and its pattern (static), set when a
     * route matched (ROUTE_FOUND, ROUTE_BAD_ID); else -1 and NULL. */
    int route_id;
    const char *pattern;
    int64_t ids[API_MAX_PATH_IDS];
    char allow[40]; /* "GET, HEAD" etc. for ROUTE_METHOD_NOT_ALLOWED */
} route_match;

/* Find the route for method and path. HEAD is served as GET (the transport
 * drops the body). */
route_result router_match(const char *method, const char *path, route_match *out);

/* The whole table, for tests and tools that compare it with the OpenAPI
 * document; *count gets its length. */
const route *router_routes(size_t *count);

#endif
