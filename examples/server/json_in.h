/*
 * Reading request bodies: a JSON object with integer members.
 *
 * Strict on purpose: the body must be one JSON object (RFC 8259, valid UTF-8,
 * nesting bounded), members must be JSON integers that fit in int64. Members
 * the server does not know are ignored so that clients can send more later.
 */
#ifndef CONCERTD_JSON_IN_H
#define CONCERTD_JSON_IN_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Deepest nesting accepted in a body; more is 400, never a deep recursion. */
#define JSON_IN_MAX_DEPTH 16

/*
 * Parse text (len bytes) as one JSON object. Returns 0 and *out (release with
 * json_object_put()), or -1 with a message in err for a 400 reply.
 */
int json_in_parse_object(struct json_object **out, const char *text, size_t len, char *err,
                         size_t errlen);

/*
 * Read member key of obj as an integer. Returns 0, or -1 with a message in
 * err ("user_id: required", "user_id: must be an integer").
 */
int json_in_get_int64(const struct json_object *obj, const char *key, int64_t *out, char *err,
                      size_t errlen);

#endif
