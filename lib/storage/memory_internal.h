/*
 * The in-memory storage backend ("memory:"): declarations shared by
 * lib/storage/memory*.c. Never installed. Layout:
 *   memory.c          open/free and the method table; shared small helpers
 *   memory_token.c    token text: compact form, hashing, lookup
 *   memory_queue.c    the queue steps: issue, status, leave, stats, configure
 *   memory_admission.c admission under the shared settings, and the opening
 *                     lottery of a SCHEDULED queue's pre-queue
 *   memory_settings.c the shared queue settings: seeded at open, configure
 *   memory_catalog.c  catalog load, concerts, schedules, seat listing and
 *                     the seat map
 *   memory_booking.c  holds, reservations, payment, release, idempotency
 *                     records
 *   memory_limits.c   the per-buyer limits: a user's holds and purchases
 *   memory_points.c   charges, balances, the ledger, users
 *   memory_prune.c    retention: ended tokens and idempotency records go
 *   memory_verify.c   the invariant checker
 *   memory_structs.h  the generic containers (arrays, FIFO ring, deadline
 *                     heap, index, window)
 *
 * One mutex around the whole store: every method takes it once, so every
 * method is trivially one atomic step. Each step is a few hash lookups, so
 * the lock is held briefly (DESIGN.md: measure before splitting it).
 *
 * Shapes (see DESIGN.md and include/concert/sys/storage.h):
 *  - users, concerts, schedules, tokens and idempotency records live in
 *    arrays and are found through open-addressing indexes of uint32 slots;
 *  - tokens and idempotency records are windows (memory_structs.h): a
 *    token's ticket index (ticket - 1) numbers it, so position is ticket -
 *    admitted_through and admission walks the window once; records are
 *    created in order and retention drops them from the front
 *    (memory_prune.c), so the store stays bounded by what is live plus what
 *    retention keeps, and ended tokens' memory is reused;
 *  - while the queue is SCHEDULED every join is pre-queued, so the
 *    pre-queued tokens are the block [prequeue_from, tokens.end) at the end
 *    of the window; the opening lottery permutes that block in place, so
 *    tickets stay index + 1 and nothing else moves;
 *  - a seat is one uint32: the id of the reservation holding it or sold to
 *    it (the fence). Seat numbers map to array slots through the schedule's
 *    few seat ranges, each with the array index of its first seat;
 *  - reservations, payments and ledger entries are arrays indexed by id - 1;
 *    a payment covers one order, and each of its reservations refers to it;
 *    each user keeps the ids of their ledger entries in order (history
 *    pages by binary search), a chain through their holds, and per limited
 *    concert the count of what they bought: the per-buyer limits count
 *    those, never the whole store;
 *  - ACTIVE tokens and live holds sit in min-heaps keyed by their deadline
 *    (memory_structs.h), so settling the ones that ran out reads only
 *    those, whatever order their deadlines came in: `now` may go backwards
 *    between steps (storage.h), so a later hold or admission may run out
 *    first. What is settled stays settled: a settled ACTIVE token is ENDED,
 *    and a settled hold is uncounted (counted = 0), which memory__hold_live
 *    reads, so an earlier `now` never brings either back.
 *
 * Every mutating step reserves all the memory it may need before changing
 * anything, so CONCERT_ENOMEM always leaves the store as it was.
 */
#ifndef CONCERT_STORAGE_MEMORY_INTERNAL_H
#define CONCERT_STORAGE_MEMORY_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <concert/sys/storage.h>

#include "memory_structs.h"

/* Values live in uint32 slots as value + 1. */
#define MEM_MAX_ITEMS ((size_t)UINT32_MAX - 1)
#define MEM_NONE UINT32_MAX
/* No token: a ticket index that is never in the window. */
#define MEM_NO_TOKEN UINT64_MAX

/* A token's state once retention pruned it: out of the index, its record a
 * hole in the window until the front passes it (memory_prune.c). */
#define MEM_TOKEN_GONE 0xff

