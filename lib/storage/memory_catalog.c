/*
 * The memory backend's catalog: concerts, schedules and seat listings, and
 * loading a catalog (check, allocate everything, then commit).
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static void concert_fill(const mem_concert *c, concert_concert *out)
{
    size_t n = strnlen(c->title, CONCERT_TITLE_SIZE - 1);
    memset(out, 0, sizeof(*out));
    out->id = c->id;
    out->status = c->status;
    out->max_per_user = c->max_per_user;
    memcpy(out->title, c->title, n);
    out->title[n] = '\0';
}

/*
 * Lists copy what they emit under the store's lock and call the callback
 * after it is released: a callback may take long (a million seats, a slow
 * writer) or call back into the db (a hold from inside a seat listing),
 * and with the lock held the first would stop every other buyer and the
 * second would deadlock. The copy is one consistent read, as before.
 */

int memory__concerts_list(concert_storage *self, int32_t status, concert_emit_concert_fn emit,
                          void *ctx)
{
    memory_store *s = memory__store_of(self);
    concert_concert *items = NULL;
    size_t n = 0;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if (s->concerts_count && !(items = malloc(s->concerts_count * sizeof(*items))))
        rc = memory__out_of_memory("listing concerts");
    for (size_t i = 0; i < s->concerts_count && rc == 0; i++) {
        const mem_concert *c = &s->concerts[s->concert_order[i]];
        if (status == 0 || c->status == status)
            concert_fill(c, &items[n++]);
    }
    memory__store_unlock(s);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = emit(ctx, &items[i]);
    free(items);
    return rc;
}

int memory__concert_get(concert_storage *self, int64_t concert_id, concert_concert *out)
{
    memory_store *s = memory__store_of(self);
    uint32_t c;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if ((rc = memory__concert_lookup(s, concert_id, &c)) == 0)
        concert_fill(&s->concerts[c], out);
    memory__store_unlock(s);
    return rc;
}


int memory__schedules_list(concert_storage *self, int64_t concert_id, int64_t starts_after,
                           int64_t now, concert_emit_schedule_fn emit, void *ctx, int64_t *total)
{
    memory_store *s = memory__store_of(self);
    concert_schedule *items = NULL;
    const mem_concert *c;
    uint32_t ci;
    size_t n = 0;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if ((rc = memory__concert_lookup(s, concert_id, &ci)) != 0)
        goto done;
    memory__holds_settle(s, now);
    c = &s->concerts[ci];
    *total = c->schedule_count;
    if (c->schedule_count && !(items = malloc(c->schedule_count * sizeof(*items)))) {
        rc = memory__out_of_memory("listing schedules");
        goto done;
    }
    for (uint32_t i = 0; i < c->schedule_count; i++) {
        const mem_schedule *sc = &s->schedules[c->schedules[i]];
        concert_schedule *item = &items[n];
        if (sc->starts_at <= starts_after)
            continue;
        memset(item, 0, sizeof(*item));
        item->id = sc->id;
        item->concert_id = c->id;
        item->starts_at = sc->starts_at;
        item->available_seats = (int64_t)sc->seat_count - sc->sold_count - sc->held_count;
        n++;
    }
done:
    memory__store_unlock(s);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = emit(ctx, &items[i]);
    free(items);
    return rc;
}

/* Expiries are settled first, and every settled one counts in changes:
 * expired_through stays 0. */
int memory__list_version(concert_storage *self, int64_t concert_id, int64_t schedule_id,
                         int64_t starts_after, int64_t now, concert_list_version *out)
{
    memory_store *s = memory__store_of(self);
    uint32_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    memory__store_lock(s);
    memory__holds_settle(s, now);
    out->epoch = s->epoch;
    if (schedule_id > 0) {
        if ((rc = memory__schedule_lookup(s, schedule_id, &i)) == 0)
            out->changes = s->schedules[i].changes;
    } else if ((rc = memory__concert_lookup(s, concert_id, &i)) == 0) {
        const mem_concert *c = &s->concerts[i];
        for (uint32_t k = 0; k < c->schedule_count; k++) {
            const mem_schedule *sc = &s->schedules[c->schedules[k]];
            out->changes += sc->changes;
            out->past += sc->starts_at <= starts_after;
        }
    }
    memory__store_unlock(s);
    return rc;
}

