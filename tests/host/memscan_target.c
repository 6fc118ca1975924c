// SPDX-License-Identifier: GPL-2.0
/*
 * memscan_target LEN [THREADS]: the memory scanner's test subject
 * (test_memscan.sh).
 * A scanner that finds nothing proves nothing unless it is known to find a
 * key where one is, so this process puts a random key where a daemon's key
 * could end up: on its stack, in its heap, in a private anonymous mapping,
 * split across a page boundary of a shared mapping (a memfd), and on the
 * stack of a thread (a worker's; THREADS workers, default 1, each with its
 * copy).  With more than one worker it is hsmkeyd-like: another thread also
 * starts and ends short-lived threads all the time, so mappings come and go
 * while a scan reads them.  It prints
 *   ready PID key HEX stack ADDR heap ADDR mmap ADDR split ADDR thread ADDR
 * (the first worker's copy), then reads commands on stdin: "wipe" wipes every
 * copy (prints "wiped"), end of input exits.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#define PAGE		4096
#define THREADS_MAX	64

static volatile int churning = 1;

/* The worker: holds a copy on its own stack until told to wipe it. */
struct worker {
	const uint8_t *key;
	size_t len;
	int ready[2], wipe[2];
	void *copy;
	pthread_t thread;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	uint8_t copy[64];
	char c;

	memcpy(copy, w->key, w->len);
	w->copy = copy;
	if (write(w->ready[1], "r", 1) != 1 || read(w->wipe[0], &c, 1) < 0)
		abort();
	explicit_bzero(copy, sizeof(copy));
	return NULL;
}

/* A thread that touches a page of stack and ends: its mappings come and go. */
static void *brief(void *arg)
{
	volatile uint8_t page[PAGE];

	page[0] = page[PAGE - 1] = 1;
	return arg;
}

static void *churn(void *arg)
{
	pthread_attr_t attr;
	pthread_t t;

	/* Each its own stack size, so glibc's cache of stacks is not reused. */
	for (size_t n = 0; churning; n++) {
		if (pthread_attr_init(&attr) ||
		    pthread_attr_setstacksize(&attr, (64 + n % 64) * PAGE) ||
		    pthread_create(&t, &attr, brief, NULL) || pthread_join(t, NULL))
			abort();
		pthread_attr_destroy(&attr);
	}
	return arg;
}

static int start_worker(struct worker *w)
{
	char c;

	if (pipe(w->ready) || pipe(w->wipe) || pthread_create(&w->thread, NULL, worker, w) ||
	    read(w->ready[0], &c, 1) != 1)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	size_t len = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	long nthreads = argc > 2 ? strtol(argv[2], NULL, 0) : 1;
	static struct worker w[THREADS_MAX];
	uint8_t key[64], *heap, *map, *split;
	pthread_t churner;
	char line[64];
	int fd;

	if (len < 16 || len > sizeof(key) || nthreads < 1 || nthreads > THREADS_MAX ||
	    getrandom(key, len, 0) != (ssize_t)len)
		return 2;
	heap = malloc(PAGE);
	map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = memfd_create("memscan-split", MFD_CLOEXEC);
	if (!heap || map == MAP_FAILED || fd < 0 || ftruncate(fd, 2 * PAGE))
		return 2;
	split = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (split == MAP_FAILED)
		return 2;
	memcpy(heap + 100, key, len);
	memcpy(map + 200, key, len);
	/* Half the key at the end of the first page, half at the start of the next. */
	memcpy(split + PAGE - len / 2, key, len);
	for (long i = 0; i < nthreads; i++) {
		w[i].key = key;
		w[i].len = len;
		if (start_worker(&w[i]))
			return 2;
	}
	if (nthreads > 1 && pthread_create(&churner, NULL, churn, NULL))
		return 2;
	printf("ready %d key ", getpid());
	for (size_t i = 0; i < len; i++)
		printf("%02x", key[i]);
	printf(" stack %p heap %p mmap %p split %p thread %p\n", (void *)key,
	       (void *)(heap + 100), (void *)(map + 200), (void *)(split + PAGE - len / 2),
	       w[0].copy);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (strcmp(line, "wipe\n"))
			continue;
		explicit_bzero(key, sizeof(key));
		explicit_bzero(heap, PAGE);
		explicit_bzero(map, PAGE);
		explicit_bzero(split, 2 * PAGE);
		for (long i = 0; i < nthreads; i++)
			if (write(w[i].wipe[1], "w", 1) != 1 || pthread_join(w[i].thread, NULL))
				return 2;
		printf("wiped\n");
		fflush(stdout);
	}
	churning = 0;
	if (nthreads > 1 && pthread_join(churner, NULL))
		return 2;
	return 0;
}
