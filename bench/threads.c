/*
 * Start worker threads together and time them as one run.
 */
#include <pthread.h>
#include <stdlib.h>

#include "bench.h"

typedef struct worker {
    pthread_t thread;
    pthread_barrier_t *start;
    void (*fn)(void *arg);
    void *arg;
} worker;

static void *worker_main(void *p)
{
    worker *w = p;
    pthread_barrier_wait(w->start);
    w->fn(w->arg);
    return NULL;
}

int bench_parallel(int threads, void (*fn)(void *arg), void *args, size_t arg_size,
                   int64_t *elapsed_ns, int64_t *cpu_ns)
{
    pthread_barrier_t start;
    worker *workers = calloc((size_t)threads, sizeof(*workers));
    int started = 0, rc = 0;

    *elapsed_ns = 0;
    if (!workers || threads < 1) {
        free(workers);
        return -1;
    }
    /* The main thread is the last party: the clock starts when all are ready. */
    if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0) {
        free(workers);
        return -1;
    }
    for (; started < threads; started++) {
        workers[started].start = &start;
        workers[started].fn = fn;
        workers[started].arg = (char *)args + (size_t)started * arg_size;
        if (pthread_create(&workers[started].thread, NULL, worker_main, &workers[started]) != 0)
            break;
    }
    if (started < threads) {
        /* Cannot release the barrier without the missing parties: the
         * started workers would wait forever, so this is fatal. */
        bench_log("cannot start %d threads (started %d)", threads, started);
        abort();
    }
    pthread_barrier_wait(&start);
    const int64_t t0 = bench_now_ns(), c0 = bench_cpu_ns();
    for (int i = 0; i < threads; i++)
        pthread_join(workers[i].thread, NULL);
    *elapsed_ns = bench_now_ns() - t0;
    if (cpu_ns)
        *cpu_ns = bench_cpu_ns() - c0;
    pthread_barrier_destroy(&start);
    free(workers);
    return rc;
}
