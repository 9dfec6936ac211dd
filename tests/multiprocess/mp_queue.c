/*
 * mp_queue: the waiting queue's shared settings obeyed by several processes
 * on one store (issue 10, "Multi-process on PostgreSQL and on SQLite").
 *
 *   mp_queue STORE_URI [PROCESSES]
 *
 * The store must be empty (the caller provides a fresh file or database).
 * PROCESSES (3..16, default 4) child processes each open their own handle
 * with the default queue_refresh_ms (250) and poll their buyers' tokens;
 * the parent holds a handle that always reads the store (queue_refresh_ms
 * 0) and checks after every step. Every process reads one fake clock, an
 * int64 in shared memory that only the parent moves, in steps of STEP_MS;
 * at every step every child polls every token it holds, so the store sees
 * the traffic of a sale while the test stays deterministic in time.
 *
 *  A  limits: max_active and admit_per_minute set in the store (the
 *     children's own options say otherwise and must be ignored). ACTIVE
 *     never exceeds max_active; no 60-second window admits more than
 *     admit_per_minute, no 10-second one more than a quarter of it (spread
 *     over the minute, not a burst); admissions do happen.
 *  B  pause through ONE child's handle while admissions flow: within one
 *     refresh interval every process sees PAUSED and nobody is admitted;
 *     resume through another child: admissions restart.
 *  C  lottery: a SCHEDULED queue pre-queues every join; the clock jumps past
 *     opens_at and every child polls at once, so they race to open it. The
 *     shuffle ran exactly once: max_active admitted, the others at positions
 *     1..n-max_active, each once, stable afterwards, not in join order.
 *     LOTTERY_ROUNDS openings in a row, since one race need not overlap: a
 *     lottery left unguarded on PostgreSQL was caught in 5 runs of 5.
 * After A, B and C nobody is lost or admitted twice: every token joined is
 * ACTIVE or WAITING, the ACTIVE ones are exactly stats.active, positions of
 * WAITING ones are distinct.
 *
 * Nothing ends during A and B (TTLs of hours), so stats.active after each
 * step is the number of admissions so far: the per-window counts come from
 * that series. Exit status 0 when all holds, 1 otherwise (with the reasons).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <concert/concert.h>

#define MAX_CHILDREN 16
#define USERS_A 30 /* per child, scenarios A and B */
#define USERS_C 15 /* per child, scenario C */
#define TOKENS (USERS_A + USERS_C)
#define LOTTERY_ROUNDS                                                                             \
    8                     /* openings in C: each one a race to open; on 2 cores
                                one race in three or so overlaps */
#define USER_BASE_C 10000 /* user ids of scenario C start above it, */
#define ROUND_USERS 1000  /* ... this many apart from one round to the next */
#define CATALOG_USERS (USERS_A + LOTTERY_ROUNDS * USERS_C) /* per child */
#define LIMIT_M 40                                         /* max_active in A */
#define RATE_R 30                                          /* admit_per_minute in A and B */
#define LOTTERY_M 20                                       /* max_active in C */
#define STEP_MS 100                                        /* fake time per step */
#define REFRESH_MS CONCERT_DEFAULT_QUEUE_REFRESH_MS
#define LONG_TTL_MS (6 * 3600 * 1000)   /* nothing ends by itself during the run */
#define START_MS INT64_C(1893456000000) /* 2030-01-01: any fixed time */
#define STEP_WAIT_S 60                  /* real seconds one step may take */
#define CHILD_IDLE_S 120                /* real seconds a child waits for the next step */
#define MAX_SAMPLES 8192
#define MAX_FAIL_LINES 30 /* print no more; count them all */

/* What the parent asks every child to do at a step; every child polls all
 * its live tokens after it. */
enum {
    CMD_POLL = 1,
    CMD_JOIN_A,  /* join USERS_A buyers */
    CMD_JOIN_C,  /* join USERS_C buyers of round arg (the queue is SCHEDULED) */
    CMD_PAUSE,   /* child number arg pauses the queue */
    CMD_RESUME,  /* child number arg resumes it */
    CMD_LEAVE_A, /* leave every A token */
    CMD_LEAVE_C, /* leave every C token */
    CMD_EXIT
};

#define POS_LEFT INT64_C(-2) /* a token the child has left */
#define POS_LOST INT64_C(-3) /* a token the store no longer knows */

/* A child's results, written before it acknowledges a step; the parent reads
 * them after every child did (the shared mutex orders the two). */
typedef struct child_slot {
    int32_t failed;
    int32_t token_count;
    char tokens[TOKENS][CONCERT_TOKEN_SIZE];
    int64_t users[TOKENS];
    int64_t positions[TOKENS]; /* last reported: 0 ACTIVE, -1 pre-queued,
                                     POS_LEFT left */
    int64_t seen_active;       /* own tokens the child was told are ACTIVE */
    int64_t seen_prequeued;
    int64_t eta_known;  /* own WAITING tokens reported with an ETA */
    int32_t view_state; /* its db's (cached) view of the queue */
    int32_t reserved;
    int64_t view_active;
    int64_t view_max_active;
    char message[320];
} child_slot;

