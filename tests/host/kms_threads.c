// SPDX-License-Identifier: GPL-2.0
/*
 * kms_threads SOCKET KEY THREADS CALLS [each]: libhsmkey as an application
 * uses it, one handle shared by THREADS threads (with "each": a handle per
 * thread, so that hsmkeyd serves them at once), each encrypting CALLS
 * random plaintexts of its own with KEY (context: its thread number) and
 * decrypting them again.  Prints "ok N" when every round trip gave its own
 * plaintext back and a blob of another thread's context was refused;
 * exit 1 otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <hsmkey/kms.h>

static struct hsmkey *shared;
static const char *key, *sock;
static int calls;

static void *worker(void *arg)
{
	long id = (long)arg, bad = 0;
	char me[24], other[24];
	struct hsmkey *h = shared;

	if (!h && hsmkey_open(sock, &h))
		return (void *)(long)calls;

	snprintf(me, sizeof(me), "%ld", id);
	snprintf(other, sizeof(other), "%ld", id + 1000);
	for (int i = 0; i < calls; i++) {
		struct hsmkey_kv ctx = { "thread", me }, wrong = { "thread", other };
		unsigned char pt[512], blob[HSMKEY_BLOB_MAX], back[HSMKEY_PLAINTEXT_MAX];
		size_t ptlen = 1 + (size_t)(i * 37 + id) % sizeof(pt), bloblen = sizeof(blob);
		size_t backlen = sizeof(back);

		if (getrandom(pt, ptlen, 0) != (ssize_t)ptlen ||
		    hsmkey_encrypt(h, key, &ctx, 1, pt, ptlen, blob, &bloblen) ||
		    bloblen != ptlen + HSMKEY_BLOB_OVERHEAD ||
		    hsmkey_decrypt(h, &ctx, 1, blob, bloblen, back, &backlen) ||
		    backlen != ptlen || memcmp(back, pt, ptlen) ||
		    hsmkey_decrypt(h, &wrong, 1, blob, bloblen, back, &backlen) != -EBADMSG)
			bad++;
	}
	if (!shared) {
		if (bad)
			fprintf(stderr, "thread %ld: %s\n", id, hsmkey_error(h));
		hsmkey_close(h);
	}
	return (void *)bad;
}

int main(int argc, char **argv)
{
	pthread_t t[16];
	long bad = 0, n;
	int r;

	if (argc < 5 || argc > 6 || (n = atol(argv[3])) < 1 || n > 16 ||
	    (calls = atoi(argv[4])) < 1 || (argc == 6 && strcmp(argv[5], "each"))) {
		fprintf(stderr, "usage: kms_threads SOCKET KEY THREADS CALLS [each]\n");
		return 2;
	}
	sock = argv[1];
	key = argv[2];
	r = argc == 6 ? 0 : hsmkey_open(sock, &shared);
	if (r) {
		fprintf(stderr, "hsmkey_open: %s\n", strerror(-r));
		return 1;
	}
	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (long i = 0; i < n; i++) {
		void *b;

		pthread_join(t[i], &b);
		bad += (long)b;
	}
	if (bad)
		fprintf(stderr, "%ld round trips failed%s%s\n", bad, shared ? "; last error: " : "",
			shared ? hsmkey_error(shared) : "");
	else
		printf("ok %ld\n", n * calls);
	hsmkey_close(shared);
	return bad ? 1 : 0;
}
