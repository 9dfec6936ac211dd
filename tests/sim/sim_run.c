/*
 * One seed of the simulation: the buyers, the operations, the reference
 * model and the invariants.
 *
 * The model is what a buyer population has been told: every reservation it
 * was handed, every seat it bought, every balance change it was charged or
 * credited. The store must agree with it after every step. When an
 * injected fault makes a call fail, the model decides from the fault log
 * whether the call may have been applied: a fault BEFORE the call's write
 * step means it was not (and the store must not have changed), a fault
 * AFTER it means it was (and a keyed retry must return the stored result).
 * Audits read the wrapped store directly (no fault, no cache, no token), so
 * they never disturb what they look at.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_model.h"

/* ---- the buyers' operations ---- */

static int browse(sim *s, buyer *b, int use_ended);

/* What a token report tells the model; checks positions never go up. */
static int learn_token(sim *s, buyer *b, const concert_token_info *t, const char *what)
{
    if (s->trace == b->id)
        fprintf(stderr, "op %ld now T0%+lld: %s: %.6s %s pos %lld until T0%+lld new %d\n", s->op,
                (long long)(s->now - T0), what, t->token, concert_token_state_name(t->state),
                (long long)t->position, (long long)(t->expires_at - T0), t->is_new);
    if (strcmp(t->token, b->token) != 0) {
        snprintf(b->token, sizeof(b->token), "%s", t->token);
        b->last_position = 0;
        b->active_until = 0;
    }
    if (t->state == CONCERT_TOKEN_ACTIVE) {
        s->out->admitted++;
        b->active_until = t->expires_at;
        b->last_position = 0;
    } else if (t->state == CONCERT_TOKEN_WAITING) {
        if (t->position < 1)
            return sim_fail(s, "%s: WAITING at position %lld", what, (long long)t->position);
        if (b->active_until)
            return sim_fail(s, "%s: user %lld's token went from ACTIVE back to WAITING", what,
                            (long long)b->id);
        if (b->last_position && t->position > b->last_position)
            return sim_fail(s, "%s: user %lld's position went up from %lld to %lld", what,
                            (long long)b->id, (long long)b->last_position, (long long)t->position);
        b->last_position = t->position;
    } else {
        b->live_until = 0;
        return sim_fail(s, "%s: token state %d", what, (int)t->state);
    }
    b->live_until = t->expires_at;
    b->reported_at = s->now;
    b->back_since_report = 0;
    return 0;
}

static int op_join(sim *s, buyer *b)
{
    concert_token_info t;
    int kind, rc = concert_queue_issue(&t, s->db, b->id);
    int definitely_live = b->token[0] && b->active_until > s->high_now;
    if (sim_outcome(s, rc, "queue_issue", &kind) != 0)
        return -1;
    if (kind == APPLIED) {
        /* The join happened: asking again must find that token, not make another. */
        fault_storage_off(s->fs);
        rc = concert_queue_issue(&t, s->db, b->id);
        sim_faults_apply(s);
        if (rc != 0)
            return sim_fail(s, "join after a lost reply: %s", concert_error_name(rc));
        if (t.is_new)
            return sim_fail(s, "a join applied before its reply was lost left no token");
        b->token[0] = '\0'; /* the model learns the token only now */
        return learn_token(s, b, &t, "join (retry)");
    }
    if (rc != 0)
        return 0;
    if (!t.is_new && strcmp(t.token, b->token) != 0)
        return sim_fail(s,
                        "join: user %lld got back a token it was not holding (%s, expires T0%+lld; "
                        "the model's: \"%.8s\", %s at T0%+lld)",
                        (long long)b->id, concert_token_state_name(t.state),
                        (long long)(t.expires_at - T0), b->token, b->ended_by ? b->ended_by : "-",
                        (long long)(b->ended_at - T0));
    if (t.is_new && definitely_live)
        return sim_fail(s, "join: user %lld got a second token while the ACTIVE one is live",
                        (long long)b->id);
    return learn_token(s, b, &t, "join");
}

