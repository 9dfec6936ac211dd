/*
 * concertd-test's clock: "now" read from a file that the HTTP tests write, so
 * that they move time instead of sleeping. Compiled only into concertd-test
 * (a tests build, never installed); the shipped concertd has neither this
 * code nor the variable.
 */
#ifndef CONCERTD_TEST_CLOCK_H
#define CONCERTD_TEST_CLOCK_H

#include <stdio.h>

#include <concert/concert.h>

/* The environment variable naming the clock file. The file holds decimal
 * milliseconds since the epoch (UTC), optionally followed by a newline, and
 * is read on every clock call: a test moves time by replacing it. */
#define TEST_CLOCK_ENV "CONCERTD_TEST_CLOCK"

/* With TEST_CLOCK_ENV set: check that the file reads now, point opts->clock
 * at it and say so on err; returns 0, or -1 after a message on err (the file
 * is missing or does not hold a time). Unset: changes nothing, returns 0.
 * concertd's own checks (api_now_ms) follow the store's clock, so one file
 * moves both. */
int test_clock_install(concert_options *opts, FILE *err);

#endif
