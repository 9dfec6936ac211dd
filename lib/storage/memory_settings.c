/*
 * The memory backend's shared queue settings: seeded from the options at
 * open (a memory store is always new), changed only by queue_configure.
 */
#include <string.h>

#include "memory_internal.h"

/* The documented default of options.max_active, for a store opened without
 * options (the core always passes resolved ones). */
#define MEMORY_DEFAULT_MAX_ACTIVE 1000

int memory__settings_seed(memory_store *s, const concert_options *opts)
{
    int64_t max_active = opts && opts->max_active ? opts->max_active : MEMORY_DEFAULT_MAX_ACTIVE;
    /* admit_per_minute arrived with options version 2: an older struct
     * does not have it */
    int64_t per_minute = opts && opts->version >= 2 ? opts->admit_per_minute : 0;

    if (max_active < 1 || max_active > CONCERT_MAX_ACTIVE_LIMIT)
        return concert_sys_error_set(CONCERT_EINVAL,
                                     "options.max_active: %lld is out of range (1 to %lld)",
                                     (long long)max_active, (long long)CONCERT_MAX_ACTIVE_LIMIT);
    if (per_minute < 0 || per_minute > CONCERT_ADMIT_PER_MINUTE_LIMIT)
        return concert_sys_error_set(
            CONCERT_EINVAL, "options.admit_per_minute: %lld is out of range (0 to %lld)",
            (long long)per_minute, (long long)CONCERT_ADMIT_PER_MINUTE_LIMIT);
    memset(&s->settings, 0, sizeof(s->settings));
    s->settings.max_active = max_active;
    s->settings.admit_per_minute = per_minute;
    s->settings.state = CONCERT_QUEUE_OPEN;
    return CONCERT_OK;
}

/* The core validated the update; this only refuses what would break the
 * store's own invariants if a caller of the table skipped that (like a
 * CHECK constraint), so that a bug cannot corrupt it. */
static int update_sane(const concert_queue_update *u, int64_t now)
{
    int f = u->fields;
    if (f == 0 ||
        ((f & CONCERT_QUEUE_SET_MAX_ACTIVE) &&
         (u->max_active < 1 || u->max_active > CONCERT_MAX_ACTIVE_LIMIT)) ||
        ((f & CONCERT_QUEUE_SET_ADMIT_PER_MINUTE) &&
         (u->admit_per_minute < 0 || u->admit_per_minute > CONCERT_ADMIT_PER_MINUTE_LIMIT)) ||
        ((f & CONCERT_QUEUE_SET_STATE) && u->state != CONCERT_QUEUE_OPEN &&
         u->state != CONCERT_QUEUE_PAUSED && u->state != CONCERT_QUEUE_CLOSED) ||
        ((f & CONCERT_QUEUE_SET_OPENS_AT) && u->opens_at <= now))
        return concert_sys_error_set(CONCERT_EINVAL, "memory store: queue update out of range");
    return CONCERT_OK;
}

int memory__queue_configure(concert_storage *self, const concert_queue_params *params,
                            const concert_queue_update *update, int64_t now,
                            concert_queue_settings *out)
{
    memory_store *s = memory__store_of(self);
    mem_opening opening = { 0 };
    int32_t state;
    int rc;

    memory__store_lock(s);
    if ((rc = update_sane(update, now)) != 0)
        goto done;
    /* A SCHEDULED queue whose opens_at has come is OPEN to everyone who
     * looks (its lottery only waits for the next step), so that is the
     * state expect_state is held against. */
    state = memory__state_at(s, now);
    if (update->expect_state != 0 && update->expect_state != state) {
        const char *is = concert_queue_state_name(state);
        const char *want = concert_queue_state_name(update->expect_state);
        rc = concert_sys_error_set(CONCERT_ECONFLICT, "queue is %s, not %s", is ? is : "?",
                                   want ? want : "?");
        goto done;
    }
    /* Leaving SCHEDULED through a state change runs the lottery now. */
    if ((rc = memory__opening_prepare(
             s, params, now, (update->fields & CONCERT_QUEUE_SET_STATE) != 0, &opening)) != 0)
        goto done;
    if ((rc = memory__admission_reserve(s, 0)) != 0)
        goto done;

    /* Nothing can fail from here on. */
    memory__opening_commit(s, &opening);
    if (update->fields & CONCERT_QUEUE_SET_OPENS_AT) {
        /* a new pre-queue starts here; one already SCHEDULED keeps its own */
        if (s->settings.state != CONCERT_QUEUE_SCHEDULED) {
            s->prequeue_from = s->tokens.end;
            s->prequeue_ended = 0;
        }
        s->settings.state = CONCERT_QUEUE_SCHEDULED;
        s->settings.opens_at = update->opens_at;
    }
    if (update->fields & CONCERT_QUEUE_SET_STATE) {
        s->settings.state = update->state;
        s->settings.opens_at = 0;
    }
    if (update->fields & CONCERT_QUEUE_SET_MAX_ACTIVE) {
        /* Lowering the limit below the tokens now ACTIVE evicts nobody:
         * they run out, and admission waits until the count is under the
         * new limit. active_grace tells verify so. */
        if (s->active_count > update->max_active && s->active_count > s->active_grace)
            s->active_grace = s->active_count;
        s->settings.max_active = update->max_active;
    }
    if (update->fields & CONCERT_QUEUE_SET_ADMIT_PER_MINUTE)
        s->settings.admit_per_minute = update->admit_per_minute;
    memory__admission_run(s, params, now);
    if (out)
        *out = s->settings;
done:
    memory__opening_discard(&opening);
    memory__store_unlock(s);
    return rc;
}