static int op_poll(sim *s, buyer *b)
{
    concert_token_info t;
    int kind, rc, was_active;
    if (!b->token[0])
        return 0;
    rc = concert_queue_status_get(&t, s->db, b->token);
    if (sim_outcome(s, rc, "queue_status", &kind) != 0)
        return -1;
    if (rc == CONCERT_ETOKEN_INVALID) {
        if (b->active_until > s->high_now)
            return sim_fail(s, "poll: user %lld's ACTIVE token (until T0%+lld) is invalid",
                            (long long)b->id, (long long)(b->active_until - T0));
        /* A buyer told "live until X" who polls before X keeps its place
         * (unless now went back meanwhile: admission at an earlier now may
         * have made it ACTIVE until before X; and admitted after the report,
         * it lives at least active_ttl from then). */
        if (b->live_until > s->high_now && b->reported_at + ACTIVE_TTL > s->high_now &&
            !b->back_since_report)
            return sim_fail(s,
                            "poll: user %lld's WAITING token, last reported live until T0%+lld, "
                            "is invalid",
                            (long long)b->id, (long long)(b->live_until - T0));
        /* Reported ended, it stays ended (storage.h: what a step settled
         * stays settled when a later step brings an earlier now). */
        was_active = b->active_until != 0;
        sim_token_ended(b, was_active ? "ran out (a poll said invalid)"
                                      : "idled out (a poll said invalid)");
        b->ended_at = s->now;
        return 0;
    }
    if (rc != 0)
        return 0;
    return learn_token(s, b, &t, "poll");
}

static int op_leave(sim *s, buyer *b)
{
    int kind, rc;
    if (!b->token[0])
        return 0;
    rc = concert_queue_leave(s->db, b->token);
    if (sim_outcome(s, rc, "queue_leave", &kind) != 0)
        return -1;
    if (rc == 0 || kind == APPLIED) {
        sim_token_ended(b, rc == 0 ? "left" : "left (lost reply)");
        b->ended_at = s->now;
    } else if (rc == CONCERT_ETOKEN_INVALID) {
        /* A refused leave settles nothing (storage.h): the token idled out
         * at this now, and an earlier now may find it live again. */
        b->active_until = 0;
    }
    return 0;
}

static int live_holds(sim *s, buyer *b)
{
    int n = 0;
    for (int i = 0; i < HELD_TRACKED && b->held[i]; i++) {
        model_res *r = sim_res_find(s, b->held[i]);
        if (r && r->status == CONCERT_RESERVATION_HELD && r->held_until > s->high_now)
            n++;
    }
    return n;
}

/* A hold the store granted: check it against the model, then record it. */
static int learn_hold(sim *s, buyer *b, const concert_reservation *r, int sched, int64_t seat)
{
    int64_t holder = HOLDER(sched, seat);
    model_res *h = holder ? sim_res_find(s, holder) : NULL;
    if (r->user_id != b->id || r->seat_number != seat || r->schedule_id != (sched + 1) * 10)
        return sim_fail(s, "hold: reservation %lld is for someone or something else",
                        (long long)r->id);
    if (!r->is_new) {
        if (!h || h->id != r->id || h->user != b->id || h->status != CONCERT_RESERVATION_HELD)
            return sim_fail(s, "hold: user %lld re-reported reservation %lld nobody gave them",
                            (long long)b->id, (long long)r->id);
        return 0;
    }
    if (SOLD(sched, seat))
        return sim_fail(s, "hold: seat %d/%lld is sold, yet reservation %lld holds it", sched,
                        (long long)seat, (long long)r->id);
    if (h && h->status == CONCERT_RESERVATION_HELD && h->held_until > s->high_now)
        return sim_fail(
            s, "hold: seat %d/%lld is under reservation %lld's live hold, yet %lld took it", sched,
            (long long)seat, (long long)h->id, (long long)r->id);
    if (live_holds(s, b) >= MAX_HOLDS)
        return sim_fail(s, "hold: user %lld passed the hold limit of %d", (long long)b->id,
                        MAX_HOLDS);
    if (r->price != PRICE(sched, seat) || r->held_until != s->now + HOLD_TTL)
        return sim_fail(s, "hold: reservation %lld has price %lld until T0%+lld", (long long)r->id,
                        (long long)r->price, (long long)(r->held_until - T0));
    if (sim_res_add(s, r) != 0)
        return -1;
    HOLDER(sched, seat) = r->id;
    sim_held_add(b, r->id);
    s->out->holds++;
    return 0;
}

