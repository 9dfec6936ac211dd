/*
 * Scenario 6: growth over a long sale (issue 12, "bounded growth").
 *
 * A server that runs for a season must not grow with what it has served:
 * ended tokens and idempotency records are deleted after retention_ms
 * (inside normal calls, and by concert_admin_prune()), while sale records (a
 * reservation, its payment, its ledger entry, the seat it sold) and the
 * ledger entries of charges are kept forever by design. Each run drives one
 * store with a fake clock (CLOCK_STEP per cycle, retention a few tens of
 * thousands of cycles long), 1,000 users, one thread, and measures the
 * store's size at a first checkpoint (after the retention window has
 * filled) and at the end:
 *  - memory: the process RSS after malloc_trim (concert_admin_prune is never
 *    called: the store must stay bounded by what its normal calls prune);
 *  - SQLite: the file after concert_admin_prune() and a WAL checkpoint, and the
 *    pages in use (page_count - freelist_count).
 * The runs:
 *  - growth.flow: issue, hold, pay with an idempotency key;
 *  - growth.churn: the waiting room without sales: issue (admitted), leave,
 *    and a keyed charge every CHURN_CHARGE_EVERY cycles. Its end/first
 *    ratio is the issue's bar (<= 1.2x);
 * and controls that price what is kept, so that what must not grow is a
 * figure of its own rather than a guess:
 *  - growth.ledger: charges without a key (a ledger entry each, nothing to
 *    prune): L bytes per ledger entry, kept by design;
 *  - growth.tokens.keep: issue and leave with a retention longer than the
 *    run: T bytes per ended token when nothing is pruned;
 *  - growth.flow.keep: the flow without an idempotency key and with that
 *    retention: S = growth - T is the flow's sale records (reservation,
 *    payment, ledger entry, the seat), kept by design;
 *  - growth.flow.keep.keyed: the same with keys: I = growth - S - T is an
 *    idempotency record, so T + I is what retention takes back per flow.
 * What must not grow is then growth.flow's bytes per flow minus S, and
 * growth.churn's per cycle minus its ledger entries (L each).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef BENCH_HAVE_SQLITE3
#include <sqlite3.h>
#endif

#include "bench.h"

#define GROWTH_USERS 1000
#define GROWTH_SEATS_PER_SCHEDULE 100000
#define GROWTH_PRICE 100
#define GROWTH_POINTS INT64_C(1000000000000)
#define GROWTH_T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
/* A keyed charge every this many cycles of growth.churn: in a waiting room
 * most joiners never pay, and each charge keeps a ledger entry forever. */
#define CHURN_CHARGE_EVERY 100
/* Retention of the keep controls: the most the library accepts, longer
 * than any run. */
#define KEEP_RETENTION_MS (INT64_C(366) * 24 * 3600 * 1000)
/* Memory: 1 ms a cycle, 60 s retention: 60,000 cycles' worth of ended
 * tokens and idempotency records live, well inside the first checkpoint.
 * SQLite runs a thousand times fewer cycles: 240 ms a cycle, 250 cycles'
 * worth. */
#define MEMORY_STEP_MS 1
#define SQLITE_STEP_MS 240
#define GROWTH_RETENTION_MS 60000
/* The control runs need only enough cycles to price a record. */
#define MEMORY_CONTROL_MAX 1000000

enum growth_work {
    WORK_FLOW,
    WORK_FLOW_UNKEYED,
    WORK_CHURN,
    WORK_TOKENS,
    WORK_LEDGER
};

typedef struct growth_run {
    const char *name;
    int work;
    int64_t retention_ms;
    int64_t first, total; /* checkpoints, in cycles */
} growth_run;

typedef struct growth_result {
    int64_t size_first, size_total; /* bytes: RSS or file */
    int64_t used_first, used_total; /* SQLite: pages in use, in bytes */
    int64_t charges_between;        /* ledger entries by design between */
    double cycles_per_s;
    double bytes_per_cycle; /* (size_total - size_first) / cycles */
    double used_per_cycle;
    char prune_note[96];
} growth_result;

typedef struct growth_ctx {
    int kind;
    bench_store st;
    int64_t now; /* the fake clock */
    int64_t step_ms;
    int64_t schedules; /* loaded so far */
} growth_ctx;

static int64_t fake_clock(void *arg)
{
    return ((growth_ctx *)arg)->now;
}

/* ---- sizes ---- */

