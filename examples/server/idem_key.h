/*
 * The Idempotency-Key header, read the same way whatever the store: a
 * blank key is an error (it used to count as "no key", so a retry charged
 * twice), surrounding spaces and tabs are not part of the key, and the key
 * is 1 to 255 bytes of printable ASCII (0x21-0x7E), so that "a " and "a"
 * are one key and no store ever sees bytes it might store differently.
 */
#ifndef CONCERTD_IDEM_KEY_H
#define CONCERTD_IDEM_KEY_H

#include <concert/concert.h>

#define IDEM_KEY_MAX_LEN CONCERT_IDEMPOTENCY_KEY_MAX

typedef enum idem_key_result {
    IDEM_KEY_ABSENT = 0, /* no header: no key */
    IDEM_KEY_OK,         /* out holds the key */
    IDEM_KEY_INVALID     /* *why says what is wrong (valid until the next
                            call on this thread) */
} idem_key_result;

/* Read raw (the header value, or NULL) into out. */
idem_key_result idem_key_read(const char *raw, char out[IDEM_KEY_MAX_LEN + 1], const char **why);

#endif
