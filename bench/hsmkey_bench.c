// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkey_bench: the measuring half of bench/run.sh, run in the guest.
 *
 *   hsmkey_bench key TYPE             provision one random key (holding
 *                                     /dev/hsmkey for the call); print
 *                                     "MATERIAL-HEX TOKEN-HEX"
 *   hsmkey_bench afalg SIZE SECONDS ALG KEYHEX [ALG KEYHEX ...]
 *                                     encrypt SIZE-byte requests on one tfm
 *                                     per ALG, interleaved, for SECONDS each;
 *                                     print MB/s for each, one per line
 *   hsmkey_bench afalg-aead SIZE SECONDS ALG KEYHEX [ALG KEYHEX ...]
 *                                     the same with AEAD tfms (gcm(aes):
 *                                     12-byte IV, no associated data)
 *   hsmkey_bench add N                provision N keys in batches; print
 *                                     keys/s; their tokens are kept in
 *                                     /run/hsmkey-bench.tokens
 *   hsmkey_bench bind N SAMPLES       bind (setkey) one tfm to the first N
 *                                     tokens in turn, SAMPLES times after a
 *                                     warm-up, each followed by a stock
 *                                     xts(aes) setkey; print both medians
 *                                     in ns
 *   hsmkey_bench revoke TOKENHEX NBOUND [idle]
 *                                     bind NBOUND tfms to the key, keep
 *                                     AF_ALG requests in flight on them
 *                                     from another thread (not with idle),
 *                                     and time the REVOKE call (send to
 *                                     ack); print µs
 *   hsmkey_bench cmdtime CMD [ARG...] run CMD; print its ms
 *   hsmkey_bench e2e DEVICE CMD [ARG...]
 *                                     read DEVICE (O_DIRECT) in a loop from
 *                                     another thread, run CMD, and print
 *                                     the ms from starting CMD to the first
 *                                     failed read, and CMD's own ms
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include "../tests/guest/nltest.h"
#include "../tests/guest/algtest.h"

#define TOKENS "/run/hsmkey-bench.tokens"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static int cmd_key(const char *type)
{
	struct nlt t;
	struct nlt_key k;
	uint8_t tok[HSMKEY_TOKEN_LEN];
	uint32_t ty = !strcmp(type, "aes-128-xts") ? HSMKEY_TYPE_AES_128_XTS :
		      HSMKEY_TYPE_AES_256_XTS;

	if (nlt_open(&t) || t.dev < 0) {
		fprintf(stderr, "cannot reach hsmkey or hold /dev/hsmkey\n");
		return 1;
	}
	nlt_key_random(&k, "bench", ty);
	if (nlt_add(&t, &k)) {
		fprintf(stderr, "add: %s\n", t.extack);
		return 1;
	}
	nlt_token(&k, tok);
	hex(k.material, k.keylen);
	printf(" ");
	hex(tok, sizeof(tok));
	printf("\n");
	nlt_close(&t);
	return 0;
}

/*
 * The sides run interleaved in short slices, each round in a rotated order,
 * so that a change in the machine's speed (another process on the host, a
 * frequency step) falls on every side alike instead of on whichever side
 * happened to run then.
 */
#define SLICE 0.02	/* seconds */

struct afalg_side {
	int fd;
	unsigned long n;
	double spent;
};

/* One request of @size bytes on @fd: a skcipher's, or (@aead) an AEAD's. */
static int afalg_one(int fd, bool aead, const uint8_t *iv, uint8_t *buf, size_t size)
{
	if (!aead)
		return alg_crypt(fd, true, iv, buf, buf, size);
	return alg_request(fd, true, iv, 12, 0, buf, size, buf, size + 16);
}

static int cmd_afalg(bool aead, size_t size, double secs, int nsides, char **argv)
{
	uint8_t key[HSMKEY_TOKEN_LEN], iv[16] = { 0 };
	uint8_t *buf = calloc(1, size + 16);
	struct afalg_side *side = calloc((size_t)nsides, sizeof(*side));
	double t0, t;

	if (!buf || !side)
		return 1;
	for (int i = 0; i < nsides; i++) {
		const char *alg = argv[2 * i], *keyhex = argv[2 * i + 1];
		size_t keylen = strlen(keyhex) / 2;

		if (keylen > sizeof(key)) {
			fprintf(stderr, "key for %s too long\n", alg);
			return 1;
		}
		unhex(keyhex, key);
		side[i].fd = alg_open_type(aead ? "aead" : "skcipher", alg);
		if (side[i].fd < 0 ||
		    alg_setkey(side[i].fd, key, (int)keylen)) {
			fprintf(stderr, "cannot key %s\n", alg);
			return 1;
		}
	}
	for (unsigned long round = 0; side[0].spent < secs; round++) {
		for (int j = 0; j < nsides; j++) {
			struct afalg_side *s = &side[(round + (unsigned long)j) % (unsigned long)nsides];

			t0 = now();
			do {
				if (afalg_one(s->fd, aead, iv, buf, size)) {
					fprintf(stderr, "request failed\n");
					return 1;
				}
				s->n++;
				t = now();
			} while (t - t0 < SLICE);
			s->spent += t - t0;
		}
	}
	for (int i = 0; i < nsides; i++)
		printf("%.2f\n", (double)side[i].n * (double)size / side[i].spent / 1e6);
	free(side);
	free(buf);
	return 0;
}

