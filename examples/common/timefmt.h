/*
 * RFC 3339 UTC times <-> milliseconds since the epoch, for the server and CLI.
 */
#ifndef CONCERT_EXAMPLES_TIMEFMT_H
#define CONCERT_EXAMPLES_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Enough for "2026-12-24T19:00:00.000Z" plus NUL. */
#define TIMEFMT_SIZE 32

/* Parse "2026-12-24T19:00:00Z", with optional fraction and +hh:mm / -hh:mm
 * offset. Returns 0 and sets *ms_out, or -1 if text is not such a time. */
int timefmt_parse(const char *text, int64_t *ms_out);

/* Format ms as "2026-12-24T19:00:00Z" (".123" before Z when ms % 1000 != 0).
 * buf must hold TIMEFMT_SIZE bytes. Returns buf. */
char *timefmt_format(int64_t ms, char *buf);

#endif
