/*
 * bench_hist.h - a log-linear latency histogram in the spirit of
 * HdrHistogram.
 *
 * Values (nanoseconds, or any unsigned unit) below 2^(HIST_SUB_BITS+1) get
 * one bucket each; above that every power of two is cut into
 * 2^HIST_SUB_BITS equal buckets, so a reported value is never more than
 * 1/2^HIST_SUB_BITS (0.8 %) above the true one, over the whole 64-bit range,
 * in a fixed array.  Recording is one index computation and one increment;
 * histograms of different threads merge by adding counts.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
/* Linear region (2 * HIST_SUB_COUNT values), then one group of
 * HIST_SUB_COUNT buckets per bit position above it. */
#define HIST_BUCKETS (2 * HIST_SUB_COUNT + (64 - HIST_SUB_BITS - 1) * HIST_SUB_COUNT)

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t total;          /* values recorded */
	uint64_t min;            /* smallest value recorded (exact) */
	uint64_t max;            /* largest value recorded (exact) */
	long double sum;         /* for the mean */
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t value);
/* Adds every count of from into into. */
void hist_merge(struct hist *into, const struct hist *from);
/* The smallest recorded value v such that at least pct percent of values
 * are <= v, reported as the highest value of v's bucket (so never below the
 * true percentile); 0 when empty.  pct in [0, 100]. */
uint64_t hist_percentile(const struct hist *h, double pct);
double hist_mean(const struct hist *h);

/* Bucket arithmetic, exposed for the tests. */
size_t hist_bucket_of(uint64_t value);
uint64_t hist_bucket_high(size_t bucket);

#endif
