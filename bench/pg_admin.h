/*
 * What the PostgreSQL comparison programs (pg_joins.c, pg_holds.c) share:
 * a monotonic clock, strict integer flags, and one-off administrative SQL
 * on a connection of its own.
 */
#ifndef CONCERT_BENCH_PG_ADMIN_H
#define CONCERT_BENCH_PG_ADMIN_H

#include <stdint.h>

/* Seconds on the monotonic clock. */
double pg_admin_mono_s(void);

/* text as a decimal integer in [lo, hi]: 0, or -1 (nothing else in text). */
int pg_admin_parse_int(const char *text, int64_t lo, int64_t hi, int64_t *out);

/* Run sql on a new connection to conninfo: 0, or -1 after a message on
 * stderr prefixed with who. */
int pg_admin_sql(const char *who, const char *conninfo, const char *sql);

#endif
