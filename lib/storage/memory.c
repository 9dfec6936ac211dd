/*
 * The in-memory storage backend ("memory:").
 *
 * One mutex around the whole store: every method takes it once, so every
 * method is trivially one atomic step. Each step is a few hash lookups, so
 * the lock is held briefly (DESIGN.md: measure before splitting it).
 *
 * Shapes (see DESIGN.md and include/concert/sys/storage.h):
 *  - users, concerts, schedules, tokens and idempotency records live in
 *    arrays and are found through open-addressing indexes of uint32 slots;
 *  - a token's ticket number is its array index + 1, so position is
 *    ticket - admitted_through and admission walks the array once;
 *  - a seat is one uint32: the id of the reservation holding it or sold to
 *    it (the fence). Seat numbers map to array slots through the schedule's
 *    few seat ranges, each with the array index of its first seat;
 *  - reservations, payments and ledger entries are arrays indexed by id - 1;
 *    a user's ledger is a chain through the entries, newest first;
 *  - ACTIVE tokens and live holds sit in FIFOs in the order they started, so
 *    settling the ones that ran out is amortised O(1) per step.
 *
 * Every mutating step reserves all the memory it may need before changing
 * anything, so CONCERT_ENOMEM always leaves the store as it was.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <concert/sys/storage.h>

#include "memory_structs.h"

/* Values live in uint32 slots as value + 1. */
#define MEM_MAX_ITEMS ((size_t)UINT32_MAX - 1)
#define MEM_NONE UINT32_MAX

/* The core's tokens: 32 base64url characters holding 24 random bytes. */
#define TOKEN_COMPACT_CHARS 32
#define TOKEN_COMPACT_BYTES 24

enum { IDEM_PAY = 1, IDEM_CHARGE = 2 };

typedef struct mem_user {
    int64_t id;
    int64_t balance;
    char *name;
    uint32_t last_ticket; /* the user's newest token's ticket; 0 = none */
    uint32_t ledger_head; /* newest ledger entry id; 0 = none */
} mem_user;

typedef struct mem_ledger {
    int64_t amount;
    int64_t balance_after;
    int64_t at;
    int64_t reservation_id;
    uint32_t user;        /* index in users */
    uint32_t prev;        /* the same user's previous entry id; 0 = none */
    int32_t type;
} mem_ledger;

typedef struct mem_concert {
    int64_t id;
    char *title;
    uint32_t *schedules;  /* indexes in schedules, in (starts_at, id) order */
    uint32_t schedule_count;
    int32_t status;
} mem_concert;

typedef struct mem_range {
    int64_t from;
    int64_t to;
    int64_t price;
    uint32_t base;        /* index of seat `from` in the schedule's seats */
    char grade[CONCERT_GRADE_SIZE];
} mem_range;

typedef struct mem_schedule {
    int64_t id;
    int64_t starts_at;
    mem_range *ranges;    /* ordered by from; disjoint */
    uint32_t *seats;      /* reservation id holding or sold to it; 0 = never held */
    uint32_t concert;     /* index in concerts */
    uint32_t range_count;
    uint32_t seat_count;
    uint32_t sold_count;
    uint32_t held_count;  /* seats under a hold not yet settled as expired */
} mem_schedule;

typedef struct mem_reservation {
    int64_t user_id;
    int64_t seat_number;
    int64_t price;
    int64_t held_until;
    uint32_t schedule;    /* index in schedules */
    uint32_t seat;        /* index in that schedule's seats */
    uint32_t payment;     /* payment id once CONFIRMED; 0 before */
    uint8_t status;       /* CONCERT_RESERVATION_HELD or _CONFIRMED */
    uint8_t counted;      /* 1 while included in its schedule's held_count */
} mem_reservation;

typedef struct mem_payment {
    int64_t reservation_id;
    int64_t user_id;
    int64_t amount;
    int64_t balance;
    int64_t paid_at;
} mem_payment;

/* 48 bytes, plus about 16 in the index: the issue's budget is 128 per
 * waiting token. The user's id (not index) saves a status poll a cache miss. */
typedef struct mem_token {
    int64_t when;         /* WAITING: last_seen; ACTIVE: expires_at */
    int64_t user_id;
    uint8_t state;        /* WAITING, ACTIVE or CONCERT_TOKEN_ENDED */
    uint8_t verbatim;     /* 1: text holds a uint32 index into s->verbatim */
    uint8_t text[TOKEN_COMPACT_BYTES]; /* the decoded base64url bytes */
} mem_token;
_Static_assert(sizeof(mem_token) <= 48, "a waiting token's record must stay small (issue 6)");

typedef struct mem_idem {
    int64_t user_id;
    int64_t result;       /* payment id ("pay") or ledger entry id ("charge") */
    char *text;           /* key NUL fingerprint NUL, one allocation */
    int32_t op;
} mem_idem;

typedef struct memory_store {
    concert_storage base; /* first: the core holds a concert_storage * */
    pthread_mutex_t lock;

    mem_user *users;
    size_t users_count, users_cap;
    mem_index user_ix;
    uint32_t *user_order; /* user indexes in id order */

    mem_concert *concerts;
    size_t concerts_count, concerts_cap;
    mem_index concert_ix;
    uint32_t *concert_order;

    mem_schedule *schedules;
    size_t schedules_count, schedules_cap;
    mem_index schedule_ix;

    mem_reservation *reservations;
    size_t reservations_count, reservations_cap;
    mem_payment *payments;
    size_t payments_count, payments_cap;
    mem_ledger *ledger;
    size_t ledger_count, ledger_cap;

    mem_token *tokens;    /* index = ticket - 1 */
    size_t tokens_count, tokens_cap;
    mem_index token_ix;
    char **verbatim;      /* token texts that are not 32 base64url chars */
    size_t verbatim_count, verbatim_cap;

    mem_ring active_fifo; /* token indexes in admission order */
    mem_ring hold_fifo;   /* reservation indexes in the order held */
    size_t admitted_through;
    int64_t active_count; /* tokens in state ACTIVE, exactly */
    concert_sys_rate rate;

    mem_idem *idem;
    size_t idem_count, idem_cap;
    mem_index idem_ix;
} memory_store;

static memory_store *store_of(concert_storage *self)
{
    return (memory_store *)(void *)self;
}

static void store_lock(memory_store *s)
{
    pthread_mutex_lock(&s->lock);
}

