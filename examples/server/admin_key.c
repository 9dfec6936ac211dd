/*
 * Admin key file and comparison (see admin_key.h).
 */
#include "admin_key.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_trailing_space(char c)
{
    return c == '\n' || c == '\r' || c == ' ' || c == '\t';
}

int admin_key_read_file(char **out, const char *path, char *err, size_t errlen)
{
    return key_file_read(out, NULL, path, ADMIN_KEY_MIN_LEN, ADMIN_KEY_MAX_LEN, "the admin key",
                         err, errlen);
}

int key_file_read(char **out, size_t *out_len, const char *path, size_t min_len, size_t max_len,
                  const char *what, char *err, size_t errlen)
{
    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (min_len < 1)
        min_len = 1;
    if (max_len > ADMIN_KEY_MAX_LEN)
        max_len = ADMIN_KEY_MAX_LEN;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    /* One byte more than the longest key plus some trailing whitespace
     * tells "too long" apart from "fits". */
    char buf[ADMIN_KEY_MAX_LEN + 64];
    const size_t n = fread(buf, 1, sizeof buf, f);
    const int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    size_t len = n;
    while (len > 0 && is_trailing_space(buf[len - 1]))
        len--;
    if (len == 0) {
        snprintf(err, errlen, "%s is empty: put %s in it", path, what);
        return -1;
    }
    if (n == sizeof buf || len > max_len) {
        snprintf(err, errlen, "the key in %s is longer than %zu characters", path, max_len);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)buf[i];
        if (c < 0x21 || c > 0x7E) {
            snprintf(err, errlen,
                     "the key in %s must be one line of printable ASCII without spaces", path);
            return -1;
        }
    }
    if (len < min_len) {
        snprintf(err, errlen, "the key in %s is shorter than %zu characters (too easy to guess)",
                 path, min_len);
        return -1;
    }
    char *key = malloc(len + 1);
    if (key == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(key, buf, len);
    key[len] = '\0';
    *out = key;
    if (out_len != NULL)
        *out_len = len;
    return 0;
}

int admin_key_matches(const char *key, size_t key_len, const char *given)
{
    if (key == NULL || key_len == 0 || given == NULL)
        return 0;
    const size_t given_len = strlen(given);
    /* Walk key's length whatever given is: a shorter given is read as if
     * padded with NULs (never past its end), a longer one differs by its
     * length. Differences are OR-ed, never branched on. */
    volatile unsigned char diff = (unsigned char)(given_len != key_len);
    for (size_t i = 0; i < key_len; i++) {
        const size_t j = i < given_len ? i : given_len; /* given[given_len] is the NUL */
        diff |= (unsigned char)(key[i] ^ given[j]);
    }
    return diff == 0;
}