int memory__schedule_get(concert_storage *self, int64_t schedule_id, concert_storage_schedule *out)
{
    memory_store *s = memory__store_of(self);
    uint32_t si;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if ((rc = memory__schedule_lookup(s, schedule_id, &si)) == 0) {
        const mem_schedule *sc = &s->schedules[si];
        memset(out, 0, sizeof(*out));
        out->id = sc->id;
        out->concert_id = s->concerts[sc->concert].id;
        out->starts_at = sc->starts_at;
        out->concert_status = s->concerts[sc->concert].status;
        out->max_per_user = s->concerts[sc->concert].max_per_user;
    }
    memory__store_unlock(s);
    return rc;
}

/* A seat is free when nothing points at it, or a HELD reservation whose
 * hold ran out (or was settled as expired at a later `now`) does. */
static int seat_free(const memory_store *s, uint32_t ref, int64_t now)
{
    const mem_reservation *r;
    if (!ref)
        return 1;
    r = &s->reservations[ref - 1];
    return r->status == CONCERT_RESERVATION_HELD && !memory__hold_live(r, now);
}

/* A schedule's seats as copied under the lock: its ranges (the catalog
 * never changes, so they outlive the lock) and per seat what the listing
 * needs. */
typedef struct seat_copy {
    const mem_range *ranges;
    uint32_t range_count;
    uint32_t seat_count;
    uint32_t *free_seats; /* seats_available: indexes of the free seats */
    size_t free_count;
    uint8_t *status;     /* seat_map: a concert_seat_status per seat */
    int64_t *held_until; /* seat_map: of each HELD seat, in seat order */
    size_t held_count;
} seat_copy;

/* Under the lock: the schedule's free seats (map = 0) or every seat's state
 * (map = 1) at now, after settling what ran out by now (so that what this
 * listing shows free stays free at an earlier `now`). */
static int seats_copy(memory_store *s, int64_t schedule_id, int64_t now, int map, seat_copy *out)
{
    const mem_schedule *sc;
    uint32_t si;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = memory__schedule_lookup(s, schedule_id, &si)) != 0)
        return rc;
    memory__holds_settle(s, now);
    sc = &s->schedules[si];
    out->ranges = sc->ranges;
    out->range_count = sc->range_count;
    out->seat_count = sc->seat_count;
    if (!map) {
        out->free_seats = malloc(((size_t)sc->seat_count + 1) * sizeof(*out->free_seats));
        if (!out->free_seats)
            return memory__out_of_memory("listing seats");
        for (uint32_t i = 0; i < sc->seat_count; i++)
            if (seat_free(s, sc->seats[i], now))
                out->free_seats[out->free_count++] = i;
        return CONCERT_OK;
    }
    /* after the settle, every live hold is a counted one */
    out->status = malloc((size_t)sc->seat_count + 1);
    out->held_until = malloc(((size_t)sc->held_count + 1) * sizeof(*out->held_until));
    if (!out->status || !out->held_until)
        return memory__out_of_memory("mapping seats");
    for (uint32_t i = 0; i < sc->seat_count; i++) {
        const uint32_t ref = sc->seats[i];
        if (seat_free(s, ref, now)) {
            out->status[i] = CONCERT_SEAT_FREE;
        } else if (s->reservations[ref - 1].status == CONCERT_RESERVATION_CONFIRMED) {
            out->status[i] = CONCERT_SEAT_SOLD;
        } else if (out->held_count < sc->held_count) {
            out->status[i] = CONCERT_SEAT_HELD;
            out->held_until[out->held_count++] = s->reservations[ref - 1].held_until;
        } else {
            return concert_sys_error_set(CONCERT_EINTERNAL,
                                         "memory store: schedule %lld has more live holds "
                                         "than its held count",
                                         (long long)schedule_id);
        }
    }
    return CONCERT_OK;
}