typedef struct shared {
    _Atomic int64_t clock; /* the fake clock, ms since the epoch */
    pthread_mutex_t lock;  /* guards everything below */
    pthread_cond_t go;     /* parent -> children: a new step */
    pthread_cond_t done;   /* children -> parent: one more acknowledged */
    int64_t step;
    int32_t command;
    int32_t arg;
    int32_t acked;
    int32_t reserved;
    child_slot child[MAX_CHILDREN];
} shared;

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    if (failures++ >= MAX_FAIL_LINES)
        return;
    fprintf(stderr, "mp_queue: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double monotonic_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct timespec monotonic_in(double seconds)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)seconds;
    t.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* ---- shared memory and the step handshake ---- */

static int64_t shared_clock(void *ctx)
{
    return atomic_load(&((shared *)ctx)->clock);
}

/* The mutex is robust: a child that dies holding it must not hang the rest. */
static void sh_lock(shared *sh)
{
    if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&sh->lock);
}

static void sh_unlock(shared *sh)
{
    pthread_mutex_unlock(&sh->lock);
}

/* 0, or ETIMEDOUT */
static int sh_wait(shared *sh, pthread_cond_t *cond, double seconds)
{
    struct timespec until = monotonic_in(seconds);
    int rc = pthread_cond_timedwait(cond, &sh->lock, &until);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&sh->lock);
        rc = 0;
    }
    return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

