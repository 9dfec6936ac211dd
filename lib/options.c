/*
 * Options: defaults, and the one place that checks their ranges.
 */
#include <stddef.h>
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

static int duration_resolve(int64_t *field, int64_t fallback, const char *name)
{
    if (*field == 0)
        *field = fallback;
    if (*field < 0 || *field > MAX_DURATION_MS)
        return concert__error_set(CONCERT_EINVAL,
                                  "options.%s: %lld ms is out of range (1 ms to 366 days)",
                                  name, (long long)*field);
    return CONCERT_OK;
}

int concert__options_resolve(concert_options *out, const concert_options *opts)
{
    int rc;

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
    if (out->max_active == 0)
        out->max_active = DEFAULT_MAX_ACTIVE;
    if (out->max_active < 0 || out->max_active > CONCERT_MAX_ACTIVE_LIMIT)
        return concert__error_set(CONCERT_EINVAL,
                                  "options.max_active: %lld is out of range (1 to %lld)",
                                  (long long)out->max_active,
                                  (long long)CONCERT_MAX_ACTIVE_LIMIT);
    if (out->admit_per_minute < 0 || out->admit_per_minute > CONCERT_ADMIT_PER_MINUTE_LIMIT)
        return concert__error_set(CONCERT_EINVAL,
                                  "options.admit_per_minute: %lld is out of range (0 = unlimited, "
                                  "1 to %lld)",
                                  (long long)out->admit_per_minute,
                                  (long long)CONCERT_ADMIT_PER_MINUTE_LIMIT);
    if (out->queue_refresh_ms < 0 || out->queue_refresh_ms > MAX_QUEUE_REFRESH_MS)
        return concert__error_set(CONCERT_EINVAL,
                                  "options.queue_refresh_ms: %lld is out of range (0 = always "
                                  "read, up to %d)",
                                  (long long)out->queue_refresh_ms, MAX_QUEUE_REFRESH_MS);
    if (out->max_holds_per_user < 0 || out->max_holds_per_user > MAX_HOLDS_PER_USER)
        return concert__error_set(CONCERT_EINVAL,
                                  "options.max_holds_per_user: %lld is out of range (0 = no "
                                  "limit, 1 to %d)",
                                  (long long)out->max_holds_per_user, MAX_HOLDS_PER_USER);
    if ((rc = duration_resolve(&out->active_ttl_ms, DEFAULT_ACTIVE_TTL_MS, "active_ttl_ms")) ||
        (rc = duration_resolve(&out->wait_ttl_ms, DEFAULT_WAIT_TTL_MS, "wait_ttl_ms")) ||
        (rc = duration_resolve(&out->hold_ttl_ms, DEFAULT_HOLD_TTL_MS, "hold_ttl_ms")) ||
        (rc = duration_resolve(&out->booking_cutoff_ms, DEFAULT_BOOKING_CUTOFF_MS,
                               "booking_cutoff_ms")))
        return rc;
    if (out->retention_ms == 0)
        out->retention_ms = DEFAULT_RETENTION_MS;
    if (out->retention_ms < MIN_RETENTION_MS || out->retention_ms > MAX_DURATION_MS)
        return concert__error_set(CONCERT_EINVAL,
                                  "options.retention_ms: %lld ms is out of range (0 = 24 h, "
                                  "1000 ms to 366 days)",
                                  (long long)out->retention_ms);
    if (out->pool_size == 0)
        out->pool_size = DEFAULT_POOL_SIZE;
    if (out->pool_size < 0 || out->pool_size > 1024)
        return concert__error_set(CONCERT_EINVAL, "options.pool_size: %d is out of range (1 to 1024)",
                                  (int)out->pool_size);
    if (out->busy_timeout_ms == 0)
        out->busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS;
    if (out->busy_timeout_ms < 0)
        return concert__error_set(CONCERT_EINVAL, "options.busy_timeout_ms: must be positive");
    if (out->connect_timeout_ms == 0)
        out->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (out->connect_timeout_ms < 0)
        return concert__error_set(CONCERT_EINVAL, "options.connect_timeout_ms: must be positive");
    if (out->reserved != 0)
        return concert__error_set(CONCERT_EINVAL, "options.reserved: must be 0");
    return CONCERT_OK;
}