static int64_t rss_trimmed(void)
{
    bench_heap_trim();
    return bench_rss_kib() * 1024;
}

#ifdef BENCH_HAVE_SQLITE3
/* PRAGMA name as an integer, or -1. */
static int64_t sqlite_pragma(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}
#endif

/*
 * SQLite: everything due pruned, the WAL checkpointed into the file and
 * truncated; *size = the file, *used = the pages holding data. The
 * library's connections are idle, so the checkpoint can run to the end.
 */
static int sqlite_size(growth_ctx *g, int64_t *size, int64_t *used, char *note, size_t note_size)
{
    concert_prune_report rep;
    int64_t tokens = 0, idem = 0;
    struct stat sb;
    int rc;

    do {
        memset(&rep, 0, sizeof(rep));
        rc = concert_admin_prune(&rep, g->st.db, 0);
        tokens += rep.tokens;
        idem += rep.idempotency;
    } while (rc == 0 && rep.more);
    if (rc != 0)
        snprintf(note, note_size, "concert_admin_prune: %s", concert_error_name(rc));
    else
        snprintf(note, note_size, "concert_admin_prune took %lld tokens, %lld idempotency records",
                 (long long)tokens, (long long)idem);
    *used = -1;
#ifdef BENCH_HAVE_SQLITE3
    {
        sqlite3 *h = NULL;
        if (sqlite3_open_v2(g->st.sqlite_path, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
            sqlite3_busy_timeout(h, 5000);
            (void)sqlite_pragma(h, "PRAGMA wal_checkpoint(TRUNCATE)");
            const int64_t pages = sqlite_pragma(h, "PRAGMA page_count");
            const int64_t free_pages = sqlite_pragma(h, "PRAGMA freelist_count");
            const int64_t page_size = sqlite_pragma(h, "PRAGMA page_size");
            if (pages >= 0 && free_pages >= 0 && page_size > 0)
                *used = (pages - free_pages) * page_size;
        }
        sqlite3_close(h);
    }
#endif
    if (stat(g->st.sqlite_path, &sb) != 0) {
        bench_log("growth: cannot stat %s", g->st.sqlite_path);
        return -1;
    }
    *size = (int64_t)sb.st_size;
    return 0;
}

static int store_size(growth_ctx *g, int64_t *size, int64_t *used, char *note, size_t note_size)
{
    if (g->kind == STORE_SQLITE)
        return sqlite_size(g, size, used, note, note_size);
    *used = -1;
    *size = rss_trimmed();
    snprintf(note, note_size, "no explicit prune");
    return 0;
}

/* ---- the cycles ---- */

static int fail(const char *what, int64_t cycle, int rc)
{
    bench_log("growth: %s at cycle %lld: %s (%s)", what, (long long)cycle, concert_error_name(rc),
              concert_error_last()->message);
    return -1;
}

/* Seats come a schedule (one concert) at a time, as the flows reach them:
 * loading ten million up front would hide them in the first checkpoint. */
static int flow_cycle(growth_ctx *g, int64_t k, int keyed)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    char key[32];
    const int64_t user = 1 + k % GROWTH_USERS;
    const int64_t schedule = 1 + k / GROWTH_SEATS_PER_SCHEDULE;
    int rc;

    if (schedule > g->schedules) {
        if (bench_load_concert(g->st.db, schedule, schedule, 1, GROWTH_SEATS_PER_SCHEDULE,
                               GROWTH_PRICE) != 0)
            return -1;
        g->schedules = schedule;
    }
    if ((rc = concert_queue_issue(&t, g->st.db, user)) != 0)
        return fail("issue", k, rc);
    if (t.state != CONCERT_TOKEN_ACTIVE)
        return fail("issue (not admitted at once)", k, CONCERT_EINTERNAL);
    if ((rc = concert_reserve_seat(&r, g->st.db, t.token, schedule,
                                   k % GROWTH_SEATS_PER_SCHEDULE + 1)) != 0)
        return fail("hold", k, rc);
    snprintf(key, sizeof(key), "pay-%lld", (long long)k);
    if ((rc = concert_pay(&p, g->st.db, t.token, r.id, keyed ? key : NULL)) != 0)
        return fail("pay", k, rc);
    return 0;
}

static int charge(growth_ctx *g, int64_t k, int keyed)
{
    char key[32];
    snprintf(key, sizeof(key), "charge-%lld", (long long)k);
    const int rc =
        concert_charge_points(NULL, g->st.db, 1 + k % GROWTH_USERS, 1, keyed ? key : NULL);
    return rc != 0 ? fail("charge", k, rc) : 0;
}

