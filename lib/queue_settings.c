/*
 * The queue's shared settings: state names, checking and applying a change,
 * the admission budget (the admit_per_minute pacer) and the opening
 * lottery's shuffle. Backends store the settings; the rules are here.
 */
#include <string.h>

#include "internal.h"

static const char *const STATE_NAMES[] = { NULL, "OPEN", "PAUSED", "CLOSED", "SCHEDULED" };

const char *concert_queue_state_name(int state)
{
    if (state < CONCERT_QUEUE_OPEN || state > CONCERT_QUEUE_SCHEDULED)
        return "UNKNOWN";
    return STATE_NAMES[state];
}

int concert_queue_state_from_name(const char *name)
{
    if (!name)
        return 0;
    for (int s = CONCERT_QUEUE_OPEN; s <= CONCERT_QUEUE_SCHEDULED; s++) {
        if (strcmp(name, STATE_NAMES[s]) == 0)
            return s;
    }
    return 0;
}

/* ---- the admission budget ----
 * A GCRA pacer in microseconds: each admission needs pace <= now and moves
 * pace on by the interval; pace may lag now by at most the slack. Then the
 * k-th admission after t1 happens no earlier than t1 - slack + (k-1) *
 * interval, so a window of W ms holds fewer than (W + slack) / interval + 1
 * admissions; with interval = (60 s + slack) / admit_per_minute that is at
 * most admit_per_minute per minute, while a caller running admission every
 * few hundred ms still reaches about 99% of the rate. */
#define SLACK_US (INT64_C(1000) * CONCERT_ADMIT_SLACK_MS)

static int64_t pace_interval_us(int64_t per_minute)
{
    int64_t window_us = INT64_C(60000000) + SLACK_US;
    return (window_us + per_minute - 1) / per_minute; /* rounded up: never faster */
}

static int64_t pace_base(int64_t pace_us, int64_t now_us)
{
    return pace_us > now_us - SLACK_US ? pace_us : now_us - SLACK_US;
}

static int admits(const concert_queue_settings *s)
{
    return s->state == CONCERT_QUEUE_OPEN || s->state == CONCERT_QUEUE_CLOSED;
}

int64_t concert_sys_admit_budget(const concert_queue_settings *settings, int64_t pace_us,
                                 int64_t room, int64_t now)
{
    int64_t now_us, base, n;

    if (!settings || room <= 0 || !admits(settings))
        return 0;
    if (settings->admit_per_minute <= 0)
        return room;
    if (now < 0 || now > INT64_MAX / 1000 - 1)
        return 0;
    now_us = now * 1000;
    base = pace_base(pace_us, now_us);
    if (base > now_us)
        return 0;
    n = (now_us - base) / pace_interval_us(settings->admit_per_minute) + 1;
    return n < room ? n : room;
}

int64_t concert_sys_admit_record(const concert_queue_settings *settings, int64_t pace_us,
                                 int64_t admitted, int64_t now)
{
    if (!settings || admitted <= 0 || settings->admit_per_minute <= 0 || now < 0 ||
        now > INT64_MAX / 1000 - 1)
        return pace_us;
    return pace_base(pace_us, now * 1000) + admitted * pace_interval_us(settings->admit_per_minute);
}

/* ---- the lottery's shuffle ---- */

/* A uniform integer in [0, bound) from the db's random source, by rejection
 * (no modulo bias). */
static int random_below(concert_db *db, uint64_t bound, uint64_t *out)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound, x;
    do {
        if (concert__random_bytes(db, (unsigned char *)&x, sizeof(x)) != 0)
            return concert__error_set(CONCERT_EINTERNAL, "lottery: random source failed");
    } while (x >= limit);
    *out = x % bound;
    return CONCERT_OK;
}

