/*
 * Route matching (see router.h). Two dozen routes: a linear scan over the
 * table, comparing segments in place, costs less than any index would.
 */
#include "router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Every route names its access rule (access.h); the HTTP tests try each
 * non-public one as the wrong user. */
static const route route_table[] = {
    { "POST", "/api/v1/queue/tokens", handle_queue_issue, ACCESS_JOIN, 0 },
    { "GET", "/api/v1/queue/tokens/current", handle_queue_status, ACCESS_TOKEN, 0 },
    { "DELETE", "/api/v1/queue/tokens/current", handle_queue_leave, ACCESS_TOKEN, 0 },
    { "GET", "/api/v1/queue/tokens/current/events", handle_queue_events, ACCESS_TOKEN,
      ROUTE_QUERY_CREDENTIALS },
    { "GET", "/api/v1/queue", handle_queue_public, ACCESS_PUBLIC, 0 },
    { "GET", "/api/v1/concerts", handle_concerts_list, ACCESS_TOKEN, 0 },
    { "GET", "/api/v1/concerts/{id}", handle_concert_get, ACCESS_TOKEN, 0 },
    { "GET", "/api/v1/concerts/{id}/schedules", handle_schedules_list, ACCESS_TOKEN, 0 },
    { "GET", "/api/v1/schedules/{id}/seats", handle_seats_list, ACCESS_TOKEN, 0 },
    { "GET", "/api/v1/schedules/{id}/seatmap", handle_seatmap_get, ACCESS_TOKEN, 0 },
    { "GET", "/api/v1/schedules/{id}/seats/events", handle_seat_events, ACCESS_TOKEN,
      ROUTE_QUERY_CREDENTIALS },
    { "POST", "/api/v1/reservations", handle_reservation_create, ACCESS_TOKEN, 0 },
    { "GET", "/api/v1/reservations/{id}", handle_reservation_get, ACCESS_TOKEN, 0 },
    { "DELETE", "/api/v1/reservations/{id}", handle_reservation_release, ACCESS_TOKEN, 0 },
    { "POST", "/api/v1/payments", handle_payment_create, ACCESS_TOKEN_REPLAY,
      ROUTE_TAKES_IDEMPOTENCY_KEY },
    { "POST", "/api/v1/users/{id}/points/charge", handle_points_charge, ACCESS_CHARGE,
      ROUTE_TAKES_IDEMPOTENCY_KEY },
    { "GET", "/api/v1/users/{id}/points", handle_points_balance, ACCESS_PATH_USER, 0 },
    { "GET", "/api/v1/users/{id}/points/history", handle_points_history, ACCESS_PATH_USER, 0 },
    /* Reached only with the admin key (api.c checks it first). */
    { "GET", "/api/v1/admin/queue", handle_admin_queue_get, ACCESS_ADMIN, 0 },
    { "PUT", "/api/v1/admin/queue", handle_admin_queue_put, ACCESS_ADMIN, 0 },
    { "POST", "/api/v1/admin/queue/pause", handle_admin_queue_pause, ACCESS_ADMIN, 0 },
    { "POST", "/api/v1/admin/queue/resume", handle_admin_queue_resume, ACCESS_ADMIN, 0 },
    { "POST", "/api/v1/admin/queue/close", handle_admin_queue_close, ACCESS_ADMIN, 0 },
    { "POST", "/api/v1/admin/queue/open", handle_admin_queue_open, ACCESS_ADMIN, 0 },
    { "GET", "/healthz", handle_healthz, ACCESS_PUBLIC, 0 },
    { "GET", "/openapi.json", handle_openapi, ACCESS_PUBLIC, 0 },
    { "GET", "/api/v1/session", handle_session, ACCESS_PUBLIC, 0 },
    /* The web app: files anyone may fetch, the same for everybody. */
    { "GET", "/", handle_static, ACCESS_PUBLIC, ROUTE_STATIC },
    { "GET", "/app.css", handle_static, ACCESS_PUBLIC, ROUTE_STATIC },
    { "GET", "/app.js", handle_static, ACCESS_PUBLIC, ROUTE_STATIC },
    { "GET", "/i18n.js", handle_static, ACCESS_PUBLIC, ROUTE_STATIC },
    { "GET", "/favicon.svg", handle_static, ACCESS_PUBLIC, ROUTE_STATIC },
    /* Open, or behind --metrics-token-file (the handler checks it). */
    { "GET", "/metrics", handle_metrics, ACCESS_PUBLIC, 0 },
};