static int op_hold(sim *s, buyer *b)
{
    concert_reservation r;
    int sched =
            sim_pick(s, 5) ? s->nsched - 1 - (int)sim_pick(s, BATCH) : (int)sim_pick(s, s->nsched),
        kind, rc;
    int64_t seat = 1 + sim_pick(s, SEATS);
    if (!b->token[0])
        return 0;
    rc = concert_reserve_seat(&r, s->db, b->token, (sched + 1) * 10, seat);
    if (sim_outcome(s, rc, "seat_hold", &kind) != 0)
        return -1;
    if (kind == APPLIED) {
        /* The hold was made: holding the same seat again must report it. */
        fault_storage_off(s->fs);
        rc = concert_reserve_seat(&r, s->db, b->token, (sched + 1) * 10, seat);
        sim_faults_apply(s);
        if (rc != 0)
            return sim_fail(s, "hold after a lost reply: %s", concert_error_name(rc));
        if (r.is_new)
            return sim_fail(s, "a hold applied before its reply was lost is not there");
        /* New to the model unless the lost reply was a re-report. */
        r.is_new = sim_res_find(s, r.id) == NULL;
        return learn_hold(s, b, &r, sched, seat);
    }
    if (rc == CONCERT_ESEAT_TAKEN || rc != 0)
        return 0;
    return learn_hold(s, b, &r, sched, seat);
}

static int op_release(sim *s, buyer *b)
{
    concert_reservation r;
    int64_t id;
    model_res *m;
    int kind, rc;
    if (!b->token[0] || !b->held[0])
        return 0;
    id = b->held[sim_pick(s, HELD_TRACKED)];
    if (!id)
        id = b->held[0];
    m = sim_res_find(s, id);
    rc = concert_reservation_release(&r, s->db, b->token, id);
    if (sim_outcome(s, rc, "reservation_release", &kind) != 0)
        return -1;
    if (rc == 0 || kind == APPLIED) {
        if (m->status == CONCERT_RESERVATION_CONFIRMED)
            return sim_fail(s, "release: a paid reservation %lld was released", (long long)id);
        m->status = CONCERT_RESERVATION_RELEASED;
        if (HOLDER(sim_sched_index(m->schedule), m->seat) == id)
            HOLDER(sim_sched_index(m->schedule), m->seat) = 0;
        sim_held_remove(b, id);
        return sim_audit_reservation(s, id, CONCERT_RESERVATION_RELEASED, "release");
    }
    if (kind == NOT_APPLIED)
        return sim_audit_reservation(s, id, m->status, "release that failed");
    return 0;
}

/* A payment the store made: check it against the model, then apply it. */
static int learn_payment(sim *s, buyer *b, const int64_t *ids, size_t n, const concert_payment *p)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        model_res *r = sim_res_find(s, ids[i]);
        int sched = sim_sched_index(r->schedule);
        if (r->status != CONCERT_RESERVATION_HELD)
            return sim_fail(s, "pay: reservation %lld was %s and got paid", (long long)r->id,
                            concert_reservation_status_name(r->status));
        if (SOLD(sched, r->seat))
            return sim_fail(s, "pay: seat %d/%lld sold twice (reservations %lld and %lld)", sched,
                            (long long)r->seat, (long long)SOLD(sched, r->seat), (long long)r->id);
        if (HOLDER(sched, r->seat) != r->id)
            return sim_fail(s, "pay: reservation %lld paid although reservation %lld took its seat",
                            (long long)r->id, (long long)HOLDER(sched, r->seat));
        sum += r->price;
    }
    if (b->balance < sum)
        return sim_fail(s, "pay: user %lld paid %lld with %lld points", (long long)b->id,
                        (long long)sum, (long long)b->balance);
    if (p && (p->amount != sum || p->balance != b->balance - sum || p->user_id != b->id))
        return sim_fail(s, "pay: charged %lld leaving %lld; the model says %lld leaving %lld",
                        (long long)p->amount, (long long)p->balance, (long long)sum,
                        (long long)(b->balance - sum));
    for (size_t i = 0; i < n; i++) {
        model_res *r = sim_res_find(s, ids[i]);
        r->status = CONCERT_RESERVATION_CONFIRMED;
        SOLD(sim_sched_index(r->schedule), r->seat) = r->id;
        if (sim_sched_index(r->schedule) >= s->nsched - BATCH)
            s->batch_sold++;
        sim_held_remove(b, r->id);
    }
    b->balance -= sum;
    b->ledger++;
    sim_token_ended(b, "paid");
    b->ended_at = s->now;
    s->out->payments++;
    return 0;
}