/* Rows pruned inside a step that may create one (issue, pay, charge): of
 * each kind, more than the step creates, so that retention catches up with
 * any rate of steps (storage.h, "Retention"). */
#define MEMORY_PRUNE_STEP 2

/* The core's tokens: 32 base64url characters holding 24 random bytes. */
#define TOKEN_COMPACT_CHARS 32
#define TOKEN_COMPACT_BYTES 24

enum {
    IDEM_PAY = 1,
    IDEM_CHARGE = 2
};

/* A user's CONFIRMED reservations of one concert that has a per-buyer limit
 * (max_per_user), for the limit's count. */
typedef struct mem_bought {
    uint32_t concert; /* index in concerts */
    uint32_t confirmed;
} mem_bought;

typedef struct mem_user {
    int64_t id;
    int64_t balance;
    char *name;
    uint32_t *ledger;     /* the user's ledger entry ids, ascending: the
                             (user, id) index that pages history */
    mem_bought *bought;   /* ordered by concert */
    uint32_t last_ticket; /* MEM_WINDOW_LOW of the user's newest token's
                             ticket index: it names their token only while
                             that is in the window and theirs
                             (memory__user_token); once it is pruned, every
                             older one is too, so "no token" */
    uint32_t hold_head;   /* the newest reservation id of the user's chain
                             of holds (through next_hold and prev_hold):
                             every live hold of theirs is in it; a payment
                             or a release takes its own out, and a limit's
                             count drops the expired ones; 0 = none */
    uint32_t ledger_count, ledger_cap;
    uint32_t bought_count, bought_cap;
} mem_user;

typedef struct mem_ledger {
    int64_t amount;
    int64_t balance_after;
    int64_t at;
    int64_t reservation_id;
    uint32_t user; /* index in users */
    int32_t type;
} mem_ledger;

typedef struct mem_concert {
    int64_t id;
    char *title;
    uint32_t *schedules; /* indexes in schedules, in (starts_at, id) order */
    uint32_t schedule_count;
    int32_t status;
    int32_t max_per_user; /* 0: none */
} mem_concert;

typedef struct mem_range {
    int64_t from;
    int64_t to;
    int64_t price;
    uint32_t base; /* index of seat `from` in the schedule's seats */
    char grade[CONCERT_GRADE_SIZE];
} mem_range;

typedef struct mem_schedule {
    int64_t id;
    int64_t starts_at;
    mem_range *ranges; /* ordered by from; disjoint */
    uint32_t *seats;   /* reservation id holding or sold to it; 0 = never held */
    uint32_t concert;  /* index in concerts */
    uint32_t range_count;
    uint32_t seat_count;
    uint32_t sold_count;
    uint32_t held_count; /* seats under a hold not yet settled as expired */
    int64_t changes;     /* list_version: every hold, release, sale and
                             settled expiry of one of its seats */
} mem_schedule;

typedef struct mem_reservation {
    int64_t user_id;
    int64_t seat_number;
    int64_t price;
    int64_t held_until;
    uint32_t schedule;  /* index in schedules */
    uint32_t seat;      /* index in that schedule's seats */
    uint32_t payment;   /* id of the payment (of its order) once
                             CONFIRMED; 0 before */
    uint32_t next_hold; /* in its user's chain of holds: the next older */
    uint32_t prev_hold; /* and the next newer reservation id; 0: none */
    uint8_t status;     /* CONCERT_RESERVATION_HELD, _CONFIRMED or _RELEASED */
    uint8_t counted;    /* 1 while included in its schedule's held_count;
                             a HELD one with 0 was settled as expired (or
                             its seat moved on) and is never live again */
} mem_reservation;

/* One per order: every reservation it paid for refers to it. */
typedef struct mem_payment {
    int64_t reservation_id; /* the order's first (lowest) reservation id */
    int64_t user_id;
    int64_t amount;
    int64_t balance;
    int64_t paid_at;
    uint64_t token; /* ticket index + 1 of the token it ended (for
                               token_paid) */
} mem_payment;

