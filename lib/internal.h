/*
 * Internal declarations shared by the core's modules. Never installed.
 */
#ifndef CONCERT_INTERNAL_H
#define CONCERT_INTERNAL_H

#include <stdatomic.h>

#include <concert/concert.h>
#include <concert/sys/storage.h>

typedef struct concert__queue_cache concert__queue_cache;
typedef struct concert__schedule_cache concert__schedule_cache;
typedef struct concert__owner_cache concert__owner_cache;

struct concert_db {
    concert_storage *storage;
    concert_options opts;                    /* with defaults resolved */
    concert_queue_params queue;              /* derived from opts */
    concert__queue_cache *queue_cache;       /* queue_cache.c */
    concert__schedule_cache *schedule_cache; /* schedule_cache.c */
    concert__owner_cache *owner_cache;       /* owner_cache.c */
    /* storage_calls.c: what this handle asked of its backend, for
     * concert_db_stats_get() (relaxed: counts, not synchronisation) */
    atomic_uint_least64_t storage_calls;
    atomic_uint_least64_t storage_errors;
};

/* ---- errors.c ---- */
/* Set the thread's error detail; returns code. */
int concert__error_set(int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Set the detail to the code's generic text unless a message for this very
 * code was just set (by a backend); returns code. */
int concert__error_ensure(int code);
/* Forget the detail, so that concert__error_ensure knows whether a backend set one. */
void concert__error_clear(void);
/* 1 if code is a value of concert_error_code. */
int concert__error_is_known(int code);

/* ---- options.c ---- */
/* Copy opts (may be NULL) into out with every default resolved; checks ranges. */
int concert__options_resolve(concert_options *out, const concert_options *opts);

/* ---- db.c ---- */
enum {
    CONCERT__STORE_MEMORY = 1,
    CONCERT__STORE_SQLITE = 2,
    CONCERT__STORE_POSTGRES = 3
};
/* Which backend a store URI names and what it gets as location (pure: no
 * I/O, no allocation; location points into uri or at a static ""). */
int concert__uri_parse(const char *uri, int *kind, const char **location);

/* ---- clock ---- */
int64_t concert__now(const concert_db *db);

/* ---- token.c ---- */
/* len bytes from db's random source (injected, else the OS CSPRNG): 0 or -1. */
int concert__random_bytes(const concert_db *db, unsigned char *buf, size_t len);
/* Fill out (CONCERT_TOKEN_SIZE) with a fresh token from db's random source. */
int concert__token_generate(const concert_db *db, char *out);
/* 1 if text looks like a token we could have issued (length, alphabet). */
int concert__token_well_formed(const char *text);
/* The core's own tokens: 32 base64url characters holding 24 random bytes. */
#define CONCERT__TOKEN_CHARS 32
#define CONCERT__TOKEN_BYTES 24
/* 1 and the 24 bytes in out if text is such a token (exactly 32 characters
 * of the alphabet), else 0 (out is then garbage). */
int concert__token_decode(const char *text, unsigned char out[CONCERT__TOKEN_BYTES]);

/* ---- list.c: a growable array the core fills from backend callbacks ---- */
typedef struct concert__vec {
    void *items;
    size_t count;
    size_t capacity;
    size_t item_size;
} concert__vec;
void concert__vec_init(concert__vec *v, size_t item_size);
int concert__vec_push(concert__vec *v, const void *item); /* 0 or CONCERT_ENOMEM */
void concert__vec_free(concert__vec *v);
/*
 * Allocate one block holding a list header of header_size bytes followed by
 * the vector's items, so the caller frees the whole list with one free().
 * *items_field is set to point at the copied items. Frees nothing of v.
 */
void *concert__list_from_vec(size_t header_size, const concert__vec *v, void **items_out);
/*
 * The end of every list call: when *rc is 0, *list becomes a new list (its
 * struct type's size, count and items set from v), or NULL with *rc =
 * CONCERT_ENOMEM ("out of memory listing <what>"); v is freed either way.
 * The caller then fills the list's other fields. A macro so that items
 * keeps each list's element type.
 */
#define CONCERT__LIST_TAKE(rc, v, list, what)                                                      \
    do {                                                                                           \
        void *items_ = NULL;                                                                       \
        (list) = NULL;                                                                             \
        if ((rc) == 0) {                                                                           \
            (list) = concert__list_from_vec(sizeof(*(list)), (v), &items_);                        \
            if (!(list)) {                                                                         \
                (rc) = concert__error_set(CONCERT_ENOMEM, "out of memory listing %s", (what));     \
            } else {                                                                               \
                (list)->count = (v)->count;                                                        \
                (list)->items = items_;                                                            \
            }                                                                                      \
        }                                                                                          \
        concert__vec_free(v);                                                                      \
    } while (0)

/* ---- storage_calls.c: the only place the core calls a backend ---- */
int concert__storage_check(const concert_storage *s);
int concert__st_queue_issue(concert_db *db, int64_t user_id, const char *new_token, int64_t now,
                            concert_storage_token *out);
int concert__st_queue_status(concert_db *db, const char *token, int64_t now,
                             concert_storage_token *out);
int concert__st_queue_leave(concert_db *db, const char *token, int64_t now);
int concert__st_queue_stats(concert_db *db, int64_t now, concert_queue_stats *out);
int concert__st_queue_configure(concert_db *db, const concert_queue_update *u, int64_t now,
                                concert_queue_settings *out);
int concert__st_concerts_list(concert_db *db, int32_t status, concert_emit_concert_fn emit,
                              void *ctx);
int concert__st_concert_get(concert_db *db, int64_t id, concert_concert *out);
int concert__st_schedules_list(concert_db *db, int64_t concert_id, int64_t starts_after,
                               int64_t now, concert_emit_schedule_fn emit, void *ctx,
                               int64_t *total);
int concert__st_schedule_get(concert_db *db, int64_t id, concert_storage_schedule *out);
int concert__st_seats_available(concert_db *db, int64_t schedule_id, int64_t now,
                                concert_emit_seat_fn emit, void *ctx);
int concert__st_seat_map(concert_db *db, int64_t schedule_id, int64_t now,
                         concert_emit_seat_state_fn emit, void *ctx);
int concert__st_list_version(concert_db *db, int64_t concert_id, int64_t schedule_id,
                             int64_t starts_after, int64_t now, concert_list_version *out);
int concert__st_prune(concert_db *db, size_t limit, int64_t now, concert_prune_report *out);
int concert__st_catalog_load(concert_db *db, const concert_catalog *c, int64_t now);
int concert__st_seat_hold(concert_db *db, const concert_hold_request *req,
                          concert_reservation *out);
int concert__st_reservation_get(concert_db *db, int64_t id, concert_reservation *out);
int concert__st_pay(concert_db *db, const concert_pay_request *req, concert_payment *out);
int concert__st_charge(concert_db *db, const concert_charge_request *req, int64_t *balance);
int concert__st_balance_get(concert_db *db, int64_t user_id, int64_t *balance);
int concert__st_reservation_release(concert_db *db, const concert_release_request *req,
                                    concert_reservation *out);
int concert__st_token_owner(concert_db *db, const char *token, int64_t *user_id);
int concert__st_history_list(concert_db *db, int64_t user_id, int64_t before_id, size_t limit,
                             concert_emit_ledger_fn emit, void *ctx);
int concert__st_users_list(concert_db *db, concert_emit_user_fn emit, void *ctx);
int concert__st_verify(concert_db *db, int64_t now, concert_emit_text_fn emit, void *ctx,
                       concert_verify_report *report);
/* The first reservation of the payment that ended token (0: none).
 * CONCERT_ENOTSUP when the backend cannot say (no token_paid method). */
int concert__st_token_paid(concert_db *db, const char *token, int64_t *reservation_id);
/* The backend's own counters (zeros when it has no counters method). */
int concert__st_counters(concert_db *db, concert_storage_counters *out);

/* ---- queue.c: used by every token-taking call ---- */
/* CONCERT_ETOKEN_INVALID for NULL or text we could not have issued. */
int concert__token_text_check(const char *token);
/* CONCERT_ETOKEN_INVALID for a well-formed token that a step refused (unknown
 * or no longer live), with the one wording every store shares: which
 * payment used it, else unknown, else expired or ended. */
int concert__token_invalid(concert_db *db, const char *token);
/*
 * Resolve token to its user, requiring it ACTIVE. Errors:
 * CONCERT_EINVAL (NULL), CONCERT_ETOKEN_INVALID, CONCERT_ETOKEN_NOT_ACTIVE.
 */
/* The same check for calls that only read the catalog: may be answered from
 * the owner cache (concert__owner_cache_active). */
int concert__token_require_active_read(concert_db *db, const char *token, int64_t now,
                                       int64_t *user_id);
int concert__token_require_active(concert_db *db, const char *token, int64_t now, int64_t *user_id);


/* ---- queue_settings.c ---- */
/* The lottery's Fisher-Yates over db's random source (ctx is the db); a
 * concert_shuffle_fn. */
int concert__shuffle(void *ctx, int64_t *items, size_t n);

/* ---- queue_cache.c: the db's cached view of the queue ---- */
int concert__queue_cache_new(concert_db *db);
void concert__queue_cache_free(concert_db *db);
/* Forget the view (not the tokens): the next use reads the store. */
void concert__queue_cache_invalidate(concert_db *db);
/* Read the view from the store now (runs admission); fills out. */
int concert__queue_view_refresh(concert_db *db, int64_t now, concert_queue_stats *out);
/* The view as of at most queue_refresh_ms ago (eta_ms filled). */
int concert__queue_view_get(concert_db *db, int64_t now, concert_queue_stats *out);
/* 1 if token's poll was answered (WAITING) from the cache into out, else 0. */
int concert__queue_cache_poll(concert_db *db, const char *token, int64_t now,
                              concert_token_info *out);
/* Remember (WAITING) or forget (anything else) a token the store reported. */
void concert__queue_cache_learn(concert_db *db, const concert_storage_token *t);
void concert__queue_cache_forget(concert_db *db, const char *token);

/* ---- owner_cache.c: token -> user for the tokens this db has seen ---- */
int concert__owner_cache_new(concert_db *db);
void concert__owner_cache_free(concert_db *db);
/* 1 if token's owner is cached (into *user_id), else 0. */
int concert__owner_cache_get(concert_db *db, const char *token, int64_t *user_id);
void concert__owner_cache_put(concert_db *db, const char *token, int64_t user_id);
/* The same, remembering that the store said ACTIVE until active_until at
 * seen (0, 0: nothing known about its state). */
void concert__owner_cache_put_active(concert_db *db, const char *token, int64_t user_id,
                                     int64_t active_until, int64_t seen);
/* 1 and *user_id if the store said the token was ACTIVE within
 * queue_refresh_ms and it has not expired since (read-only calls only). */
int concert__owner_cache_active(concert_db *db, const char *token, int64_t now, int64_t *user_id);
/* This db ended the token (payment, leave): no longer known ACTIVE. */
void concert__owner_cache_ended(concert_db *db, const char *token);
/* Estimated wait for a position at the given admission rate; -1 unknown. */
int64_t concert__queue_eta(int32_t queue_state, int64_t position, int64_t rate_mps);

/* ---- catalog.c ---- */
/* A schedule that exists, belongs to an OPEN concert and is still bookable
 * (from the db's schedule cache when it can: catalog rows never change). */
int concert__schedule_require_bookable(concert_db *db, int64_t schedule_id, int64_t now,
                                       concert_storage_schedule *out);

/* ---- schedule_cache.c: schedules this db has read (they never change) ---- */
int concert__schedule_cache_new(concert_db *db);
void concert__schedule_cache_free(concert_db *db);
/* The schedule from the cache, else from the store (then cached). */
int concert__schedule_lookup(concert_db *db, int64_t schedule_id, concert_storage_schedule *out);


#endif