static int op_pay(sim *s, buyer *b)
{
    int64_t ids[3];
    size_t n = 0, want = 1 + (size_t)sim_pick(s, 3);
    char key[32];
    int keyed = (int)sim_pick(s, 2), kind, rc;
    concert_payment p;
    char token[CONCERT_TOKEN_SIZE];

    if (!b->token[0])
        return 0;
    for (int i = 0; i < HELD_TRACKED && n < want && b->held[i]; i++) {
        model_res *r = sim_res_find(s, b->held[i]);
        if (r->status == CONCERT_RESERVATION_HELD && r->held_until > s->now)
            ids[n++] = r->id;
    }
    if (n == 0)
        return 0;
    /* ascending, as the store reports them */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            int64_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    /* Buyers look before they pay (which also lets the db remember the token). */
    if (sim_pick(s, 2) && browse(s, b, 0) != 0)
        return -1;
    fault_storage_log_reset(s->fs);
    snprintf(key, sizeof(key), "pay-%u", ++s->key_counter);
    snprintf(token, sizeof(token), "%s", b->token);
    rc = concert_order_pay(&p, s->db, token, ids, n, keyed ? key : NULL);
    if (sim_outcome(s, rc, "pay", &kind) != 0)
        return -1;
    if (kind == NOT_APPLIED && keyed && sim_is_store_trouble(rc) && sim_pick(s, 2)) {
        /* The client retries its keyed payment: a first attempt that never
         * reached the store left the key free, so this one is the payment. */
        fault_storage_off(s->fs);
        rc = concert_order_pay(&p, s->db, token, ids, n, key);
        sim_faults_apply(s);
        kind = CLEAN;
        if (sim_is_store_trouble(rc) || rc == CONCERT_EINTERNAL)
            return sim_fail(s, "pay: the keyed retry failed with no fault: %s",
                            concert_error_name(rc));
    }
    if (kind == APPLIED && keyed) {
        /* Lost reply, keyed: the retry must return the stored payment. */
        fault_storage_off(s->fs);
        rc = concert_order_pay(&p, s->db, token, ids, n, key);
        sim_faults_apply(s);
        if (rc != 0)
            return sim_fail(s, "pay: the keyed retry of an applied payment failed: %s (%s)",
                            concert_error_name(rc), concert_error_last()->message);
        s->out->replays++;
    }
    if (rc == 0 || kind == APPLIED) {
        if (learn_payment(s, b, ids, n, rc == 0 ? &p : NULL) != 0)
            return -1;
        if (kind == APPLIED)
            b->ended_by = keyed ? "paid (reply lost, keyed retry replayed)" : "paid (reply lost)";
        if (keyed) {
            b->pay = (keyed_pay){ 1, "", "", { 0, 0, 0 }, n, p, s->now };
            snprintf(b->pay.key, sizeof(b->pay.key), "%s", key);
            snprintf(b->pay.token, sizeof(b->pay.token), "%s", token);
            memcpy(b->pay.ids, ids, n * sizeof(ids[0]));
        }
        for (size_t i = 0; i < n; i++) {
            if (sim_audit_reservation(s, ids[i], CONCERT_RESERVATION_CONFIRMED, "pay") != 0)
                return -1;
        }
        if (sim_audit_user(s, b, "pay") != 0)
            return -1;
        /* The token this payment ended is refused at once, reads included. */
        fault_storage_log_reset(s->fs);
        return browse(s, b, 1);
    }
    if (rc == CONCERT_EINSUFFICIENT_POINTS) {
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += sim_res_find(s, ids[i])->price;
        if (sum <= b->balance)
            return sim_fail(s, "pay: refused for points: %lld costs %lld, balance %lld",
                            (long long)n, (long long)sum, (long long)b->balance);
    }
    /* Refused or not applied: nothing changed. */
    for (size_t i = 0; i < n; i++) {
        if (sim_audit_reservation(s, ids[i], CONCERT_RESERVATION_HELD, "pay that failed") != 0)
            return -1;
    }
    return sim_audit_user(s, b, "pay that failed");
}