static void store_unlock(memory_store *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* Grow an array field (any element type) through the generic reserve. */
static int reserve_array(void *field, size_t *cap, size_t count, size_t extra, size_t size)
{
    void *items;
    memcpy(&items, field, sizeof(items));
    if (mem_array_reserve(&items, cap, count, extra, size, MEM_MAX_ITEMS) != 0)
        return -1;
    memcpy(field, &items, sizeof(items));
    return 0;
}
#define RESERVE(s, name, extra)                                                              \
    reserve_array(&(s)->name, &(s)->name##_cap, (s)->name##_count, (extra),                  \
                  sizeof(*(s)->name))

static int out_of_memory(const char *what)
{
    return concert_sys_error_set(CONCERT_ENOMEM, "memory store: out of memory %s", what);
}

/* a + b, clamped to INT64_MAX (times and TTLs are non-negative). */
static int64_t add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

static char *text_dup(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

/* ------------------------------------------------------------------ */
/* indexes by id                                                        */

static uint64_t id_hash(int64_t id)
{
    return mem_hash_mix((uint64_t)id);
}

static uint64_t user_hash_of(const void *owner, uint32_t v)
{
    return id_hash(((const memory_store *)owner)->users[v].id);
}

static uint64_t concert_hash_of(const void *owner, uint32_t v)
{
    return id_hash(((const memory_store *)owner)->concerts[v].id);
}

static uint64_t schedule_hash_of(const void *owner, uint32_t v)
{
    return id_hash(((const memory_store *)owner)->schedules[v].id);
}

static uint32_t user_find(const memory_store *s, int64_t id)
{
    mem_probe p;
    for (uint32_t slot = mem_index_first(&s->user_ix, id_hash(id), &p); slot;
         slot = mem_index_next(&s->user_ix, &p)) {
        if (s->users[slot - 1].id == id)
            return slot - 1;
    }
    return MEM_NONE;
}

static uint32_t concert_find(const memory_store *s, int64_t id)
{
    mem_probe p;
    for (uint32_t slot = mem_index_first(&s->concert_ix, id_hash(id), &p); slot;
         slot = mem_index_next(&s->concert_ix, &p)) {
        if (s->concerts[slot - 1].id == id)
            return slot - 1;
    }
    return MEM_NONE;
}

static uint32_t schedule_find(const memory_store *s, int64_t id)
{
    mem_probe p;
    for (uint32_t slot = mem_index_first(&s->schedule_ix, id_hash(id), &p); slot;
         slot = mem_index_next(&s->schedule_ix, &p)) {
        if (s->schedules[slot - 1].id == id)
            return slot - 1;
    }
    return MEM_NONE;
}

/* ------------------------------------------------------------------ */
/* token text: compact form, hashing, lookup                           */

static const char BASE64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Character -> 6-bit value + 1; 0 for characters outside the alphabet.
 * Built from BASE64URL at open (a table keeps decoding branch-free). */
static unsigned char BASE64URL_VALUE[256];
static pthread_once_t base64url_once = PTHREAD_ONCE_INIT;

static void base64url_table_build(void)
{
    for (int i = 0; i < 64; i++)
        BASE64URL_VALUE[(unsigned char)BASE64URL[i]] = (unsigned char)(i + 1);
}

/* 1 and the 24 bytes if text is 32 base64url characters (a bijection: no
 * padding, so re-encoding gives the same text), else 0. */
static int token_decode(const char *text, size_t len, uint8_t out[TOKEN_COMPACT_BYTES])
{
    unsigned char missing = 0;
    if (len != TOKEN_COMPACT_CHARS)
        return 0;
    for (size_t i = 0, o = 0; i < TOKEN_COMPACT_CHARS; i += 4, o += 3) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char d = BASE64URL_VALUE[(unsigned char)text[i + k]];
            missing |= (unsigned char)(d == 0);
            v = v << 6 | ((uint32_t)(d - 1u) & 63u);
        }
        out[o] = (uint8_t)(v >> 16);
        out[o + 1] = (uint8_t)(v >> 8);
        out[o + 2] = (uint8_t)v;
    }
    return !missing;
}

static uint32_t verbatim_slot(const mem_token *t)
{
    uint32_t v;
    memcpy(&v, t->text, sizeof(v));
    return v;
}

/* The token's text into out (CONCERT_TOKEN_SIZE bytes). */
static void token_text(const memory_store *s, const mem_token *t, char *out)
{
    if (t->verbatim) {
        const char *text = s->verbatim[verbatim_slot(t)];
        size_t n = strnlen(text, CONCERT_TOKEN_SIZE - 1);
        memcpy(out, text, n);
        out[n] = '\0';
        return;
    }
    for (size_t i = 0, o = 0; i < TOKEN_COMPACT_BYTES; i += 3) {
        uint32_t v = (uint32_t)t->text[i] << 16 | (uint32_t)t->text[i + 1] << 8 | t->text[i + 2];
        out[o++] = BASE64URL[(v >> 18) & 63];
        out[o++] = BASE64URL[(v >> 12) & 63];
        out[o++] = BASE64URL[(v >> 6) & 63];
        out[o++] = BASE64URL[v & 63];
    }
    out[TOKEN_COMPACT_CHARS] = '\0';
}

/* Compact tokens hash three 64-bit words (fast on the hot path); other
 * texts go byte by byte. Either way the same text always hashes the same. */
static uint64_t token_key_hash(int compact, const uint8_t *bytes, const char *text, size_t len)
{
    uint64_t w[3];
    if (!compact)
        return mem_hash_bytes(text, len, 2);
    memcpy(w, bytes, sizeof(w));
    return mem_hash_mix(w[2] ^ mem_hash_mix(w[1] ^ mem_hash_mix(w[0] ^ UINT64_C(0x9e3779b97f4a7c15))));
}

static uint64_t token_hash_of(const void *owner, uint32_t v)
{
    const memory_store *s = owner;
    const mem_token *t = &s->tokens[v];
    if (t->verbatim) {
        const char *text = s->verbatim[verbatim_slot(t)];
        return token_key_hash(0, NULL, text, strlen(text));
    }
    return token_key_hash(1, t->text, NULL, 0);
}

/* A token's parsed lookup key. */
typedef struct token_key {
    uint8_t bytes[TOKEN_COMPACT_BYTES];
    size_t len;
    int compact;
    uint64_t hash;
} token_key;

/* 0, or -1 if text cannot be a token (empty or too long). */
static int token_key_make(const char *text, token_key *k)
{
    if (!text)
        return -1;
    k->len = strnlen(text, CONCERT_TOKEN_SIZE);
    if (k->len == 0 || k->len >= CONCERT_TOKEN_SIZE)
        return -1;
    k->compact = token_decode(text, k->len, k->bytes);
    k->hash = token_key_hash(k->compact, k->bytes, text, k->len);
    return 0;
}

/* The index of the token with this text and key, or MEM_NONE. Candidates
 * found by hash are compared in constant time, as the contract asks. */
static uint32_t token_find_key(const memory_store *s, const char *text, const token_key *k)
{
    mem_probe p;
    char stored[CONCERT_TOKEN_SIZE];

    for (uint32_t slot = mem_index_first(&s->token_ix, k->hash, &p); slot;
         slot = mem_index_next(&s->token_ix, &p)) {
        token_text(s, &s->tokens[slot - 1], stored);
        if (concert_sys_token_equal(stored, text))
            return slot - 1;
    }
    return MEM_NONE;
}

static uint32_t token_find(const memory_store *s, const char *text)
{
    token_key k;
    if (token_key_make(text, &k) != 0)
        return MEM_NONE;
    return token_find_key(s, text, &k);
}

/* ------------------------------------------------------------------ */
/* the queue                                                            */

static int token_live(const mem_token *t, const concert_queue_params *p, int64_t now)
{
    if (t->state == CONCERT_TOKEN_WAITING)
        return now < add_sat(t->when, p->wait_ttl_ms);
    if (t->state == CONCERT_TOKEN_ACTIVE)
        return now < t->when;
    return 0;
}

/* Make sure admission can push every token it may admit: at most
 * max_active, and at most the tickets not yet reached (plus extra_tickets
 * about to be issued). */
static int admission_reserve(memory_store *s, const concert_queue_params *p,
                             size_t extra_tickets)
{
    size_t waiting = s->tokens_count - s->admitted_through + extra_tickets;
    size_t most = p->max_active > 0 && (uint64_t)p->max_active < waiting ? (size_t)p->max_active
                                                                          : waiting;
    return mem_ring_reserve(&s->active_fifo, most) == 0 ? 0 : out_of_memory("admitting");
}