static int cmd_add(unsigned int n)
{
	const unsigned int batch = HSMKEY_BATCH_MAX;
	struct nlt_key *k = calloc(batch, sizeof(*k));
	uint8_t tok[HSMKEY_TOKEN_LEN];
	double t0, spent = 0;
	FILE *f = fopen(TOKENS, "a");
	struct nlt t;

	if (!f || !k || nlt_open(&t) || t.dev < 0) {
		fprintf(stderr, "cannot reach hsmkey or hold /dev/hsmkey\n");
		return 1;
	}
	for (unsigned int done = 0; done < n;) {
		unsigned int m = n - done < batch ? n - done : batch;

		for (unsigned int i = 0; i < m; i++)
			nlt_key_random(&k[i], "bench-many", HSMKEY_TYPE_AES_256_XTS);
		/* Only the kernel's work is timed, not making random keys. */
		t0 = now();
		if (nlt_add_batch(&t, k, m)) {
			fprintf(stderr, "batch add: %s\n", t.extack);
			return 1;
		}
		spent += now() - t0;
		for (unsigned int i = 0; i < m; i++) {
			nlt_token(&k[i], tok);
			fwrite(tok, sizeof(tok), 1, f);
		}
		done += m;
	}
	printf("%.0f\n", n / spent);
	fclose(f);
	nlt_close(&t);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Bind latency, interleaved sample by sample with a reference: a setkey of
 * the same length on stock xts(aes), whose cost does not depend on hsmkey's
 * table.  Comparing two table sizes measured seconds apart then compares
 * each against the machine's speed at that moment (under emulation, that
 * speed has been seen to step by half between one second and the next).
 */
static int cmd_bind(unsigned int n, unsigned int samples)
{
	uint8_t (*tok)[HSMKEY_TOKEN_LEN] = calloc(n, HSMKEY_TOKEN_LEN);
	uint8_t ref_key[HSMKEY_TOKEN_LEN];
	double *lat = calloc(samples, sizeof(double));
	double *ref = calloc(samples, sizeof(double));
	FILE *f = fopen(TOKENS, "r");
	int fd = alg_open("xts(hsmaes)"), rfd = alg_open("xts(aes)");
	double t0, t1, t2;

	if (!tok || !lat || !ref || fd < 0 || rfd < 0) {
		fprintf(stderr, "cannot open xts(hsmaes) and xts(aes)\n");
		return 1;
	}
	if (!f || fread(tok, HSMKEY_TOKEN_LEN, n, f) != n) {
		fprintf(stderr, "need %u tokens in " TOKENS "\n", n);
		return 1;
	}
	/* Two different halves: XTS refuses equal ones. */
	for (unsigned int i = 0; i < sizeof(ref_key); i++)
		ref_key[i] = (uint8_t)(i * 7 + 1);
	/* Warm-up: every key gets its inner tfm before timing. */
	for (unsigned int i = 0; i < n; i++)
		if (alg_setkey(fd, tok[i], HSMKEY_TOKEN_LEN) ||
		    alg_setkey(rfd, ref_key, (int)sizeof(ref_key))) {
			fprintf(stderr, "bind failed\n");
			return 1;
		}
	for (unsigned int s = 0; s < samples; s++) {
		t0 = now();
		if (alg_setkey(fd, tok[s % n], HSMKEY_TOKEN_LEN))
			return 1;
		t1 = now();
		if (alg_setkey(rfd, ref_key, (int)sizeof(ref_key)))
			return 1;
		t2 = now();
		lat[s] = t1 - t0;
		ref[s] = t2 - t1;
	}
	qsort(lat, samples, sizeof(double), cmp_double);
	qsort(ref, samples, sizeof(double), cmp_double);
	printf("%.0f %.0f\n", lat[samples / 2] * 1e9, ref[samples / 2] * 1e9);
	fclose(f);
	free(tok);
	free(lat);
	free(ref);
	return 0;
}

struct inflight {
	int *fds;
	unsigned int n;
	volatile int stop;
	unsigned long done;
	int last_err;
};

/* Requests on every bound tfm in turn until one fails (revoked) or stop. */
static void *inflight_run(void *arg)
{
	struct inflight *f = arg;
	uint8_t buf[4096] = { 0 }, iv[16] = { 0 };
	unsigned int i = 0;

	while (!f->stop) {
		f->last_err = alg_crypt(f->fds[i++ % f->n], true, iv, buf, buf,
					sizeof(buf));
		if (f->last_err)
			break;
		f->done++;
	}
	return NULL;
}