/* A keyed payment again: same key, same body replays; another body is refused. */
static int op_pay_retry(sim *s, buyer *b)
{
    keyed_pay *k = &b->pay;
    concert_payment p;
    int other = (int)sim_pick(s, 4) == 0, kind, rc;
    int64_t ids[4];
    size_t n = k->count;
    if (!k->on || s->now - k->at > RETENTION - 3600000 || s->now < k->at - RETENTION)
        return 0;
    memcpy(ids, k->ids, n * sizeof(ids[0]));
    if (other) {
        ids[n] = ids[n - 1] + 1000000; /* a body the key was not used with */
        n++;
    }
    /* The key is the user's: a retry with the user's newer ACTIVE token
     * replays too (a WAITING one is refused first, storage.h). */
    rc = concert_order_pay(
        &p, s->db,
        b->token[0] && b->active_until > s->high_now && sim_pick(s, 2) ? b->token : k->token, ids,
        n, k->key);
    if (sim_outcome(s, rc, "pay", &kind) != 0)
        return -1;
    if (kind == CLEAN && other && rc != CONCERT_EIDEMPOTENCY_KEY_REUSED)
        return sim_fail(s, "pay: key %s reused for another order: %s", k->key,
                        concert_error_name(rc));
    if (kind == CLEAN && !other) {
        if (rc != 0)
            return sim_fail(s, "pay: the retry of keyed payment %s failed: %s (%s)", k->key,
                            concert_error_name(rc), concert_error_last()->message);
        if (memcmp(&p, &k->result, sizeof(p)) != 0)
            return sim_fail(s,
                            "pay: the retry of %s returned payment %lld (%lld, balance %lld), "
                            "first %lld (%lld, balance %lld)",
                            k->key, (long long)p.id, (long long)p.amount, (long long)p.balance,
                            (long long)k->result.id, (long long)k->result.amount,
                            (long long)k->result.balance);
        s->out->replays++;
    }
    return sim_audit_user(s, b, "pay retry");
}

static int op_charge(sim *s, buyer *b)
{
    int64_t amount = 1 + sim_pick(s, 500), balance = -1;
    int keyed = (int)sim_pick(s, 2), kind, rc;
    char key[32];
    snprintf(key, sizeof(key), "charge-%u", ++s->key_counter);
    rc = concert_charge_points(&balance, s->db, b->id, amount, keyed ? key : NULL);
    if (sim_outcome(s, rc, "charge", &kind) != 0)
        return -1;
    if (kind == NOT_APPLIED && keyed && sim_is_store_trouble(rc) && sim_pick(s, 2)) {
        fault_storage_off(s->fs);
        rc = concert_charge_points(&balance, s->db, b->id, amount, key);
        sim_faults_apply(s);
        kind = CLEAN;
        if (rc != 0)
            return sim_fail(s, "charge: the keyed retry failed with no fault: %s",
                            concert_error_name(rc));
    }
    if (kind == APPLIED && keyed) {
        fault_storage_off(s->fs);
        rc = concert_charge_points(&balance, s->db, b->id, amount, key);
        sim_faults_apply(s);
        if (rc != 0)
            return sim_fail(s, "charge: the keyed retry of an applied charge failed: %s",
                            concert_error_name(rc));
        s->out->replays++;
    }
    if (rc == 0 || kind == APPLIED) {
        if (rc == 0 && balance != b->balance + amount)
            return sim_fail(s, "charge: %lld + %lld gave %lld", (long long)b->balance,
                            (long long)amount, (long long)balance);
        b->balance += amount;
        b->ledger++;
        if (keyed)
            b->charge = (keyed_charge){ 1, "", amount, b->balance, s->now };
        if (keyed)
            snprintf(b->charge.key, sizeof(b->charge.key), "%s", key);
    }
    return sim_audit_user(s, b, "charge");
}

