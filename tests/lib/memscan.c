// SPDX-License-Identifier: GPL-2.0
/*
 * memscan PID KEYHEX [--loop SECONDS] [--expect-none|--expect-some]
 *
 * The proof that hsmkeyd never holds a usable key (issue 12) is a scan of
 * its whole memory for the key: this program.  It reads every mapping of
 * /proc/PID/maps through /proc/PID/mem (as root; PROT_NONE pages too, which
 * the kernel lets a ptrace-capable reader see) and counts, per mapping, the
 * places that hold the whole key and the places that hold any 16-byte window
 * of it, so that a copy cut short or split (a block of an AES key schedule's
 * first round, half of an XTS key) is found too.  Memory is read in chunks
 * that overlap by one key length less a byte, so a copy across a chunk's
 * border is found once.
 *
 * Output, one scan:
 *   region LO-HI PERMS NAME windows W key K	(each mapping with a hit)
 *   unreadable LO-HI PERMS NAME		(each mapping that could not be read)
 *   total W key K scanned BYTES unreadable BYTES in N regions
 * With --loop S it scans again and again for S seconds, until the process is
 * gone or until SIGINT or SIGTERM (a test scans while something runs and
 * stops the scan when that is done; the pass under way is finished first, so
 * every pass counted is whole), and prints each pass's region lines with hits
 * and a "pass N total W key K" line, and then
 *   passes N max W sum W key-max K key-sum K
 * A caller that signals it should first wait for "pass 1": before that line
 * the handlers may not be in place yet.
 * Exit: 0 (counts printed); with --expect-none, 1 if any window was found;
 * with --expect-some, 1 if none was; 2 on a usage or setup error.
 * --chunk BYTES sets the read size (the host test uses a small one to put
 * chunk borders through a key).
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "util.h"

#define WIN		16
#define KEY_MIN		16
#define KEY_MAX		64
#define CHUNK_DEFAULT	(1 << 20)
#define TABLE_BITS	10

struct needle {
	uint8_t key[KEY_MAX];
	size_t len;
	/* First 8 bytes of each window, hashed: most places fail here. */
	uint64_t table[1 << TABLE_BITS];
	bool used[1 << TABLE_BITS];
};

struct counts {
	unsigned long windows;
	unsigned long whole;
};

struct scan {
	struct counts total;
	unsigned long long scanned, unreadable;
	unsigned int bad_regions;
};

static size_t chunk_size = CHUNK_DEFAULT;
static volatile sig_atomic_t stopped;

static void on_stop(int sig)
{
	stopped = sig;
}

/* SIGINT and SIGTERM end a loop after its pass, not the program. */
static int catch_stop(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		return -errno;
	return 0;
}