static void seats_copy_free(seat_copy *c)
{
    free(c->free_seats);
    free(c->status);
    free(c->held_until);
}

int memory__seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                            concert_emit_seat_fn emit, void *ctx)
{
    memory_store *s = memory__store_of(self);
    concert_seat item;
    seat_copy c;
    size_t k = 0;
    int rc;

    memory__store_lock(s);
    rc = seats_copy(s, schedule_id, now, 0, &c);
    memory__store_unlock(s);
    memset(&item, 0, sizeof(item));
    /* seat indexes run range by range in seat-number order */
    for (uint32_t r = 0; r < c.range_count && k < c.free_count && rc == 0; r++) {
        const mem_range *range = &c.ranges[r];
        const uint64_t last = range->base + (uint64_t)(range->to - range->from);
        item.price = range->price;
        memcpy(item.grade, range->grade, sizeof(item.grade));
        for (; k < c.free_count && c.free_seats[k] <= last && rc == 0; k++) {
            item.number = range->from + (int64_t)(c.free_seats[k] - range->base);
            rc = emit(ctx, &item);
        }
    }
    seats_copy_free(&c);
    return rc;
}

/* Every seat with its state: seat_free decides FREE exactly as
 * seats_available does, so the map's FREE seats are that list. A seat that
 * is not free has a reservation on it: CONFIRMED is a sale, anything else a
 * live hold. */
