/*
 * The one table that turns libconcert error codes into HTTP statuses and the
 * contract's error codes.
 */
#ifndef CONCERTD_ERRORS_HTTP_H
#define CONCERTD_ERRORS_HTTP_H

#include "api.h"

/* HTTP status for a libconcert code (< 0); *code_out gets the contract's
 * error code ("SEAT_TAKEN", "STORAGE_UNAVAILABLE", "INTERNAL"). Codes the
 * table does not know are 500 INTERNAL. */
int errors_http_status(int concert_code, const char **code_out);

/*
 * Reply with the error the last libconcert call returned (rc < 0). Call it
 * right after that call: the message comes from concert_error_last(). 4xx
 * replies carry the library's message; 5xx replies carry a fixed text and
 * the library's message goes to resp->detail for the log only.
 */
void reply_library_error(api_response *resp, int rc);

#endif