int concert__shuffle(void *ctx, int64_t *items, size_t n)
{
    concert_db *db = ctx;
    for (size_t i = n; i > 1; i--) {
        uint64_t j = 0;
        int64_t tmp;
        int rc = random_below(db, (uint64_t)i, &j);
        if (rc != 0)
            return rc;
        tmp = items[i - 1];
        items[i - 1] = items[j];
        items[j] = tmp;
    }
    return CONCERT_OK;
}

/* ---- changing the settings ---- */

/* Bytes of the caller's concert_queue_update that version covers: the offset
 * of the first field the next version appended (fields are only appended),
 * the whole struct for the current one; 0 for a version this library does
 * not know. Version 2 will add "case 1: return offsetof(concert_queue_update,
 * <its first field>);" and move sizeof to case 2. */
static size_t queue_update_size(unsigned int version)
{
    switch (version) {
    case 1:
        return sizeof(concert_queue_update);
    default:
        return 0;
    }
}

int concert_queue_update_init(concert_queue_update *u, unsigned int version)
{
    size_t size = queue_update_size(version);
    if (!u)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_update_init: NULL update");
    if (size == 0)
        return concert__error_set(CONCERT_EINVAL,
                                  "concert_queue_update_init: unknown version %u (this library: "
                                  "1 to %u)",
                                  version, CONCERT_QUEUE_UPDATE_VERSION);
    /* Only the caller's version's bytes: an older struct is shorter. */
    memset(u, 0, size);
    u->version = version;
    return CONCERT_OK;
}

/* Copy an update of any known version into a current one; the fields the
 * caller's version lacks keep the CONCERT_QUEUE_UPDATE_INIT values. */
static int update_upgrade(concert_queue_update *out, const concert_queue_update *u)
{
    size_t size = queue_update_size(u->version);
    if (size == 0)
        return concert__error_set(CONCERT_EINVAL,
                                  "queue update: version %u is unknown (this library: 1 to %u)",
                                  u->version, CONCERT_QUEUE_UPDATE_VERSION);
    concert_queue_update_init(out, CONCERT_QUEUE_UPDATE_VERSION);
    memcpy(out, u, size);
    out->version = CONCERT_QUEUE_UPDATE_VERSION;
    return CONCERT_OK;
}

static int update_check(const concert_queue_update *u, int64_t now)
{
    const int known = CONCERT_QUEUE_SET_MAX_ACTIVE | CONCERT_QUEUE_SET_ADMIT_PER_MINUTE |
                      CONCERT_QUEUE_SET_STATE | CONCERT_QUEUE_SET_OPENS_AT;

    if (u->fields == 0 || (u->fields & ~known) != 0)
        return concert__error_set(CONCERT_EINVAL,
                                  "queue update: fields 0x%x: give at least one "
                                  "of max_active, admit_per_minute, state, "
                                  "opens_at",
                                  (unsigned)u->fields);
    if ((u->fields & CONCERT_QUEUE_SET_MAX_ACTIVE) &&
        (u->max_active < 1 || u->max_active > CONCERT_MAX_ACTIVE_LIMIT))
        return concert__error_set(CONCERT_EINVAL, "max_active: %lld is out of range (1 to %lld)",
                                  (long long)u->max_active, (long long)CONCERT_MAX_ACTIVE_LIMIT);
    if ((u->fields & CONCERT_QUEUE_SET_ADMIT_PER_MINUTE) &&
        (u->admit_per_minute < 0 || u->admit_per_minute > CONCERT_ADMIT_PER_MINUTE_LIMIT))
        return concert__error_set(CONCERT_EINVAL,
                                  "admit_per_minute: %lld is out of range (0 = unlimited, 1 to "
                                  "%lld)",
                                  (long long)u->admit_per_minute,
                                  (long long)CONCERT_ADMIT_PER_MINUTE_LIMIT);
    if ((u->fields & CONCERT_QUEUE_SET_STATE) && (u->fields & CONCERT_QUEUE_SET_OPENS_AT))
        return concert__error_set(CONCERT_EINVAL, "queue update: give either a state or opens_at "
                                                  "(which means SCHEDULED), not both");
    if ((u->fields & CONCERT_QUEUE_SET_STATE) && u->state != CONCERT_QUEUE_OPEN &&
        u->state != CONCERT_QUEUE_PAUSED && u->state != CONCERT_QUEUE_CLOSED)
        return concert__error_set(CONCERT_EINVAL,
                                  "state: %d is not OPEN, PAUSED or CLOSED (to schedule an "
                                  "opening, give opens_at)",
                                  (int)u->state);
    if (u->expect_state != 0 && strcmp(concert_queue_state_name(u->expect_state), "UNKNOWN") == 0)
        return concert__error_set(CONCERT_EINVAL, "expect_state: %d is not a queue state",
                                  (int)u->expect_state);
    if ((u->fields & CONCERT_QUEUE_SET_OPENS_AT) && u->opens_at <= now)
        return concert__error_set(CONCERT_EINVAL,
                                  "opens_at: %lld is not in the future (now is %lld)",
                                  (long long)u->opens_at, (long long)now);
    return CONCERT_OK;
}