/* Settle ACTIVE tokens that ran out, then admit live WAITING ones in ticket
 * order while there is room. Each ticket is looked at once. Cannot fail
 * after admission_reserve(). */
static void admission_run(memory_store *s, const concert_queue_params *p, int64_t now)
{
    int64_t admitted = 0;

    while (s->active_fifo.count) {
        mem_token *t = &s->tokens[mem_ring_front(&s->active_fifo)];
        if (t->state == CONCERT_TOKEN_ACTIVE) {
            if (now < t->when)
                break;
            t->state = CONCERT_TOKEN_ENDED;
            s->active_count--;
        }
        /* ended some other way: its count was already given back */
        mem_ring_pop(&s->active_fifo);
    }
    while (s->active_count < p->max_active && s->admitted_through < s->tokens_count) {
        uint32_t index = (uint32_t)s->admitted_through++;
        mem_token *t = &s->tokens[index];
        if (t->state != CONCERT_TOKEN_WAITING)
            continue;
        if (!token_live(t, p, now)) {
            t->state = CONCERT_TOKEN_ENDED; /* dropped for idleness */
            continue;
        }
        t->state = CONCERT_TOKEN_ACTIVE;
        t->when = add_sat(now, p->active_ttl_ms);
        s->active_count++;
        mem_ring_push(&s->active_fifo, index);
        admitted++;
    }
    concert_sys_rate_observe(&s->rate, admitted, now);
}

/* End a token; an ACTIVE one gives its slot back, once. */
static void token_end(memory_store *s, mem_token *t)
{
    if (t->state == CONCERT_TOKEN_ACTIVE)
        s->active_count--;
    t->state = CONCERT_TOKEN_ENDED;
}

static void token_report(const memory_store *s, const concert_queue_params *p, uint32_t index,
                         int64_t now, int is_new, concert_storage_token *out)
{
    const mem_token *t = &s->tokens[index];

    memset(out, 0, sizeof(*out));
    token_text(s, t, out->info.token);
    out->info.user_id = t->user_id;
    out->info.is_new = is_new;
    out->info.eta_ms = -1;
    out->admit_rate_mps = s->rate.rate_mps;
    if (!token_live(t, p, now)) {
        out->info.state = CONCERT_TOKEN_ENDED;
    } else if (t->state == CONCERT_TOKEN_WAITING) {
        out->info.state = CONCERT_TOKEN_WAITING;
        out->info.position = (int64_t)index + 1 - (int64_t)s->admitted_through;
        out->info.expires_at = add_sat(t->when, p->wait_ttl_ms);
    } else {
        out->info.state = CONCERT_TOKEN_ACTIVE;
        out->info.expires_at = t->when;
    }
}

/* Append a new WAITING token for user; every reservation is made before
 * anything changes. On success *index_out is the new token's index. */
static int token_append(memory_store *s, const concert_queue_params *p, uint32_t user,
                        const char *text, int64_t now, uint32_t *index_out)
{
    token_key k;
    char *copy = NULL;
    mem_token *t;
    uint32_t index;

    if (token_key_make(text, &k) != 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "memory store: malformed new token");
    if (token_find_key(s, text, &k) != MEM_NONE)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "memory store: new token collides with an existing one");
    if (RESERVE(s, tokens, 1) != 0 ||
        mem_index_reserve(&s->token_ix, 1, token_hash_of, s) != 0 ||
        admission_reserve(s, p, 1) != 0)
        return out_of_memory("issuing a token");
    if (!k.compact &&
        (RESERVE(s, verbatim, 1) != 0 || (copy = text_dup(text)) == NULL))
        return out_of_memory("issuing a token");

    index = (uint32_t)s->tokens_count++;
    t = &s->tokens[index];
    memset(t, 0, sizeof(*t));
    t->when = now;
    t->user_id = s->users[user].id;
    t->state = CONCERT_TOKEN_WAITING;
    if (copy) {
        uint32_t slot = (uint32_t)s->verbatim_count++;
        s->verbatim[slot] = copy;
        t->verbatim = 1;
        memcpy(t->text, &slot, sizeof(slot));
    } else {
        memcpy(t->text, k.bytes, sizeof(t->text));
    }
    mem_index_insert(&s->token_ix, k.hash, index);
    *index_out = index;
    return CONCERT_OK;
}

static int memory_queue_issue(concert_storage *self, const concert_queue_params *params,
                              int64_t user_id, const char *new_token, int64_t now,
                              concert_storage_token *out)
{
    memory_store *s = store_of(self);
    uint32_t user, index = 0, old = MEM_NONE;
    int rc = CONCERT_OK, is_new = 0;

    store_lock(s);
    user = user_find(s, user_id);
    if (user == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                   (long long)user_id);
        goto done;
    }
    if (s->users[user].last_ticket)
        old = s->users[user].last_ticket - 1;
    if (old != MEM_NONE && token_live(&s->tokens[old], params, now)) {
        if ((rc = admission_reserve(s, params, 0)) != 0)
            goto done;
        index = old;
        if (s->tokens[old].state == CONCERT_TOKEN_WAITING)
            s->tokens[old].when = now; /* asking again counts as a poll */
    } else {
        if ((rc = token_append(s, params, user, new_token, now, &index)) != 0)
            goto done;
        /* not live: it ends for good, so the user has one token at most */
        if (old != MEM_NONE)
            token_end(s, &s->tokens[old]);
        s->users[user].last_ticket = index + 1;
        is_new = 1;
    }
    admission_run(s, params, now);
    token_report(s, params, index, now, is_new, out);
done:
    store_unlock(s);
    return rc;
}

static int memory_queue_status(concert_storage *self, const concert_queue_params *params,
                               const char *token, int64_t now, concert_storage_token *out)
{
    memory_store *s = store_of(self);
    uint32_t index;
    int rc;

    store_lock(s);
    if ((rc = admission_reserve(s, params, 0)) != 0)
        goto done;
    admission_run(s, params, now);
    index = token_find(s, token);
    if (index == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
        goto done;
    }
    if (s->tokens[index].state == CONCERT_TOKEN_WAITING && token_live(&s->tokens[index], params, now))
        s->tokens[index].when = now;
    token_report(s, params, index, now, 0, out);
done:
    store_unlock(s);
    return rc;
}

static int memory_queue_leave(concert_storage *self, const concert_queue_params *params,
                              const char *token, int64_t now)
{
    memory_store *s = store_of(self);
    uint32_t index;
    int rc;

    store_lock(s);
    index = token_find(s, token);
    if (index == MEM_NONE || !token_live(&s->tokens[index], params, now)) {
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: %s",
                                   index == MEM_NONE ? "unknown token" : "expired or ended");
        goto done;
    }
    if ((rc = admission_reserve(s, params, 0)) != 0)
        goto done;
    token_end(s, &s->tokens[index]);
    admission_run(s, params, now);
done:
    store_unlock(s);
    return rc;
}