static int cmd_revoke(const char *tokhex, unsigned int nbound, bool idle)
{
	struct inflight f = { .n = nbound };
	uint8_t tok[HSMKEY_TOKEN_LEN];
	const struct hsmkey_token *ht = (const void *)tok;
	struct nlt_key k = { 0 };
	pthread_t th;
	struct nlt t;
	double t0, t1;
	int err;

	unhex(tokhex, tok);
	memcpy(k.id, ht->key_id, HSMKEY_ID_LEN);
	k.version = ntohl(ht->key_version);
	f.fds = calloc(nbound, sizeof(int));
	if (!f.fds || nlt_open(&t))
		return 1;
	for (unsigned int i = 0; i < nbound; i++) {
		f.fds[i] = alg_open("xts(hsmaes)");
		if (f.fds[i] < 0 || alg_setkey(f.fds[i], tok, sizeof(tok))) {
			fprintf(stderr, "cannot bind tfm %u\n", i);
			return 1;
		}
	}
	if (idle)
		f.last_err = -EKEYREVOKED;	/* nothing to see end */
	else
		pthread_create(&th, NULL, inflight_run, &f);
	while (!idle && f.done < 50 && !f.last_err)
		usleep(1000);
	t0 = now();
	err = nlt_revoke(&t, &k);
	t1 = now();
	/*
	 * A request that entered before the revoke completes normally; the
	 * next one must fail.  Give the thread a second to reach it.
	 */
	while (!idle && !err && !f.last_err && now() < t1 + 1)
		usleep(1000);
	f.stop = 1;
	if (!idle)
		pthread_join(th, NULL);
	if (err || f.last_err != -EKEYREVOKED) {
		fprintf(stderr, "revoke %d (%s), in-flight requests ended with %d\n",
			err, t.extack, f.last_err);
		return 1;
	}
	printf("%.0f\n", (t1 - t0) * 1e6);
	for (unsigned int i = 0; i < nbound; i++)
		close(f.fds[i]);
	free(f.fds);
	nlt_close(&t);
	return 0;
}

struct reader {
	int fd;
	volatile int stop;
	double failed_at;
	unsigned long reads;
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;
	void *buf;

	if (posix_memalign(&buf, 4096, 4096))
		return NULL;
	while (!r->stop) {
		if (pread(r->fd, buf, 4096, (off_t)(r->reads % 256) * 4096) != 4096) {
			r->failed_at = now();
			break;
		}
		r->reads++;
	}
	free(buf);
	return NULL;
}

/* Run @cmd, its output discarded; its exit status, or -1. */
static int run_quiet(char **cmd)
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		/* Its output is not ours: stdout carries the figures. */
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int cmd_cmdtime(char **cmd)
{
	double t0 = now();

	if (run_quiet(cmd)) {
		fprintf(stderr, "%s failed\n", cmd[0]);
		return 1;
	}
	printf("%.2f\n", (now() - t0) * 1e3);
	return 0;
}

static int cmd_e2e(const char *dev, char **cmd)
{
	struct reader r = { .fd = open(dev, O_RDONLY | O_DIRECT) };
	double t0, t1, deadline;
	pthread_t th;

	if (r.fd < 0) {
		perror(dev);
		return 1;
	}
	pthread_create(&th, NULL, reader_run, &r);
	while (r.reads < 50 && !r.failed_at)
		usleep(1000);
	t0 = now();
	if (run_quiet(cmd)) {
		fprintf(stderr, "%s failed\n", cmd[0]);
		r.stop = 1;
		pthread_join(th, NULL);
		return 1;
	}
	t1 = now();
	deadline = t1 + 5;
	while (!r.failed_at && now() < deadline)
		usleep(100);
	r.stop = 1;
	pthread_join(th, NULL);
	close(r.fd);
	if (!r.failed_at) {
		fprintf(stderr, "reads still succeed 5 s after %s\n", cmd[0]);
		return 1;
	}
	printf("%.2f %.2f\n", (r.failed_at - t0) * 1e3, (t1 - t0) * 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "revoke"))
		return cmd_revoke(argv[2], (unsigned int)strtoul(argv[3], NULL, 0),
				  argc == 5 && !strcmp(argv[4], "idle"));
	if (argc >= 3 && !strcmp(argv[1], "cmdtime"))
		return cmd_cmdtime(argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "e2e"))
		return cmd_e2e(argv[2], argv + 3);
	if (argc == 3 && !strcmp(argv[1], "key"))
		return cmd_key(argv[2]);
	if (argc >= 6 && argc % 2 == 0 && !strcmp(argv[1], "afalg"))
		return cmd_afalg(false, strtoul(argv[2], NULL, 0), atof(argv[3]), (argc - 4) / 2,
				 argv + 4);
	if (argc >= 6 && argc % 2 == 0 && !strcmp(argv[1], "afalg-aead"))
		return cmd_afalg(true, strtoul(argv[2], NULL, 0), atof(argv[3]), (argc - 4) / 2,
				 argv + 4);
	if (argc == 3 && !strcmp(argv[1], "add"))
		return cmd_add((unsigned int)strtoul(argv[2], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "bind"))
		return cmd_bind((unsigned int)strtoul(argv[2], NULL, 0),
				(unsigned int)strtoul(argv[3], NULL, 0));
	fprintf(stderr, "usage: see the comment at the top of bench/hsmkey_bench.c\n");
	return 2;
}
