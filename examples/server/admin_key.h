/*
 * Secrets read from files at start and compared with request headers in
 * constant time: the admin key (X-Admin-Key, /api/v1/admin routes), the
 * service key (X-Service-Key, charging points) and the JWT secret.
 */
#ifndef CONCERTD_ADMIN_KEY_H
#define CONCERTD_ADMIN_KEY_H

#include <stddef.h>

/* Shortest and longest key accepted from the file. A short key can be
 * guessed over the network; a long one is surely the wrong file. */
#define ADMIN_KEY_MIN_LEN 16
#define ADMIN_KEY_MAX_LEN 1024

/*
 * Read the key from path: the whole file, without trailing whitespace (a
 * final newline from an editor or `echo`). It must then be ADMIN_KEY_MIN_LEN
 * to ADMIN_KEY_MAX_LEN printable ASCII characters (it travels in a header).
 * Returns 0 and *out (malloc()ed, NUL-terminated; free() it), or -1 with a
 * message in err (unreadable, empty, too short or long, bad characters).
 */
int admin_key_read_file(char **out, const char *path, char *err, size_t errlen);

/*
 * The same for any key file, with its own bounds (min_len >= 1, max_len <=
 * ADMIN_KEY_MAX_LEN) and name for messages ("the JWT secret"). *len (may be
 * NULL) gets the key's length.
 */
int key_file_read(char **out, size_t *len, const char *path, size_t min_len, size_t max_len,
                  const char *what, char *err, size_t errlen);

/*
 * 1 if given (a header value, may be NULL) equals key, else 0. The time
 * taken depends on key's length only, never on where the two differ or on
 * how long given is, so a client cannot guess the key a byte at a time.
 */
int admin_key_matches(const char *key, size_t key_len, const char *given);

#endif
