/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_QUOTA_H
#define _HSMKEY_QUOTA_H

#include <linux/atomic.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>

/*
 * struct hsmkey_quota - a usage limit charged without a shared cache line
 *
 * What is left of the limit is split between @pool and per-CPU @credit.
 * A charge takes from the local CPU's credit with one atomic on a line no
 * other CPU writes; only when that runs short does it take @lock to move a
 * batch from @pool, and when @pool runs short too, to sweep every CPU's
 * credit back into it.  A charge succeeds only when credit covers it, so
 * usage never exceeds the limit; it may be refused while other CPUs'
 * credit is being swept, never once the sweep has found enough.
 */
struct hsmkey_quota {
	bool limited;
	atomic64_t __percpu *credit;	/* allocated with the first limit */
	spinlock_t lock;		/* @pool, @batch and every sweep */
	s64 pool;
	s64 batch;
};

int hsmkey_quota_init(struct hsmkey_quota *q);
void hsmkey_quota_destroy(struct hsmkey_quota *q);
int hsmkey_quota_set(struct hsmkey_quota *q, u64 limit, u64 used);
bool hsmkey_quota_slow(struct hsmkey_quota *q, s64 n);
bool hsmkey_quota_used_up(struct hsmkey_quota *q);

/* Take @n from @q: false when the limit does not allow it. */
static inline bool hsmkey_quota_charge(struct hsmkey_quota *q, s64 n)
{
	atomic64_t *c;

	/* Acquire: pairs with hsmkey_quota_set(), credit is ready first. */
	if (!smp_load_acquire(&q->limited))
		return true;
	c = raw_cpu_ptr(q->credit);
	if (atomic64_sub_return(n, c) >= 0)
		return true;
	atomic64_add(n, c);
	return hsmkey_quota_slow(q, n);
}

/* Give back a charge that was not used. */
static inline void hsmkey_quota_refund(struct hsmkey_quota *q, s64 n)
{
	/* Acquire: as in hsmkey_quota_charge(). */
	if (smp_load_acquire(&q->limited))
		atomic64_add(n, raw_cpu_ptr(q->credit));
}

#endif
