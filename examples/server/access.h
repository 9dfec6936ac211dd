/*
 * Who may call a route: every route in the table (router.c) names one rule,
 * and api_handle() applies it before the handler runs. A route without a
 * rule is refused (500), so a new route cannot slip through unchecked.
 *
 * With --auth none only the route kinds matter for the charge route (no
 * service key is asked for); with jwt or header every route that acts for
 * a user needs the identity, and the user it acts for must be that identity:
 * 401 AUTH_REQUIRED / AUTH_INVALID without a good one, 403 FORBIDDEN for
 * another user's data or queue token.
 */
#ifndef CONCERTD_ACCESS_H
#define CONCERTD_ACCESS_H

#include <stdint.h>

struct api_call;
struct json_object;

typedef enum route_access {
    ACCESS_UNSET = 0,   /* a mistake in the table: refused */
    ACCESS_PUBLIC,      /* anyone: the public queue page, health, the document */
    ACCESS_ADMIN,       /* the admin key, checked by api.c before routing */
    ACCESS_JOIN,        /* acts for the identity; a body user_id must be it */
    ACCESS_PATH_USER,   /* /users/{id}/...: {id} must be the identity */
    ACCESS_CHARGE,      /* the service key, or the identity's own {id} with
                             --allow-self-charge */
    ACCESS_TOKEN,       /* the Bearer queue token must be the identity's */
    ACCESS_TOKEN_REPLAY /* as ACCESS_TOKEN, but with an Idempotency-Key an
                             ended token may replay; the handler then checks
                             the answer's user (access_answer_user()) */
} route_access;

/* Stable name of a rule ("TOKEN"), for the route dump and tests. */
const char *access_name(route_access access);

/* Apply rule access to call (sets call->identity). Returns 0 to go on, or
 * -1 after replying. */
int access_check(struct api_call *call, route_access access);

/*
 * The user a join acts for: the identity (a body user_id, if given, must be
 * it: else 403; body may be NULL then) or, with --auth none, the body's
 * user_id. Returns 0, or -1 after replying.
 */
int access_join_user(struct api_call *call, const struct json_object *body, int64_t *user_id);

/* An answer about user_id may go out: 0, or -1 after replying 403 when the
 * token's owner was not known beforehand and user_id is not the identity. */
int access_answer_user(struct api_call *call, int64_t user_id);

#endif
