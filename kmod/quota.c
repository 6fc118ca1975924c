// SPDX-License-Identifier: GPL-2.0
/*
 * Usage limits (see quota.h).  Why usage never exceeds the limit: pool plus
 * every CPU's credit plus what was charged is the limit at all times, except
 * that a charge which failed on a CPU's credit has its amount subtracted
 * until it adds it back.  A sweep moves only positive credit, so such a
 * transient never moves into the pool; and a charge succeeds only when the
 * credit it subtracted from stays non-negative, which every pending add-back
 * can only raise.  Which CPU's credit a charge uses matters for speed
 * only: a task that migrates mid-charge works on its old CPU's credit with
 * the same atomics.
 */
#include <linux/cpumask.h>
#include <linux/minmax.h>
#include "quota.h"

int hsmkey_quota_init(struct hsmkey_quota *q)
{
	spin_lock_init(&q->lock);
	q->limited = false;
	q->credit = NULL;
	q->pool = 0;
	q->batch = 1;
	return 0;
}

void hsmkey_quota_destroy(struct hsmkey_quota *q)
{
	free_percpu(q->credit);
	q->credit = NULL;
}

/* With @q->lock held: move every CPU's positive credit into the pool. */
static void hsmkey_quota_sweep(struct hsmkey_quota *q)
{
	int cpu;

	lockdep_assert_held(&q->lock);
	for_each_possible_cpu(cpu) {
		atomic64_t *c = per_cpu_ptr(q->credit, cpu);
		s64 v = atomic64_read(c);

		while (v > 0 && !atomic64_try_cmpxchg(c, &v, 0))
			;
		if (v > 0)
			q->pool += v;
	}
}

bool hsmkey_quota_slow(struct hsmkey_quota *q, s64 n)
{
	unsigned long flags;
	atomic64_t *c;
	bool ok = true;
	s64 take;

	spin_lock_irqsave(&q->lock, flags);
	c = this_cpu_ptr(q->credit);
	if (atomic64_sub_return(n, c) >= 0)
		goto out;
	atomic64_add(n, c);
	if (q->pool < n)
		hsmkey_quota_sweep(q);
	if (q->pool < n) {
		ok = false;
		goto out;
	}
	take = min(q->pool, max(n, q->batch));
	q->pool -= take;
	/* @n comes out of @take: granted without touching the credit. */
	atomic64_add(take - n, c);
out:
	spin_unlock_irqrestore(&q->lock, flags);
	return ok;
}

/* Nothing left at all (for binds): sweeps, so not for the data path. */
bool hsmkey_quota_used_up(struct hsmkey_quota *q)
{
	unsigned long flags;
	bool empty;

	/* Acquire: as in hsmkey_quota_charge(). */
	if (!smp_load_acquire(&q->limited))
		return false;
	spin_lock_irqsave(&q->lock, flags);
	hsmkey_quota_sweep(q);
	empty = q->pool <= 0;
	spin_unlock_irqrestore(&q->lock, flags);
	return empty;
}

/*
 * Process context, serialised by the caller.  Set the limit (0: none) with
 * @used already charged.  Charges racing this may use credit given out
 * under the old limit: change limits on a quiet key for an exact bound.
 * The credit stays allocated until hsmkey_quota_destroy(), so a racing
 * charge never sees it freed.
 */
int hsmkey_quota_set(struct hsmkey_quota *q, u64 limit, u64 used)
{
	unsigned long flags;
	int cpu;

	if (!limit) {
		WRITE_ONCE(q->limited, false);
		return 0;
	}
	if (!q->credit) {
		q->credit = alloc_percpu(atomic64_t);
		if (!q->credit)
			return -ENOMEM;
	}
	spin_lock_irqsave(&q->lock, flags);
	for_each_possible_cpu(cpu)
		atomic64_set(per_cpu_ptr(q->credit, cpu), 0);
	q->pool = used >= limit ? 0 : min_t(u64, limit - used, S64_MAX);
	q->batch = max_t(s64, 1, min_t(u64, limit / (8 * num_possible_cpus()),
				       1 << 20));
	spin_unlock_irqrestore(&q->lock, flags);
	/* Pairs with the READ_ONCE in the charge: credit is set up first. */
	smp_store_release(&q->limited, true);
	return 0;
}