/* 48 bytes, plus about 16 in the index: the issue's budget is 128 per
 * waiting token. The user's id (not index) saves a status poll a cache miss. */
typedef struct mem_token {
    int64_t when; /* WAITING: last_seen; ACTIVE: expires_at; ENDED:
                             the instant it stopped being live (retention
                             counts from there) */
    int64_t user_id;
    uint32_t user;                     /* index in users: a booking step needs the user's
                             record, and a probe of the user index is a
                             cache miss in a big store (it fits the padding) */
    uint8_t state;                     /* WAITING, ACTIVE, CONCERT_TOKEN_ENDED or
                             MEM_TOKEN_GONE */
    uint8_t verbatim;                  /* 1: text holds a uint32 index into s->verbatim */
    uint8_t text[TOKEN_COMPACT_BYTES]; /* the decoded base64url bytes */
} mem_token;
_Static_assert(sizeof(mem_token) <= 48, "a waiting token's record must stay small (issue 6)");

typedef struct mem_idem {
    int64_t user_id;
    int64_t result;     /* payment id ("pay") or ledger entry id ("charge") */
    int64_t created_at; /* retention counts from here */
    char *text;         /* key NUL fingerprint NUL, one allocation */
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

    mem_window tokens;  /* mem_token records numbered by ticket index
                             (ticket - 1); memory__token() */
    mem_index token_ix; /* text's hash -> MEM_WINDOW_LOW(ticket index) */
    char **verbatim;    /* token texts that are not 32 base64url chars;
                             NULL in a slot whose token was pruned */
    size_t verbatim_count, verbatim_cap;
    uint32_t *verbatim_free; /* slots of verbatim free for reuse; its
                                capacity covers every slot, so freeing one
                                cannot fail */
    size_t verbatim_free_count, verbatim_free_cap;

    mem_heap active_heap;      /* (expires_at, ticket index) of each token
                             admitted; an entry whose token is no longer
                             ACTIVE (paid, left) or no longer in the window
                             is stale and skipped when it comes up */
    mem_heap hold_heap;        /* (held_until, reservation index) of each hold;
                             an entry whose hold is no longer counted is
                             stale and skipped */
    uint64_t admitted_through; /* tickets up to it were admitted or skipped:
                                  none below it is WAITING */
    int64_t active_count;      /* tokens in state ACTIVE, exactly */
    concert_sys_rate rate;

    /* The shared queue settings (one store, so one copy) and admission's
     * own state. */
    concert_queue_settings settings;
    int64_t pace_us;        /* the admit_per_minute pacer (concert_sys_admit_budget) */
    uint64_t prequeue_from; /* while SCHEDULED: the first pre-queued token's
                               ticket index */
    size_t prequeue_ended;  /* pre-queued tokens ended since (left, replaced or
                             pruned after idling): stats.prequeued leaves them out,
                             as the other stores do */
    int64_t active_grace;   /* after max_active was lowered below the active
                             count: how many ACTIVE tokens may still be
                             there (nobody is evicted); 0 otherwise. Only
                             shrinks, so verify can check it. */

    mem_window idem;   /* mem_idem records in the order created */
    mem_index idem_ix; /* (user, op, key)'s hash -> MEM_WINDOW_LOW(number) */

    int64_t epoch; /* list_version's store identity, random at open */
} memory_store;

/* ---- small helpers (memory.c, or inline here for the hot paths) ---- */

static inline memory_store *memory__store_of(concert_storage *self)
{
    return (memory_store *)(void *)self;
}

static inline void memory__store_lock(memory_store *s)
{
    pthread_mutex_lock(&s->lock);
}