int concert_queue_update_apply(concert_queue_settings *out, concert_db *db,
                               const concert_queue_update *update)
{
    concert_queue_update current;
    concert_queue_settings after;
    int64_t now;
    int rc;

    if (!db || !update)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_update_apply: NULL argument");
    if ((rc = update_upgrade(&current, update)) != 0)
        return rc;
    now = concert__now(db);
    if ((rc = update_check(&current, now)) != 0)
        return rc;
    memset(&after, 0, sizeof(after));
    if ((rc = concert__st_queue_configure(db, &current, now, &after)) != 0)
        return rc;
    /* This db sees its own change at once; others within their refresh. */
    concert__queue_cache_invalidate(db);
    if (out)
        *out = after;
    return CONCERT_OK;
}

int concert_queue_settings_get(concert_queue_settings *out, concert_db *db)
{
    concert_queue_stats stats;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_settings_get: NULL argument");
    memset(&stats, 0, sizeof(stats));
    if ((rc = concert__queue_view_refresh(db, concert__now(db), &stats)) != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->max_active = stats.max_active;
    out->admit_per_minute = stats.admit_per_minute;
    out->state = stats.state;
    out->opens_at = stats.opens_at;
    return CONCERT_OK;
}

static int state_set(concert_db *db, int state, int expect)
{
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    u.fields = CONCERT_QUEUE_SET_STATE;
    u.state = state;
    u.expect_state = expect;
    return concert_queue_update_apply(NULL, db, &u);
}

int concert_queue_pause(concert_db *db)
{
    return state_set(db, CONCERT_QUEUE_PAUSED, 0);
}

int concert_queue_resume(concert_db *db)
{
    return state_set(db, CONCERT_QUEUE_OPEN, CONCERT_QUEUE_PAUSED);
}

int concert_queue_close(concert_db *db)
{
    return state_set(db, CONCERT_QUEUE_CLOSED, 0);
}

int concert_queue_open(concert_db *db)
{
    return state_set(db, CONCERT_QUEUE_OPEN, 0);
}

int concert_queue_schedule(concert_db *db, int64_t opens_at)
{
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    u.fields = CONCERT_QUEUE_SET_OPENS_AT;
    u.opens_at = opens_at;
    return concert_queue_update_apply(NULL, db, &u);
}

int concert_queue_limits_set(concert_db *db, int64_t max_active, int64_t admit_per_minute)
{
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    if (max_active != CONCERT_UNCHANGED) {
        u.fields |= CONCERT_QUEUE_SET_MAX_ACTIVE;
        u.max_active = max_active;
    }
    if (admit_per_minute != CONCERT_UNCHANGED) {
        u.fields |= CONCERT_QUEUE_SET_ADMIT_PER_MINUTE;
        u.admit_per_minute = admit_per_minute;
    }
    return concert_queue_update_apply(NULL, db, &u);
}
