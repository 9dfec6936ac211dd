/*
 * concertd-test's clock (see test_clock.h).
 */
#include "test_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "9223372036854775807\n" and some room for whitespace. */
#define CLOCK_FILE_MAX 64

/* The last time read well: a read that fails (the file being replaced on a
 * file system without atomic rename) repeats it rather than jumping to 0. */
static _Atomic int64_t last_good;

/* 0 and *out_ms, or -1 with a reason in why. */
static int read_clock_file(const char *path, int64_t *out_ms, const char **why)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    char buf[CLOCK_FILE_MAX + 1];
    size_t len = 0;
    for (;;) {
        const ssize_t n = read(fd, buf + len, CLOCK_FILE_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == CLOCK_FILE_MAX)
            break;
    }
    close(fd);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    const long long ms = strtoll(buf, &end, 10);
    while (end != NULL && (*end == '\n' || *end == '\r' || *end == ' '))
        end++;
    if (len == 0 || len == CLOCK_FILE_MAX || errno != 0 || end == buf || *end != '\0' || ms < 0) {
        *why = "it does not hold a time (decimal milliseconds since the epoch)";
        return -1;
    }
    *out_ms = (int64_t)ms;
    return 0;
}

static int64_t file_clock(void *ctx)
{
    int64_t ms = 0;
    const char *why = NULL;
    if (read_clock_file(ctx, &ms, &why) != 0)
        return atomic_load(&last_good);
    atomic_store(&last_good, ms);
    return ms;
}

int test_clock_install(concert_options *opts, FILE *err)
{
    const char *path = getenv(TEST_CLOCK_ENV);
    if (path == NULL)
        return 0;
    int64_t ms = 0;
    const char *why = NULL;
    if (path[0] == '\0' || read_clock_file(path, &ms, &why) != 0) {
        fprintf(err, "concertd: %s=%s: %s\n", TEST_CLOCK_ENV, path,
                path[0] == '\0' ? "empty path" : why);
        return -1;
    }
    atomic_store(&last_good, ms);
    /* getenv's string lives as long as the environment, which nothing here
     * changes: it can be the clock's context. */
    opts->clock = file_clock;
    opts->clock_ctx = (void *)path;
    fprintf(err, "concertd: TEST BUILD: the clock reads %s (now %lld ms)\n", path, (long long)ms);
    return 0;
}
