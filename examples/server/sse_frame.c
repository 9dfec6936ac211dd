/*
 * Server-Sent Events frames (see sse_frame.h).
 */
#include "sse_frame.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "errors_http.h"

/* "event: <event>\n[id: <id>\n]data: <data>\n\n" as a shared frame. */
list_body *sse_frame_new(const char *event, const char *id, const char *data, size_t len)
{
    static const char event_tag[] = "event: ", id_tag[] = "\nid: ", data_tag[] = "\ndata: ";
    const size_t event_len = strlen(event);
    const size_t id_len = id != NULL ? strlen(id) : 0;
    const size_t total = sizeof event_tag - 1 + event_len + (id ? sizeof id_tag - 1 + id_len : 0) +
                         sizeof data_tag - 1 + len + 2;
    char *text = malloc(total);
    if (text == NULL)
        return NULL;
    size_t at = 0;
#define PUT(p, n) (memcpy(text + at, (p), (n)), at += (n))
    PUT(event_tag, sizeof event_tag - 1);
    PUT(event, event_len);
    if (id != NULL) {
        PUT(id_tag, sizeof id_tag - 1);
        PUT(id, id_len);
    }
    PUT(data_tag, sizeof data_tag - 1);
    PUT(data, len);
    PUT("\n\n", 2);
#undef PUT
    return list_body_new(text, total);
}

/* The error event for library code rc: the same body an HTTP error has. */
list_body *sse_frame_error(int rc)
{
    api_response resp;
    memset(&resp, 0, sizeof resp);
    reply_library_error(&resp, rc);
    list_body *frame = NULL;
    if (resp.body != NULL) {
        size_t len = resp.body_len;
        while (len > 0 && resp.body[len - 1] == '\n')
            len--;
        frame = sse_frame_new("error", NULL, resp.body, len);
    }
    api_response_release(&resp);
    return frame;
}

list_body *sse_frame_text(const char *text)
{
    const size_t len = strlen(text);
    char *copy = malloc(len);
    if (copy == NULL)
        return NULL;
    memcpy(copy, text, len);
    return list_body_new(copy, len);
}