/* charge_every: a keyed charge every this many cycles; 0: none. */
static int churn_cycle(growth_ctx *g, int64_t k, int charge_every)
{
    concert_token_info t;
    int rc;
    if ((rc = concert_queue_issue(&t, g->st.db, 1 + k % GROWTH_USERS)) != 0)
        return fail("issue", k, rc);
    if (t.state != CONCERT_TOKEN_ACTIVE)
        return fail("issue (not admitted at once)", k, CONCERT_EINTERNAL);
    if ((rc = concert_queue_leave(g->st.db, t.token)) != 0)
        return fail("leave", k, rc);
    return charge_every > 0 && k % charge_every == 0 ? charge(g, k, 1) : 0;
}

static int cycle(growth_ctx *g, int work, int64_t k)
{
    g->now += g->step_ms;
    switch (work) {
    case WORK_FLOW:
        return flow_cycle(g, k, 1);
    case WORK_FLOW_UNKEYED:
        return flow_cycle(g, k, 0);
    case WORK_CHURN:
        return churn_cycle(g, k, CHURN_CHARGE_EVERY);
    case WORK_TOKENS:
        return churn_cycle(g, k, 0);
    default:
        return charge(g, k, 0);
    }
}

/* Ledger entries a run keeps by design in cycles [from, to). */
static int64_t charges_in(int work, int64_t from, int64_t to)
{
    switch (work) {
    case WORK_CHURN: /* k % CHURN_CHARGE_EVERY == 0 */
        return (to - 1) / CHURN_CHARGE_EVERY - (from - 1) / CHURN_CHARGE_EVERY;
    case WORK_LEDGER:
        return to - from;
    default:
        return 0; /* the flow's ledger entries are part of its sale records */
    }
}

static int growth_one(const bench_options *o, int kind, const growth_run *run, growth_result *res)
{
    concert_options opts = CONCERT_OPTIONS_INIT;
    growth_ctx *g = calloc(1, sizeof(*g));
    int64_t elapsed = 0, t0;
    char note[96];
    int rc = -1;

    memset(res, 0, sizeof(*res));
    if (!g)
        return -1;
    g->kind = kind;
    g->now = GROWTH_T0;
    g->step_ms = kind == STORE_SQLITE ? SQLITE_STEP_MS : MEMORY_STEP_MS;
    opts.clock = fake_clock;
    opts.clock_ctx = g;
    opts.retention_ms = run->retention_ms;
    bench_log("growth: %s, %s, %lld cycles (checkpoint at %lld)", bench_store_name(kind), run->name,
              (long long)run->total, (long long)run->first);
    if (bench_store_open(&g->st, kind, o, &opts) != 0) {
        free(g);
        return -1;
    }
    if (bench_load_users(g->st.db, 1, GROWTH_USERS, GROWTH_POINTS) != 0)
        goto out;
    t0 = bench_now_ns();
    for (int64_t k = 0; k < run->total; k++) {
        if (k == run->first) {
            elapsed += bench_now_ns() - t0;
            if (store_size(g, &res->size_first, &res->used_first, note, sizeof(note)) != 0)
                goto out;
            bench_log("growth: %s, %s: %lld cycles, %.1f MiB", bench_store_name(kind), run->name,
                      (long long)k, (double)res->size_first / 1048576.0);
            t0 = bench_now_ns();
        }
        if (cycle(g, run->work, k) != 0)
            goto out;
    }
    elapsed += bench_now_ns() - t0;
    if (store_size(g, &res->size_total, &res->used_total, res->prune_note,
                   sizeof(res->prune_note)) != 0)
        goto out;
    const double cycles = (double)(run->total - run->first);
    res->charges_between = charges_in(run->work, run->first, run->total);
    res->cycles_per_s = elapsed > 0 ? (double)run->total * 1e9 / (double)elapsed : 0.0;
    res->bytes_per_cycle = (double)(res->size_total - res->size_first) / cycles;
    res->used_per_cycle = res->used_first >= 0 && res->used_total >= 0
                              ? (double)(res->used_total - res->used_first) / cycles
                              : 0.0;
    bench_log("growth: %s, %s: %lld cycles, %.1f MiB (%.1f B/cycle)", bench_store_name(kind),
              run->name, (long long)run->total, (double)res->size_total / 1048576.0,
              res->bytes_per_cycle);
    rc = 0;
out:
    bench_store_close(&g->st);
    free(g);
    return rc;
}

