/*
 * --clock-file PATH, for tests only: the store's clock reads the time (ms
 * since the epoch, one decimal number) from PATH on every call, so a test can
 * run a hold past its expiry without waiting. The kiosk is single-threaded
 * and the library calls the clock on this thread only.
 */
#include "kiosk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The file's time, or -1 if it cannot be read as a positive number. */
static int64_t read_clock_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char buf[32];
    const char *got = fgets(buf, sizeof buf, f);
    fclose(f);
    if (got == NULL)
        return -1;
    char *end = NULL;
    errno = 0;
    const long long v = strtoll(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\0' && *end != '\n') || v <= 0)
        return -1;
    return (int64_t)v;
}

static int64_t file_clock(void *ctx)
{
    kiosk_clock *c = ctx;
    const int64_t now = read_clock_file(c->path);
    /* A test rewriting the file mid-read keeps the last good time rather
     * than sending the store back to 1970. */
    if (now > 0)
        c->last = now;
    return c->last;
}

int kiosk_clock_install(kiosk_clock *c, concert_options *opts, const char *path)
{
    c->path = path;
    c->last = read_clock_file(path);
    if (c->last <= 0) {
        fprintf(stderr, "kiosk: --clock-file %s: expected ms since the epoch\n", path);
        return -1;
    }
    opts->clock = file_clock;
    opts->clock_ctx = c;
    return 0;
}