#define ROUTE_COUNT (sizeof route_table / sizeof route_table[0])

static const char id_placeholder[] = "{id}";

typedef struct path_segment {
    const char *start;
    size_t len;
} path_segment;

/* Does path have pattern's shape? {id} matches any non-empty segment; the
 * segments it matched go to ids (at most API_MAX_PATH_IDS). */
static int shape_matches(const char *pattern, const char *path, path_segment *ids)
{
    size_t id_count = 0;
    const char *p = pattern;
    const char *s = path;
    while (*p != '\0') {
        if (*p == '{' && strncmp(p, id_placeholder, sizeof id_placeholder - 1) == 0) {
            const char *end = strchr(s, '/');
            const size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len == 0 || id_count >= API_MAX_PATH_IDS)
                return 0;
            ids[id_count].start = s;
            ids[id_count].len = len;
            id_count++;
            p += sizeof id_placeholder - 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

/* A path id: 1 to 18 ASCII digits (always fits in int64; larger ids do
 * not exist). Returns 0, or -1 if the segment is anything else. */
static int parse_path_id(const path_segment *seg, int64_t *out)
{
    char digits[20];
    if (seg->len == 0 || seg->len > 18)
        return -1;
    for (size_t i = 0; i < seg->len; i++) {
        if (seg->start[i] < '0' || seg->start[i] > '9')
            return -1;
        digits[i] = seg->start[i];
    }
    digits[seg->len] = '\0';
    errno = 0;
    char *end = NULL;
    const long long v = strtoll(digits, &end, 10);
    if (errno != 0 || end == digits || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Append method to the Allow list unless it is there already. */
static void allow_add(char *allow, size_t size, const char *method)
{
    const size_t used = strlen(allow);
    const size_t mlen = strlen(method);
    if (strstr(allow, method) != NULL)
        return;
    const size_t sep = used ? 2 : 0;
    if (used + sep + mlen + 1 > size)
        return; /* cannot happen with the methods in the table */
    if (sep)
        memcpy(allow + used, ", ", 2);
    memcpy(allow + used + sep, method, mlen + 1);
}

route_result router_match(const char *method, const char *path, route_match *out)
{
    memset(out, 0, sizeof *out);
    out->route_id = -1;
    const char *wanted = strcmp(method, "HEAD") == 0 ? "GET" : method;
    const route *found = NULL;
    path_segment ids[API_MAX_PATH_IDS];
    int shape_found = 0;

    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        path_segment candidate[API_MAX_PATH_IDS];
        if (!shape_matches(route_table[i].pattern, path, candidate))
            continue;
        shape_found = 1;
        allow_add(out->allow, sizeof out->allow, route_table[i].method);
        if (strcmp(route_table[i].method, "GET") == 0)
            allow_add(out->allow, sizeof out->allow, "HEAD");
        if (found == NULL && strcmp(route_table[i].method, wanted) == 0) {
            found = &route_table[i];
            memcpy(ids, candidate, sizeof ids);
        }
    }
    if (!shape_found)
        return ROUTE_NOT_FOUND;
    if (found == NULL)
        return ROUTE_METHOD_NOT_ALLOWED;
    out->route_id = (int)(found - route_table);
    out->pattern = found->pattern;

    size_t id_index = 0;
    for (const char *p = strstr(found->pattern, id_placeholder); p != NULL;
         p = strstr(p + 1, id_placeholder)) {
        if (parse_path_id(&ids[id_index], &out->ids[id_index]) != 0)
            return ROUTE_BAD_ID;
        id_index++;
    }
    out->handler = found->handler;
    out->access = found->access;
    out->flags = found->flags;
    return ROUTE_FOUND;
}

const route *router_routes(size_t *count)
{
    *count = ROUTE_COUNT;
    return route_table;
}
