/*
 * The in-memory storage backend ("memory:"): open, free and the method
 * table, plus the small helpers every part shares. The store's shape and the
 * file layout are described in memory_internal.h.
 */
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>

#include "memory_internal.h"

int memory__reserve_array(void *field, size_t *cap, size_t count, size_t extra, size_t size)
{
    void *items;
    memcpy(&items, field, sizeof(items));
    if (mem_array_reserve(&items, cap, count, extra, size, MEM_MAX_ITEMS) != 0)
        return -1;
    memcpy(field, &items, sizeof(items));
    return 0;
}

int memory__reserve_small(void *field, uint32_t *cap, uint32_t count, uint32_t extra, size_t size)
{
    uint64_t need = (uint64_t)count + extra;
    uint32_t next;
    void *items;

    if (need <= *cap)
        return 0;
    if (need > UINT32_MAX / 2)
        return -1;
    next = *cap ? *cap : 4;
    while (next < need)
        next *= 2;
    if ((size_t)next > SIZE_MAX / size)
        return -1;
    memcpy(&items, field, sizeof(items));
    items = realloc(items, (size_t)next * size);
    if (!items)
        return -1;
    memcpy(field, &items, sizeof(items));
    *cap = next;
    return 0;
}

int memory__out_of_memory(const char *what)
{
    return concert_sys_error_set(CONCERT_ENOMEM, "memory store: out of memory %s", what);
}

int memory__not_found(int code, const char *what, int64_t id)
{
    return concert_sys_error_set(code, "%s %lld not found", what, (long long)id);
}

char *memory__text_dup(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

static void memory_free(concert_storage *self)
{
    memory_store *s;
    if (!self)
        return;
    s = memory__store_of(self);
    for (size_t i = 0; i < s->users_count; i++) {
        free(s->users[i].name);
        free(s->users[i].ledger);
        free(s->users[i].bought);
    }
    for (size_t i = 0; i < s->concerts_count; i++) {
        free(s->concerts[i].title);
        free(s->concerts[i].schedules);
    }
    for (size_t i = 0; i < s->schedules_count; i++) {
        free(s->schedules[i].ranges);
        free(s->schedules[i].seats);
    }
    for (size_t i = 0; i < s->verbatim_count; i++)
        free(s->verbatim[i]); /* NULL in a free slot */
    for (uint64_t i = s->idem.base; i < s->idem.end; i++)
        free(memory__idem(s, i)->text);
    free(s->users);
    free(s->user_order);
    free(s->concerts);
    free(s->concert_order);
    free(s->schedules);
    free(s->reservations);
    free(s->payments);
    free(s->ledger);
    mem_window_free(&s->tokens);
    free(s->verbatim);
    free(s->verbatim_free);
    mem_window_free(&s->idem);
    mem_index_free(&s->user_ix);
    mem_index_free(&s->concert_ix);
    mem_index_free(&s->schedule_ix);
    mem_index_free(&s->token_ix);
    mem_index_free(&s->idem_ix);
    mem_heap_free(&s->active_heap);
    mem_heap_free(&s->hold_heap);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* A fresh store's identity for list_version, from the db's random source
 * when it has one (deterministic tests stay deterministic), else the OS. */
static int store_epoch(const concert_options *opts, int64_t *out)
{
    uint64_t v = 0;
    int rc = opts && opts->random ? opts->random(opts->random_ctx, (unsigned char *)&v, sizeof(v))
                                  : (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v) ? 0 : -1);
    if (rc != 0)
        return concert_sys_error_set(CONCERT_ESTORAGE, "memory: no random bytes for the store id");
    *out = (int64_t)(v >> 1);
    return CONCERT_OK;
}

int concert_storage_memory_open(concert_storage **out, const char *location,
                                const concert_options *opts)
{
    memory_store *s;

    int rc;

    (void)location; /* a memory store has no place */
    if (!out)
        return concert_sys_error_set(CONCERT_EINVAL, "concert_storage_memory_open: NULL out");
    *out = NULL;
    memory__token_codec_init();
    s = calloc(1, sizeof(*s));
    if (!s)
        return memory__out_of_memory("opening the store");
    /* a memory store is always new: the options seed its queue settings */
    if ((rc = memory__settings_seed(s, opts)) != 0) {
        free(s);
        return rc;
    }
    if ((rc = store_epoch(opts, &s->epoch)) != 0) {
        free(s);
        return rc;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return memory__out_of_memory("creating the store's lock");
    }
    s->base.version = CONCERT_STORAGE_VERSION;
    s->base.name = "memory";
    s->base.free = memory_free;
    s->base.queue_issue = memory__queue_issue;
    s->base.queue_status = memory__queue_status;
    s->base.queue_leave = memory__queue_leave;
    s->base.queue_stats = memory__queue_stats;
    s->base.queue_configure = memory__queue_configure;
    s->base.concerts_list = memory__concerts_list;
    s->base.concert_get = memory__concert_get;
    s->base.schedules_list = memory__schedules_list;
    s->base.schedule_get = memory__schedule_get;
    s->base.seats_available = memory__seats_available;
    s->base.seat_map = memory__seat_map;
    s->base.catalog_load = memory__catalog_load;
    s->base.seat_hold = memory__seat_hold;
    s->base.reservation_get = memory__reservation_get;
    s->base.pay = memory__pay;
    s->base.reservation_release = memory__reservation_release;
    s->base.token_owner = memory__token_owner;
    s->base.token_paid = memory__token_paid;
    s->base.charge = memory__charge;
    s->base.balance_get = memory__balance_get;
    s->base.history_list = memory__history_list;
    s->base.users_list = memory__users_list;
    s->base.list_version = memory__list_version;
    s->base.prune = memory__prune;
    s->base.verify = memory__verify;
    *out = &s->base;
    return CONCERT_OK;
}