static int op_charge_retry(sim *s, buyer *b)
{
    keyed_charge *k = &b->charge;
    int other = (int)sim_pick(s, 4) == 0, kind, rc;
    int64_t balance = -1;
    if (!k->on || s->now - k->at > RETENTION - 3600000 || s->now < k->at - RETENTION)
        return 0;
    rc = concert_charge_points(&balance, s->db, b->id, k->amount + other, k->key);
    if (sim_outcome(s, rc, "charge", &kind) != 0)
        return -1;
    if (kind == CLEAN && other && rc != CONCERT_EIDEMPOTENCY_KEY_REUSED)
        return sim_fail(s, "charge: key %s reused for another amount: %s", k->key,
                        concert_error_name(rc));
    if (kind == CLEAN && !other) {
        if (rc != 0 || balance != k->balance)
            return sim_fail(s, "charge: the retry of %s gave %s, balance %lld (first: %lld)",
                            k->key, concert_error_name(rc), (long long)balance,
                            (long long)k->balance);
        s->out->replays++;
    }
    return sim_audit_user(s, b, "charge retry");
}

static void clock_move(sim *s, int64_t delta)
{
    if (s->trace)
        fprintf(stderr, "op %ld clock T0%+lld -> T0%+lld\n", s->op, (long long)(s->now - T0),
                (long long)(s->now + delta - T0));
    s->now += delta;
    if (s->now < T0)
        s->now = T0;
    if (s->now > s->high_now)
        s->high_now = s->now;
    for (int i = 0; i < USERS && delta < 0; i++) {
        if (s->now < s->buyers[i].reported_at)
            s->buyers[i].back_since_report = 1;
    }
}

static int op_concert(sim *s);

/*
 * A buyer looks at the free seats, with its live token or with one a
 * payment or a leave of this db ended (which must be refused at once,
 * whatever the db remembers). A seat listed free is neither sold nor under
 * a hold that cannot have run out.
 */
static int op_browse(sim *s, buyer *b)
{
    return browse(s, b, b->ended[0] && (sim_pick(s, 2) || !b->token[0]));
}

static int browse(sim *s, buyer *b, int use_ended)
{
    concert_seat_list *list = NULL;
    int sched = s->nsched - 1 - (int)sim_pick(s, BATCH), kind, rc;
    const char *token = use_ended ? b->ended : b->token;
    if (!token[0])
        return 0;
    rc = concert_seats_available(&list, s->db, token, (sched + 1) * 10);
    if (sim_outcome(s, rc, "seats_available", &kind) != 0)
        return -1;
    if (rc != 0)
        return 0;
    if (use_ended) {
        concert_seat_list_free(list);
        return sim_fail(s, "browse: user %lld's token was accepted after it %s", (long long)b->id,
                        b->ended_by);
    }
    for (size_t i = 0; i < list->count; i++) {
        int64_t n = list->items[i].number, holder = HOLDER(sched, n);
        model_res *h = holder ? sim_res_find(s, holder) : NULL;
        if (SOLD(sched, n) ||
            (h && h->status == CONCERT_RESERVATION_HELD && h->held_until > s->high_now)) {
            concert_seat_list_free(list);
            return sim_fail(s, "browse: seat %d/%lld listed free, but it is %s", sched,
                            (long long)n, SOLD(sched, n) ? "sold" : "held");
        }
    }
    concert_seat_list_free(list);
    return 0;
}

