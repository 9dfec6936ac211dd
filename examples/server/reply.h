/*
 * Building api_response values: JSON bodies, empty bodies and the contract's
 * error shape {"error": {"code": "...", "message": "..."}}.
 */
#ifndef CONCERTD_REPLY_H
#define CONCERTD_REPLY_H

#include "api.h"
#include "json_out.h"
#include "list_cache.h"

/* Reply status with w's document as the body (w is consumed). If the
 * document could not be built, the reply is a 500 INTERNAL instead. */
void reply_json(api_response *resp, int status, json_out *w);

/* Reply status with a shared body: the response takes the caller's
 * reference to body. */
void reply_shared(api_response *resp, int status, list_body *body);

/* Reply status with no body (204). */
void reply_empty(api_response *resp, int status);

/* Reply status with the error shape. message is caller text, escaped. */
void reply_error(api_response *resp, int status, const char *code, const char *message);

/* 400 MALFORMED_REQUEST with message. */
void reply_malformed(api_response *resp, const char *message);

#endif
