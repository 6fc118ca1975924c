// SPDX-License-Identifier: GPL-2.0
/*
 * Loading every key in batches (provision.h; at start-up, on SIGHUP and at
 * a reconciliation): the versions of many keys gathered into rounds of up
 * to HSMKEY_BATCH_MAX, each delivered under one ephemeral key of the
 * kernel's, for a backend that wraps for the kernel.
 *
 * The rounds are pipelined where hsmkeyd may run on more than one CPU.
 * While the backend wraps one round (the HSM's work) on a thread of its
 * own, this thread hands the round before it to the kernel and gathers the
 * next: an HSM is a device of its own, and the daemon's and the kernel's
 * work need not wait for it, nor it for them.  Each round goes to the
 * backend as soon as it is gathered, before the round ahead of it is
 * wrapped: so the token has the next round when it is done with one, and
 * never waits between rounds for the daemon to take a wrapped round and
 * send the next (under emulation a wake-up across CPUs takes milliseconds:
 * 6-12 ms a round, measured).  At most two rounds are with the backend:
 * the one the token wraps and the next, which waits for it there
 * (KS_WRAP_IN_TURN: its deadline counts from its turn).  While the first
 * round is gathered, the backend makes ready what every round needs
 * (->wrap_prepare: PKCS#11's verifier cache) on a thread of its own.  The
 * last round goes in two (flush_split()), so that the kernel takes most of
 * it while the token wraps the rest.
 *
 * The thread's wrap does not fail over to another token
 * (KS_WRAP_NO_FAILOVER): failing over takes the store's lock, which this
 * thread may hold (a backend's list() calls back with it held) while it
 * waits for the wrap.  Whatever fails in a round (no ephemeral key, the
 * wrap, an ephemeral key expired, a version refused) sends the versions
 * the kernel did not take down the path without the pipeline, once the
 * other round's wrap is over: it fails over, words each error, and counts
 * what cannot be loaded.
 *
 * On one CPU, each round is wrapped here and handed to the kernel at
 * once, as before the pipeline: a token computing on that CPU (a software
 * one) gains nothing from it, and the two threads would take turns every
 * time slice.
 *
 * Lifetimes: a round's keys [0, n), requests and blobs belong to the
 * wrapping thread from round_start() to round_wait(), and to this thread
 * otherwise; keys from n on (the tail flush_split() moves out of a round
 * it has started) are this thread's always: the wrap reaches keys only
 * through its requests.  provision_batch_free() waits for a wrap still
 * running, and for ->wrap_prepare().
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "key.h"
#include "provision.h"
#include "util.h"

/*
 * The first round is small, so that the token starts working at once;
 * the daemon gathers the next much faster than the token wraps this one.
 */
#define FIRST_ROUND	32

/*
 * A last round of at least 3 * TAIL_MIN versions goes in two
 * (flush_split()): a tail of TAIL_MIN versions or a few more (cut where
 * a key begins: up to TAIL_MIN + KS_VERSIONS_MAX - 1), wrapped by the
 * token while the kernel takes the head.  The token's wrap of 32 takes
 * about as long as the kernel's KEY_ADD of a full round (under TCG some
 * 35 and 30-50 ms); a head of at least twice the tail keeps the token
 * busy while the round before it is handed over, since the tail can go to
 * the token only once that round's place is free.
 */
#define TAIL_MIN	32

/* A key's versions always fit in one round, the first included. */
_Static_assert(KS_VERSIONS_MAX <= FIRST_ROUND && FIRST_ROUND <= HSMKEY_BATCH_MAX,
	       "a key's versions exceed a round");

struct round {
	struct backend *be;
	size_t n;			/* versions gathered */
	pthread_t thread;
	bool wrapping;			/* round_start() to round_wait() */
	int r;				/* the ephemeral key's, then the wrap's */
	uint64_t handle;
	uint8_t kpoint[HSMKEY_E2E_POINT_LEN], hpoint[HSMKEY_E2E_POINT_LEN];
	struct ks_key keys[HSMKEY_BATCH_MAX];
	struct ks_wrap_req req[HSMKEY_BATCH_MAX];
	struct ks_wrapped w[HSMKEY_BATCH_MAX];
};

