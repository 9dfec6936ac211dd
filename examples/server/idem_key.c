/*
 * Idempotency-Key rules (see idem_key.h).
 */
#include "idem_key.h"

#include <string.h>

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
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)raw[i];
        if (c < 0x21 || c > 0x7E) {
            *why = "Idempotency-Key must be printable ASCII (0x21-0x7E): no spaces inside, "
                   "no control or non-ASCII characters";
            return IDEM_KEY_INVALID;
        }
    }
    memcpy(out, raw, len);
    out[len] = '\0';
    return IDEM_KEY_OK;
}
