/*
 * Query-string credentials for the event streams (see query_auth.h).
 */
#include "query_auth.h"

#include <stdio.h>
#include <strings.h>

#include "auth.h"

#define TOKEN_ARGUMENT "token"
#define USER_TOKEN_ARGUMENT "user_token"

static const char *inner_header(const query_auth *qa, const char *name)
{
    const api_request *in = qa->inner;
    return in->header != NULL ? in->header(in->header_ctx, name) : NULL;
}

static const char *inner_query(const query_auth *qa, const char *name)
{
    const api_request *in = qa->inner;
    return in->query != NULL ? in->query(in->header_ctx, name) : NULL;
}

static unsigned inner_query_count(const query_auth *qa, const char *name)
{
    const api_request *in = qa->inner;
    if (in->query_count != NULL)
        return in->query_count(in->header_ctx, name);
    return inner_query(qa, name) != NULL;
}

/* The query argument a header stands for, or NULL. Only the JWT header:
 * a gateway's identity header (--auth header) must come from the gateway. */
static const char *argument_for(const char *header)
{
    if (strcasecmp(header, "Authorization") == 0)
        return TOKEN_ARGUMENT;
    if (strcasecmp(header, AUTH_JWT_HEADER) == 0)
        return USER_TOKEN_ARGUMENT;
    return NULL;
}

static const char *header(void *ctx, const char *name)
{
    query_auth *qa = ctx;
    const char *value = inner_header(qa, name);
    const char *argument = argument_for(name);
    if (value != NULL || argument == NULL)
        return value;
    value = inner_query(qa, argument);
    if (value == NULL || strcasecmp(name, "Authorization") != 0)
        return value;
    /* Given twice, or too long to be a token: a value no check accepts. */
    const int n = snprintf(qa->bearer, sizeof qa->bearer, "Bearer %s", value);
    if (inner_query_count(qa, argument) > 1 || n < 0 || (size_t)n >= sizeof qa->bearer)
        snprintf(qa->bearer, sizeof qa->bearer, "Bearer ?");
    return qa->bearer;
}

static unsigned header_count(void *ctx, const char *name)
{
    query_auth *qa = ctx;
    const api_request *in = qa->inner;
    unsigned n = 0;
    if (in->header_count != NULL)
        n = in->header_count(in->header_ctx, name);
    else
        n = inner_header(qa, name) != NULL;
    const char *argument = argument_for(name);
    if (n > 0 || argument == NULL)
        return n;
    return inner_query_count(qa, argument);
}

static const char *query(void *ctx, const char *name)
{
    return inner_query(ctx, name);
}

static unsigned query_count(void *ctx, const char *name)
{
    return inner_query_count(ctx, name);
}

void query_auth_wrap(query_auth *qa, const api_request *inner)
{
    qa->inner = inner;
    qa->req = *inner;
    qa->req.header = header;
    qa->req.header_count = header_count;
    qa->req.query = query;
    qa->req.query_count = query_count;
    qa->req.header_ctx = qa;
    qa->bearer[0] = '\0';
}
