/*
 * bench_hist.c - log-linear histogram (see bench_hist.h).
 *
 * Bucket layout: indexes 0 .. 2*SUB-1 hold the values themselves; above,
 * a value whose highest set bit is p falls in group p - SUB_BITS - 1, and
 * within the group in sub-bucket (v >> (p - SUB_BITS)) - SUB, i.e. its
 * SUB_BITS bits below the leading one.
 */
#include "bench_hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t hist_bucket_of(uint64_t value)
{
	if (value < 2 * HIST_SUB_COUNT)
		return (size_t)value;
	unsigned p = 63u - (unsigned)__builtin_clzll(value);
	unsigned shift = p - HIST_SUB_BITS;
	uint64_t top = value >> shift;    /* in [SUB, 2*SUB) */
	return 2 * HIST_SUB_COUNT + (size_t)(p - HIST_SUB_BITS - 1) * HIST_SUB_COUNT +
	       (size_t)(top - HIST_SUB_COUNT);
}

uint64_t hist_bucket_high(size_t bucket)
{
	if (bucket < 2 * HIST_SUB_COUNT)
		return bucket;
	size_t group = (bucket - 2 * HIST_SUB_COUNT) / HIST_SUB_COUNT;
	uint64_t top = (bucket - 2 * HIST_SUB_COUNT) % HIST_SUB_COUNT + HIST_SUB_COUNT;
	unsigned shift = (unsigned)group + 1;
	/* The last bucket ends at the top of the 64-bit range. */
	if (shift + HIST_SUB_BITS + 1 >= 64 && top == 2 * HIST_SUB_COUNT - 1)
		return UINT64_MAX;
	return ((top + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t value)
{
	h->counts[hist_bucket_of(value)]++;
	h->total++;
	h->sum += (long double)value;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->total += from->total;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
	if (h->total == 0)
		return 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	/* Rank of the wanted value, 1-based, rounded up: p99 of 1000 values
	 * is the 990th smallest.  The tolerance keeps 99.9 / 100 * 1000
	 * (999.0000000000001 in doubles) at rank 999. */
	double exact = pct / 100.0 * (double)h->total;
	uint64_t rank = (uint64_t)exact;
	if (exact - (double)rank > 1e-6 || rank == 0)
		rank++;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			/* The bucket's top can exceed what was recorded. */
			uint64_t high = hist_bucket_high(i);
			return high < h->max ? high : h->max;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? (double)(h->sum / (long double)h->total) : 0.0;
}