static int step(sim *s)
{
    buyer *b = &s->buyers[sim_pick(s, USERS)];
    int64_t roll = sim_pick(s, 1000);
    int rc;

    s->current = b->id;
    fault_storage_log_reset(s->fs);
    if (s->batch_sold >= BATCH * SEATS * 2 / 3)
        rc = op_concert(s);
    else if (roll < 150)
        rc = op_join(s, b);
    else if (roll < 300)
        rc = op_poll(s, b);
    else if (roll < 330)
        rc = op_leave(s, b);
    else if (roll < 530)
        rc = op_hold(s, b);
    else if (roll < 580)
        rc = op_release(s, b);
    else if (roll < 700)
        rc = op_pay(s, b);
    else if (roll < 750)
        rc = op_pay_retry(s, b);
    else if (roll < 830)
        rc = op_charge(s, b);
    else if (roll < 870)
        rc = op_charge_retry(s, b);
    else if (roll < 880)
        rc = op_pay(s, b);
    else if (roll < 900)
        rc = op_browse(s, b);
    else if (roll < 950) {
        clock_move(s, 1 + sim_pick(s, 2000));
        rc = 0;
    } else if (roll < 965) {
        clock_move(s, 5000 + sim_pick(s, 60000));
        rc = 0;
    } else if (roll < 990) {
        /* mostly short steps back (two threads racing), now and then a long one (NTP) */
        clock_move(s, -(1 + sim_pick(s, roll < 987 ? 8000 : 90000)));
        s->out->clock_back++;
        rc = 0;
    } else {
        s->faults_on = !s->faults_on;
        sim_faults_apply(s);
        rc = 0;
    }
    if (rc == 0)
        rc = sim_audit_queue(s);
    if (rc == 0 && s->op % 64 == 63)
        rc = sim_audit_seats(s, "seat audit");
    if (rc == 0 && s->op % 2048 == 2047)
        rc = sim_audit_verify(s);
    return rc;
}

/* The buyers (and their opening points), loaded once with no fault. */
static int users_load(sim *s)
{
    static const char *const NAMES[USERS] = { "b1",  "b2",  "b3",  "b4",  "b5",  "b6",
                                              "b7",  "b8",  "b9",  "b10", "b11", "b12",
                                              "b13", "b14", "b15", "b16", "b17", "b18",
                                              "b19", "b20", "b21", "b22", "b23", "b24" };
    concert_catalog_user users[USERS];
    concert_catalog cat;
    int rc;

    for (int i = 0; i < USERS; i++) {
        buyer *b = &s->buyers[i];
        memset(b, 0, sizeof(*b));
        b->id = i + 1;
        b->balance = sim_pick(s, 1500);
        b->ledger = b->balance > 0 ? 1 : 0; /* opening points are a CHARGE entry */
        users[i] = (concert_catalog_user){ b->id, NAMES[i], b->balance };
    }
    cat = (concert_catalog){ CONCERT_CATALOG_VERSION, users, USERS, NULL, 0 };
    rc = concert_catalog_load(s->db, &cat);
    if (rc != 0)
        fprintf(stderr, "catalog: %s\n", concert_error_last()->message);
    return rc;
}

/*
 * The next concert (BATCH schedules of SEATS seats), loaded as an operation
 * when the latest one has mostly sold, faults and all: all or nothing.
 */