struct provision_batch {
	struct request *rq;
	struct kernel *k;
	const struct kernel_key *held;	/* the kernel's keys, sorted; borrowed */
	size_t nheld;
	bool have_held;			/* else one KEY_GET per version */
	bool pipeline;			/* the wraps on a thread of their own */
	bool prepared;			/* batch_prepare() was called */
	bool preparing;			/* @prep runs ->wrap_prepare() */
	pthread_t prep;
	bool started;			/* a round has gone to the token */
	int failed;			/* keys not loaded by earlier flushes */
	unsigned int g;			/* rounds[g] gathers, the other is wrapped */
	struct round rounds[2];
};

/* The CPUs this thread may run on (the pipeline needs two). */
static int cpus_usable(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) ? 1 : CPU_COUNT(&set);
}

static void *prepare(void *arg)
{
	struct backend *be = arg;

	be->ops->wrap_prepare(be);
	return NULL;
}

/*
 * ->wrap_prepare() while the first round is gathered (with the pipeline),
 * from its first key on: the backend has chosen its token by then.
 */
static void batch_prepare(struct provision_batch *pb)
{
	struct backend *be = pb->rq->d->be;

	pb->prepared = true;
	if (pb->pipeline && be->ops->wrap_prepare)
		pb->preparing = !pthread_create(&pb->prep, NULL, prepare, be);
}

struct provision_batch *provision_batch_new(struct request *rq, struct kernel *k,
					    const struct kernel_key *held, size_t nheld,
					    bool have_held)
{
	struct provision_batch *pb = calloc(1, sizeof(*pb));

	if (pb) {
		pb->rq = rq;
		pb->k = k;
		pb->held = held;
		pb->nheld = nheld;
		pb->have_held = have_held;
		pb->pipeline = cpus_usable() > 1;
		pb->rounds[0].be = rq->d->be;
		pb->rounds[1].be = rq->d->be;
	}
	return pb;
}

/* Whether the kernel holds @id's @version: no wrap is spent on it then. */
static bool batch_held(struct provision_batch *pb, const uint8_t *id, uint32_t version)
{
	struct kernel_key kk;

	if (pb->have_held)
		return kernel_held_find(pb->held, pb->nheld, id, version);
	return !kernel_get(pb->k, id, version, &kk);
}

/* Errors that no key of the round would escape: not worth a call per key. */
static bool batch_wide(int r)
{
	return r == -ENOPKG || r == -EHOSTDOWN || r == -ETIMEDOUT || r == -EACCES ||
	       r == -ENOMEM;
}

/* Whether @rd's version @i is its key's first (the one before is another key's). */
static bool key_begins(const struct round *rd, size_t i)
{
	return memcmp(rd->keys[i].id, rd->keys[i - 1].id, HSMKEY_ID_LEN);
}

/* The number of keys among @rd's versions from @from on. */
static size_t keys_from(const struct round *rd, size_t from)
{
	size_t n = from < rd->n;

	for (size_t i = from + 1; i < rd->n; i++)
		n += key_begins(rd, i);
	return n;
}

/*
 * A round refused whole: each key's versions from @from on again on their
 * own, so that one key the HSM cannot wrap (its object deleted behind our
 * back, the wrong size) or the kernel refuses does not keep every other
 * key out.
 */
static int again_each(struct provision_batch *pb, struct round *rd, size_t from)
{
	int failed = 0;

	for (size_t i = from, j; i < rd->n; i = j) {
		for (j = i + 1; j < rd->n && !key_begins(rd, j); j++)
			;
		if (provision_e2e(pb->rq, pb->k, &rd->keys[i], j - i)) {
			log_error("cannot load key %s: %s", rd->keys[i].name, pb->rq->err);
			failed++;
		}
	}
	return failed;
}

/*
 * @rd's versions from @from on, without the pipeline: the number of its
 * keys not loaded (a key of which the kernel took only some versions
 * counts as not loaded).
 */
