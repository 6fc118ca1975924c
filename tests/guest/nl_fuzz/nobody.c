// SPDX-License-Identifier: GPL-2.0
/*
 * The unprivileged child: drops to uid/gid 65534 and sends on its own
 * socket and on sockets root opened; its statistics come back over a pipe.
 */
#include "nl_fuzz.h"

#define NOBODY 65534

/* What the child tells its parent over the pipe. */
struct child_report {
	int dropped;			/* 1: ran as uid/gid 65534 */
	uint64_t hist[2][NERR];		/* R_NOBODY, R_INHERIT */
	uint64_t sent[2];
	uint64_t timeouts[2];
	uint64_t fuzz_sent;
	unsigned long fails[T_NLINES];
};

static struct child_report report;

/* Become nobody for good: groups first, while we still may. */
static bool drop_privileges(void)
{
	uid_t r, e, s;

	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return false;
	if (getresuid(&r, &e, &s) || r != NOBODY || e != NOBODY || s != NOBODY)
		return false;
	return getegid() == NOBODY && getgid() == NOBODY;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * The child: drop to nobody, open a socket of its own (role nobody) and
 * use the root-opened @inherited one too (role inherit), then report.
 */
static void __attribute__((noreturn))
child_main(int wfd, int inherited, int devfd, uint64_t seed,
	   unsigned long count)
{
	struct intent in;
	struct reply r;
	unsigned long i;
	int own;

	rng_state = seed;
	/* Far from the parent's numbers, which may share a socket. */
	next_seq += 0x40000000U;
	memset(hist, 0, sizeof(hist));
	memset(sent, 0, sizeof(sent));
	memset(timeouts, 0, sizeof(timeouts));
	memset(fails, 0, sizeof(fails));
	memset(cov, 0, sizeof(cov));
	fuzz_sent = 0;
	close(devfd);
	report.dropped = drop_privileges();
	own = report.dropped ? nl_open() : -1;
	if (own < 0) {
		report.dropped = 0;
	} else {
		for (i = 0; i < count; i++) {
			bool mine = rnd(3) != 0;
			enum role role = mine ? R_NOBODY : R_INHERIT;

			gen_one(&mbuf, &in, role);
			send_checked(role, mine ? own : inherited, &mbuf, &in, &r);
			fuzz_sent++;
		}
	}
	for (i = 0; i < 2; i++) {
		memcpy(report.hist[i], hist[R_NOBODY + i], sizeof(report.hist[i]));
		report.sent[i] = sent[R_NOBODY + i];
		report.timeouts[i] = timeouts[R_NOBODY + i];
	}
	report.fuzz_sent = fuzz_sent;
	memcpy(report.fails, fails, sizeof(fails));
	fflush(stdout);
	_exit(write_all(wfd, &report, sizeof(report)) ? 0 : 1);
}

static void merge_report(const struct child_report *c)
{
	int i, e;

	for (i = 0; i < 2; i++) {
		for (e = 0; e < NERR; e++)
			hist[R_NOBODY + i][e] += c->hist[i][e];
		sent[R_NOBODY + i] += c->sent[i];
		timeouts[R_NOBODY + i] += c->timeouts[i];
	}
	for (i = 0; i < T_NLINES; i++)
		fails[i] += c->fails[i];
	fuzz_sent += c->fuzz_sent;
}

/* Run the child for one phase; false if it could not run or report. */
static bool run_child(int devfd, unsigned long count)
{
	/* Half the time the inherited socket is the registered one itself. */
	bool fresh = pct(50);
	int inherited = fresh ? nl_open() : hfd;
	uint64_t seed = rnd64();
	int p[2], status = 0;
	bool ok;
	pid_t pid;

	if (inherited < 0 || pipe(p)) {
		fail(T_NOBODY, "no socket or pipe for the child: %s",
		     strerror(errno));
		return false;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_main(p[1], inherited, devfd, seed, count);
	}
	close(p[1]);
	ok = pid > 0 && read_all(p[0], &report, sizeof(report));
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (fresh)
		close(inherited);
	if (!ok || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail(T_NOBODY, "the nobody child did not report (status %#x)",
		     status);
		return false;
	}
	merge_report(&report);
	if (!report.dropped) {
		fail(T_NOBODY, "the child could not become uid/gid %d", NOBODY);
		return false;
	}
	return true;
}

void nobody_phase(int devfd, unsigned long count)
{
	struct snap before, after;

	if (!snapshot(&before))
		return;
	run_child(devfd, count);
	if (snapshot(&after)) {
		if (!snap_same(&before, &after))
			fail(T_NOBODY, "the key table changed during an unprivileged phase");
		snap_free(&after);
	}
	snap_free(&before);
}