/* ---- rows ---- */

/* Copy or append with truncation: the notes are for people, a cut one is
 * still readable. */
static void text_copy(char *dst, size_t n, const char *src)
{
    const size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void text_append(char *dst, size_t n, const char *src)
{
    const size_t used = strnlen(dst, n - 1);
    text_copy(dst + used, n - used, src);
}

static void count_label(char *buf, size_t n, int64_t v, const char *unit)
{
    char digits[32], grouped[48];
    size_t o = 0;
    snprintf(digits, sizeof(digits), "%lld", (long long)v);
    const size_t len = strlen(digits);
    for (size_t i = 0; i < len && o + 2 < sizeof(grouped); i++) {
        if (i > 0 && (len - i) % 3 == 0)
            grouped[o++] = ',';
        grouped[o++] = digits[i];
    }
    grouped[o] = '\0';
    text_copy(buf, n, grouped);
    text_append(buf, n, " ");
    text_append(buf, n, unit);
}

static int add_row(int kind, const char *scenario, const growth_run *run, const growth_result *r,
                   double value, const char *value_name, const char *note)
{
    bench_row row;
    bench_row_init(&row, scenario, kind, 1);
    count_label(row.size, sizeof(row.size), run->total,
                run->work == WORK_FLOW || run->work == WORK_FLOW_UNKEYED ? "flows"
                : run->work == WORK_LEDGER                               ? "charges"
                                                                         : "cycles");
    row.reps = 1;
    row.ops = run->total;
    row.median.ops_per_s = r->cycles_per_s;
    row.value = value;
    snprintf(row.value_name, sizeof(row.value_name), "%s", value_name);
    text_copy(row.note, sizeof(row.note), note);
    return bench_report_add(&row);
}

static double mib(int64_t bytes)
{
    return (double)bytes / 1048576.0;
}

int scenario_growth(const bench_options *o, int kind)
{
    const int durable = kind != STORE_MEMORY;
    int64_t total = durable ? o->growth_durable_flows : o->growth_flows;
    if (total <= 0)
        total = durable ? (o->quick ? 4000 : 10000) : (o->quick ? 1000000 : 10000000);
    /* The first checkpoint: 100,000 flows on memory (the issue's), a tenth
     * of the run on SQLite; either way past the retention window. */
    int64_t first = durable ? total / 10 : (total >= 1000000 ? 100000 : total / 10);
    const int64_t control =
        durable ? total : (total < MEMORY_CONTROL_MAX ? total : MEMORY_CONTROL_MAX);
    const int64_t step = durable ? SQLITE_STEP_MS : MEMORY_STEP_MS;
    char note[256], size_note[64];
    const char *unit = durable ? "file" : "RSS";
    int rc = 0;

    if (kind == STORE_PG) {
        bench_log("growth: PostgreSQL is not measured here (its size is the server's)");
        return 0;
    }
#ifndef BENCH_HAVE_SQLITE3
    if (durable)
        bench_log("growth: built without sqlite3: file sizes only, no pages in use");
#endif
    if (first < 10) {
        bench_log("growth: --growth-flows too small");
        return -1;
    }
    if (first * step < GROWTH_RETENTION_MS)
        bench_log("growth: the first checkpoint (%lld cycles) comes before the retention "
                  "window (%lld cycles) has filled",
                  (long long)first, (long long)(GROWTH_RETENTION_MS / step));

    const growth_run runs[] = {
        { "flow", WORK_FLOW, GROWTH_RETENTION_MS, first, total },
        { "churn", WORK_CHURN, GROWTH_RETENTION_MS, first, total },
        { "ledger", WORK_LEDGER, GROWTH_RETENTION_MS, first, control },
        { "tokens.keep", WORK_TOKENS, KEEP_RETENTION_MS, first, control },
        { "flow.keep", WORK_FLOW_UNKEYED, KEEP_RETENTION_MS, first, control },
        { "flow.keep.keyed", WORK_FLOW, KEEP_RETENTION_MS, first, control },
    };
    growth_result res[sizeof(runs) / sizeof(runs[0])];
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        if (growth_one(o, kind, &runs[i], &res[i]) != 0)
            return -1;
    }
    const growth_result *flow = &res[0], *churn = &res[1], *ledger = &res[2];
    const growth_result *tokens_keep = &res[3], *flow_keep = &res[4], *keyed_keep = &res[5];

    /* Prices of what is kept, from the controls. */
    const double between = (double)(total - first);
    const double ledger_b = ledger->bytes_per_cycle;
    const double token_b = tokens_keep->bytes_per_cycle;
    const double sale_b = flow_keep->bytes_per_cycle - token_b;
    const double idem_b = keyed_keep->bytes_per_cycle - flow_keep->bytes_per_cycle;
    const double flow_rest = flow->bytes_per_cycle - sale_b;
    const double churn_ledger = ledger_b * (double)churn->charges_between;
    const double churn_rest =
        ((double)(churn->size_total - churn->size_first) - churn_ledger) / between;
    const double churn_ratio = (double)churn->size_total / (double)churn->size_first;
    const double churn_net = ((double)churn->size_total - churn_ledger) / (double)churn->size_first;
    const double flow_ratio = (double)flow->size_total / (double)flow->size_first;

    snprintf(size_note, sizeof(size_note), "%s %.1f -> %.1f MiB", unit, mib(flow->size_first),
             mib(flow->size_total));
    snprintf(note, sizeof(note),
             "%s (%lld -> %lld flows): %.1f B/flow = %.1f sale records (kept by design) + "
             "%.1f not sale records",
             size_note, (long long)first, (long long)total, flow->bytes_per_cycle, sale_b,
             flow_rest);
    rc |= add_row(kind, "growth.flow", &runs[0], flow, flow_ratio, "size_ratio", note);
    snprintf(note, sizeof(note),
             "net of ledger entries: ratio %.2f, %.2f B/cycle; raw %s %.1f -> %.1f MiB (%lld -> "
             "%lld), %.2f B/cycle, ratio %.2f (%lld keyed charges' ledger entries kept by "
             "design)",
             churn_net, churn_rest, unit, mib(churn->size_first), mib(churn->size_total),
             (long long)first, (long long)total, churn->bytes_per_cycle, churn_ratio,
             (long long)churn->charges_between);
    rc |= add_row(kind, "growth.churn", &runs[1], churn, churn_net, "net_size_ratio", note);
    snprintf(note, sizeof(note), "control: unkeyed charges, a ledger entry each (by design); %s",
             ledger->prune_note);
    rc |= add_row(kind, "growth.ledger", &runs[2], ledger, ledger_b, "bytes_per_entry", note);
    snprintf(note, sizeof(note),
             "control, retention longer than the run: issue+leave, %.1f B per ended token "
             "kept when not pruned",
             token_b);
    rc |= add_row(kind, "growth.tokens.keep", &runs[3], tokens_keep, token_b, "bytes_per_token",
                  note);
    snprintf(note, sizeof(note),
             "control, retention longer than the run, no key: %.1f B/flow = token %.1f + sale "
             "records %.1f",
             flow_keep->bytes_per_cycle, token_b, sale_b);
    rc |= add_row(kind, "growth.flow.keep", &runs[4], flow_keep, flow_keep->bytes_per_cycle,
                  "bytes_per_flow", note);
    snprintf(note, sizeof(note),
             "control, as flow.keep with keys: %.1f B/flow; an idempotency record %.1f B; "
             "retention takes back %.1f B/flow",
             keyed_keep->bytes_per_cycle, idem_b, token_b + idem_b);
    rc |= add_row(kind, "growth.flow.keep.keyed", &runs[5], keyed_keep, keyed_keep->bytes_per_cycle,
                  "bytes_per_flow", note);
    if (durable) {
        bench_row row;
        snprintf(note, sizeof(note),
                 "pages in use: flow %.1f B/flow, churn %.2f B/cycle, ledger %.1f B/entry; "
                 "churn: %s",
                 flow->used_per_cycle, churn->used_per_cycle, ledger->used_per_cycle,
                 churn->prune_note);
        bench_row_init(&row, "growth.pages", kind, 1);
        count_label(row.size, sizeof(row.size), total, "cycles");
        row.reps = 1;
        row.value =
            churn->used_first > 0 ? (double)churn->used_total / (double)churn->used_first : 0.0;
        snprintf(row.value_name, sizeof(row.value_name), "churn_used_ratio");
        text_copy(row.note, sizeof(row.note), note);
        rc |= bench_report_add(&row);
    }
    return rc;
}