static int round_again(struct provision_batch *pb, struct round *rd, size_t from)
{
	int r = provision_e2e(pb->rq, pb->k, rd->keys + from, rd->n - from);

	if (r && batch_wide(r)) {
		log_error("cannot load a batch of %zu key version(s): %s", rd->n - from,
			  pb->rq->err);
		return (int)keys_from(rd, from);
	}
	if (r) {
		log_warn("a batch of %zu key version(s) was refused (%s): loading its keys one by one",
			 rd->n - from, pb->rq->err);
		return again_each(pb, rd, from);
	}
	return 0;
}

static void *round_wrap(void *arg)
{
	struct round *rd = arg;

	rd->r = rd->be->ops->wrap_for_kernel(rd->be, rd->kpoint, rd->req, rd->n, rd->hpoint,
					     rd->w, KS_WRAP_NO_FAILOVER | KS_WRAP_IN_TURN);
	return NULL;
}

/*
 * The kernel's ephemeral key for @rd, then @rd's wrap on a thread of its
 * own (in turn after the round ahead of it), or done here.
 */
static void round_start(struct provision_batch *pb, struct round *rd)
{
	rd->r = kernel_ephemeral(pb->k, (uint32_t)rd->n, &rd->handle, rd->kpoint);
	if (rd->r)
		return;
	for (size_t i = 0; i < rd->n; i++)
		rd->req[i] = (struct ks_wrap_req){ rd->keys[i].id, rd->keys[i].version,
						   rd->keys[i].type };
	rd->wrapping = pb->pipeline && !pthread_create(&rd->thread, NULL, round_wrap, rd);
	if (!rd->wrapping)	/* here, where failing over is safe; beside a round in flight */
		rd->r = rd->be->ops->wrap_for_kernel(rd->be, rd->kpoint, rd->req, rd->n,
						     rd->hpoint, rd->w, 0);
}

static void round_wait(struct round *rd)
{
	if (rd && rd->wrapping) {
		pthread_join(rd->thread, NULL);
		rd->wrapping = false;
	}
}

static void round_clear(struct round *rd)
{
	for (size_t i = 0; i < rd->n; i++)
		ks_key_wipe(&rd->keys[i]);
	wipe(rd->w, rd->n * sizeof(rd->w[0]));
	rd->n = 0;
}

/*
 * @rd wrapped (round_wait()): to the kernel.  @other (or NULL), the round
 * whose wrap may still run: on a failure, it is waited for and handed to
 * the kernel before anything is wrapped here.  The number of keys not
 * loaded.
 */
static int round_finish(struct provision_batch *pb, struct round *rd, struct round *other)
{
	size_t done = 0;
	int r = rd->r, failed = 0;

	if (!r) {
		for (size_t i = 0; i < rd->n; i++)
			memcpy(rd->keys[i].verifier, rd->w[i].verifier,
			       sizeof(rd->keys[i].verifier));
		r = provision_e2e_add(pb->rq, pb->k, rd->keys, rd->w, rd->n, rd->handle,
				      rd->hpoint, &done);
	}
	if (r) {
		log_msg(r == -ESTALE ? 6 : 4,
			"a batch of %zu key version(s) failed (%s): the %zu the kernel did not take go again without the pipeline",
			rd->n, strerror(-r), rd->n - done);
		/*
		 * @other to the kernel first: its ephemeral key is older than
		 * any the retries make, and would be the first replaced.  A
		 * key's versions are all in one round: the order is free.
		 */
		round_wait(other);
		if (other && other->n && !other->r)
			failed = round_finish(pb, other, NULL);
		failed += round_again(pb, rd, done);
	}
	round_clear(rd);
	return failed;
}

/*
 * The round gathered so far to the HSM, and the round before it (if any)
 * to the kernel once wrapped, meanwhile; on one CPU, the round gathered
 * so far from start to end.  The number of keys not loaded.
 */