static shared *shared_new(void)
{
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    shared *sh =
        mmap(NULL, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return NULL;
    memset(sh, 0, sizeof(*sh));
    atomic_store(&sh->clock, START_MS);
    if (pthread_mutexattr_init(&ma) != 0 || pthread_condattr_init(&ca) != 0)
        return NULL;
    if (pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
        pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_mutex_init(&sh->lock, &ma) != 0 || pthread_cond_init(&sh->go, &ca) != 0 ||
        pthread_cond_init(&sh->done, &ca) != 0)
        return NULL;
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_destroy(&ca);
    return sh;
}

static concert_options queue_options(shared *sh, int64_t refresh_ms)
{
    concert_options o;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.clock = shared_clock;
    o.clock_ctx = sh;
    o.active_ttl_ms = LONG_TTL_MS;
    o.wait_ttl_ms = LONG_TTL_MS;
    o.queue_refresh_ms = refresh_ms;
    o.pool_size = 2;
    return o;
}

/* ---- the child: one process of the sale ---- */

typedef struct child {
    shared *sh;
    child_slot *slot;
    concert_db *db;
    int index;
    int32_t state[TOKENS];        /* last state reported; 0 none yet */
    int64_t min_position[TOKENS]; /* smallest positive position reported */
    int32_t prequeued[TOKENS];    /* joined pre-queued, no place reported yet */
} child;

static void child_fail(child *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void child_fail(child *c, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (c->slot->failed++)
        return; /* the first failure is the one worth reading */
    n = snprintf(c->slot->message, sizeof(c->slot->message),
                 "child %d (clock +%lld ms): ", c->index,
                 (long long)(atomic_load(&c->sh->clock) - START_MS));
    if (n < 0 || (size_t)n >= sizeof(c->slot->message))
        return;
    va_start(ap, fmt);
    vsnprintf(c->slot->message + n, sizeof(c->slot->message) - (size_t)n, fmt, ap);
    va_end(ap);
}

static void child_store_fail(child *c, const char *what, int rc)
{
    child_fail(c, "%s: %s (%s)", what, concert_error_name(rc), concert_error_last()->message);
}

static void child_join(child *c, int first, int count, int64_t first_user, int scheduled)
{
    for (int k = 0; k < count; k++) {
        int i = first + k;
        int64_t user = first_user + k;
        concert_token_info t;
        int rc = concert_queue_issue(&t, c->db, user);
        if (rc != 0) {
            child_store_fail(c, "join", rc);
            return;
        }
        if (!t.is_new || t.user_id != user)
            child_fail(c, "join of user %lld: is_new %d, user %lld", (long long)user, (int)t.is_new,
                       (long long)t.user_id);
        if (scheduled &&
            (t.state != CONCERT_TOKEN_WAITING || t.position != CONCERT_POSITION_PREQUEUE))
            child_fail(c,
                       "join of user %lld while SCHEDULED: state %d position %lld, expected "
                       "pre-queued",
                       (long long)user, (int)t.state, (long long)t.position);
        memcpy(c->slot->tokens[i], t.token, CONCERT_TOKEN_SIZE);
        c->slot->users[i] = user;
        c->slot->positions[i] = t.state == CONCERT_TOKEN_ACTIVE ? 0 : t.position;
        c->state[i] = t.state;
        c->min_position[i] = t.position > 0 ? t.position : 0;
        c->prequeued[i] = t.position == CONCERT_POSITION_PREQUEUE;
        c->slot->token_count = i + 1 > c->slot->token_count ? i + 1 : c->slot->token_count;
    }
}

/* One poll of token i; every answer is checked against what this db said
 * before: nothing ends during the run, so ACTIVE stays ACTIVE; a position
 * only decreases; pre-queued (-1) only before the token got a place. */
static void child_poll(child *c, int i)
{
    concert_token_info t;
    int64_t user = c->slot->users[i];
    int rc = concert_queue_status_get(&t, c->db, c->slot->tokens[i]);

    if (rc != 0) {
        child_fail(c, "poll of user %lld's token: %s (%s)", (long long)user, concert_error_name(rc),
                   concert_error_last()->message);
        return;
    }
    if (t.user_id != user)
        child_fail(c, "user %lld's token reported user %lld", (long long)user,
                   (long long)t.user_id);
    if (t.state == CONCERT_TOKEN_ACTIVE) {
        if (t.position != 0)
            child_fail(c, "user %lld ACTIVE at position %lld", (long long)user,
                       (long long)t.position);
        c->slot->seen_active++;
        c->prequeued[i] = 0;
    } else if (t.state == CONCERT_TOKEN_WAITING) {
        if (c->state[i] == CONCERT_TOKEN_ACTIVE)
            child_fail(c, "user %lld was ACTIVE and is WAITING again", (long long)user);
        if (t.position == CONCERT_POSITION_PREQUEUE) {
            if (!c->prequeued[i])
                child_fail(c,
                           "user %lld is pre-queued again after having a place (a second "
                           "lottery?)",
                           (long long)user);
            c->slot->seen_prequeued++;
        } else if (t.position < 1) {
            child_fail(c, "user %lld WAITING at position %lld", (long long)user,
                       (long long)t.position);
        } else {
            if (c->min_position[i] > 0 && t.position > c->min_position[i])
                child_fail(c, "user %lld's position went up from %lld to %lld", (long long)user,
                           (long long)c->min_position[i], (long long)t.position);
            else
                c->min_position[i] = t.position;
            c->prequeued[i] = 0;
        }
        if (t.eta_ms != -1)
            c->slot->eta_known++;
    } else {
        child_fail(c, "user %lld's token in state %d", (long long)user, (int)t.state);
    }
    c->state[i] = t.state;
    c->slot->positions[i] = t.state == CONCERT_TOKEN_ACTIVE ? 0 : t.position;
}

static void child_poll_all(child *c)
{
    concert_queue_stats v;
    int rc;

    c->slot->seen_active = c->slot->seen_prequeued = c->slot->eta_known = 0;
    for (int i = 0; i < c->slot->token_count && !c->slot->failed; i++) {
        if (c->slot->positions[i] != POS_LEFT)
            child_poll(c, i);
    }
    /* The db's own view, as a public queue page would show it. */
    if ((rc = concert_queue_stats_get(&v, c->db)) != 0) {
        child_store_fail(c, "queue stats", rc);
        return;
    }
    if (v.active > v.max_active)
        child_fail(c, "its view says %lld ACTIVE with max_active %lld", (long long)v.active,
                   (long long)v.max_active);
    c->slot->view_state = v.state;
    c->slot->view_active = v.active;
    c->slot->view_max_active = v.max_active;
}

static void child_step(child *c, int command, int arg)
{
    int rc;
    switch (command) {
    case CMD_JOIN_A:
        child_join(c, 0, USERS_A, 1 + (int64_t)c->index * USERS_A, 0);
        break;
    case CMD_JOIN_C:
        child_join(c, USERS_A, USERS_C,
                   USER_BASE_C + 1 + (int64_t)arg * ROUND_USERS + (int64_t)c->index * USERS_C, 1);
        break;
    case CMD_PAUSE:
        if (arg == c->index && (rc = concert_queue_pause(c->db)) != 0)
            child_store_fail(c, "pause", rc);
        break;
    case CMD_RESUME:
        if (arg == c->index && (rc = concert_queue_resume(c->db)) != 0)
            child_store_fail(c, "resume", rc);
        break;
    case CMD_LEAVE_A:
    case CMD_LEAVE_C: {
        int from = command == CMD_LEAVE_A ? 0 : USERS_A;
        int to = command == CMD_LEAVE_A ? USERS_A : TOKENS;
        for (int i = from; i < to && i < c->slot->token_count; i++) {
            if ((rc = concert_queue_leave(c->db, c->slot->tokens[i])) != 0) {
                child_store_fail(c, "leave", rc);
                break;
            }
            c->slot->positions[i] = POS_LEFT;
        }
        break;
    }
    default:
        break;
    }
    if (!c->slot->failed)
        child_poll_all(c);
}

static void child_main(const char *uri, shared *sh, int index, pid_t parent)
{
    concert_options o = queue_options(sh, REFRESH_MS);
    child c;
    int64_t done_step = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    c.sh = sh;
    c.slot = &sh->child[index];
    c.index = index;
    /* Seeds that contradict the store's settings: a process that obeyed its
     * own options instead of the store would admit everybody at once. */
    o.max_active = 100000;
    o.admit_per_minute = 0;
    if ((rc = concert_db_open(&c.db, uri, &o)) != 0)
        child_store_fail(&c, "open", rc);
    for (;;) {
        int command, arg;
        double idle_since = monotonic_s();
        sh_lock(sh);
        while (sh->step == done_step) {
            if (sh_wait(sh, &sh->go, 1.0) == ETIMEDOUT &&
                (getppid() != parent || monotonic_s() - idle_since > CHILD_IDLE_S)) {
                sh_unlock(sh);
                fprintf(stderr, "mp_queue: child %d: the parent %s\n", index,
                        getppid() != parent ? "is gone" : "gave no step for too long");
                _exit(1);
            }
        }
        done_step = sh->step;
        command = sh->command;
        arg = sh->arg;
        sh_unlock(sh);
        if (command == CMD_EXIT)
            break;
        /* After a failure the child only acknowledges: the parent stops. */
        if (!c.slot->failed && c.db)
            child_step(&c, command, arg);
        sh_lock(sh);
        sh->acked++;
        pthread_cond_signal(&sh->done);
        sh_unlock(sh);
    }
    concert_db_close(c.db);
    _exit(c.slot->failed ? 1 : 0);
}

/* ---- the parent ---- */

typedef struct run {
    shared *sh;
    pid_t pids[MAX_CHILDREN];
    int n;
    concert_db *db; /* queue_refresh_ms 0: every read is the store's */
    int64_t now;
    int64_t t[MAX_SAMPLES]; /* fake time of each sample */
    int64_t active[MAX_SAMPLES];
    size_t samples;
    concert_queue_stats st; /* the store after the last step */
    int64_t sum_active;     /* tokens the children were told are ACTIVE */
    int told[MAX_CHILDREN]; /* a child's message was printed already */
    int over_max_seen;      /* failures already reported once */
    int false_active_seen;
} run;

static void record(run *r, int64_t at, int64_t active)
{
    if (r->samples < MAX_SAMPLES) {
        r->t[r->samples] = at;
        r->active[r->samples] = active;
        r->samples++;
    }
}

/* Children that exited before being told to: each is a failure. 1 if any. */
static int reap_early(run *r)
{
    int any = 0;
    for (int i = 0; i < r->n; i++) {
        int status;
        if (r->pids[i] > 0 && waitpid(r->pids[i], &status, WNOHANG) == r->pids[i]) {
            r->pids[i] = 0;
            fail("child %d exited early (%s %d): %s", i, WIFEXITED(status) ? "status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                 r->sh->child[i].message[0] ? r->sh->child[i].message : "no message");
            any = 1;
        }
    }
    return any;
}

/*
 * One step: move the clock by advance_ms, have every child do command and
 * poll, then read the store and check what must hold at every instant.
 * 0, or -1 when the run cannot go on (a child failed, died or hung).
 */
static int step(run *r, int command, int arg, int64_t advance_ms)
{
    shared *sh = r->sh;
    double deadline;
    int rc, bad = 0;

    r->now += advance_ms;
    atomic_store(&sh->clock, r->now);
    sh_lock(sh);
    sh->command = command;
    sh->arg = arg;
    sh->acked = 0;
    sh->step++;
    pthread_cond_broadcast(&sh->go);
    deadline = monotonic_s() + STEP_WAIT_S;
    while (sh->acked < r->n) {
        sh_wait(sh, &sh->done, 1.0);
        if (sh->acked >= r->n)
            break;
        sh_unlock(sh);
        if (reap_early(r))
            return -1;
        if (monotonic_s() > deadline) {
            fail("step %lld (clock +%lld ms): only %d of %d children answered within %d s",
                 (long long)sh->step, (long long)(r->now - START_MS), sh->acked, r->n, STEP_WAIT_S);
            return -1;
        }
        sh_lock(sh);
    }
    sh_unlock(sh);

    r->sum_active = 0;
    for (int i = 0; i < r->n; i++) {
        if (sh->child[i].failed) {
            fail("%s", sh->child[i].message);
            r->told[i] = 1;
            bad = 1;
        }
        r->sum_active += sh->child[i].seen_active;
    }
    if (bad)
        return -1;
    if ((rc = concert_queue_stats_get(&r->st, r->db)) != 0) {
        fail("parent stats at +%lld ms: %s (%s)", (long long)(r->now - START_MS),
             concert_error_name(rc), concert_error_last()->message);
        return -1;
    }
    if (r->st.active > r->st.max_active && !r->over_max_seen++)
        fail("+%lld ms: %lld ACTIVE with max_active %lld", (long long)(r->now - START_MS),
             (long long)r->st.active, (long long)r->st.max_active);
    /* The children poll before the parent reads and nothing ends meanwhile:
     * more ACTIVE answers than ACTIVE tokens means one was claimed falsely. */
    if (r->sum_active > r->st.active && !r->false_active_seen++)
        fail("+%lld ms: children were told %lld tokens are ACTIVE, the store has %lld",
             (long long)(r->now - START_MS), (long long)r->sum_active, (long long)r->st.active);
    record(r, r->now, r->st.active);
    return 0;
}

/* Steps of STEP_MS polling until `ms` of fake time have passed. */
static int poll_for(run *r, int64_t ms)
{
    for (int64_t t = 0; t < ms; t += STEP_MS) {
        if (step(r, CMD_POLL, 0, STEP_MS) != 0)
            return -1;
    }
    return 0;
}

static int limits_set(run *r, int64_t max_active, int64_t per_minute)
{
    int rc = concert_queue_limits_set(r->db, max_active, per_minute);
    if (rc != 0)
        fail("limits_set(%lld, %lld): %s (%s)", (long long)max_active, (long long)per_minute,
             concert_error_name(rc), concert_error_last()->message);
    return rc;
}

/* Most admissions between two samples at most window_ms apart: admissions
 * at the steps after sample a through sample b, a half-open window. */
static int64_t most_in_window(const run *r, size_t from, int64_t window_ms, int64_t *at)
{
    int64_t most = 0;
    for (size_t b = from + 1; b < r->samples; b++) {
        for (size_t a = b; a-- > from && r->t[b] - r->t[a] <= window_ms;) {
            if (r->active[b] - r->active[a] > most) {
                most = r->active[b] - r->active[a];
                *at = r->t[a];
            }
        }
    }
    return most;
}

static void check_rate(const run *r, size_t from, const char *when)
{
    int64_t at = 0, most = most_in_window(r, from, 60000, &at);
    if (most > RATE_R)
        fail("%s: %lld admissions in the 60 s after %+lld ms, admit_per_minute is %d", when,
             (long long)most, (long long)(at - START_MS), RATE_R);
    most = most_in_window(r, from, 10000, &at);
    if (most > RATE_R / 4)
        fail("%s: %lld admissions in the 10 s after %+lld ms: not spread over the minute "
             "(admit_per_minute %d)",
             when, (long long)most, (long long)(at - START_MS), RATE_R);
}

/* Every token joined is ACTIVE or WAITING by the store; the ACTIVE ones are
 * exactly stats.active; WAITING positions are distinct. Tokens first..first+
 * count-1 of every child. The number of ACTIVE ones goes to *active_out. */
static int check_tokens(run *r, int first, int count, const char *when, int64_t *active_out,
                        int64_t *pos)
{
    int64_t active = 0, waiting = 0, total = (int64_t)r->n * count;

    for (int i = 0; i < r->n; i++) {
        child_slot *s = &r->sh->child[i];
        for (int k = first; k < first + count; k++) {
            int64_t *p = &pos[i * count + (k - first)];
            concert_token_info t;
            int rc;
            if (k >= s->token_count) {
                fail("%s: child %d joined %d tokens, expected %d", when, i, s->token_count,
                     first + count);
                return -1;
            }
            *p = POS_LOST;
            rc = concert_queue_status_get(&t, r->db, s->tokens[k]);
            if (rc != 0) {
                fail("%s: user %lld's token lost: %s (%s)", when, (long long)s->users[k],
                     concert_error_name(rc), concert_error_last()->message);
                continue;
            }
            if (t.user_id != s->users[k])
                fail("%s: user %lld's token belongs to user %lld", when, (long long)s->users[k],
                     (long long)t.user_id);
            if (t.state == CONCERT_TOKEN_ACTIVE) {
                active++;
                *p = 0;
            } else if (t.state == CONCERT_TOKEN_WAITING && t.position >= 1) {
                waiting++;
                *p = t.position;
            } else {
                fail("%s: user %lld's token in state %d at position %lld", when,
                     (long long)s->users[k], (int)t.state, (long long)t.position);
            }
        }
    }
    for (int64_t a = 0; a < total; a++) {
        for (int64_t b = a + 1; b < total; b++) {
            if (pos[a] > 0 && pos[a] == pos[b])
                fail("%s: two WAITING tokens at position %lld", when, (long long)pos[a]);
        }
    }
    if (active != r->st.active)
        fail("%s: %lld tokens ACTIVE, the store counts %lld", when, (long long)active,
             (long long)r->st.active);
    if (active + waiting != total)
        fail("%s: %lld ACTIVE + %lld WAITING of %lld tokens joined", when, (long long)active,
             (long long)waiting, (long long)total);
    if (active_out)
        *active_out = active;
    return 0;
}

static int scenario_limits(run *r)
{
    int64_t positions[MAX_CHILDREN * TOKENS];
    size_t first_minute;

    printf("mp_queue: A: max_active %d, admit_per_minute %d, %d buyers on %d processes\n", LIMIT_M,
           RATE_R, r->n * USERS_A, r->n);
    record(r, r->now - 1, 0); /* before the joins: none admitted */
    if (step(r, CMD_JOIN_A, 0, 0) != 0)
        return -1;
    if (poll_for(r, 150000) != 0)
        return -1;
    for (first_minute = 0; first_minute < r->samples; first_minute++) {
        if (r->t[first_minute] >= START_MS + 60000)
            break;
    }
    /* The limits are in force, and they are not all there is: admissions ran
     * at about the rate and then stopped at max_active. */
    if (first_minute < r->samples && r->active[first_minute] < RATE_R / 2)
        fail("A: only %lld admitted in the first minute at admit_per_minute %d",
             (long long)r->active[first_minute], RATE_R);
    if (r->st.active != LIMIT_M)
        fail("A: %lld ACTIVE after 150 s, expected max_active %d", (long long)r->st.active,
             LIMIT_M);
    if (r->st.max_active != LIMIT_M || r->st.admit_per_minute != RATE_R)
        fail("A: the store's limits are %lld and %lld", (long long)r->st.max_active,
             (long long)r->st.admit_per_minute);
    if (r->sum_active != r->st.active)
        fail("A: children see %lld ACTIVE tokens after 70 s without admissions, the store "
             "%lld",
             (long long)r->sum_active, (long long)r->st.active);
    check_rate(r, 0, "A");
    printf("mp_queue: A: %lld admitted in the first minute, %lld at the end\n",
           first_minute < r->samples ? (long long)r->active[first_minute] : -1LL,
           (long long)r->st.active);
    return check_tokens(r, 0, USERS_A, "after A", NULL, positions);
}

static int scenario_pause(run *r)
{
    int64_t positions[MAX_CHILDREN * TOKENS];
    int64_t before, flowing, frozen = -1, paused_at, at_resume;
    int checked_views = 0, admitted_while_paused = 0;

    printf("mp_queue: B: pause through child 0, resume through child %d\n", 1 % r->n);
    if (limits_set(r, 1000, CONCERT_UNCHANGED) != 0)
        return -1;
    before = r->st.active;
    if (poll_for(r, 20000) != 0)
        return -1;
    flowing = r->st.active;
    if (flowing <= before)
        fail("B: no admission in 20 s after max_active went up (%lld ACTIVE)", (long long)flowing);
    if (step(r, CMD_PAUSE, 0, STEP_MS) != 0)
        return -1;
    paused_at = r->now;
    if (r->st.state != CONCERT_QUEUE_PAUSED)
        fail("B: the store is %s after child 0 paused it",
             concert_queue_state_name(r->st.state) ? concert_queue_state_name(r->st.state) : "?");
    while (r->now < paused_at + 30000) {
        if (step(r, CMD_POLL, 0, STEP_MS) != 0)
            return -1;
        if (r->now < paused_at + REFRESH_MS)
            continue;
        /* Past one refresh interval every process obeys the pause. */
        if (frozen < 0)
            frozen = r->st.active;
        else if (r->st.active != frozen && !admitted_while_paused++)
            fail("B: +%lld ms after the pause, %lld ACTIVE (was %lld one refresh after it)",
                 (long long)(r->now - paused_at), (long long)r->st.active, (long long)frozen);
        if (!checked_views) {
            for (int i = 0; i < r->n; i++) {
                child_slot *s = &r->sh->child[i];
                if (s->view_state != CONCERT_QUEUE_PAUSED)
                    fail("B: child %d's view is state %d %lld ms after the pause", i,
                         (int)s->view_state, (long long)(r->now - paused_at));
                if (s->eta_known)
                    fail("B: child %d was given an ETA for %lld WAITING tokens while PAUSED", i,
                         (long long)s->eta_known);
            }
            checked_views = 1;
        }
    }
    at_resume = r->st.active;
    if (step(r, CMD_RESUME, 1 % r->n, STEP_MS) != 0)
        return -1;
    if (r->st.state != CONCERT_QUEUE_OPEN)
        fail("B: the store is state %d after the resume", (int)r->st.state);
    if (poll_for(r, 20000) != 0)
        return -1;
    if (r->st.active <= frozen)
        fail("B: no admission in 20 s after the resume (%lld ACTIVE)", (long long)r->st.active);
    check_rate(r, 0, "A and B");
    printf("mp_queue: B: %lld admitted in 20 s before the pause, %lld in the 30 s of pause "
           "(%lld within its first refresh interval), %lld in 20 s after the resume\n",
           (long long)(flowing - before), (long long)(at_resume - flowing),
           (long long)(frozen - flowing), (long long)(r->st.active - at_resume));
    return check_tokens(r, 0, USERS_A, "after B", NULL, positions);
}

/* The lottery's outcome by the store: LOTTERY_M ACTIVE, the rest at
 * positions exactly 1..n-LOTTERY_M, what the children were told, not in
 * join order. */
static void check_lottery(run *r, int round)
{
    int64_t positions[MAX_CHILDREN * TOKENS];
    int64_t active = 0, total = (int64_t)r->n * USERS_C;
    int64_t outside = 0, missing = 0, first_outside = 0, first_missing = 0;
    char *seen;
    int shuffled = 0, differ = 0;
    char when[32];

    snprintf(when, sizeof(when), "after lottery C%d", round);
    if (check_tokens(r, USERS_A, USERS_C, when, &active, positions) != 0)
        return;
    if (active != LOTTERY_M)
        fail("C%d lottery: %lld admitted at the opening, max_active %d", round, (long long)active,
             LOTTERY_M);
    seen = calloc((size_t)total + 1, 1);
    if (!seen) {
        fail("%s", "out of memory");
        return;
    }
    for (int64_t k = 0; k < total; k++) {
        int64_t p = positions[k];
        if (p == 0 || p == POS_LOST)
            continue; /* ACTIVE, or lost (reported above) */
        if (p < 1 || p > total - LOTTERY_M) {
            if (outside++ == 0)
                first_outside = p;
        } else {
            seen[p] = 1;
        }
    }
    for (int64_t p = 1; p <= total - LOTTERY_M; p++) {
        if (!seen[p] && missing++ == 0)
            first_missing = p;
    }
    /* A second shuffle hands out tickets again: places beyond the pre-queue's
     * size and holes in 1..n. */
    if (outside)
        fail("C%d lottery: %lld places outside 1..%lld (the first %lld): tickets handed out "
             "twice?",
             round, (long long)outside, (long long)(total - LOTTERY_M), (long long)first_outside);
    if (missing)
        fail("C%d lottery: %lld places of 1..%lld held by nobody (the first %lld)", round,
             (long long)missing, (long long)(total - LOTTERY_M), (long long)first_missing);
    free(seen);
    for (int i = 0; i < r->n; i++) {
        child_slot *s = &r->sh->child[i];
        int64_t last = 0;
        for (int k = 0; k < USERS_C; k++) {
            int64_t store = positions[i * USERS_C + k], told = s->positions[USERS_A + k];
            if (told != store && differ++ == 0)
                fail("C%d lottery: child %d was told position %lld for user %lld, the store says "
                     "%lld",
                     round, i, (long long)told, (long long)s->users[USERS_A + k], (long long)store);
            if (store > 0) {
                if (store < last)
                    shuffled = 1;
                last = store;
            }
        }
    }
    if (!shuffled)
        fail("C%d lottery: every process's buyers got places in join order: no shuffle", round);
}

/* One opening: schedule, pre-queue every child's buyers of this round, jump
 * past opens_at so that every child races to open it, check, then empty
 * the line for the next round. */
static int lottery_round(run *r, int round)
{
    int64_t opens_at, total = (int64_t)r->n * USERS_C;
    int rc;

    opens_at = r->now + 60000;
    if ((rc = concert_queue_schedule(r->db, opens_at)) != 0) {
        fail("schedule: %s (%s)", concert_error_name(rc), concert_error_last()->message);
        return -1;
    }
    if (step(r, CMD_JOIN_C, round, STEP_MS) != 0 || poll_for(r, 500) != 0)
        return -1;
    if (r->st.state != CONCERT_QUEUE_SCHEDULED || r->st.opens_at != opens_at ||
        r->st.prequeued != total || r->st.active != 0)
        fail("C%d: before opens_at the store says state %d opens_at %+lld ms, %lld pre-queued, "
             "%lld ACTIVE; expected SCHEDULED, %+lld, %lld, 0",
             round, (int)r->st.state, (long long)(r->st.opens_at - r->now),
             (long long)r->st.prequeued, (long long)r->st.active, (long long)(opens_at - r->now),
             (long long)total);
    for (int i = 0; i < r->n; i++) {
        if (r->sh->child[i].seen_prequeued != USERS_C)
            fail("C%d: child %d sees %lld of its %d tokens pre-queued before opens_at", round, i,
                 (long long)r->sh->child[i].seen_prequeued, USERS_C);
    }
    /* Past opens_at and past every view's age at once: all children go to
     * the store in the same instant and race to run the lottery. */
    if (step(r, CMD_POLL, 0, opens_at - r->now + REFRESH_MS + STEP_MS) != 0)
        return -1;
    if (r->st.state != CONCERT_QUEUE_OPEN || r->st.prequeued != 0 || r->st.active != LOTTERY_M ||
        r->st.waiting < total - LOTTERY_M)
        fail("C%d: after opens_at the store says state %d, %lld pre-queued, %lld ACTIVE, %lld "
             "waiting",
             round, (int)r->st.state, (long long)r->st.prequeued, (long long)r->st.active,
             (long long)r->st.waiting);
    /* Positions hold still from here: full at max_active, nobody leaves. A
     * late second shuffle would move them (the children check each poll). */
    if (poll_for(r, 4 * REFRESH_MS) != 0)
        return -1;
    check_lottery(r, round);
    if (step(r, CMD_LEAVE_C, 0, STEP_MS) != 0)
        return -1;
    if (r->st.active != 0 || r->st.waiting != 0)
        fail("C%d: %lld ACTIVE and %lld waiting after everybody left", round,
             (long long)r->st.active, (long long)r->st.waiting);
    return 0;
}

static int scenario_lottery(run *r)
{
    printf("mp_queue: C: %d openings, each of %d pre-queued buyers on %d processes, "
           "max_active %d\n",
           LOTTERY_ROUNDS, r->n * USERS_C, r->n, LOTTERY_M);
    /* An empty line first: everybody in, then everybody out. */
    if (limits_set(r, CONCERT_MAX_ACTIVE_LIMIT, 0) != 0 || poll_for(r, 1000) != 0)
        return -1;
    if (r->st.active != (int64_t)r->n * USERS_A || r->sum_active != r->st.active)
        fail("C: with no limits, %lld ACTIVE (children told %lld) of %d", (long long)r->st.active,
             (long long)r->sum_active, r->n * USERS_A);
    if (step(r, CMD_LEAVE_A, 0, STEP_MS) != 0)
        return -1;
    if (r->st.active != 0 || r->st.waiting != 0)
        fail("C: %lld ACTIVE and %lld waiting after everybody left", (long long)r->st.active,
             (long long)r->st.waiting);
    if (limits_set(r, LOTTERY_M, 0) != 0)
        return -1;
    for (int round = 0; round < LOTTERY_ROUNDS; round++) {
        if (lottery_round(r, round) != 0)
            return -1;
    }
    printf("mp_queue: C: %d lotteries, each %d ACTIVE and %d at places 1..%d\n", LOTTERY_ROUNDS,
           LOTTERY_M, r->n * USERS_C - LOTTERY_M, r->n * USERS_C - LOTTERY_M);
    return 0;
}

static int setup_store(const char *uri, shared *sh, int processes)
{
    static char names[MAX_CHILDREN * CATALOG_USERS][32];
    static concert_catalog_user users[MAX_CHILDREN * CATALOG_USERS];
    concert_options o = queue_options(sh, 0);
    concert_queue_settings s;
    concert_catalog cat;
    concert_db *db = NULL;
    size_t count = 0;
    int rc;

    if ((rc = concert_db_open(&db, uri, &o)) != 0) {
        fail("cannot open %s: %s", uri, concert_error_last()->message);
        return rc;
    }
    for (int i = 0; i < processes; i++) {
        for (int k = 0; k < CATALOG_USERS; k++) {
            int round = (k - USERS_A) / USERS_C, j = (k - USERS_A) % USERS_C;
            int64_t id = k < USERS_A ? 1 + (int64_t)i * USERS_A + k
                                     : USER_BASE_C + 1 + (int64_t)round * ROUND_USERS +
                                           (int64_t)i * USERS_C + j;
            snprintf(names[count], sizeof(names[count]), "buyer %lld", (long long)id);
            users[count] = (concert_catalog_user){ id, names[count], 0 };
            count++;
        }
    }
    cat = (concert_catalog){ CONCERT_CATALOG_VERSION, users, count, NULL, 0 };
    if ((rc = concert_catalog_load(db, &cat)) != 0)
        fail("catalog load failed (is the store empty?): %s", concert_error_last()->message);
    else if ((rc = concert_queue_limits_set(db, LIMIT_M, RATE_R)) != 0)
        fail("limits_set: %s", concert_error_last()->message);
    else if ((rc = concert_queue_settings_get(&s, db)) != 0)
        fail("settings_get: %s", concert_error_last()->message);
    else if (s.max_active != LIMIT_M || s.admit_per_minute != RATE_R ||
             s.state != CONCERT_QUEUE_OPEN)
        fail("settings after limits_set: max_active %lld, admit_per_minute %lld, state %d",
             (long long)s.max_active, (long long)s.admit_per_minute, (int)s.state);
    concert_db_close(db);
    return rc;
}

/* Tell the children to stop and wait for them; a hung one is killed. */
static void finish_children(run *r)
{
    double deadline = monotonic_s() + 30;
    int left;

    sh_lock(r->sh);
    r->sh->command = CMD_EXIT;
    r->sh->step++;
    pthread_cond_broadcast(&r->sh->go);
    sh_unlock(r->sh);
    do {
        left = 0;
        for (int i = 0; i < r->n; i++) {
            int status;
            if (r->pids[i] <= 0)
                continue;
            if (waitpid(r->pids[i], &status, WNOHANG) == r->pids[i]) {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    fail("child %d ended with %s %d: %s", i,
                         WIFEXITED(status) ? "status" : "signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                         r->told[i]                   ? "(its failure is above)"
                         : r->sh->child[i].message[0] ? r->sh->child[i].message
                                                      : "no message");
                r->pids[i] = 0;
            } else if (monotonic_s() > deadline) {
                fail("child %d did not exit within 30 s: killed", i);
                kill(r->pids[i], SIGKILL);
                waitpid(r->pids[i], &status, 0);
                r->pids[i] = 0;
            } else {
                left++;
            }
        }
        if (left) {
            struct timespec t = { 0, 10000000L };
            nanosleep(&t, NULL);
        }
    } while (left);
}

int main(int argc, char **argv)
{
    static run r;
    double start = monotonic_s();
    concert_options o;
    int processes = 4;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s STORE_URI [PROCESSES (3..%d, default 4)]\n", argv[0],
                MAX_CHILDREN);
        return 2;
    }
    if (argc == 3) {
        char *end = NULL;
        long n;
        errno = 0;
        n = strtol(argv[2], &end, 10);
        if (errno || !end || *end || n < 3 || n > MAX_CHILDREN) {
            fprintf(stderr, "mp_queue: PROCESSES must be 3..%d\n", MAX_CHILDREN);
            return 2;
        }
        processes = (int)n;
    }
    if (!(r.sh = shared_new())) {
        perror("mp_queue: shared memory");
        return 1;
    }
    r.n = processes;
    r.now = START_MS;
    if (setup_store(argv[1], r.sh, processes) != 0)
        return 1;
    /* No handle is open across fork(): each process opens its own. */
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < processes; i++) {
        pid_t parent = getpid();
        r.pids[i] = fork();
        if (r.pids[i] < 0) {
            perror("fork");
            r.n = i;
            finish_children(&r);
            return 1;
        }
        if (r.pids[i] == 0)
            child_main(argv[1], r.sh, i, parent);
    }
    o = queue_options(r.sh, 0);
    if (concert_db_open(&r.db, argv[1], &o) != 0) {
        fail("parent open: %s", concert_error_last()->message);
    } else if (scenario_limits(&r) == 0 && scenario_pause(&r) == 0) {
        scenario_lottery(&r);
    }
    finish_children(&r);
    concert_db_close(r.db);
    printf("mp_queue: %s (%d processes, %zu steps, %.2f s)\n",
           failures ? "FAILED" : "all invariants hold", processes, r.samples,
           monotonic_s() - start);
    if (failures > MAX_FAIL_LINES)
        fprintf(stderr, "mp_queue: %d more failures not shown\n", failures - MAX_FAIL_LINES);
    return failures ? 1 : 0;
}
