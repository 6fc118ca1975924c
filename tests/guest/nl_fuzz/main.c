// SPDX-License-Identifier: GPL-2.0
/*
 * nl_fuzz: a protocol-aware fuzzer for the "hsmkey" generic netlink family.
 *
 *   nl_fuzz [-n MESSAGES] [-s SEED]
 *
 * Runs as root in the test VM with hsmkey.ko loaded.  It registers on
 * /dev/hsmkey like hsmkeyd would, provisions a few real keys, and then sends
 * at least MESSAGES generated messages in phases, from four roles:
 *
 *   holder   the registered socket (may change keys)
 *   other    a second root socket, not registered (must never change keys)
 *   nobody   a child that dropped to uid/gid 65534 and opened its own socket
 *   inherit  the same child, sending on a socket root opened (sometimes the
 *            registered one itself)
 *
 * Messages are ~30% valid commands on known keys, ~20% single mutations of
 * valid commands, the rest random attribute sets in each command's attribute
 * space.  Invariants are checked as they go and reported as TAP, one line
 * each.  The same seed gives the same sequence of messages as long as the
 * kernel answers the same way (the transport key, and so the wrapped bytes,
 * differ from run to run).
 */
#include "nl_fuzz.h"

static void report_stats(void)
{
	char line[512];
	size_t off = 0;
	int i;

	for (i = 0; i < R_NROLES; i++) {
		hist_print(role_name[i], hist[i], sent[i]);
		if (timeouts[i])
			diag("%s: %" PRIu64 " timeouts", role_name[i],
			     timeouts[i]);
	}
	for (i = 0; i < C_NCOV; i++) {
		off += snprintf(line + off, sizeof(line) - off, " %s=%" PRIu64,
				cov_name[i], cov[i]);
		if (!cov[i])
			fail(T_COVERAGE, "no 0 reply for %s", cov_name[i]);
	}
	diag("handlers answering 0:%s", line);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-n MESSAGES] [-s SEED]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	static const enum role pattern[] = {
		R_HOLDER, R_OTHER, R_HOLDER, R_NOBODY, R_HOLDER,
		R_NOBODY, R_HOLDER, R_OTHER, R_HOLDER, R_NOBODY,
	};
	unsigned long want = 100000, per, phase;
	struct timespec t0, t1;
	bool setup_ok;
	uint64_t seed;
	char *end;
	int opt, devfd = -1, i;

	clock_gettime(CLOCK_REALTIME, &t0);
	seed = (uint64_t)t0.tv_sec * 1000000000ULL + (uint64_t)t0.tv_nsec;
	/* The harness's default for this kernel (fewer under KASAN). */
	if (getenv("NL_FUZZ_N"))
		want = strtoul(getenv("NL_FUZZ_N"), NULL, 0);
	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		switch (opt) {
		case 'n':
			want = strtoul(optarg, &end, 0);
			if (*end || !*optarg)
				usage(argv[0]);
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end || !*optarg)
				usage(argv[0]);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);

	printf("1..%d\n", T_NLINES);
	printf("# seed %" PRIu64 "\n", seed);
	fflush(stdout);
	rng_state = seed;
	rnd_bytes(run_tag, sizeof(run_tag));
	clock_gettime(CLOCK_MONOTONIC, &t0);

	setup_ok = !setup(&devfd);
	if (!setup_ok) {
		fails[T_SETUP]++;
		if (registered)
			cleanup(devfd);
	} else {
		/* Phases small enough to interleave, big enough to be cheap. */
		per = want / 50;
		per = per < 20 ? 20 : per > 2000 ? 2000 : per;
		sweep();
		for (phase = 0; fuzz_sent < want || phase < 4; phase++) {
			unsigned long left = fuzz_sent < want ? want - fuzz_sent : 0;
			unsigned long count = left && left < per ? left : per;

			switch (pattern[phase % ARRAY_SIZE(pattern)]) {
			case R_HOLDER:
				holder_phase(count);
				break;
			case R_OTHER:
				other_phase(count);
				break;
			default:
				nobody_phase(devfd, count);
			}
		}
		final_checks(want);
		report_stats();
		cleanup(devfd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag("%" PRIu64 " generated messages, %.1f s",
	     fuzz_sent, (double)(t1.tv_sec - t0.tv_sec) +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	for (i = 0; i < T_NLINES; i++) {
		if (!setup_ok && i != T_SETUP)
			printf("not ok %d - %s # setup failed\n", i + 1,
			       tap_name[i]);
		else if (fails[i])
			printf("not ok %d - %s (%lu failures)\n", i + 1,
			       tap_name[i], fails[i]);
		else
			printf("ok %d - %s\n", i + 1, tap_name[i]);
	}
	fflush(stdout);
	for (i = 0; i < T_NLINES; i++)
		if (fails[i] || !setup_ok)
			return 1;
	return 0;
}
