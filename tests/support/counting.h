/*
 * A counting storage wrapper for the behaviour suite: opens the configured
 * store kind through its backend, wraps the table so that every method call
 * (a "store round trip") is counted, and opens the suite's db on it.
 */
#ifndef CONCERT_TEST_COUNTING_H
#define CONCERT_TEST_COUNTING_H

#include <concert/sys/storage.h>

/* Like store_open(), but db's storage counts its calls. */
void store_open_counted(const concert_options *opts);
/* Calls made to the store through db since it was opened. */
long store_calls(void);
/* The wrapped backend itself, to ask it the truth without the core's cache
 * (its calls are not counted). */
concert_storage *store_inner(void);

#endif
