/*
 * X-Request-Id: a client's id of 1..REQUEST_ID_MAX characters from
 * [A-Za-z0-9._-] is kept; anything else (absent, empty, too long, other
 * characters, which could forge log lines or headers) is replaced by a
 * generated 128-bit id in hex. The id is echoed on every response and
 * written in the request's log line.
 */
#ifndef CONCERTD_REQUEST_ID_H
#define CONCERTD_REQUEST_ID_H

#include <stddef.h>

#define REQUEST_ID_MAX 64
#define REQUEST_ID_SIZE (REQUEST_ID_MAX + 1)

/* Fill out (REQUEST_ID_SIZE bytes) from the client's value (may be NULL). */
void request_id_choose(char out[REQUEST_ID_SIZE], const char *given);

/* 1 if given would be kept as it is. */
int request_id_acceptable(const char *given);

#endif
