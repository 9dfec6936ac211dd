/*
 * Idempotency-Key rules (see idem_key.h). What a key may contain is the
 * library's rule (concert_idempotency_key_check()); what is HTTP's is here:
 * surrounding blanks are not part of a header value, and a header present
 * but blank is an error rather than "no key".
 */
#include "idem_key.h"

#include <stdio.h>
#include <string.h>

#include <concert/concert.h>

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

idem_key_result idem_key_read(const char *raw, char out[IDEM_KEY_MAX_LEN + 1], const char **why)
{
    out[0] = '\0';
    *why = "";
    if (raw == NULL)
        return IDEM_KEY_ABSENT;
    while (is_blank(*raw))
        raw++;
    size_t len = strlen(raw);
    while (len > 0 && is_blank(raw[len - 1]))
        len--;
    if (len == 0) {
        *why = "Idempotency-Key is blank: send a key of 1 to 255 printable ASCII characters, "
               "or no header";
        return IDEM_KEY_INVALID;
    }
    if (len > IDEM_KEY_MAX_LEN) {
        *why = "Idempotency-Key is longer than 255 bytes";
        return IDEM_KEY_INVALID;
    }
    memcpy(out, raw, len);
    out[len] = '\0';
    if (concert_idempotency_key_check(out) != 0) {
        /* The library's reason, named the way the client sent it. */
        static _Thread_local char reason[192];
        snprintf(reason, sizeof reason, "Idempotency-Key: %s", concert_error_last()->message);
        *why = reason;
        out[0] = '\0';
        return IDEM_KEY_INVALID;
    }
    return IDEM_KEY_OK;
}