static int memory_queue_stats(concert_storage *self, const concert_queue_params *params,
                              int64_t now, concert_queue_stats *out)
{
    memory_store *s = store_of(self);
    int rc;

    store_lock(s);
    if ((rc = admission_reserve(s, params, 0)) == 0) {
        admission_run(s, params, now);
        memset(out, 0, sizeof(*out));
        out->active = s->active_count;
        out->waiting = (int64_t)(s->tokens_count - s->admitted_through);
        out->max_active = params->max_active;
        out->admitted_through = (int64_t)s->admitted_through;
        out->last_ticket = (int64_t)s->tokens_count;
    }
    store_unlock(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* catalog reads                                                        */

static void concert_fill(const mem_concert *c, concert_concert *out)
{
    size_t n = strnlen(c->title, CONCERT_TITLE_SIZE - 1);
    memset(out, 0, sizeof(*out));
    out->id = c->id;
    out->status = c->status;
    memcpy(out->title, c->title, n);
    out->title[n] = '\0';
}

static int memory_concerts_list(concert_storage *self, int32_t status,
                                concert_emit_concert_fn emit, void *ctx)
{
    memory_store *s = store_of(self);
    concert_concert item;
    int rc = CONCERT_OK;

    store_lock(s);
    for (size_t i = 0; i < s->concerts_count && rc == 0; i++) {
        const mem_concert *c = &s->concerts[s->concert_order[i]];
        if (status != 0 && c->status != status)
            continue;
        concert_fill(c, &item);
        rc = emit(ctx, &item);
    }
    store_unlock(s);
    return rc;
}

static int memory_concert_get(concert_storage *self, int64_t concert_id, concert_concert *out)
{
    memory_store *s = store_of(self);
    uint32_t c;
    int rc = CONCERT_OK;

    store_lock(s);
    c = concert_find(s, concert_id);
    if (c == MEM_NONE)
        rc = concert_sys_error_set(CONCERT_ECONCERT_NOT_FOUND, "concert %lld not found",
                                   (long long)concert_id);
    else
        concert_fill(&s->concerts[c], out);
    store_unlock(s);
    return rc;
}

/* Holds whose time ran out leave their schedule's held count. Holds start in
 * time order, so the FIFO's front is the first to run out. */
static void holds_settle(memory_store *s, int64_t now)
{
    while (s->hold_fifo.count) {
        mem_reservation *r = &s->reservations[mem_ring_front(&s->hold_fifo)];
        if (r->counted) {
            if (now < r->held_until)
                break;
            r->counted = 0;
            s->schedules[r->schedule].held_count--;
        }
        mem_ring_pop(&s->hold_fifo);
    }
}

static int memory_schedules_list(concert_storage *self, int64_t concert_id,
                                 int64_t starts_after, int64_t now,
                                 concert_emit_schedule_fn emit, void *ctx, int64_t *total)
{
    memory_store *s = store_of(self);
    concert_schedule item;
    const mem_concert *c;
    uint32_t ci;
    int rc = CONCERT_OK;

    store_lock(s);
    ci = concert_find(s, concert_id);
    if (ci == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ECONCERT_NOT_FOUND, "concert %lld not found",
                                   (long long)concert_id);
        goto done;
    }
    holds_settle(s, now);
    c = &s->concerts[ci];
    *total = c->schedule_count;
    for (uint32_t i = 0; i < c->schedule_count && rc == 0; i++) {
        const mem_schedule *sc = &s->schedules[c->schedules[i]];
        if (sc->starts_at <= starts_after)
            continue;
        memset(&item, 0, sizeof(item));
        item.id = sc->id;
        item.concert_id = c->id;
        item.starts_at = sc->starts_at;
        item.available_seats = (int64_t)sc->seat_count - sc->sold_count - sc->held_count;
        rc = emit(ctx, &item);
    }
done:
    store_unlock(s);
    return rc;
}

static int memory_schedule_get(concert_storage *self, int64_t schedule_id,
                               concert_storage_schedule *out)
{
    memory_store *s = store_of(self);
    uint32_t si;
    int rc = CONCERT_OK;

    store_lock(s);
    si = schedule_find(s, schedule_id);
    if (si == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                   (long long)schedule_id);
    } else {
        const mem_schedule *sc = &s->schedules[si];
        memset(out, 0, sizeof(*out));
        out->id = sc->id;
        out->concert_id = s->concerts[sc->concert].id;
        out->starts_at = sc->starts_at;
        out->concert_status = s->concerts[sc->concert].status;
    }
    store_unlock(s);
    return rc;
}

/* A seat is free when nothing points at it, or a HELD reservation whose
 * hold ran out does (expiry by predicate: no sweeper needed). */
static int seat_free(const memory_store *s, uint32_t ref, int64_t now)
{
    const mem_reservation *r;
    if (!ref)
        return 1;
    r = &s->reservations[ref - 1];
    return r->status == CONCERT_RESERVATION_HELD && r->held_until <= now;
}

static int memory_seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                                  concert_emit_seat_fn emit, void *ctx)
{
    memory_store *s = store_of(self);
    concert_seat item;
    const mem_schedule *sc;
    uint32_t si;
    int rc = CONCERT_OK;

    store_lock(s);
    si = schedule_find(s, schedule_id);
    if (si == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                   (long long)schedule_id);
        goto done;
    }
    sc = &s->schedules[si];
    memset(&item, 0, sizeof(item));
    for (uint32_t r = 0; r < sc->range_count && rc == 0; r++) {
        const mem_range *range = &sc->ranges[r];
        const uint32_t *seat = &sc->seats[range->base];
        item.price = range->price;
        memcpy(item.grade, range->grade, sizeof(item.grade));
        for (int64_t n = range->from; n <= range->to; n++, seat++) {
            if (!seat_free(s, *seat, now))
                continue;
            item.number = n;
            if ((rc = emit(ctx, &item)) != 0)
                break;
        }
    }
