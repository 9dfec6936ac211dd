/*
 * libconcert error code -> HTTP status, in one place (see errors_http.h).
 */
#include "errors_http.h"

#include <stdio.h>

#include "reply.h"

typedef struct error_mapping {
    int code;
    int status;
    const char *public_code; /* NULL: concert_error_name(code) */
} error_mapping;

/* Codes that collapse into one public code say so explicitly; everything
 * else uses the library's own stable name, which the contract adopted. */
static const error_mapping error_table[] = {
    { CONCERT_EINVAL, 422, NULL }, /* INVALID_ARGUMENT */
    { CONCERT_ENOMEM, 500, "INTERNAL" },
    { CONCERT_ESTORAGE, 503, "STORAGE_UNAVAILABLE" },
    { CONCERT_EBUSY, 503, "STORAGE_UNAVAILABLE" },
    { CONCERT_ENOTSUP, 500, "INTERNAL" },
    { CONCERT_ESCHEMA, 500, "INTERNAL" },
    { CONCERT_EINTERNAL, 500, "INTERNAL" },
    /* A change that needs another state first (resume a queue that is not
     * paused); catalog loading raises it too, but only before serving. */
    { CONCERT_ECONFLICT, 409, NULL }, /* CONFLICT */
    { CONCERT_EUSER_NOT_FOUND, 404, NULL },
    { CONCERT_ETOKEN_INVALID, 401, NULL },
    { CONCERT_ETOKEN_NOT_ACTIVE, 403, NULL },
    { CONCERT_ECONCERT_NOT_FOUND, 404, NULL },
    { CONCERT_ECONCERT_NOT_BOOKABLE, 409, NULL },
    { CONCERT_ESCHEDULE_NOT_FOUND, 404, NULL },
    { CONCERT_EBOOKING_CLOSED, 409, NULL },
    { CONCERT_ESEAT_NOT_FOUND, 404, NULL },
    { CONCERT_ESEAT_TAKEN, 409, NULL },
    { CONCERT_ERESERVATION_NOT_FOUND, 404, NULL },
    { CONCERT_EFORBIDDEN, 403, NULL },
    { CONCERT_EHOLD_EXPIRED, 409, NULL },
    { CONCERT_EALREADY_PAID, 409, NULL },
    { CONCERT_EINSUFFICIENT_POINTS, 409, NULL },
    { CONCERT_EINVALID_AMOUNT, 422, NULL },
    { CONCERT_EIDEMPOTENCY_KEY_REUSED, 409, NULL },
    { CONCERT_EQUEUE_CLOSED, 409, NULL },
    { CONCERT_EHOLD_LIMIT, 409, NULL },
};

int errors_http_status(int concert_code, const char **code_out)
{
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++) {
        const error_mapping *m = &error_table[i];
        if (m->code == concert_code) {
            *code_out = m->public_code ? m->public_code : concert_error_name(concert_code);
            return m->status;
        }
    }
    *code_out = "INTERNAL";
    return 500;
}

void reply_library_error(api_response *resp, int rc)
{
    /* Copy the detail before any other libconcert call can replace it. */
    char message[256];
    const concert_error *last = concert_error_last();
    const int n = snprintf(message, sizeof message, "%s",
                           last->code == rc ? last->message : concert_error_string(rc));
    if (n < 0)
        message[0] = '\0';

    const char *code = NULL;
    const int status = errors_http_status(rc, &code);
    if (status >= 500) {
        /* 5xx bodies reveal nothing about the store; the log gets the detail. */
        reply_error(resp, status, code,
                    status == 503 ? "storage unavailable, try again later" : "internal error");
        const int written =
            snprintf(resp->detail, sizeof resp->detail, "%s: %s", concert_error_name(rc), message);
        if (written < 0 || (size_t)written >= sizeof resp->detail)
            resp->detail[sizeof resp->detail - 1] = '\0'; /* a cut log detail is fine */
        return;
    }
    reply_error(resp, status, code, message);
}