static inline void memory__store_unlock(memory_store *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* a + b, clamped to INT64_MAX (times and TTLs are non-negative). */
static inline int64_t memory__add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

/* 1 if a reservation is a live hold at now: HELD, not settled as expired,
 * and its deadline not reached. A settled one stays expired at any earlier
 * `now` (storage.h, "Time may go backwards"). */
static inline int memory__hold_live(const mem_reservation *r, int64_t now)
{
    return r->status == CONCERT_RESERVATION_HELD && r->counted && now < r->held_until;
}

/* Grow an array field (any element type) through the generic reserve. */
int memory__reserve_array(void *field, size_t *cap, size_t count, size_t extra, size_t size);
#define RESERVE(s, name, extra)                                                                    \
    memory__reserve_array(&(s)->name, &(s)->name##_cap, (s)->name##_count, (extra),                \
                          sizeof(*(s)->name))

/* The same for an array that belongs to one user (uint32 count and
 * capacity, starting small: a user has few of anything). */
int memory__reserve_small(void *field, uint32_t *cap, uint32_t count, uint32_t extra, size_t size);
#define RESERVE_SMALL(owner, name, extra)                                                          \
    memory__reserve_small(&(owner)->name, &(owner)->name##_cap, (owner)->name##_count, (extra),    \
                          sizeof(*(owner)->name))

/* Sets CONCERT_ENOMEM with "out of memory <what>" and returns it. */
int memory__out_of_memory(const char *what);
/* Sets code with "<what> <id> not found" and returns it. */
int memory__not_found(int code, const char *what, int64_t id);
/* A malloc'ed copy of text, or NULL. */
char *memory__text_dup(const char *text);

/* ---- indexes by id ---- */

static inline uint64_t memory__id_hash(int64_t id)
{
    return mem_hash_mix((uint64_t)id);
}

/* The index in items of the one with this id, or MEM_NONE. Every item
 * struct starts with its int64_t id. */
static inline uint32_t memory__id_find(const mem_index *ix, const void *items, size_t item_size,
                                       int64_t id)
{
    mem_probe p;
    for (uint32_t slot = mem_index_first(ix, memory__id_hash(id), &p); slot;
         slot = mem_index_next(ix, &p)) {
        int64_t item_id;
        memcpy(&item_id, (const char *)items + (size_t)(slot - 1) * item_size, sizeof(item_id));
        if (item_id == id)
            return slot - 1;
    }
    return MEM_NONE;
}

static inline uint32_t memory__user_find(const memory_store *s, int64_t id)
{
    return memory__id_find(&s->user_ix, s->users, sizeof(*s->users), id);
}

static inline uint32_t memory__concert_find(const memory_store *s, int64_t id)
{
    return memory__id_find(&s->concert_ix, s->concerts, sizeof(*s->concerts), id);
}

static inline uint32_t memory__schedule_find(const memory_store *s, int64_t id)
{
    return memory__id_find(&s->schedule_ix, s->schedules, sizeof(*s->schedules), id);
}

/* The same lookups for a method: 0 and *index_out, or the named NOT_FOUND
 * error (set and returned) when there is no such item. */
static inline int memory__user_lookup(const memory_store *s, int64_t id, uint32_t *index_out)
{
    *index_out = memory__user_find(s, id);
    return *index_out == MEM_NONE ? memory__not_found(CONCERT_EUSER_NOT_FOUND, "user", id)
                                  : CONCERT_OK;
}

static inline int memory__concert_lookup(const memory_store *s, int64_t id, uint32_t *index_out)
{
    *index_out = memory__concert_find(s, id);
    return *index_out == MEM_NONE ? memory__not_found(CONCERT_ECONCERT_NOT_FOUND, "concert", id)
                                  : CONCERT_OK;
}

static inline int memory__schedule_lookup(const memory_store *s, int64_t id, uint32_t *index_out)
{
    *index_out = memory__schedule_find(s, id);
    return *index_out == MEM_NONE ? memory__not_found(CONCERT_ESCHEDULE_NOT_FOUND, "schedule", id)
                                  : CONCERT_OK;
}

/* ---- tokens (memory_token.c) ---- */

/* The record of the token with ticket index i (in the window). */
static inline mem_token *memory__token(const memory_store *s, uint64_t i)
{
    return (mem_token *)s->tokens.items + (i & s->tokens.mask);
}

/* A verbatim token's slot in s->verbatim (kept in its text bytes). */
static inline uint32_t memory__verbatim_slot(const mem_token *t)
{
    uint32_t v;
    memcpy(&v, t->text, sizeof(v));
    return v;
}

/* The ticket index an index entry or FIFO value names (MEM_WINDOW_LOW). */
static inline uint64_t memory__token_number(const memory_store *s, uint32_t low)
{
    return mem_window_number(&s->tokens, low);
}

/* The user's newest token's ticket index, or MEM_NO_TOKEN when it has been
 * pruned (or there never was one). */
static inline uint64_t memory__user_token(const memory_store *s, uint32_t user)
{
    uint64_t i = memory__token_number(s, s->users[user].last_ticket);
    return i < s->tokens.end && memory__token(s, i)->user == user ? i : MEM_NO_TOKEN;
}

/* A token's parsed lookup key. */
typedef struct token_key {
    uint8_t bytes[TOKEN_COMPACT_BYTES];
    size_t len;
    int compact;
    uint64_t hash;
} token_key;

/* Builds the decoding table once per process; open calls it. */
void memory__token_codec_init(void);
/* The token's text into out (CONCERT_TOKEN_SIZE bytes). */
void memory__token_text(const memory_store *s, const mem_token *t, char *out);
/* token_ix's hash of a token's text. */
uint64_t memory__token_hash(const memory_store *s, const mem_token *t);
/* 0, or -1 if text cannot be a token (empty or too long). */
int memory__token_key_make(const char *text, token_key *k);
/* The ticket index of the token with this text and key, or MEM_NO_TOKEN. */
uint64_t memory__token_find_key(const memory_store *s, const char *text, const token_key *k);
/* The ticket index of the token with this text, or MEM_NO_TOKEN. */
uint64_t memory__token_find(const memory_store *s, const char *text);
/* 0 if the token with ticket index ti is live ACTIVE, else the error the
 * booking steps give (set): NOT_ACTIVE for a live WAITING one, else
 * INVALID. */
int memory__token_refusal(const memory_store *s, uint64_t ti, const concert_queue_params *p,
                          int64_t now);
/* The token check of every booking step (concert_hold_request in
 * storage.h): 0 and the ticket index of a live ACTIVE token, or the error
 * (set). */
int memory__token_require_active(const memory_store *s, const char *text,
                                 const concert_queue_params *p, int64_t now, uint64_t *index_out);

/* ---- admission and the opening (memory_admission.c) ---- */

/* Everything the opening lottery needs, allocated and shuffled before the
 * step changes anything (so that ENOMEM or a failing random source leaves
 * the store as it was). */
typedef struct mem_opening {
    int due;               /* 1: this step opens a SCHEDULED queue */
    size_t n;              /* pre-queued tokens */
    uint32_t *rank;        /* rank[k]: the lottery's place of the k-th to join */
    unsigned char *placed; /* a bit per pre-queued token, for the in-place move */
} mem_opening;

/* 1 if the token is WAITING and polled within wait_ttl, or ACTIVE and not
 * expired. */
int memory__token_live(const mem_token *t, const concert_queue_params *p, int64_t now);
/* The first ticket's index admission may not reach: the pre-queue's start
 * while SCHEDULED, else tokens.end. Tickets issued = this. */
uint64_t memory__ticket_end(const memory_store *s);
/* 1 if the token at ticket index is pre-queued (no ticket yet). */
int memory__prequeued(const memory_store *s, uint64_t index);
/* The state as every step sees it: a SCHEDULED queue whose opens_at has
 * come is OPEN (its lottery runs at the start of the next step). */
int32_t memory__state_at(const memory_store *s, int64_t now);
/* Prepare the opening if it is due at now, or now regardless of opens_at
 * when force is set (a state change of a SCHEDULED queue): allocates and
 * runs params->shuffle. 0 (o->due says whether there is one), or an error
 * with nothing changed and nothing held. */
int memory__opening_prepare(memory_store *s, const concert_queue_params *p, int64_t now, int force,
                            mem_opening *o);
/* Apply a prepared opening (no-op unless due): tickets in the lottery's
 * order, state OPEN. Cannot fail; frees what prepare allocated. Token
 * indexes in the pre-queue change: look tokens up again after it. */
void memory__opening_commit(memory_store *s, mem_opening *o);
/* Drop a prepared opening that will not be applied. */
void memory__opening_discard(mem_opening *o);
/* Make sure admission can record every token it may admit, counting
 * extra_tickets about to be issued. 0 or CONCERT_ENOMEM (set). */
int memory__admission_reserve(memory_store *s, size_t extra_tickets);
/* Expired ACTIVE tokens end and leave the count. Cannot fail. */
void memory__admission_settle(memory_store *s, int64_t now);
/* Settle expired ACTIVE tokens, then admit within the budget. Cannot fail
 * after memory__admission_reserve(). */
void memory__admission_run(memory_store *s, const concert_queue_params *p, int64_t now);
/* Open if due, then admit: the start of a step that changes nothing else.
 * 0 or an error with nothing changed. */
int memory__admission_step(memory_store *s, const concert_queue_params *p, int64_t now);
/* End the token with ticket index i at now (or when it ran out, if that
 * was earlier; an ENDED one keeps its end); an ACTIVE one gives its slot
 * back, once. */
void memory__token_end(memory_store *s, uint64_t i, const concert_queue_params *p, int64_t now);
/* The settings of a new store from the resolved options (opts may be NULL:
 * the defaults); CONCERT_EINVAL (set) for values out of range
 * (memory_settings.c). */
int memory__settings_seed(memory_store *s, const concert_options *opts);

/* ---- steps shared between files ---- */

/* Expired holds leave their schedule's held count (memory_booking.c). */
void memory__holds_settle(memory_store *s, int64_t now);
/* Room for n more ledger entries of one user: 0 or -1 (memory_points.c). */
int memory__ledger_reserve(memory_store *s, uint32_t user, size_t n);
/* Append a ledger entry and move the balance; room must have been reserved
 * (memory_points.c). */
void memory__ledger_append(memory_store *s, uint32_t user, int32_t type, int64_t amount,
                           int64_t now, int64_t reservation_id);
/* Idempotency records for pay and charge (memory_booking.c). */
const mem_idem *memory__idem_replay(const memory_store *s, int64_t user_id, int32_t op,
                                    const char *key, const char *fingerprint, int *rc);
int memory__idem_prepare(memory_store *s, const char *key, const char *fingerprint,
                         char **text_out);
void memory__idem_commit(memory_store *s, int64_t user_id, int32_t op, char *text, int64_t result,
                         int64_t now);
/* idem_ix's hash of a record. */
uint64_t memory__idem_hash(const mem_idem *rec);

/* The idempotency record numbered i (in the window). */
static inline mem_idem *memory__idem(const memory_store *s, uint64_t i)
{
    return (mem_idem *)s->idem.items + (i & s->idem.mask);
}

/* ---- retention (memory_prune.c) ---- */

/* Inside a step that may create a token or an idempotency record, once it
 * cannot fail any more: prune up to MEMORY_PRUNE_STEP due tokens from the
 * front (with p; NULL: none) and as many due idempotency records. Needs no
 * memory. */
void memory__prune_step(memory_store *s, const concert_queue_params *p, int64_t retention_ms,
                        int64_t now);

/* ---- the per-buyer limits (memory_limits.c) ---- */

/* The user's reservations that a hold's limit counts (concert_hold_request):
 * with max_per_concert > 0, live holds plus purchases of concert (an index);
 * else live holds anywhere. Drops expired holds from the user's chain as
 * it goes (nothing observable changes). */
int64_t memory__limit_count(memory_store *s, uint32_t user, int64_t now, int per_concert,
                            uint32_t concert);
/* Put a new hold at the head of its user's chain. Cannot fail. */
void memory__hold_chain_push(memory_store *s, uint32_t user, uint32_t reservation);
/* Take a reservation out of its user's chain, if it is in it; O(1). */
void memory__hold_chain_remove(memory_store *s, uint32_t user, uint32_t reservation);
/* Room to count purchases of n reservations; 0 or -1. */
int memory__bought_reserve(memory_store *s, uint32_t user, size_t n);
/* Count a purchase of a reservation of concert, if that concert has a
 * limit (room reserved). */
void memory__bought_add(memory_store *s, uint32_t user, uint32_t concert);
/* The index in u->bought of concert, or MEM_NONE. */
uint32_t memory__bought_find(const mem_user *u, uint32_t concert);
/* The user's purchases of concert (0 if none). */
uint32_t memory__bought_count(const memory_store *s, uint32_t user, uint32_t concert);

/* ---- the methods, as documented in concert/sys/storage.h ---- */

int memory__queue_issue(concert_storage *self, const concert_queue_params *params, int64_t user_id,
                        const char *new_token, int64_t now, concert_storage_token *out);
int memory__queue_status(concert_storage *self, const concert_queue_params *params,
                         const char *token, int64_t now, concert_storage_token *out);
int memory__queue_leave(concert_storage *self, const concert_queue_params *params,
                        const char *token, int64_t now);
int memory__queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                        concert_queue_stats *out);
int memory__queue_configure(concert_storage *self, const concert_queue_params *params,
                            const concert_queue_update *update, int64_t now,
                            concert_queue_settings *out);
