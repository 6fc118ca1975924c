// SPDX-License-Identifier: GPL-2.0
/*
 * Deterministic randomness (splitmix64): every choice the fuzzer makes
 * comes from here, so that a seed replays a run.
 */
#include "nl_fuzz.h"

uint64_t rng_state;

uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n); 0 for n == 0. */
uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)(rnd64() % n) : 0;
}

bool pct(unsigned int p)
{
	return rnd(100) < p;
}

void rnd_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		uint64_t v = rnd64();
		size_t k = n < 8 ? n : 8;

		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}