static unsigned int slot(uint64_t v)
{
	return (unsigned int)((v * 0x9e3779b97f4a7c15ull) >> (64 - TABLE_BITS));
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void needle_init(struct needle *n)
{
	for (size_t i = 0; i + WIN <= n->len; i++) {
		uint64_t v = load64(n->key + i);
		unsigned int s = slot(v);

		while (n->used[s] && n->table[s] != v)
			s = (s + 1) & ((1 << TABLE_BITS) - 1);
		n->used[s] = true;
		n->table[s] = v;
	}
}

/* Does any 16-byte window of the key start at @p? */
static bool window_at(const struct needle *n, const uint8_t *p)
{
	uint64_t v = load64(p);
	unsigned int s = slot(v);

	while (n->used[s]) {
		if (n->table[s] == v)
			break;
		s = (s + 1) & ((1 << TABLE_BITS) - 1);
	}
	if (!n->used[s])
		return false;
	for (size_t i = 0; i + WIN <= n->len; i++)
		if (!memcmp(n->key + i, p, WIN))
			return true;
	return false;
}

/*
 * Count in @buf (@len bytes, of which the first @old were the previous
 * chunk's tail and already searched as far as they could be): a place is
 * counted only if its match reaches past the old bytes.
 */
static void count(const struct needle *n, const uint8_t *buf, size_t len, size_t old,
		  struct counts *c)
{
	for (size_t p = 0; p + WIN <= len; p++) {
		if (!window_at(n, buf + p))
			continue;
		if (p + WIN > old)
			c->windows++;
		if (p + n->len <= len && p + n->len > old && !memcmp(buf + p, n->key, n->len))
			c->whole++;
	}
}

/* One mapping, read in overlapping chunks; -errno if it could not be read. */
static int scan_region(int mem, const struct needle *n, unsigned long lo, unsigned long hi,
		       uint8_t *buf, struct counts *c, unsigned long long *done)
{
	size_t keep = n->len - 1, old = 0;
	unsigned long at = lo;

	while (at < hi) {
		size_t want = hi - at < chunk_size ? hi - at : chunk_size;
		ssize_t got = pread(mem, buf + old, want, (off_t)at);

		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		count(n, buf, old + got, old, c);
		*done += got;
		at += got;
		/* The last key length less one byte go in front of the next chunk. */
		if (old + got > keep) {
			memmove(buf, buf + old + got - keep, keep);
			old = keep;
		} else {
			old += got;
		}
	}
	return 0;
}

/*
 * One pass over every mapping; -errno if the process is gone (a zombie has
 * no memory left: -ESRCH).  @print: 1 prints the regions with hits, 2 also
 * those that cannot be read.
 */
static int scan_once(int pid, const struct needle *n, int print, struct scan *s)
{
	char path[64], line[4352], perms[8], name[256];
	unsigned long lo, hi, seen = 0;
	uint8_t *buf;
	FILE *maps;
	int mem;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	buf = malloc(chunk_size + KEY_MAX);
	if (!maps || mem < 0 || !buf) {
		int err = -errno;

		if (maps)
			fclose(maps);
		if (mem >= 0)
			close(mem);
		free(buf);
		return err;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long long before = s->scanned;
		struct counts c = { 0 };

		name[0] = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255[^\n]", &lo, &hi, perms, name) < 3)
			continue;
		/*
		 * Threads map and unmap while we read: a mapping merged with one
		 * already listed is listed again from its start.  Read no byte twice.
		 */
		if (hi <= seen)
			continue;
		lo = lo > seen ? lo : seen;
		seen = hi;
		if (scan_region(mem, n, lo, hi, buf, &c, &s->scanned) < 0) {
			/* [vvar], device memory: say what could not be read. */
			s->unreadable += hi - lo - (s->scanned - before);
			s->bad_regions++;
			if (print > 1)
				printf("unreadable %lx-%lx %s %s\n", lo, hi, perms,
				       name[0] ? name : "[anon]");
		}
		if (print && c.windows)
			printf("region %lx-%lx %s %s windows %lu key %lu\n", lo, hi, perms,
			       name[0] ? name : "[anon]", c.windows, c.whole);
		s->total.windows += c.windows;
		s->total.whole += c.whole;
	}
	free(buf);
	close(mem);
	fclose(maps);
	return s->scanned ? 0 : -ESRCH;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_key(const char *hex, struct needle *n)
{
	size_t len = strlen(hex) / 2;

	if (len < KEY_MIN || len > KEY_MAX || hex_decode(hex, n->key, len))
		return -EINVAL;
	n->len = len;
	needle_init(n);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: memscan PID KEYHEX [--loop SECONDS] [--expect-none|--expect-some] "
		"[--chunk BYTES]\n  KEYHEX: %d to %d bytes\n", KEY_MIN, KEY_MAX);
	return 2;
}

/* --loop: scan until @secs have passed, the process is gone or we are told to stop. */
static int scan_loop(int pid, const struct needle *n, double secs, unsigned long *found)
{
	unsigned long max = 0, sum = 0, kmax = 0, ksum = 0;
	double end = now() + secs;
	unsigned int passes = 0;
	struct scan s;

	do {
		if (scan_once(pid, n, 1, &s) < 0)
			break;
		passes++;
		printf("pass %u total %lu key %lu\n", passes, s.total.windows, s.total.whole);
		fflush(stdout);
		max = s.total.windows > max ? s.total.windows : max;
		kmax = s.total.whole > kmax ? s.total.whole : kmax;
		sum += s.total.windows;
		ksum += s.total.whole;
	} while (!stopped && now() < end);
	if (!passes) {
		fprintf(stderr, "memscan: cannot read the memory of process %d\n", pid);
		return 2;
	}
	printf("passes %u max %lu sum %lu key-max %lu key-sum %lu\n", passes, max, sum, kmax, ksum);
	*found = sum;
	return 0;
}

int main(int argc, char **argv)
{
	static struct needle n;
	int expect = 0, pid, err;
	unsigned long found;
	double loop = -1;
	struct scan s;

	if (argc < 3 || (pid = atoi(argv[1])) <= 0 || parse_key(argv[2], &n))
		return usage();
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--loop") && i + 1 < argc)
			loop = atof(argv[++i]);
		else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk_size = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--expect-none"))
			expect = -1;
		else if (!strcmp(argv[i], "--expect-some"))
			expect = 1;
		else
			return usage();
	}
	if (chunk_size < KEY_MAX || loop == 0)
		return usage();
	if (loop > 0) {
		if (catch_stop()) {
			perror("memscan: sigaction");
			return 2;
		}
		err = scan_loop(pid, &n, loop, &found);
		if (err)
			return err;
	} else {
		err = scan_once(pid, &n, 2, &s);
		if (err) {
			fprintf(stderr, "memscan: cannot read the memory of process %d: %s\n", pid,
				strerror(-err));
			return 2;
		}
		printf("total %lu key %lu scanned %llu unreadable %llu in %u regions\n",
		       s.total.windows, s.total.whole, s.scanned, s.unreadable, s.bad_regions);
		found = s.total.windows;
	}
	wipe(&n, sizeof(n));
	if (expect < 0 && found)
		return 1;
	if (expect > 0 && !found)
		return 1;
	return 0;
}