int memory__seat_map(concert_storage *self, int64_t schedule_id, int64_t now,
                     concert_emit_seat_state_fn emit, void *ctx)
{
    memory_store *s = memory__store_of(self);
    concert_seat_state item;
    seat_copy c;
    size_t held = 0;
    int rc;

    memory__store_lock(s);
    rc = seats_copy(s, schedule_id, now, 1, &c);
    memory__store_unlock(s);
    memset(&item, 0, sizeof(item));
    for (uint32_t r = 0; r < c.range_count && rc == 0; r++) {
        const mem_range *range = &c.ranges[r];
        uint32_t seat = range->base;
        item.seat.price = range->price;
        memcpy(item.seat.grade, range->grade, sizeof(item.seat.grade));
        for (int64_t n = range->from; n <= range->to && rc == 0; n++, seat++) {
            item.seat.number = n;
            item.status = c.status[seat];
            item.held_until = item.status == CONCERT_SEAT_HELD ? c.held_until[held++] : 0;
            rc = emit(ctx, &item);
        }
    }
    seats_copy_free(&c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* catalog load: check, allocate, commit                               */

typedef struct id_slot {
    int64_t id;
    uint32_t index;
} id_slot;

/* The first capacity of a user's ledger index, when the opening points
 * make its first entry. */
#define LEDGER_FIRST 4

typedef struct catalog_prep {
    char **names;              /* per catalog user */
    uint32_t **ledgers;        /* per catalog user with opening points */
    char **titles;             /* per catalog concert */
    uint32_t **schedule_lists; /* per catalog concert */
    mem_range **ranges;        /* per catalog schedule, in walk order */
    uint32_t **seats;          /* per catalog schedule */
    uint32_t *seat_counts;     /* per catalog schedule */
    id_slot *new_users;        /* sorting scratch */
    id_slot *new_concerts;
    uint32_t *user_order; /* old + new, merged at commit */
    uint32_t *concert_order;
    size_t schedule_total;
    size_t ledger_new;
} catalog_prep;

static void catalog_prep_free(catalog_prep *p, const concert_catalog *c)
{
    size_t k = 0;
    for (size_t i = 0; p->names && i < c->user_count; i++)
        free(p->names[i]);
    for (size_t i = 0; p->ledgers && i < c->user_count; i++)
        free(p->ledgers[i]);
    free(p->ledgers);
    for (size_t i = 0; i < c->concert_count; i++) {
        if (p->titles)
            free(p->titles[i]);
        if (p->schedule_lists)
            free(p->schedule_lists[i]);
    }
    for (k = 0; k < p->schedule_total; k++) {
        if (p->ranges)
            free(p->ranges[k]);
        if (p->seats)
            free(p->seats[k]);
    }
    free(p->names);
    free(p->titles);
    free(p->schedule_lists);
    free(p->ranges);
    free(p->seats);
    free(p->seat_counts);
    free(p->new_users);
    free(p->new_concerts);
    free(p->user_order);
    free(p->concert_order);
    memset(p, 0, sizeof(*p));
}

/* Ids already in the store are conflicts, named by their place. */
static int catalog_check(const memory_store *s, const concert_catalog *c, catalog_prep *p)
{
    size_t users_with_points = 0;

    for (size_t i = 0; i < c->user_count; i++) {
        if (memory__user_find(s, c->users[i].id) != MEM_NONE)
            return concert_sys_error_set(CONCERT_ECONFLICT,
                                         "users[%zu].id: user %lld already exists", i,
                                         (long long)c->users[i].id);
        users_with_points += c->users[i].points > 0;
    }
    for (size_t i = 0; i < c->concert_count; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        if (memory__concert_find(s, cc->id) != MEM_NONE)
            return concert_sys_error_set(CONCERT_ECONFLICT,
                                         "concerts[%zu].id: concert %lld already exists", i,
                                         (long long)cc->id);
        for (size_t k = 0; k < cc->schedule_count; k++) {
            if (memory__schedule_find(s, cc->schedules[k].id) != MEM_NONE)
                return concert_sys_error_set(CONCERT_ECONFLICT,
                                             "concerts[%zu].schedules[%zu].id: schedule %lld "
                                             "already exists",
                                             i, k, (long long)cc->schedules[k].id);
        }
        if (cc->schedule_count > MEM_MAX_ITEMS - p->schedule_total)
            return memory__out_of_memory("loading schedules");
        p->schedule_total += cc->schedule_count;
    }
    p->ledger_new = users_with_points;
    return CONCERT_OK;
}

static int schedule_prepare(const concert_catalog_schedule *cs, catalog_prep *p, size_t k)
{
    int64_t seats = 0;
    for (size_t r = 0; r < cs->seat_range_count; r++) {
        seats += cs->seats[r].to - cs->seats[r].from + 1;
        if (seats > CONCERT_MAX_SEATS_PER_SCHEDULE)
            return concert_sys_error_set(CONCERT_EINVAL, "schedule %lld: more than %d seats",
                                         (long long)cs->id, CONCERT_MAX_SEATS_PER_SCHEDULE);
    }
    p->seat_counts[k] = (uint32_t)seats;
    if (cs->seat_range_count && !(p->ranges[k] = calloc(cs->seat_range_count, sizeof(mem_range))))
        return memory__out_of_memory("loading seat ranges");
    if (seats && !(p->seats[k] = calloc((size_t)seats, sizeof(uint32_t))))
        return memory__out_of_memory("loading seats");
    return CONCERT_OK;
}

/* Every allocation the commit needs. Store arrays may grow (invisible);
 * nothing else changes. */
static int catalog_prepare(memory_store *s, const concert_catalog *c, catalog_prep *p)
{
    size_t nu = c->user_count, nc = c->concert_count, k = 0;

    if (RESERVE(s, users, nu) != 0 || mem_index_reserve(&s->user_ix, nu) != 0 ||
        RESERVE(s, concerts, nc) != 0 || mem_index_reserve(&s->concert_ix, nc) != 0 ||
        RESERVE(s, schedules, p->schedule_total) != 0 ||
        mem_index_reserve(&s->schedule_ix, p->schedule_total) != 0 ||
        RESERVE(s, ledger, p->ledger_new) != 0)
        return memory__out_of_memory("loading the catalog");

    if ((nu && (!(p->names = calloc(nu, sizeof(char *))) ||
                !(p->ledgers = calloc(nu, sizeof(uint32_t *))) ||
                !(p->new_users = calloc(nu, sizeof(id_slot))))) ||
        (nu && !(p->user_order = calloc(s->users_count + nu, sizeof(uint32_t)))) ||
        (nc && (!(p->titles = calloc(nc, sizeof(char *))) ||
                !(p->schedule_lists = calloc(nc, sizeof(uint32_t *))) ||
                !(p->new_concerts = calloc(nc, sizeof(id_slot))))) ||
        (nc && !(p->concert_order = calloc(s->concerts_count + nc, sizeof(uint32_t)))) ||
        (p->schedule_total && (!(p->ranges = calloc(p->schedule_total, sizeof(mem_range *))) ||
                               !(p->seats = calloc(p->schedule_total, sizeof(uint32_t *))) ||
                               !(p->seat_counts = calloc(p->schedule_total, sizeof(uint32_t))))))
        return memory__out_of_memory("loading the catalog");

    for (size_t i = 0; i < nu; i++) {
        if (!(p->names[i] = memory__text_dup(c->users[i].name)))
            return memory__out_of_memory("loading users");
        if (c->users[i].points > 0 && !(p->ledgers[i] = malloc(LEDGER_FIRST * sizeof(uint32_t))))
            return memory__out_of_memory("loading users");
    }
    for (size_t i = 0; i < nc; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        int rc;
        if (!(p->titles[i] = memory__text_dup(cc->title)))
            return memory__out_of_memory("loading concerts");
        if (cc->schedule_count &&
            !(p->schedule_lists[i] = calloc(cc->schedule_count, sizeof(uint32_t))))
            return memory__out_of_memory("loading concerts");
        for (size_t j = 0; j < cc->schedule_count; j++, k++) {
            if ((rc = schedule_prepare(&cc->schedules[j], p, k)) != 0)
                return rc;
        }
    }
    return CONCERT_OK;
}

static int id_slot_compare(const void *a, const void *b)
{
    const id_slot *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Merge the new (sorted) entries into the id order. */
static void order_merge(uint32_t *merged, const uint32_t *old, size_t old_count,
                        const id_slot *fresh, size_t fresh_count, const void *items,
                        size_t item_size)
{
    size_t i = 0, j = 0, o = 0;
    while (i < old_count || j < fresh_count) {
        int take_old;
        if (j == fresh_count) {
            take_old = 1;
        } else if (i == old_count) {
            take_old = 0;
        } else {
            int64_t old_id;
            /* every item struct starts with its int64_t id */
            memcpy(&old_id, (const char *)items + (size_t)old[i] * item_size, sizeof(old_id));
            take_old = old_id < fresh[j].id;
        }
        merged[o++] = take_old ? old[i++] : fresh[j++].index;
    }
}

static int range_compare(const void *a, const void *b)
{
    const mem_range *x = a, *y = b;
    return (x->from > y->from) - (x->from < y->from);
}


static void schedule_commit(memory_store *s, const concert_catalog_schedule *cs, uint32_t concert,
                            catalog_prep *p, size_t k)
{
    uint32_t index = (uint32_t)s->schedules_count++;
    mem_schedule *sc = &s->schedules[index];
    uint32_t base = 0;

    memset(sc, 0, sizeof(*sc));
    sc->id = cs->id;
    sc->starts_at = cs->starts_at;
    sc->concert = concert;
    sc->ranges = p->ranges[k];
    sc->seats = p->seats[k];
    sc->range_count = (uint32_t)cs->seat_range_count;
    sc->seat_count = p->seat_counts[k];
    p->ranges[k] = NULL;
    p->seats[k] = NULL;
    for (uint32_t r = 0; r < sc->range_count; r++) {
        const concert_catalog_seat_range *in = &cs->seats[r];
        size_t n = strnlen(in->grade, CONCERT_GRADE_SIZE - 1);
        sc->ranges[r].from = in->from;
        sc->ranges[r].to = in->to;
        sc->ranges[r].price = in->price;
        memcpy(sc->ranges[r].grade, in->grade, n);
        sc->ranges[r].grade[n] = '\0';
    }
    if (sc->range_count > 1)
        qsort(sc->ranges, sc->range_count, sizeof(mem_range), range_compare);
    for (uint32_t r = 0; r < sc->range_count; r++) {
        sc->ranges[r].base = base;
        base += (uint32_t)(sc->ranges[r].to - sc->ranges[r].from + 1);
    }
    mem_index_insert(&s->schedule_ix, memory__id_hash(sc->id), index);
}

/* (starts_at, id) order; insertion sort: a concert has few schedules. */
static void concert_schedules_sort(const memory_store *s, uint32_t *list, uint32_t count)
{
    for (uint32_t i = 1; i < count; i++) {
        uint32_t v = list[i], j = i;
        const mem_schedule *x = &s->schedules[v];
        while (j > 0) {
            const mem_schedule *y = &s->schedules[list[j - 1]];
            if (y->starts_at < x->starts_at || (y->starts_at == x->starts_at && y->id < x->id))
                break;
            list[j] = list[j - 1];
            j--;
        }
        list[j] = v;
    }
}

static void catalog_commit(memory_store *s, const concert_catalog *c, catalog_prep *p, int64_t now)
{
    size_t k = 0;

    for (size_t i = 0; i < c->user_count; i++) {
        uint32_t index = (uint32_t)s->users_count++;
        mem_user *u = &s->users[index];
        memset(u, 0, sizeof(*u));
        u->id = c->users[i].id;
        u->name = p->names[i];
        p->names[i] = NULL;
        if (p->ledgers[i]) {
            u->ledger = p->ledgers[i];
            u->ledger_cap = LEDGER_FIRST;
            p->ledgers[i] = NULL;
        }
        mem_index_insert(&s->user_ix, memory__id_hash(u->id), index);
        if (c->users[i].points > 0)
            memory__ledger_append(s, index, CONCERT_LEDGER_CHARGE, c->users[i].points, now, 0);
        p->new_users[i].id = u->id;
        p->new_users[i].index = index;
    }
    if (c->user_count > 0) {
        qsort(p->new_users, c->user_count, sizeof(id_slot), id_slot_compare);
        order_merge(p->user_order, s->user_order, s->users_count - c->user_count, p->new_users,
                    c->user_count, s->users, sizeof(mem_user));
        free(s->user_order);
        s->user_order = p->user_order;
        p->user_order = NULL;
    }

    for (size_t i = 0; i < c->concert_count; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        uint32_t index = (uint32_t)s->concerts_count++;
        mem_concert *m = &s->concerts[index];
        memset(m, 0, sizeof(*m));
        m->id = cc->id;
        m->status = cc->status;
        m->max_per_user = cc->max_per_user;
        m->title = p->titles[i];
        p->titles[i] = NULL;
        m->schedules = p->schedule_lists[i];
        p->schedule_lists[i] = NULL;
        m->schedule_count = (uint32_t)cc->schedule_count;
        for (size_t j = 0; j < cc->schedule_count; j++, k++) {
            m->schedules[j] = (uint32_t)s->schedules_count;
            schedule_commit(s, &cc->schedules[j], index, p, k);
        }
        concert_schedules_sort(s, m->schedules, m->schedule_count);
        mem_index_insert(&s->concert_ix, memory__id_hash(m->id), index);
        p->new_concerts[i].id = m->id;
        p->new_concerts[i].index = index;
    }
    if (c->concert_count > 0) {
        qsort(p->new_concerts, c->concert_count, sizeof(id_slot), id_slot_compare);
        order_merge(p->concert_order, s->concert_order, s->concerts_count - c->concert_count,
                    p->new_concerts, c->concert_count, s->concerts, sizeof(mem_concert));
        free(s->concert_order);
        s->concert_order = p->concert_order;
        p->concert_order = NULL;
    }
}

int memory__catalog_load(concert_storage *self, const concert_catalog *catalog, int64_t now)
{
    memory_store *s = memory__store_of(self);
    catalog_prep p;
    int rc;

    memset(&p, 0, sizeof(p));
    memory__store_lock(s);
    rc = catalog_check(s, catalog, &p);
    if (rc == 0)
        rc = catalog_prepare(s, catalog, &p);
    if (rc == 0)
        catalog_commit(s, catalog, &p, now);
    catalog_prep_free(&p, catalog);
    memory__store_unlock(s);
    return rc;
}
