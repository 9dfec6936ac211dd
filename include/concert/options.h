/**
 * @file
 * @brief libconcert: options for concert_db_open(), their ranges and defaults.
 *
 * Versioned so that fields can be appended without breaking the ABI. Always
 * start from CONCERT_OPTIONS_INIT or concert_options_init(); a zero field
 * means "use the default" shown beside it. The ranges and defaults are one
 * table in the library (concert_options_info()), which concert_db_open(),
 * concert_options_validate(), concertd's flags and the bindings all read.
 */
#ifndef CONCERT_OPTIONS_H
#define CONCERT_OPTIONS_H

#include "common.h"

CONCERT_BEGIN_DECLS

/** A clock: the current time in milliseconds since the Unix epoch (UTC).
 *  ctx is concert_options.clock_ctx. */
typedef int64_t (*concert_clock_fn)(void *ctx);

/** A random source: fill buf with len unpredictable bytes; return 0, or
 *  non-zero on failure. ctx is concert_options.random_ctx. */
typedef int (*concert_random_fn)(void *ctx, unsigned char *buf, size_t len);

/** The options struct's version: 2 appended admit_per_minute and
 * queue_refresh_ms; 3 appended max_holds_per_user; 4 appended retention_ms.
 * Older structs are still accepted (the new fields then take their
 * defaults). */
#define CONCERT_OPTIONS_VERSION 4

/** What concert_db_open() takes; see concert_options_info() for every
 *  tunable field's range and default. */
typedef struct concert_options {
    unsigned int version; /**< CONCERT_OPTIONS_VERSION */

    int64_t max_active;        /**< ACTIVE tokens at once; 0: 1000 */
    int64_t active_ttl_ms;     /**< ACTIVE token lifetime; 0: 600000 (10 min) */
    int64_t wait_ttl_ms;       /**< WAITING token idle timeout; 0: 300000 */
    int64_t hold_ttl_ms;       /**< seat hold lifetime; 0: 300000 (5 min) */
    int64_t booking_cutoff_ms; /**< booking ends this long after the start;
                                     0: 1200000 (20 min) */

    concert_clock_fn clock;   /**< NULL: the system real-time clock */
    void *clock_ctx;          /**< passed to clock */
    concert_random_fn random; /**< NULL: the OS CSPRNG (getrandom) */
    void *random_ctx;         /**< passed to random */

    int32_t pool_size;          /**< PostgreSQL connections, SQLite read
                                     connections; 0: 8 */
    int32_t busy_timeout_ms;    /**< how long a store call waits on a lock or
                                     an answer before CONCERT_EBUSY; 0: 5000 */
    int32_t connect_timeout_ms; /**< PostgreSQL connect timeout; 0: 3000 */
    int32_t reserved;           /**< must be 0 */

    /* ---- version 2 ---- */
    /* max_active above and admit_per_minute here only SEED a store that has
     * no queue settings yet (a new one); after that the store's settings
     * rule (concert_queue_update_apply()). */
    int64_t admit_per_minute; /**< new admissions per minute; 0: unlimited */
    int64_t queue_refresh_ms; /**< how old the db's cached view of the
                                     queue may get: 250 from the initialiser;
                                     0 = always read the store; at most 60000 */

    /* ---- version 3 ---- */
    int64_t max_holds_per_user; /**< live holds one user may have at once,
                                   across the store (a concert's own
                                   max_per_user replaces it for that
                                   concert): 4 from the initialiser and for
                                   older structs; 0 = no limit; at most
                                   1000000 */

    /* ---- version 4 ---- */
    int64_t retention_ms; /**< how long idempotency records and ended
                                   tokens are kept for retries: 0 = 24 h
                                   (86400000); at least 1000, at most 366
                                   days. A retry after it is a new request
                                   (concert_admin_prune()). */
} concert_options;

/** What CONCERT_OPTIONS_INIT and concert_options_init() put in queue_refresh_ms. */
#define CONCERT_DEFAULT_QUEUE_REFRESH_MS 250
/** What CONCERT_OPTIONS_INIT and concert_options_init() put in max_holds_per_user. */
#define CONCERT_DEFAULT_MAX_HOLDS_PER_USER 4
/** A static initialiser: this version, every other field at its default. */
#define CONCERT_OPTIONS_INIT                                                                       \
    {                                                                                              \
        CONCERT_OPTIONS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                         \
            CONCERT_DEFAULT_QUEUE_REFRESH_MS, CONCERT_DEFAULT_MAX_HOLDS_PER_USER, 0                \
    }

/**
 * Initialise opts to the defaults for the given version, for bindings that
 * cannot expand CONCERT_OPTIONS_INIT. Versions 1 to 3 are accepted for old
 * callers and write only their versions' fields, never past their struct;
 * concert_db_open() accepts the same versions and gives the fields a version
 * lacks their defaults.
 * @param opts the struct to fill
 * @param version CONCERT_OPTIONS_VERSION (or an older one)
 * @return CONCERT_OK, or CONCERT_EINVAL for a NULL opts, a version of 0 or
 *         one newer than this library's.
 */
CONCERT_EXTERN int concert_options_init(concert_options *opts, unsigned int version);

/**
 * One tunable field of concert_options: its range and default, exactly as
 * concert_db_open() checks and applies them. Programs that take options from
 * users (concertd's flags, the bindings) read ranges and defaults here
 * instead of writing them again. Fields may be appended in later versions:
 * read entries through the pointers the functions below return, never copy
 * the struct by value or index an array of them.
 */
typedef struct concert_option_info {
    const char *name;       /**< the concert_options field, e.g. "hold_ttl_ms" */
    const char *unit;       /**< "ms" for a duration, "count" otherwise */
    int64_t default_value;  /**< the value in effect when the field is left as
                                    concert_options_init() set it */
    int64_t min;            /**< the smallest value accepted other than 0 */
    int64_t max;            /**< the largest value accepted */
    const char *zero_means; /**< what 0 stands for: "default" (default_value
                                    is used), or its own meaning such as
                                    "unlimited" */
    const char *summary;    /**< one line for help texts */
} concert_option_info;

/**
 * The index-th tunable option, for listing them all.
 * @param index 0, 1, ...
 * @return the entry, or NULL past the last one. Entries are static: never
 *         freed, valid for the life of the process.
 */
CONCERT_EXTERN const concert_option_info *concert_options_info(size_t index);

/**
 * Look up one tunable option by its field name.
 * @param name a concert_options field name, e.g. "hold_ttl_ms"
 * @return the (static) entry, or NULL with CONCERT_EINVAL as the thread's
 *         last error if there is none.
 */
CONCERT_EXTERN const concert_option_info *concert_options_info_find(const char *name);

/**
 * Check one option's value against its range, as concert_db_open() would.
 * @param name a concert_options field name (see concert_options_info())
 * @param value the value to check; 0 is accepted (it stands for
 *        zero_means)
 * @return CONCERT_OK, or CONCERT_EINVAL with a message naming the field,
 *         the value and the accepted range (concert_error_last()).
 */
CONCERT_EXTERN int concert_options_check(const char *name, int64_t value);

/**
 * Check a whole options struct as concert_db_open() would, without opening a
 * store: version, every field's range, reserved fields.
 * @param opts the options to check; NULL stands for all defaults (valid)
 * @return CONCERT_OK, or CONCERT_EINVAL with the first offending field's
 *         message (the same text concert_db_open() would give).
 */
CONCERT_EXTERN int concert_options_validate(const concert_options *opts);

CONCERT_END_DECLS

#endif
