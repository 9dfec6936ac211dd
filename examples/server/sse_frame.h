/*
 * Server-Sent Events frames as shared bodies (list_body, list_cache.h):
 * rendered once, queued to any number of subscribers by reference.
 */
#ifndef CONCERTD_SSE_FRAME_H
#define CONCERTD_SSE_FRAME_H

#include <stddef.h>

#include "list_cache.h"

/* "event: <event>\n[id: <id>\n]data: <data>\n\n" (id may be NULL; data,
 * len bytes, must hold no newline: one JSON document on one line). NULL
 * when out of memory. */
list_body *sse_frame_new(const char *event, const char *id, const char *data, size_t len);

/* "event: error" whose data is the HTTP error body of libconcert code rc
 * ({"error":{"code":...,"message":...}}). NULL when out of memory. */
list_body *sse_frame_error(int rc);

/* text as it is (a comment, a retry line). NULL when out of memory. */
list_body *sse_frame_text(const char *text);

#endif
