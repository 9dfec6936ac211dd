/*
 * The access log: one line per request on stderr, written with one
 * write(2) so that lines from different workers never interleave.
 *
 * text: "<time> <method> <path> <status> <ms>ms route=<pattern> bytes=<n>
 *        id=<request id>[ (connection closed early)][ <detail>]"
 * json: {"ts":..,"method":..,"route":..,"path":..,"status":..,
 *        "duration_ms":..,"bytes":..,"request_id":..[,"closed_early":true]
 *        [,"detail":..]}
 * The path never carries the query string (it may hold ?token=).
 */
#ifndef CONCERTD_ACCESS_LOG_H
#define CONCERTD_ACCESS_LOG_H

#include <stdint.h>

#include "http.h"

typedef struct access_log_entry {
    const char *method; /* printable ASCII */
    const char *path;   /* printable ASCII, without the query */
    const char *route;  /* the route pattern, or "unmatched" */
    int status;         /* 0: no response was queued */
    uint64_t duration_us;
    uint64_t bytes;         /* body bytes sent */
    const char *request_id; /* [A-Za-z0-9._-] only (request_id.h) */
    int closed_early;       /* the connection ended before the response did */
    const char *detail;     /* 5xx detail, or "" */
} access_log_entry;

/* Write e's line in format (HTTP_LOG_OFF: nothing). */
void access_log_write(http_log_format format, const access_log_entry *e);

#endif