done:
    store_unlock(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* catalog load: check, allocate, commit                               */

typedef struct id_slot {
    int64_t id;
    uint32_t index;
} id_slot;

typedef struct catalog_prep {
    char **names;             /* per catalog user */
    char **titles;            /* per catalog concert */
    uint32_t **schedule_lists; /* per catalog concert */
    mem_range **ranges;       /* per catalog schedule, in walk order */
    uint32_t **seats;         /* per catalog schedule */
    uint32_t *seat_counts;    /* per catalog schedule */
    id_slot *new_users;       /* sorting scratch */
    id_slot *new_concerts;
    uint32_t *user_order;     /* old + new, merged at commit */
    uint32_t *concert_order;
    size_t schedule_total;
    size_t ledger_new;
} catalog_prep;

static void catalog_prep_free(catalog_prep *p, const concert_catalog *c)
{
    size_t k = 0;
    for (size_t i = 0; p->names && i < c->user_count; i++)
        free(p->names[i]);
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
        if (user_find(s, c->users[i].id) != MEM_NONE)
            return concert_sys_error_set(CONCERT_ECONFLICT, "users[%zu].id: user %lld already exists",
                                         i, (long long)c->users[i].id);
        users_with_points += c->users[i].points > 0;
    }
    for (size_t i = 0; i < c->concert_count; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        if (concert_find(s, cc->id) != MEM_NONE)
            return concert_sys_error_set(CONCERT_ECONFLICT,
                                         "concerts[%zu].id: concert %lld already exists", i,
                                         (long long)cc->id);
        for (size_t k = 0; k < cc->schedule_count; k++) {
            if (schedule_find(s, cc->schedules[k].id) != MEM_NONE)
                return concert_sys_error_set(CONCERT_ECONFLICT,
                                             "concerts[%zu].schedules[%zu].id: schedule %lld "
                                             "already exists",
                                             i, k, (long long)cc->schedules[k].id);
        }
        if (cc->schedule_count > MEM_MAX_ITEMS - p->schedule_total)
            return out_of_memory("loading schedules");
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
    if (cs->seat_range_count &&
        !(p->ranges[k] = calloc(cs->seat_range_count, sizeof(mem_range))))
        return out_of_memory("loading seat ranges");
    if (seats && !(p->seats[k] = calloc((size_t)seats, sizeof(uint32_t))))
        return out_of_memory("loading seats");
    return CONCERT_OK;
}

/* Every allocation the commit needs. Store arrays may grow (invisible);
 * nothing else changes. */
static int catalog_prepare(memory_store *s, const concert_catalog *c, catalog_prep *p)
{
    size_t nu = c->user_count, nc = c->concert_count, k = 0;

    if (RESERVE(s, users, nu) != 0 || mem_index_reserve(&s->user_ix, nu, user_hash_of, s) != 0 ||
        RESERVE(s, concerts, nc) != 0 ||
        mem_index_reserve(&s->concert_ix, nc, concert_hash_of, s) != 0 ||
        RESERVE(s, schedules, p->schedule_total) != 0 ||
        mem_index_reserve(&s->schedule_ix, p->schedule_total, schedule_hash_of, s) != 0 ||
        RESERVE(s, ledger, p->ledger_new) != 0)
        return out_of_memory("loading the catalog");

    if ((nu && (!(p->names = calloc(nu, sizeof(char *))) ||
                !(p->new_users = calloc(nu, sizeof(id_slot))))) ||
        (nu && !(p->user_order = calloc(s->users_count + nu, sizeof(uint32_t)))) ||
        (nc && (!(p->titles = calloc(nc, sizeof(char *))) ||
                !(p->schedule_lists = calloc(nc, sizeof(uint32_t *))) ||
                !(p->new_concerts = calloc(nc, sizeof(id_slot))))) ||
        (nc && !(p->concert_order = calloc(s->concerts_count + nc, sizeof(uint32_t)))) ||
        (p->schedule_total && (!(p->ranges = calloc(p->schedule_total, sizeof(mem_range *))) ||
                               !(p->seats = calloc(p->schedule_total, sizeof(uint32_t *))) ||
                               !(p->seat_counts = calloc(p->schedule_total, sizeof(uint32_t))))))
        return out_of_memory("loading the catalog");

    for (size_t i = 0; i < nu; i++) {
        if (!(p->names[i] = text_dup(c->users[i].name)))
            return out_of_memory("loading users");
    }
    for (size_t i = 0; i < nc; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        int rc;
        if (!(p->titles[i] = text_dup(cc->title)))
            return out_of_memory("loading concerts");
        if (cc->schedule_count &&
            !(p->schedule_lists[i] = calloc(cc->schedule_count, sizeof(uint32_t))))
            return out_of_memory("loading concerts");
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

static void ledger_append(memory_store *s, uint32_t user, int32_t type, int64_t amount,
                          int64_t now, int64_t reservation_id)
{
    mem_user *u = &s->users[user];
    mem_ledger *e = &s->ledger[s->ledger_count++];
    u->balance += amount;
    e->amount = amount;
    e->balance_after = u->balance;
    e->at = now;
    e->reservation_id = reservation_id;
    e->user = user;
    e->prev = u->ledger_head;
    e->type = type;
    u->ledger_head = (uint32_t)s->ledger_count;
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
    mem_index_insert(&s->schedule_ix, id_hash(sc->id), index);
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

static void catalog_commit(memory_store *s, const concert_catalog *c, catalog_prep *p,
                           int64_t now)
{
    size_t k = 0;

    for (size_t i = 0; i < c->user_count; i++) {
        uint32_t index = (uint32_t)s->users_count++;
        mem_user *u = &s->users[index];
        memset(u, 0, sizeof(*u));
        u->id = c->users[i].id;
        u->name = p->names[i];
        p->names[i] = NULL;
        mem_index_insert(&s->user_ix, id_hash(u->id), index);
        if (c->users[i].points > 0)
            ledger_append(s, index, CONCERT_LEDGER_CHARGE, c->users[i].points, now, 0);
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
        mem_index_insert(&s->concert_ix, id_hash(m->id), index);
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

static int memory_catalog_load(concert_storage *self, const concert_catalog *catalog,
                               int64_t now)
{
    memory_store *s = store_of(self);
    catalog_prep p;
    int rc;

    memset(&p, 0, sizeof(p));
    store_lock(s);
    rc = catalog_check(s, catalog, &p);
    if (rc == 0)
        rc = catalog_prepare(s, catalog, &p);
    if (rc == 0)
        catalog_commit(s, catalog, &p, now);
    catalog_prep_free(&p, catalog);
    store_unlock(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* holds and payment                                                    */

/* The seat's index in the schedule's seat array, or MEM_NONE: binary search
 * over the few ranges, then one subtraction. */
static uint32_t seat_locate(const mem_schedule *sc, int64_t number)
{
    uint32_t lo = 0, hi = sc->range_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sc->ranges[mid].from <= number)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || number > sc->ranges[lo - 1].to)
        return MEM_NONE;
    return sc->ranges[lo - 1].base + (uint32_t)(number - sc->ranges[lo - 1].from);
}

static void reservation_fill(const memory_store *s, uint32_t index, int is_new,
                             concert_reservation *out)
{
    const mem_reservation *r = &s->reservations[index];
    memset(out, 0, sizeof(*out));
    out->id = (int64_t)index + 1;
    out->user_id = r->user_id;
    out->schedule_id = s->schedules[r->schedule].id;
    out->seat_number = r->seat_number;
    out->price = r->price;
    out->status = r->status;
    out->is_new = is_new;
    out->held_until = r->held_until;
}

static int64_t seat_price(const mem_schedule *sc, uint32_t seat)
{
    uint32_t lo = 0, hi = sc->range_count;
    while (lo + 1 < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sc->ranges[mid].base <= seat)
            lo = mid;
        else
            hi = mid;
    }
    return sc->ranges[lo].price;
}

static int memory_seat_hold(concert_storage *self, const concert_hold_request *req,
                            concert_reservation *out)
{
    memory_store *s = store_of(self);
    mem_schedule *sc;
    mem_reservation *r;
    uint32_t si, seat, ref, index;
    int rc = CONCERT_OK;

    store_lock(s);
    holds_settle(s, req->now);
    si = schedule_find(s, req->schedule_id);
    if (si == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                   (long long)req->schedule_id);
        goto done;
    }
    sc = &s->schedules[si];
    seat = seat_locate(sc, req->seat_number);
    if (seat == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ESEAT_NOT_FOUND, "seat %lld not found in schedule %lld",
                                   (long long)req->seat_number, (long long)req->schedule_id);
        goto done;
    }
    ref = sc->seats[seat];
    if (ref) {
        r = &s->reservations[ref - 1];
        if (r->status == CONCERT_RESERVATION_CONFIRMED) {
            rc = concert_sys_error_set(CONCERT_ESEAT_TAKEN, "seat %lld of schedule %lld is sold",
                                       (long long)req->seat_number, (long long)req->schedule_id);
            goto done;
        }
        if (r->held_until > req->now) {
            if (r->user_id == req->user_id) {
                reservation_fill(s, ref - 1, 0, out);
                goto done;
            }
            rc = concert_sys_error_set(CONCERT_ESEAT_TAKEN,
                                       "seat %lld of schedule %lld is held by another buyer",
                                       (long long)req->seat_number, (long long)req->schedule_id);
            goto done;
        }
    }
    if (RESERVE(s, reservations, 1) != 0 || mem_ring_reserve(&s->hold_fifo, 1) != 0) {
        rc = out_of_memory("holding a seat");
        goto done;
    }
    if (ref && s->reservations[ref - 1].counted) {
        /* the previous hold ran out but was not settled yet */
        s->reservations[ref - 1].counted = 0;
        sc->held_count--;
    }
    index = (uint32_t)s->reservations_count++;
    r = &s->reservations[index];
    memset(r, 0, sizeof(*r));
    r->user_id = req->user_id;
    r->seat_number = req->seat_number;
    r->price = seat_price(sc, seat);
    r->held_until = req->hold_until;
    r->schedule = si;
    r->seat = seat;
    r->status = CONCERT_RESERVATION_HELD;
    r->counted = 1;
    sc->held_count++;
    sc->seats[seat] = index + 1; /* the fence: payment checks it still points here */
    mem_ring_push(&s->hold_fifo, index);
    reservation_fill(s, index, 1, out);
done:
    store_unlock(s);
    return rc;
}

static int memory_reservation_get(concert_storage *self, int64_t reservation_id,
                                  concert_reservation *out)
{
    memory_store *s = store_of(self);
    int rc = CONCERT_OK;

    store_lock(s);
    if (reservation_id <= 0 || (uint64_t)reservation_id > s->reservations_count)
        rc = concert_sys_error_set(CONCERT_ERESERVATION_NOT_FOUND, "reservation %lld not found",
                                   (long long)reservation_id);
    else
        reservation_fill(s, (uint32_t)(reservation_id - 1), 0, out);
    store_unlock(s);
    return rc;
}

/* ---- idempotency records ---- */

static uint64_t idem_key_hash(int64_t user_id, int32_t op, const char *key)
{
    return mem_hash_bytes(key, strlen(key), mem_hash_mix((uint64_t)user_id * 4 + (uint64_t)op));
}

static uint64_t idem_hash_of(const void *owner, uint32_t v)
{
    const mem_idem *rec = &((const memory_store *)owner)->idem[v];
    return idem_key_hash(rec->user_id, rec->op, rec->text);
}

static const mem_idem *idem_find(const memory_store *s, int64_t user_id, int32_t op,
                                 const char *key)
{
    mem_probe p;
    for (uint32_t slot = mem_index_first(&s->idem_ix, idem_key_hash(user_id, op, key), &p); slot;
         slot = mem_index_next(&s->idem_ix, &p)) {
        const mem_idem *rec = &s->idem[slot - 1];
        if (rec->user_id == user_id && rec->op == op && strcmp(rec->text, key) == 0)
            return rec;
    }
    return NULL;
}

static const char *idem_fingerprint(const mem_idem *rec)
{
    return rec->text + strlen(rec->text) + 1;
}

/* Step 1 of pay and charge: NULL when there is no key or no record yet,
 * else the record, or *rc = KEY_REUSED when the arguments differ. */
static const mem_idem *idem_replay(const memory_store *s, int64_t user_id, int32_t op,
                                   const char *key, const char *fingerprint, int *rc)
{
    const mem_idem *rec;
    *rc = CONCERT_OK;
    if (!key)
        return NULL;
    rec = idem_find(s, user_id, op, key);
    if (rec && strcmp(idem_fingerprint(rec), fingerprint ? fingerprint : "") != 0) {
        *rc = concert_sys_error_set(CONCERT_EIDEMPOTENCY_KEY_REUSED,
                                    "idempotency key already used with other arguments");
        return NULL;
    }
    return rec;
}

/* Allocate the record's text and make room for it; *text_out is owned by the
 * caller until idem_commit. */
static int idem_prepare(memory_store *s, const char *key, const char *fingerprint,
                        char **text_out)
{
    size_t nk, nf;
    *text_out = NULL;
    if (!key)
        return CONCERT_OK;
    if (!fingerprint)
        fingerprint = "";
    nk = strlen(key) + 1;
    nf = strlen(fingerprint) + 1;
    if (RESERVE(s, idem, 1) != 0 || mem_index_reserve(&s->idem_ix, 1, idem_hash_of, s) != 0 ||
        !(*text_out = malloc(nk + nf)))
        return out_of_memory("storing an idempotency key");
    memcpy(*text_out, key, nk);
    memcpy(*text_out + nk, fingerprint, nf);
    return CONCERT_OK;
}

static void idem_commit(memory_store *s, int64_t user_id, int32_t op, char *text, int64_t result)
{
    uint32_t index;
    mem_idem *rec;
    if (!text)
        return;
    index = (uint32_t)s->idem_count++;
    rec = &s->idem[index];
    rec->user_id = user_id;
    rec->op = op;
    rec->text = text;
    rec->result = result;
    mem_index_insert(&s->idem_ix, idem_key_hash(user_id, op, text), index);
}

static void payment_fill(const memory_store *s, uint32_t index, concert_payment *out)
{
    const mem_payment *pm = &s->payments[index];
    memset(out, 0, sizeof(*out));
    out->id = (int64_t)index + 1;
    out->reservation_id = pm->reservation_id;
    out->user_id = pm->user_id;
    out->amount = pm->amount;
    out->balance = pm->balance;
    out->paid_at = pm->paid_at;
}

/* Steps 2-4 of pay: everything that can refuse it. */
static int pay_check(memory_store *s, const concert_pay_request *req, uint32_t *token_out,
                     uint32_t *user_out)
{
    const mem_reservation *r;
    const mem_token *t;
    uint32_t ti = token_find(s, req->token), user;

    t = ti == MEM_NONE ? NULL : &s->tokens[ti];
    if (!t || t->state != CONCERT_TOKEN_ACTIVE || !(req->now < t->when) ||
        t->user_id != req->user_id)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: not an active token");
    if (req->reservation_id <= 0 || (uint64_t)req->reservation_id > s->reservations_count)
        return concert_sys_error_set(CONCERT_ERESERVATION_NOT_FOUND, "reservation %lld not found",
                                     (long long)req->reservation_id);
    r = &s->reservations[req->reservation_id - 1];
    if (r->user_id != req->user_id)
        return concert_sys_error_set(CONCERT_EFORBIDDEN, "reservation %lld belongs to another user",
                                     (long long)req->reservation_id);
    if (r->status == CONCERT_RESERVATION_CONFIRMED)
        return concert_sys_error_set(CONCERT_EALREADY_PAID, "reservation %lld is already paid",
                                     (long long)req->reservation_id);
    if (r->held_until <= req->now ||
        s->schedules[r->schedule].seats[r->seat] != (uint32_t)req->reservation_id)
        return concert_sys_error_set(CONCERT_EHOLD_EXPIRED, "the hold of reservation %lld expired",
                                     (long long)req->reservation_id);
    user = user_find(s, t->user_id); /* users are never removed */
    if (s->users[user].balance < r->price)
        return concert_sys_error_set(CONCERT_EINSUFFICIENT_POINTS,
                                     "insufficient points: balance %lld, price %lld",
                                     (long long)s->users[user].balance, (long long)r->price);
    *token_out = ti;
    *user_out = user;
    return CONCERT_OK;
}

static int memory_pay(concert_storage *self, const concert_pay_request *req,
                      concert_payment *out)
{
    memory_store *s = store_of(self);
    const mem_idem *rec;
    mem_reservation *r;
    mem_schedule *sc;
    mem_payment *pm;
    uint32_t ti = 0, user = 0, pi;
    char *idem_text = NULL;
    int rc;

    store_lock(s);
    rec = idem_replay(s, req->user_id, IDEM_PAY, req->idempotency_key, req->fingerprint, &rc);
    if (rc != 0)
        goto done;
    if (rec) {
        payment_fill(s, (uint32_t)(rec->result - 1), out);
        goto done;
    }
    if ((rc = pay_check(s, req, &ti, &user)) != 0)
        goto done;
    if (RESERVE(s, ledger, 1) != 0 || RESERVE(s, payments, 1) != 0) {
        rc = out_of_memory("paying");
        goto done;
    }
    if ((rc = idem_prepare(s, req->idempotency_key, req->fingerprint, &idem_text)) != 0)
        goto done;

    /* Nothing can fail from here on. */
    r = &s->reservations[req->reservation_id - 1];
    sc = &s->schedules[r->schedule];
    ledger_append(s, user, CONCERT_LEDGER_PAYMENT, -r->price, req->now, req->reservation_id);
    pi = (uint32_t)s->payments_count++;
    pm = &s->payments[pi];
    pm->reservation_id = req->reservation_id;
    pm->user_id = req->user_id;
    pm->amount = r->price;
    pm->balance = s->users[user].balance;
    pm->paid_at = req->now;
    r->status = CONCERT_RESERVATION_CONFIRMED;
    r->payment = pi + 1;
    if (r->counted) {
        r->counted = 0;
        sc->held_count--;
    }
    sc->sold_count++;
    token_end(s, &s->tokens[ti]);
    idem_commit(s, req->user_id, IDEM_PAY, idem_text, (int64_t)pi + 1);
    idem_text = NULL;
    payment_fill(s, pi, out);
done:
    free(idem_text);
    store_unlock(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* points                                                               */

static int memory_charge(concert_storage *self, const concert_charge_request *req,
                         int64_t *balance_out)
{
    memory_store *s = store_of(self);
    const mem_idem *rec;
    char *idem_text = NULL;
    uint32_t user;
    int rc;

    store_lock(s);
    rec = idem_replay(s, req->user_id, IDEM_CHARGE, req->idempotency_key, req->fingerprint, &rc);
    if (rc != 0)
        goto done;
    if (rec) {
        *balance_out = s->ledger[rec->result - 1].balance_after;
        goto done;
    }
    user = user_find(s, req->user_id);
    if (user == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                   (long long)req->user_id);
        goto done;
    }
    if (req->amount <= 0 || req->amount > req->max_balance - s->users[user].balance) {
        rc = concert_sys_error_set(CONCERT_EINVALID_AMOUNT,
                                   "invalid amount: balance %lld + %lld would pass %lld",
                                   (long long)s->users[user].balance, (long long)req->amount,
                                   (long long)req->max_balance);
        goto done;
    }
    if (RESERVE(s, ledger, 1) != 0) {
        rc = out_of_memory("charging");
        goto done;
    }
    if ((rc = idem_prepare(s, req->idempotency_key, req->fingerprint, &idem_text)) != 0)
        goto done;
    ledger_append(s, user, CONCERT_LEDGER_CHARGE, req->amount, req->now, 0);
    idem_commit(s, req->user_id, IDEM_CHARGE, idem_text, (int64_t)s->ledger_count);
    idem_text = NULL;
    *balance_out = s->users[user].balance;
done:
    free(idem_text);
    store_unlock(s);
    return rc;
}

static int memory_balance_get(concert_storage *self, int64_t user_id, int64_t *balance_out)
{
    memory_store *s = store_of(self);
    uint32_t user;
    int rc = CONCERT_OK;

    store_lock(s);
    user = user_find(s, user_id);
    if (user == MEM_NONE)
        rc = concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                   (long long)user_id);
    else
        *balance_out = s->users[user].balance;
    store_unlock(s);
    return rc;
}

static int memory_history_list(concert_storage *self, int64_t user_id,
                               concert_emit_ledger_fn emit, void *ctx)
{
    memory_store *s = store_of(self);
    concert_ledger_entry item;
    uint32_t user;
    int rc = CONCERT_OK;

    store_lock(s);
    user = user_find(s, user_id);
    if (user == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                   (long long)user_id);
        goto done;
    }
    for (uint32_t id = s->users[user].ledger_head; id && rc == 0; id = s->ledger[id - 1].prev) {
        const mem_ledger *e = &s->ledger[id - 1];
        memset(&item, 0, sizeof(item));
        item.id = id;
        item.user_id = user_id;
        item.type = e->type;
        item.amount = e->amount;
        item.balance_after = e->balance_after;
        item.at = e->at;
        item.reservation_id = e->reservation_id;
        rc = emit(ctx, &item);
    }
done:
    store_unlock(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* administration                                                       */

static int memory_users_list(concert_storage *self, concert_emit_user_fn emit, void *ctx)
{
    memory_store *s = store_of(self);
    concert_user item;
    int rc = CONCERT_OK;

    store_lock(s);
    for (size_t i = 0; i < s->users_count && rc == 0; i++) {
        const mem_user *u = &s->users[s->user_order[i]];
        size_t n = strnlen(u->name, CONCERT_NAME_SIZE - 1);
        memset(&item, 0, sizeof(item));
        item.id = u->id;
        item.balance = u->balance;
        memcpy(item.name, u->name, n);
        item.name[n] = '\0';
        rc = emit(ctx, &item);
    }
    store_unlock(s);
    return rc;
}

/* verify's output: one formatted line per violation. */
typedef struct verify_out {
    concert_emit_text_fn emit;
    void *ctx;
} verify_out;

static int violation(const verify_out *v, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int violation(const verify_out *v, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap); /* a cut message is still a message */
    va_end(ap);
    return v->emit(v->ctx, text);
}

/* Sold seats: exactly one CONFIRMED reservation (the one the seat points at,
 * which points back) with exactly one payment of the seat's price. */
static int verify_seats(const memory_store *s, const uint32_t *payments_per_reservation,
                        const verify_out *v, concert_verify_report *report)
{
    int rc = CONCERT_OK;
    for (size_t si = 0; si < s->schedules_count; si++) {
        const mem_schedule *sc = &s->schedules[si];
        for (uint32_t r = 0; r < sc->range_count; r++) {
            const mem_range *range = &sc->ranges[r];
            for (int64_t n = range->from; n <= range->to && rc == 0; n++) {
                uint32_t seat = range->base + (uint32_t)(n - range->from);
                uint32_t ref = sc->seats[seat];
                const mem_reservation *res;
                report->seats++;
                if (!ref)
                    continue;
                res = &s->reservations[ref - 1];
                if (res->schedule != si || res->seat != seat) {
                    rc = violation(v, "schedule %lld seat %lld points at reservation %u, "
                                      "which is for another seat",
                                   (long long)sc->id, (long long)n, ref);
                    continue;
                }
                if (res->status != CONCERT_RESERVATION_CONFIRMED)
                    continue;
                report->seats_sold++;
                if (payments_per_reservation[ref - 1] != 1)
                    rc = violation(v, "schedule %lld seat %lld: sold to reservation %u, which "
                                      "has %u payments",
                                   (long long)sc->id, (long long)n, ref,
                                   payments_per_reservation[ref - 1]);
                else if (!res->payment || s->payments[res->payment - 1].amount != range->price)
                    rc = violation(v, "schedule %lld seat %lld: paid %lld points, price is %lld",
                                   (long long)sc->id, (long long)n,
                                   res->payment ? (long long)s->payments[res->payment - 1].amount
                                                : 0LL,
                                   (long long)range->price);
            }
        }
    }
    return rc;
}

/* CONFIRMED reservations sold their seat; live holds are not on sold seats. */
static int verify_reservations(const memory_store *s, int64_t now, const verify_out *v,
                               concert_verify_report *report)
{
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->reservations_count && rc == 0; i++) {
        const mem_reservation *r = &s->reservations[i];
        const mem_schedule *sc = &s->schedules[r->schedule];
        uint32_t ref = sc->seats[r->seat];
        int seat_sold = ref && s->reservations[ref - 1].status == CONCERT_RESERVATION_CONFIRMED;
        report->reservations++;
        if (r->status == CONCERT_RESERVATION_CONFIRMED && ref != i + 1)
            rc = violation(v, "reservation %zu: CONFIRMED but seat %lld of schedule %lld is not "
                              "sold to it",
                           i + 1, (long long)r->seat_number, (long long)sc->id);
        else if (r->status == CONCERT_RESERVATION_HELD && r->held_until > now && seat_sold)
            rc = violation(v, "seat %lld of schedule %lld: sold to reservation %u and under a "
                              "live hold by reservation %zu",
                           (long long)r->seat_number, (long long)sc->id, ref, i + 1);
    }
    return rc;
}

static int verify_balances(const memory_store *s, const verify_out *v,
                           concert_verify_report *report)
{
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->users_count && rc == 0; i++) {
        const mem_user *u = &s->users[i];
        int64_t sum = 0;
        for (uint32_t id = u->ledger_head; id; id = s->ledger[id - 1].prev) {
            sum += s->ledger[id - 1].amount;
            report->ledger_entries++;
        }
        report->users++;
        if (u->balance != sum)
            rc = violation(v, "user %lld: balance %lld but the ledger sums to %lld",
                           (long long)u->id, (long long)u->balance, (long long)sum);
        else if (u->balance < 0)
            rc = violation(v, "user %lld: negative balance %lld", (long long)u->id,
                           (long long)u->balance);
    }
    return rc;
}

static int verify_queue(const memory_store *s, const concert_queue_params *params, int64_t now,
                        const verify_out *v, concert_verify_report *report)
{
    int64_t live = 0, active_state = 0;
    /* every ACTIVE token entered the FIFO when admitted and leaves it only
     * once it is no longer ACTIVE, so the FIFO holds all of them */
    for (size_t i = 0; i < s->active_fifo.count; i++) {
        const mem_token *t = &s->tokens[mem_ring_at(&s->active_fifo, i)];
        if (t->state != CONCERT_TOKEN_ACTIVE)
            continue;
        active_state++;
        live += now < t->when;
    }
    report->active_tokens = live;
    if (live > params->max_active)
        return violation(v, "queue: %lld live active tokens, max_active is %lld", (long long)live,
                         (long long)params->max_active);
    if (active_state != s->active_count)
        return violation(v, "queue: active count %lld but %lld tokens are ACTIVE",
                         (long long)s->active_count, (long long)active_state);
    return CONCERT_OK;
}

static int memory_verify(concert_storage *self, const concert_queue_params *params, int64_t now,
                         concert_emit_text_fn emit, void *ctx, concert_verify_report *report)
{
    memory_store *s = store_of(self);
    verify_out v = {emit, ctx};
    uint32_t *payments_per_reservation;
    int rc = CONCERT_OK;

    store_lock(s);
    payments_per_reservation = calloc(s->reservations_count + 1, sizeof(uint32_t));
    if (!payments_per_reservation) {
        rc = out_of_memory("verifying");
        goto done;
    }
    report->users = report->ledger_entries = report->seats = report->seats_sold = 0;
    report->reservations = report->active_tokens = 0;
    report->payments = (int64_t)s->payments_count;
    for (size_t i = 0; i < s->payments_count && rc == 0; i++) {
        int64_t rid = s->payments[i].reservation_id;
        if (rid <= 0 || (uint64_t)rid > s->reservations_count)
            rc = violation(&v, "payment %zu: for reservation %lld, which does not exist", i + 1,
                           (long long)rid);
        else
            payments_per_reservation[rid - 1]++;
    }
    if (rc == 0)
        rc = verify_seats(s, payments_per_reservation, &v, report);
    if (rc == 0)
        rc = verify_reservations(s, now, &v, report);
    if (rc == 0)
        rc = verify_balances(s, &v, report);
    if (rc == 0)
        rc = verify_queue(s, params, now, &v, report);
    free(payments_per_reservation);
done:
    store_unlock(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* lifetime                                                             */

static void memory_free(concert_storage *self)
{
    memory_store *s;
    if (!self)
        return;
    s = store_of(self);
    for (size_t i = 0; i < s->users_count; i++)
        free(s->users[i].name);
    for (size_t i = 0; i < s->concerts_count; i++) {
        free(s->concerts[i].title);
        free(s->concerts[i].schedules);
    }
    for (size_t i = 0; i < s->schedules_count; i++) {
        free(s->schedules[i].ranges);
        free(s->schedules[i].seats);
    }
    for (size_t i = 0; i < s->verbatim_count; i++)
        free(s->verbatim[i]);
    for (size_t i = 0; i < s->idem_count; i++)
        free(s->idem[i].text);
    free(s->users);
    free(s->user_order);
    free(s->concerts);
    free(s->concert_order);
    free(s->schedules);
    free(s->reservations);
    free(s->payments);
    free(s->ledger);
    free(s->tokens);
    free(s->verbatim);
    free(s->idem);
    mem_index_free(&s->user_ix);
    mem_index_free(&s->concert_ix);
    mem_index_free(&s->schedule_ix);
    mem_index_free(&s->token_ix);
    mem_index_free(&s->idem_ix);
    mem_ring_free(&s->active_fifo);
    mem_ring_free(&s->hold_fifo);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int concert_storage_memory_open(concert_storage **out, const char *location,
                                const concert_options *opts)
{
    memory_store *s;

    (void)location; /* a memory store has no place */
    (void)opts;     /* nothing to tune: the core passes the queue rules per call */
    if (!out)
        return concert_sys_error_set(CONCERT_EINVAL, "concert_storage_memory_open: NULL out");
    *out = NULL;
    pthread_once(&base64url_once, base64url_table_build);
    s = calloc(1, sizeof(*s));
    if (!s)
        return out_of_memory("opening the store");
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return out_of_memory("creating the store's lock");
    }
    s->base.version = CONCERT_STORAGE_VERSION;
    s->base.name = "memory";
    s->base.free = memory_free;
    s->base.queue_issue = memory_queue_issue;
    s->base.queue_status = memory_queue_status;
    s->base.queue_leave = memory_queue_leave;
    s->base.queue_stats = memory_queue_stats;
    s->base.concerts_list = memory_concerts_list;
    s->base.concert_get = memory_concert_get;
    s->base.schedules_list = memory_schedules_list;
    s->base.schedule_get = memory_schedule_get;
    s->base.seats_available = memory_seats_available;
    s->base.catalog_load = memory_catalog_load;
    s->base.seat_hold = memory_seat_hold;
    s->base.reservation_get = memory_reservation_get;
    s->base.pay = memory_pay;
    s->base.charge = memory_charge;
    s->base.balance_get = memory_balance_get;
    s->base.history_list = memory_history_list;
    s->base.users_list = memory_users_list;
    s->base.verify = memory_verify;
    *out = &s->base;
    return CONCERT_OK;
}