static int flush(struct provision_batch *pb)
{
	struct round *cur = &pb->rounds[pb->g], *prev = &pb->rounds[!pb->g];
	int failed = 0;

	if (!pb->pipeline) {
		if (cur->n) {
			round_start(pb, cur);
			failed = round_finish(pb, cur, prev);
		}
		return failed;
	}
	/*
	 * The ephemeral key and the wrap while the token still wraps @prev:
	 * it never waits for either.
	 */
	if (cur->n) {
		round_start(pb, cur);
		pb->g = !pb->g;
		pb->started = true;
	}
	round_wait(prev);
	if (prev->n)
		failed = round_finish(pb, prev, cur);
	return failed;
}

/*
 * Where @rd's tail begins (TAIL_MIN versions or a few more), at a key's
 * first: 0 if @rd is too small to be split.
 */
static size_t tail_start(const struct round *rd)
{
	size_t i;

	if (rd->n < 3 * TAIL_MIN)
		return 0;
	for (i = rd->n - TAIL_MIN; i > 0; i--)
		if (key_begins(rd, i))
			return i;
	return 0;
}

/*
 * The last round gathered (at start-up, on SIGHUP, at a reconciliation),
 * in two with the pipeline: its head, then its tail (tail_start()) on its
 * own.  The kernel takes the head while the token wraps the tail, so what
 * is left once the token is done is the hand-over of a small round, not
 * of up to a full one.  The tail's versions move to the other round, which
 * flush() has emptied: flush() switches rounds whenever it starts one, and
 * round_finish() clears the round it hands over.  The head's wrap reads
 * only keys [0, from).
 */
static int flush_split(struct provision_batch *pb)
{
	struct round *cur = &pb->rounds[pb->g], *next;
	size_t from = pb->pipeline ? tail_start(cur) : 0, n;
	int failed;

	if (!from)
		return flush(pb);
	n = cur->n - from;
	cur->n = from;
	failed = flush(pb);
	next = &pb->rounds[pb->g];	/* handed over (cleared), or never used */
	memcpy(next->keys, cur->keys + from, n * sizeof(cur->keys[0]));
	for (size_t i = 0; i < n; i++)
		ks_key_wipe(&cur->keys[from + i]);
	next->n = n;
	return failed + flush(pb);
}

/* The keys not loaded since provision_batch_new(), this flush's included. */
int provision_batch_flush(struct provision_batch *pb)
{
	int failed = flush_split(pb);

	failed += flush(pb) + pb->failed;	/* the round the last began */
	pb->failed = 0;
	return failed;
}

static size_t round_max(const struct provision_batch *pb)
{
	return pb->pipeline && !pb->started ? FIRST_ROUND : HSMKEY_BATCH_MAX;
}

int provision_batch_add(struct provision_batch *pb, const struct ks_key *meta)
{
	struct request *rq = pb->rq;
	struct round *rd = &pb->rounds[pb->g];
	size_t first;
	int r = 0;

	if (!rq->d->be->ops->wrap_for_kernel)
		return provision_versions(rq, pb->k, meta);
	if (!pb->prepared)
		batch_prepare(pb);
	if (rd->n + meta->current > round_max(pb)) {
		pb->failed += flush(pb);
		rd = &pb->rounds[pb->g];
	}
	first = rd->n;
	for (uint32_t v = 1; !r && v <= meta->current; v++) {
		if (batch_held(pb, meta->id, v))
			continue;
		r = provision_read_sealed(rq, meta, v, &rd->keys[rd->n]);
		rd->n += r > 0;
		r = r < 0 ? r : 0;
	}
	if (!r)
		return 0;
	/*
	 * None of its versions then, as provision_versions_e2e(): the caller
	 * counts the key, and a round's failure must not count it again.
	 */
	ks_key_wipe(&rd->keys[rd->n]);	/* what the failed read left */
	while (rd->n > first)
		ks_key_wipe(&rd->keys[--rd->n]);
	log_error("%s", rq->err);	/* the caller says "see above" */
	return r;
}

void provision_batch_free(struct provision_batch *pb)
{
	if (!pb)
		return;
	if (pb->preparing)
		pthread_join(pb->prep, NULL);
	for (unsigned int i = 0; i < 2; i++) {
		round_wait(&pb->rounds[i]);
		round_clear(&pb->rounds[i]);
	}
	free(pb);
}
