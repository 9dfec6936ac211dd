/*
 * Reading a catalog file (or stdin) and loading it into a store with the
 * library's reader, concert_catalog_load_json(). Files are the programs'
 * business, not the library's: it reads only buffers.
 */
#include "catalog_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Catalogs are seat *ranges*, so even a large venue list is small; a bound
 * keeps a wrong path (a disk image, /dev/zero) from eating memory. */
#define CATALOG_MAX_FILE_SIZE (64u * 1024u * 1024u)

static void set_error(char *err, size_t errlen, const char *what, const char *path,
                      const char *detail)
{
    if (err != NULL && errlen > 0)
        (void)snprintf(err, errlen, "%s %s: %s", what, path, detail);
}

/* Read all of stream into a malloc'ed buffer. Returns 0, or a libconcert
 * code with err set. */
static int read_stream(FILE *stream, const char *path, char **out, size_t *out_len, char *err,
                       size_t errlen)
{
    size_t capacity = 64 * 1024;
    size_t len = 0;
    char *buf = malloc(capacity);
    if (buf == NULL) {
        set_error(err, errlen, "cannot read", path, "out of memory");
        return CONCERT_ENOMEM;
    }
    for (;;) {
        if (len + 1 >= capacity) { /* keep a byte for the final NUL */
            if (capacity >= CATALOG_MAX_FILE_SIZE) {
                free(buf);
                set_error(err, errlen, "cannot read", path, "larger than 64 MiB");
                return CONCERT_EINVAL;
            }
            char *bigger = realloc(buf, capacity * 2);
            if (bigger == NULL) {
                free(buf);
                set_error(err, errlen, "cannot read", path, "out of memory");
                return CONCERT_ENOMEM;
            }
            buf = bigger;
            capacity *= 2;
        }
        const size_t got = fread(buf + len, 1, capacity - len, stream);
        len += got;
        if (got == 0) {
            if (ferror(stream)) {
                const int saved = errno;
                free(buf);
                set_error(err, errlen, "cannot read", path, saved ? strerror(saved) : "I/O error");
                return CONCERT_EINVAL;
            }
            break;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

int catalog_json_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL || text == NULL || len == NULL) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "catalog: no path");
        return CONCERT_EINVAL;
    }
    *text = NULL;
    *len = 0;
    const int from_stdin = strcmp(path, "-") == 0;
    FILE *stream = from_stdin ? stdin : fopen(path, "rb");
    if (stream == NULL) {
        set_error(err, errlen, "cannot open", path, strerror(errno));
        return CONCERT_EINVAL;
    }
    const int rc = read_stream(stream, from_stdin ? "stdin" : path, text, len, err, errlen);
    if (!from_stdin)
        fclose(stream);
    return rc;
}

int catalog_json_load_file(concert_db *db, const char *path, char *err, size_t errlen)
{
    if (db == NULL) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "catalog: no store");
        return CONCERT_EINVAL;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = catalog_json_read_file(path, &text, &len, err, errlen);
    if (rc != 0)
        return rc;

    rc = concert_catalog_load_json(db, text, len);
    free(text);
    if (rc != 0 && err != NULL && errlen > 0)
        (void)snprintf(err, errlen, "%s", concert_error_last()->message);
    return rc;
}
