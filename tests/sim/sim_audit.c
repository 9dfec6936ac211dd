/*
 * The audits: the wrapped store read directly (no fault, no cache, no
 * token) and compared with the model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_model.h"

typedef struct ledger_sum {
    int64_t sum, newest_after, newest_id;
    size_t count;
} ledger_sum;

static int sum_entry(void *ctx, const concert_ledger_entry *e)
{
    ledger_sum *l = ctx;
    if (l->count == 0) {
        l->newest_after = e->balance_after;
        l->newest_id = e->id;
    }
    l->sum += e->amount;
    l->count++;
    return 0;
}

int sim_audit_user(sim *s, buyer *b, const char *why)
{
    int64_t balance = -1;
    ledger_sum l = { 0, 0, 0, 0 };
    int rc = s->store->balance_get(s->store, b->id, &balance);
    if (rc != 0)
        return sim_fail(s, "%s: balance_get(%lld): %s", why, (long long)b->id,
                        concert_error_name(rc));
    rc = s->store->history_list(s->store, b->id, 0, 0, sum_entry, &l);
    if (rc != 0)
        return sim_fail(s, "%s: history_list(%lld): %s", why, (long long)b->id,
                        concert_error_name(rc));
    if (balance < 0)
        return sim_fail(s, "%s: user %lld has a negative balance %lld", why, (long long)b->id,
                        (long long)balance);
    if (balance != l.sum)
        return sim_fail(s, "%s: user %lld's balance %lld is not the sum of its ledger %lld", why,
                        (long long)b->id, (long long)balance, (long long)l.sum);
    if (l.count > 0 && l.newest_after != balance)
        return sim_fail(s, "%s: user %lld's newest entry says %lld after, balance is %lld", why,
                        (long long)b->id, (long long)l.newest_after, (long long)balance);
    if (balance != b->balance || l.count != b->ledger)
        return sim_fail(s, "%s: user %lld has %lld points in %zu entries, the model %lld in %zu",
                        why, (long long)b->id, (long long)balance, l.count, (long long)b->balance,
                        b->ledger);
    return 0;
}

typedef struct map_check {
    sim *s;
    int sched;
    int bad;
} map_check;

static int check_seat(void *ctx, const concert_seat_state *st)
{
    map_check *m = ctx;
    sim *s = m->s;
    int64_t n = st->seat.number;
    int64_t sold = SOLD(m->sched, n), holder = HOLDER(m->sched, n);
    model_res *h = holder ? sim_res_find(s, holder) : NULL;
    if (m->bad)
        return 0;
    if (st->status == CONCERT_SEAT_SOLD && !sold)
        m->bad = sim_fail(s, "seat %d/%lld is SOLD but nobody was told they bought it", m->sched,
                          (long long)n);
    else if (st->status != CONCERT_SEAT_SOLD && sold)
        m->bad = sim_fail(s, "seat %d/%lld was bought (reservation %lld) but reads %s", m->sched,
                          (long long)n, (long long)sold, concert_seat_status_name(st->status));
    else if (st->status == CONCERT_SEAT_HELD &&
             (!h || h->status != CONCERT_RESERVATION_HELD || h->held_until != st->held_until))
        m->bad =
            sim_fail(s, "seat %d/%lld is HELD until T0%+lld by a hold nobody has (model: %lld)",
                     m->sched, (long long)n, (long long)(st->held_until - T0), (long long)holder);
    else if (st->status == CONCERT_SEAT_FREE && h && h->status == CONCERT_RESERVATION_HELD &&
             h->held_until > s->high_now)
        m->bad =
            sim_fail(s, "seat %d/%lld reads FREE under reservation %lld's hold (until T0%+lld)",
                     m->sched, (long long)n, (long long)h->id, (long long)(h->held_until - T0));
    return 0;
}

/* The latest concert's schedules and one older one (a full pass over
 * thousands of sold-out schedules would cost more than it finds). */
int sim_audit_seats(sim *s, const char *why)
{
    int list[BATCH + 1], n = 0;
    for (int i = s->nsched - BATCH; i < s->nsched; i++)
        list[n++] = i;
    if (s->nsched > BATCH)
        list[n++] = (int)sim_pick(s, s->nsched - BATCH);
    for (int k = 0; k < n; k++) {
        int i = list[k];
        map_check m = { s, i, 0 };
        int rc = s->store->seat_map(s->store, (i + 1) * 10, s->now, check_seat, &m);
        if (rc != 0)
            return sim_fail(s, "%s: seat_map: %s", why, concert_error_name(rc));
        if (m.bad)
            return -1;
    }
    return 0;
}

int sim_audit_reservation(sim *s, int64_t id, int status, const char *why)
{
    concert_reservation r;
    int rc = s->store->reservation_get(s->store, id, &r);
    if (rc != 0)
        return sim_fail(s, "%s: reservation_get(%lld): %s", why, (long long)id,
                        concert_error_name(rc));
    if (r.status != status)
        return sim_fail(s, "%s: reservation %lld is %s, the model says %s", why, (long long)id,
                        concert_reservation_status_name(r.status),
                        concert_reservation_status_name(status));
    return 0;
}

/* ACTIVE <= max_active, from the store and from what buyers were told. */
int sim_audit_queue(sim *s)
{
    concert_queue_stats st;
    int definitely_active = 0, rc;
    fault_storage_off(s->fs);
    rc = concert_queue_stats_get(&st, s->db);
    sim_faults_apply(s);
    if (rc != 0)
        return sim_fail(s, "queue_stats: %s", concert_error_name(rc));
    if (st.active > st.max_active || st.active < 0)
        return sim_fail(s, "%lld ACTIVE tokens, max_active %lld", (long long)st.active,
                        (long long)st.max_active);
    for (int i = 0; i < USERS; i++) {
        if (s->buyers[i].token[0] && s->buyers[i].active_until > s->high_now)
            definitely_active++;
    }
    if (definitely_active > MAX_ACTIVE)
        return sim_fail(s, "%d buyers hold live ACTIVE tokens, max_active %d", definitely_active,
                        MAX_ACTIVE);
    return 0;
}

int sim_audit_verify(sim *s)
{
    concert_verify_report *rep = NULL;
    int rc;
    fault_storage_off(s->fs);
    rc = concert_admin_verify(&rep, s->db);
    sim_faults_apply(s);
    if (rc == CONCERT_ENOTSUP)
        return 0;
    if (rc != 0)
        return sim_fail(s, "verify: %s", concert_error_name(rc));
    if (rep->violation_count > 0) {
        sim_fail(s, "verify: %zu violations, first: %s", rep->violation_count, rep->violations[0]);
        concert_verify_report_free(rep);
        return -1;
    }
    concert_verify_report_free(rep);
    return 0;
}
