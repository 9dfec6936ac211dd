/*
 * A storage table that wraps a real one and injects faults, for tests only
 * (the library itself ships no fault hook).
 *
 * Every method forwards to the wrapped store. Before it does, the fault
 * source may answer instead (FAULT_BEFORE: nothing was applied); after a
 * WRITE step succeeded, it may turn the success into an error
 * (FAULT_AFTER: applied, but the caller sees a failure, as when the
 * database's commit reply is lost). The source is a callback or a seeded
 * PRNG, so a run is reproducible.
 *
 * Thread-safe: the PRNG and the fault log are under the wrapper's mutex; a
 * callback is called without it (it may block).
 */
#ifndef CONCERT_TEST_FAULT_STORAGE_H
#define CONCERT_TEST_FAULT_STORAGE_H

#include <concert/concert.h>
#include <concert/sys/storage.h>

enum {
    FAULT_BEFORE = 1,
    FAULT_AFTER = 2
};

/* Return 0 to let the step through, or the code the step answers instead.
 * phase is FAULT_BEFORE or (write steps that succeeded) FAULT_AFTER. */
typedef int (*fault_storage_fn)(void *ctx, const char *method, int phase);

typedef struct fault_storage fault_storage;

/* One injected fault, for the caller to learn what happened in a call. */
typedef struct fault_record {
    const char *method; /* static: the storage method's name */
    int phase;          /* FAULT_BEFORE or FAULT_AFTER */
    int rc;             /* what the step answered */
} fault_record;

#define FAULT_LOG_SIZE 8

/*
 * Wrap inner (taking ownership of it in every case: it is freed on
 * failure). *out is the table to give concert_db_open_storage(); *handle
 * controls the faults and lives as long as that table (until the db that
 * owns it is closed). Starts with no faults. CONCERT_ENOMEM.
 */
int fault_storage_wrap(concert_storage **out, fault_storage **handle, concert_storage *inner);

/*
 * Open the store a concert_db_open() URI names (memory:, sqlite:PATH, a
 * postgresql:// URI or a libpq conninfo), wrap it, and open a db on it.
 */
int fault_storage_open(concert_db **out, fault_storage **handle, const char *uri,
                       const concert_options *opts);

/* Faults decided by fn (NULL: none). Set it with no call in flight. */
void fault_storage_set_callback(fault_storage *fs, fault_storage_fn fn, void *ctx);

/*
 * Faults drawn from a PRNG seeded with seed: each step fails before with
 * probability before_ppm per million, and each successful write step fails
 * after with probability after_ppm per million, answering CONCERT_ESTORAGE
 * or CONCERT_EBUSY. Replaces any callback.
 */
void fault_storage_set_random(fault_storage *fs, uint64_t seed, uint32_t before_ppm,
                              uint32_t after_ppm);

/* No faults from now on (the log is kept). */
void fault_storage_off(fault_storage *fs);

/* Forget the log (call before the call you want to observe). */
void fault_storage_log_reset(fault_storage *fs);
/* The faults injected since the last reset (at most FAULT_LOG_SIZE kept);
 * returns how many were injected in all. */
size_t fault_storage_log(fault_storage *fs, fault_record *out, size_t max);
/* Faults injected since the wrapper was made. */
uint64_t fault_storage_total(fault_storage *fs);

/* The wrapped store itself, to read it with no fault and no core in
 * between (a test's audit). Valid as long as the wrapper. */
concert_storage *fault_storage_inner(fault_storage *fs);

/* 1 if the named method may change the store (an after-fault applies to it). */
int fault_storage_is_write(const char *method);

#endif
