/*
 * Scenario 4: memory store footprint, as RSS growth.
 *
 * RSS is read after malloc_trim() so that it shows what the store keeps,
 * not what the allocator happens to hold from temporary buffers. The bench
 * keeps nothing of its own per seat or per token (tokens are not stored),
 * so the growth is the store's. One measurement: RSS growth of a million
 * items is not noisy the way timings are.
 */
#include <stdio.h>

#include "bench.h"

#define DAY_MS (INT64_C(24) * 3600 * 1000)
#define FOOTPRINT_ITEMS 1000000

static int64_t rss_bytes_trimmed(void)
{
    bench_heap_trim();
    return bench_rss_kib() * 1024;
}

static int add_row(const char *scenario, const char *size, double per_item, const char *what,
                   int64_t peak, const char *note)
{
    bench_row row;
    bench_row_init(&row, scenario, STORE_MEMORY, 1);
    snprintf(row.size, sizeof(row.size), "%s", size);
    row.reps = 1;
    row.value = per_item;
    snprintf(row.value_name, sizeof(row.value_name), "%s", what);
    row.peak_rss_kib = peak;
    snprintf(row.note, sizeof(row.note), "%s", note);
    return bench_report_add(&row);
}

int scenario_footprint(const bench_options *o)
{
    concert_options opts = CONCERT_OPTIONS_INIT;
    bench_store st;
    concert_token_info info;
    int rc = -1;

    opts.max_active = 1; /* every token after the first waits */
    opts.active_ttl_ms = DAY_MS;
    opts.wait_ttl_ms = DAY_MS;
    bench_log("footprint: memory store, 1,000,000 seats, users and waiting tokens");
    bench_peak_rss_reset();
    if (bench_store_open(&st, STORE_MEMORY, o, &opts) != 0)
        return -1;
    const int64_t rss0 = rss_bytes_trimmed(), data0 = bench_vmdata_kib() * 1024,
                  heap0 = bench_heap_in_use_bytes();
    if (bench_load_concert(st.db, 1, 1, 1, FOOTPRINT_ITEMS, 100) != 0)
        goto out;
    const int64_t rss1 = rss_bytes_trimmed(), data1 = bench_vmdata_kib() * 1024,
                  heap1 = bench_heap_in_use_bytes();
    if (bench_load_users(st.db, 1, FOOTPRINT_ITEMS, 0) != 0)
        goto out;
    const int64_t rss2 = rss_bytes_trimmed(), data2 = bench_vmdata_kib() * 1024,
                  heap2 = bench_heap_in_use_bytes();
    for (int64_t u = 1; u <= FOOTPRINT_ITEMS; u++) {
        const int e = concert_queue_issue(&info, st.db, u);
        if (e != 0) {
            bench_log("footprint issue: %s (%s)", concert_error_name(e),
                      concert_error_last()->message);
            goto out;
        }
    }
    const int64_t rss3 = rss_bytes_trimmed(), data3 = bench_vmdata_kib() * 1024,
                  heap3 = bench_heap_in_use_bytes();
    const int64_t peak = bench_peak_rss_kib();
    /* Memory that is allocated but never written (calloc'ed pages) is not
     * resident; VmData growth shows the allocation alongside, and heap in use
     * (mallinfo2) what the store holds through malloc. */
    char note[200];
    snprintf(note, sizeof(note),
             "RSS growth loading one 1,000,000-seat schedule; allocated (VmData) %.1f B/seat; "
             "heap in use %.1f B/seat",
             (double)(data1 - data0) / FOOTPRINT_ITEMS, (double)(heap1 - heap0) / FOOTPRINT_ITEMS);
    rc = add_row("footprint.seat", "1,000,000 seats", (double)(rss1 - rss0) / FOOTPRINT_ITEMS,
                 "bytes_per_seat", peak, note);
    snprintf(note, sizeof(note),
             "RSS growth loading users with 0 points; VmData %.1f B/user; heap in use %.1f B/user",
             (double)(data2 - data1) / FOOTPRINT_ITEMS, (double)(heap2 - heap1) / FOOTPRINT_ITEMS);
    rc |= add_row("footprint.user", "1,000,000 users", (double)(rss2 - rss1) / FOOTPRINT_ITEMS,
                  "bytes_per_user", peak, note);
    snprintf(note, sizeof(note),
             "RSS growth issuing 1,000,000 waiting tokens; VmData %.1f B/token; heap in use "
             "%.1f B/token",
             (double)(data3 - data2) / FOOTPRINT_ITEMS, (double)(heap3 - heap2) / FOOTPRINT_ITEMS);
    rc |= add_row("footprint.token", "1,000,000 waiting", (double)(rss3 - rss2) / FOOTPRINT_ITEMS,
                  "bytes_per_token", peak, note);
out:
    bench_store_close(&st);
    return rc;
}
