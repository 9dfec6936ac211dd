/*
 * Options: defaults, and the one place that checks their ranges.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_MAX_ACTIVE 1000
#define DEFAULT_ACTIVE_TTL_MS (600 * 1000)
#define DEFAULT_WAIT_TTL_MS (300 * 1000)
#define DEFAULT_HOLD_TTL_MS (300 * 1000)
#define DEFAULT_BOOKING_CUTOFF_MS (1200 * 1000)
#define DEFAULT_POOL_SIZE 8
#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define DEFAULT_CONNECT_TIMEOUT_MS 3000
#define MAX_POOL_SIZE 1024
/* A year: anything longer is certainly a unit mistake (seconds vs ms). */
#define MAX_DURATION_MS (INT64_C(366) * 24 * 3600 * 1000)

#define MAX_QUEUE_REFRESH_MS 60000
#define MAX_HOLDS_PER_USER 1000000
#define DEFAULT_RETENTION_MS (INT64_C(24) * 3600 * 1000)
#define MIN_RETENTION_MS 1000

/* How many bytes of the caller's struct a version covers: fields are only
 * ever appended, so an older caller's struct is a prefix of ours. */
static size_t options_size(unsigned int version)
{
    switch (version) {
    case 1:
        return offsetof(concert_options, admit_per_minute);
    case 2:
        return offsetof(concert_options, max_holds_per_user);
    case 3:
        return offsetof(concert_options, retention_ms);
    case 4:
        return sizeof(concert_options);
    default:
        return 0;
    }
}

int concert_options_init(concert_options *opts, unsigned int version)
{
    size_t size = options_size(version);
    if (!opts)
        return concert__error_set(CONCERT_EINVAL, "concert_options_init: opts is NULL");
    if (size == 0)
        return concert__error_set(CONCERT_EINVAL,
                                  "concert_options_init: unknown version %u (this library: %u)",
                                  version, CONCERT_OPTIONS_VERSION);
    memset(opts, 0, size);
    opts->version = version;
    if (version >= 2)
        opts->queue_refresh_ms = CONCERT_DEFAULT_QUEUE_REFRESH_MS;
    if (version >= 3)
        opts->max_holds_per_user = CONCERT_DEFAULT_MAX_HOLDS_PER_USER;
    return CONCERT_OK;
}

/* One row per tunable field: its place in the struct, its width, its
 * range and what 0 means. concert_db_open(), concert_options_check() and the
 * public table all read this, so a range is written once. */
typedef struct option_row {
    concert_option_info info;
    size_t offset;
    size_t width; /* sizeof the field: 4 or 8 */
} option_row;

#define ROW(field, unit, dflt, lo, hi, zero, summary)                                              \
    {                                                                                              \
        { #field, unit, dflt, lo, hi, zero, summary }, offsetof(concert_options, field),           \
            sizeof(((concert_options *)0)->field)                                                  \
    }

static const option_row rows[] = {
    ROW(max_active, "count", DEFAULT_MAX_ACTIVE, 1, CONCERT_MAX_ACTIVE_LIMIT, "default",
        "queue tokens ACTIVE at once (seeds a new store's queue settings)"),
    ROW(active_ttl_ms, "ms", DEFAULT_ACTIVE_TTL_MS, 1, MAX_DURATION_MS, "default",
        "lifetime of an ACTIVE token"),
    ROW(wait_ttl_ms, "ms", DEFAULT_WAIT_TTL_MS, 1, MAX_DURATION_MS, "default",
        "a WAITING token not polled for this long is dropped"),
    ROW(hold_ttl_ms, "ms", DEFAULT_HOLD_TTL_MS, 1, MAX_DURATION_MS, "default",
        "how long a seat hold lasts"),
    ROW(booking_cutoff_ms, "ms", DEFAULT_BOOKING_CUTOFF_MS, 1, MAX_DURATION_MS, "default",
        "booking closes this long after a schedule starts"),
    ROW(pool_size, "count", DEFAULT_POOL_SIZE, 1, MAX_POOL_SIZE, "default",
        "PostgreSQL connections, SQLite read connections"),
    ROW(busy_timeout_ms, "ms", DEFAULT_BUSY_TIMEOUT_MS, 1, INT32_MAX, "default",
        "how long a store call waits on a lock or an answer before CONCERT_EBUSY"),
    ROW(connect_timeout_ms, "ms", DEFAULT_CONNECT_TIMEOUT_MS, 1, INT32_MAX, "default",
        "PostgreSQL connect timeout"),
    ROW(admit_per_minute, "count", 0, 1, CONCERT_ADMIT_PER_MINUTE_LIMIT, "unlimited",
        "new buyers admitted per minute (seeds a new store's queue settings)"),
    ROW(queue_refresh_ms, "ms", CONCERT_DEFAULT_QUEUE_REFRESH_MS, 1, MAX_QUEUE_REFRESH_MS,
        "read the store on every call", "how old a handle's cached view of the queue may get"),
    ROW(max_holds_per_user, "count", CONCERT_DEFAULT_MAX_HOLDS_PER_USER, 1, MAX_HOLDS_PER_USER,
        "no limit", "live seat holds one user may have at once"),
    ROW(retention_ms, "ms", DEFAULT_RETENTION_MS, MIN_RETENTION_MS, MAX_DURATION_MS, "default",
        "how long idempotency records and ended tokens are kept for retries"),
};

#define ROW_COUNT (sizeof rows / sizeof rows[0])

const concert_option_info *concert_options_info(size_t index)
{
    return index < ROW_COUNT ? &rows[index].info : NULL;
}

static const option_row *row_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < ROW_COUNT; i++)
        if (strcmp(rows[i].info.name, name) == 0)
            return &rows[i];
    return NULL;
}

