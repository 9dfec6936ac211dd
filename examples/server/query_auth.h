/*
 * Credentials in the query string, for the event stream routes only: a
 * browser's EventSource cannot set headers, so ?token=T stands for
 * "Authorization: Bearer T" and (under --auth jwt) ?user_token=JWT for the
 * X-User-Token header. A header that is sent wins over the query. The
 * access log never writes query strings (http.c), so these secrets do not
 * reach it.
 */
#ifndef CONCERTD_QUERY_AUTH_H
#define CONCERTD_QUERY_AUTH_H

#include "api.h"

typedef struct query_auth {
    api_request req;          /* what the route sees */
    const api_request *inner; /* what the transport parsed */
    char bearer[512];         /* "Bearer <?token>" */
} query_auth;

/* Make qa->req a view of inner whose headers fall back to the query
 * arguments above. qa must outlive the request's handling. */
void query_auth_wrap(query_auth *qa, const api_request *inner);

#endif