static int op_concert(sim *s)
{
    concert_catalog_seat_range ranges[BATCH][3];
    concert_catalog_schedule scheds[BATCH];
    concert_catalog_concert hall;
    concert_catalog cat;
    concert_storage_schedule got;
    int first = s->nsched, kind, rc, there;
    int64_t concert_id = first / BATCH + 1;
    int64_t p[BATCH][3];

    if (first + BATCH > MAX_SCHEDULES)
        return 0;
    for (int i = 0; i < BATCH; i++) {
        p[i][0] = 300;
        p[i][1] = 100 + 20 * sim_pick(s, 5);
        p[i][2] = 50;
        ranges[i][0] = (concert_catalog_seat_range){ 1, 5, "VIP", p[i][0] };
        ranges[i][1] = (concert_catalog_seat_range){ 6, 20, "R", p[i][1] };
        ranges[i][2] = (concert_catalog_seat_range){ 21, SEATS, "S", p[i][2] };
        scheds[i] = (concert_catalog_schedule){ (first + i + 1) * 10,
                                                T0 + 400 * 86400 * INT64_C(1000), ranges[i], 3 };
    }
    hall =
        (concert_catalog_concert){ concert_id, "Sim Hall", CONCERT_STATUS_OPEN, 0, scheds, BATCH };
    cat = (concert_catalog){ CONCERT_CATALOG_VERSION, NULL, 0, &hall, 1 };
    rc = concert_catalog_load(s->db, &cat);
    if (sim_outcome(s, rc, "catalog_load", &kind) != 0)
        return -1;
    if (rc != 0 && kind == CLEAN)
        return sim_fail(s, "catalog: concert %lld refused: %s (%s)", (long long)concert_id,
                        concert_error_name(rc), concert_error_last()->message);
    there = s->store->schedule_get(s->store, scheds[BATCH - 1].id, &got) == 0;
    if (there != (rc == 0 || kind == APPLIED))
        return sim_fail(s, "catalog: concert %lld is %s after a load that %s",
                        (long long)concert_id, there ? "there" : "missing",
                        rc == 0           ? "succeeded"
                        : kind == APPLIED ? "was applied"
                                          : "was not applied");
    if (!there)
        return 0;
    for (int i = 0; i < BATCH; i++)
        for (int64_t n = 1; n <= SEATS; n++)
            PRICE(first + i, n) = n <= 5 ? p[i][0] : n <= 20 ? p[i][1] : p[i][2];
    s->nsched += BATCH;
    s->batch_sold = 0;
    return 0;
}

int sim_run(const char *uri, uint64_t seed, long ops, double deadline, sim_result *res)
{
    sim *s = calloc(1, sizeof(*s));
    concert_options o;
    int rc;

    memset(res, 0, sizeof(*res));
    if (!s)
        return CONCERT_ENOMEM;
    s->out = res;
    s->rng = seed;
    s->token_rng = seed ^ UINT64_C(0x5DEECE66D);
    s->now = s->high_now = T0;
    s->trace = getenv("SIM_TRACE") ? strtoll(getenv("SIM_TRACE"), NULL, 10) : 0;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.clock = sim_clock;
    o.clock_ctx = s;
    o.random = sim_bytes;
    o.random_ctx = s;
    o.max_active = MAX_ACTIVE;
    o.active_ttl_ms = ACTIVE_TTL;
    o.wait_ttl_ms = WAIT_TTL;
    o.hold_ttl_ms = HOLD_TTL;
    o.max_holds_per_user = MAX_HOLDS;
    o.retention_ms = RETENTION;
    o.pool_size = 2;
    if ((rc = fault_storage_open(&s->db, &s->fs, uri, &o)) != 0) {
        fprintf(stderr, "open %s: %s\n", uri, concert_error_last()->message);
        free(s);
        return rc;
    }
    s->store = fault_storage_inner(s->fs);
    s->seats = calloc(MAX_SCHEDULES, sizeof(*s->seats));
    if (!s->seats) {
        concert_db_close(s->db);
        free(s);
        return CONCERT_ENOMEM;
    }
    if ((rc = users_load(s)) == 0) {
        while (s->nsched == 0 && !res->violation[0])
            op_concert(s); /* no fault is on yet */
        for (s->op = 0; s->op < ops; s->op++) {
            if (step(s) != 0)
                break;
            if ((s->op & 255) == 0 && deadline > 0 && sim_seconds() > deadline)
                break;
        }
        res->ops = s->op;
        if (!res->violation[0] && sim_audit_seats(s, "final audit") == 0)
            sim_audit_verify(s);
        for (int i = 0; i < USERS && !res->violation[0]; i++)
            sim_audit_user(s, &s->buyers[i], "final audit");
    }
    concert_db_close(s->db);
    free(s->res);
    free(s->seats);
    free(s);
    return rc;
}