int memory__concerts_list(concert_storage *self, int32_t status, concert_emit_concert_fn emit,
                          void *ctx);
int memory__concert_get(concert_storage *self, int64_t concert_id, concert_concert *out);
int memory__schedules_list(concert_storage *self, int64_t concert_id, int64_t starts_after,
                           int64_t now, concert_emit_schedule_fn emit, void *ctx, int64_t *total);
int memory__schedule_get(concert_storage *self, int64_t schedule_id, concert_storage_schedule *out);
int memory__seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                            concert_emit_seat_fn emit, void *ctx);
int memory__seat_map(concert_storage *self, int64_t schedule_id, int64_t now,
                     concert_emit_seat_state_fn emit, void *ctx);
int memory__catalog_load(concert_storage *self, const concert_catalog *catalog, int64_t now);
int memory__seat_hold(concert_storage *self, const concert_hold_request *req,
                      concert_reservation *out);
int memory__reservation_get(concert_storage *self, int64_t reservation_id,
                            concert_reservation *out);
int memory__pay(concert_storage *self, const concert_pay_request *req, concert_payment *out);
int memory__reservation_release(concert_storage *self, const concert_release_request *req,
                                concert_reservation *out);
int memory__token_owner(concert_storage *self, const char *token, int64_t *user_id);
int memory__token_paid(concert_storage *self, const char *token, int64_t *reservation_id);
int memory__charge(concert_storage *self, const concert_charge_request *req, int64_t *balance_out);
int memory__balance_get(concert_storage *self, int64_t user_id, int64_t *balance_out);
int memory__history_list(concert_storage *self, int64_t user_id, int64_t before_id, size_t limit,
                         concert_emit_ledger_fn emit, void *ctx);
int memory__users_list(concert_storage *self, concert_emit_user_fn emit, void *ctx);
int memory__list_version(concert_storage *self, int64_t concert_id, int64_t schedule_id,
                         int64_t starts_after, int64_t now, concert_list_version *out);
int memory__prune(concert_storage *self, const concert_prune_request *req,
                  concert_prune_report *out);
int memory__verify(concert_storage *self, const concert_queue_params *params, int64_t now,
                   concert_emit_text_fn emit, void *ctx, concert_verify_report *report);

#endif
