// SPDX-License-Identifier: GPL-2.0
/*
 * The nonce pool (nonce.h).  Each thread has its own, so taking bytes
 * needs no lock; a fork() empties every pool in the child, whose copy of
 * the calling thread's pool the parent goes on using.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "nonce.h"
#include "util.h"

struct pool {
	uint8_t bytes[NONCE_POOL];
	size_t left;		/* unused bytes: the last @left of @bytes */
	unsigned int forks;	/* the count of forks it was filled under */
};

static __thread struct pool pool;
static unsigned int forks;
static pthread_once_t watching = PTHREAD_ONCE_INIT;

static void forked(void)
{
	__atomic_fetch_add(&forks, 1, __ATOMIC_RELAXED);
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forked);
}

static int fill(struct pool *p)
{
	if (random_full(p->bytes, NONCE_POOL))
		return -EIO;
	p->left = NONCE_POOL;
	return 0;
}

int nonce_bytes(uint8_t *out, size_t len)
{
	struct pool *p = &pool;
	unsigned int now;
	uint8_t *from;

	if (len > NONCE_POOL)
		return -EINVAL;
	pthread_once(&watching, watch_forks);
	now = __atomic_load_n(&forks, __ATOMIC_RELAXED);
	if (p->forks != now || p->left < len) {
		p->left = 0;
		if (fill(p))
			return -EIO;
		p->forks = now;
	}
	from = p->bytes + NONCE_POOL - p->left;
	memcpy(out, from, len);
	memset(from, 0, len);	/* given out: gone from the pool */
	p->left -= len;
	return 0;
}