const concert_option_info *concert_options_info_find(const char *name)
{
    const option_row *row = row_find(name);
    if (row == NULL) {
        concert__error_set(CONCERT_EINVAL, "options: no option called '%s'",
                           name != NULL ? name : "(null)");
        return NULL;
    }
    return &row->info;
}

/* "1 ms to 366 days" or "1 to 1024", plus what 0 means: the range as a
 * user reads it, for every message below. */
static void range_text(const concert_option_info *info, char *buf, size_t len)
{
    const int ms = strcmp(info->unit, "ms") == 0;
    if (ms && info->max == MAX_DURATION_MS)
        snprintf(buf, len, "0 = %s, %lld ms to 366 days", info->zero_means, (long long)info->min);
    else
        snprintf(buf, len, "0 = %s, %lld to %lld%s", info->zero_means, (long long)info->min,
                 (long long)info->max, ms ? " ms" : "");
}

static int row_check(const option_row *row, int64_t value)
{
    const concert_option_info *info = &row->info;
    if (value == 0 || (value >= info->min && value <= info->max))
        return CONCERT_OK;
    char range[96];
    range_text(info, range, sizeof range);
    return concert__error_set(CONCERT_EINVAL, "options.%s: %lld%s is out of range (%s)", info->name,
                              (long long)value, strcmp(info->unit, "ms") == 0 ? " ms" : "", range);
}

int concert_options_check(const char *name, int64_t value)
{
    const option_row *row = row_find(name);
    if (row == NULL)
        return concert__error_set(CONCERT_EINVAL, "options: no option called '%s'",
                                  name != NULL ? name : "(null)");
    return row_check(row, value);
}

static int64_t row_read(const option_row *row, const concert_options *opts)
{
    const char *at = (const char *)opts + row->offset;
    if (row->width == sizeof(int32_t)) {
        int32_t v;
        memcpy(&v, at, sizeof v);
        return v;
    }
    int64_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

static void row_write(const option_row *row, concert_options *opts, int64_t value)
{
    char *at = (char *)opts + row->offset;
    if (row->width == sizeof(int32_t)) {
        const int32_t v = (int32_t)value; /* the row's max fits: INT32_MAX at most */
        memcpy(at, &v, sizeof v);
    } else {
        memcpy(at, &value, sizeof value);
    }
}

int concert__options_resolve(concert_options *out, const concert_options *opts)
{
    concert_options_init(out, CONCERT_OPTIONS_VERSION);
    if (opts) {
        size_t size = options_size(opts->version);
        if (size == 0)
            return concert__error_set(CONCERT_EINVAL,
                                      "options.version: %u is unknown (this library: %u); "
                                      "initialise with concert_options_init()",
                                      opts->version, CONCERT_OPTIONS_VERSION);
        /* An older caller's struct is shorter: copy only what it has and
         * keep our defaults for the rest. */
        memcpy(out, opts, size);
        out->version = CONCERT_OPTIONS_VERSION;
    }
    for (size_t i = 0; i < ROW_COUNT; i++) {
        const option_row *row = &rows[i];
        const int64_t value = row_read(row, out);
        const int rc = row_check(row, value);
        if (rc != CONCERT_OK)
            return rc;
        /* A zero that means "default" becomes the default; a zero with a
         * meaning of its own (unlimited, no limit) stays. */
        if (value == 0 && strcmp(row->info.zero_means, "default") == 0)
            row_write(row, out, row->info.default_value);
    }
    if (out->reserved != 0)
        return concert__error_set(CONCERT_EINVAL, "options.reserved: %d, must be 0",
                                  (int)out->reserved);
    return CONCERT_OK;
}

int concert_options_validate(const concert_options *opts)
{
    concert_options resolved;
    return concert__options_resolve(&resolved, opts);
}
