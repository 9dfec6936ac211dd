/*
 * libFuzzer target: concertd's request handling (routing, headers, JSON
 * bodies, error mapping) through api_handle() on a memory store, no sockets.
 *
 * Input: "METHOD PATH\n" then header lines "Name: value\n", a blank line,
 * then the body. A request that answers 5xx other than 503 is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "catalog_json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static api_context ctx;

#define MAX_HEADERS 16
typedef struct headers {
    const char *name[MAX_HEADERS];
    const char *value[MAX_HEADERS];
    int count;
} headers;

static const char *header_lookup(void *p, const char *name)
{
    headers *h = p;
    for (int i = 0; i < h->count; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char CATALOG[] =
        "{\"users\":[{\"id\":1,\"name\":\"Kim\",\"points\":100000},"
        "{\"id\":2,\"name\":\"Lee\",\"points\":0}],"
        "\"concerts\":[{\"id\":1,\"title\":\"Gala\",\"status\":\"OPEN\",\"schedules\":"
        "[{\"id\":10,\"starts_at\":\"2099-12-24T19:00:00Z\",\"seats\":"
        "[{\"from\":1,\"to\":50,\"grade\":\"R\",\"price\":1000}]}]}]}";
    catalog_doc *doc = NULL;
    char err[256];
    (void)argc;
    (void)argv;
    if (concert_db_open(&ctx.db, "memory:", NULL) != 0 ||
        catalog_json_parse(&doc, CATALOG, sizeof(CATALOG) - 1, err, sizeof(err)) != 0 ||
        concert_catalog_load(ctx.db, catalog_doc_catalog(doc)) != 0)
        abort();
    catalog_doc_free(doc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *line, *next, *body;
    headers h = { { 0 }, { 0 }, 0 };
    api_request req;
    api_response resp;
    if (!text)
        return 0;
    if (!ctx.db)
        LLVMFuzzerInitialize(NULL, NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    memset(&req, 0, sizeof(req));
    line = text;
    next = strchr(line, '\n');
    if (next)
        *next++ = '\0';
    req.method = line;
    req.path = strchr(line, ' ');
    if (req.path)
        *(char *)req.path++ = '\0';
    else
        req.path = "/";
    body = next;
    while (body && *body && *body != '\n' && h.count < MAX_HEADERS) {
        char *colon, *end = strchr(body, '\n');
        if (end)
            *end++ = '\0';
        colon = strchr(body, ':');
        if (colon) {
            *colon++ = '\0';
            while (*colon == ' ')
                colon++;
            h.name[h.count] = body;
            h.value[h.count++] = colon;
        }
        body = end;
    }
    if (body && *body == '\n')
        body++;
    req.header = header_lookup;
    req.header_ctx = &h;
    req.body = body ? body : "";
    req.body_len = body ? size - (size_t)(body - text) : 0;
    req.body_too_large = req.body_len > API_MAX_BODY;

    api_handle(&ctx, &req, &resp);
    if (resp.status < 200 || resp.status > 599 || (resp.status >= 500 && resp.status != 503))
        abort();
    api_response_release(&resp);
    free(text);
    return 0;
}
