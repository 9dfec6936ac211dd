/*
 * Admission-rate estimator behind queue ETAs, kept here so every backend
 * uses the same one. A window of at least WINDOW_MS closes into a sample;
 * samples are blended into an exponentially weighted average (weight 0.3
 * for the newest) so the ETA follows the sale's pace without jumping.
 */
#include "internal.h"

#define WINDOW_MS 5000

void concert_sys_rate_observe(concert_sys_rate *rate, int64_t admitted, int64_t now)
{
    int64_t elapsed;

    if (!rate || admitted < 0)
        return;
    if (rate->window_start <= 0 || now < rate->window_start) {
        rate->window_start = now;
        rate->window_count = 0;
    }
    rate->window_count += admitted;
    elapsed = now - rate->window_start;
    if (elapsed >= WINDOW_MS) {
        /* admissions per 1000 s = count * 1000 * 1000 / elapsed_ms */
        int64_t sample = rate->window_count * 1000000 / elapsed;
        rate->rate_mps = rate->rate_mps == 0 ? sample : (rate->rate_mps * 7 + sample * 3) / 10;
        if (rate->rate_mps == 0 && sample > 0)
            rate->rate_mps = 1;
        rate->window_start = now;
        rate->window_count = 0;
    }
}
