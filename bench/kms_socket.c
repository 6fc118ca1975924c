// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's rate through its socket, against the socket's own
 * limit (issue 15's goal: single AES operations at >= 0.70 of it).
 *
 *   kms_socket echo PATH
 *	A minimal echo server on a SOCK_SEQPACKET UNIX socket at PATH, as
 *	hsmkeyd's control socket is: a thread per connection, each message
 *	sent back as it came.  Runs until killed.
 *   kms_socket echo-rate PATH CLIENTS SECONDS SIZE
 *	CLIENTS connections, each sending SIZE-byte messages to the echo
 *	server one after the other and reading each reply.
 *   kms_socket floor PATH LOG
 *	A minimal server doing an encrypt call's work, on the same kind of
 *	socket (kms_floor.c).  Runs until killed.
 *   kms_socket floor-rate PATH CLIENTS SECONDS SIZE
 *	As echo-rate, against the floor server: every reply must be of a
 *	4 KiB blob's size with a nonce other than the reply's before it, and
 *	each client's first and every 256th must open under the floor's key
 *	to the plaintext sent.
 *   kms_socket rate PATH OP KEY CLIENTS SECONDS BATCH
 *	CLIENTS libhsmkey handles, each calling OP (encrypt, decrypt: 4 KiB
 *	plaintext; sign: a 4 KiB message) with key KEY, one item a call
 *	(BATCH 1) or BATCH a call (hsmkey_encrypt_batch(3)).
 *	OP sign-pss signs with HSMKEY_SIGN_PSS (an RSA key).
 *   kms_socket size OP BATCH
 *	The size of one request of OP with BATCH items, as the library
 *	sends it: the echo's SIZE for the same work.
 *   kms_socket local-sign PEM CLIENTS SECONDS [pss]
 *	The same signatures made in this process by OpenSSL with the private
 *	key in PEM, CLIENTS threads: what a signature costs without hsmkeyd.
 *
 * The rates print as "RATE" (items a second).  Every reply is checked: an
 * encrypt's blob must decrypt to its plaintext once before the timing,
 * a decrypt's plaintext must be the one encrypted, a signature must
 * verify; and the echo's reply must be the message sent.
 *
 * The echo is the socket's own limit; the floor, a minimal server's for an
 * encrypt call's work with hsmkeyd's guarantees (kms_floor.c): not a proven
 * bound, a measure of how much of hsmkeyd's distance from the echo is that
 * work.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <hsmkey/kms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "kms_socket.h"
#include "proto.h"

#define BATCH_MAX	HSMKEY_BATCH_MAX

atomic_bool ks_stop;
atomic_uint_fast64_t ks_done;
const char *ks_path;

static size_t size;		/* a reference client's message */
static const struct reference *ref;	/* echo-rate's or floor-rate's server */

static const char *op, *key;
static size_t batch = 1;
static unsigned int sign_flags;		/* sign-pss: HSMKEY_SIGN_PSS */
static EVP_PKEY *local_key;		/* local-sign's */

void die(const char *what)
{
	fprintf(stderr, "kms_socket: %s\n", what);
	exit(1);
}

int unix_connect(const char *p)
{
	int fd = proto_connect(p, 0);

	if (fd < 0)
		die("cannot connect");
	return fd;
}

static int unix_listen(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	unlink(p);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0)
		die("cannot listen");
	return lfd;
}

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t *buf = malloc(ECHO_MAX);
	ssize_t n;

	while (buf && (n = recv(fd, buf, ECHO_MAX, 0)) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	free(buf);
	close(fd);
	return NULL;
}

/* Accept connections on ks_path for ever, each served by a thread running @conn(fd). */
void serve(void *(*conn)(void *))
{
	int lfd = unix_listen(ks_path), sndbuf = ECHO_MAX * 2;
	pthread_t t;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		if (pthread_create(&t, NULL, conn, (void *)(intptr_t)fd))
			die("no thread");
		pthread_detach(t);
	}
}

static bool echo_check(const uint8_t *msg, size_t len, const uint8_t *reply,
		       const uint8_t *prev, uint64_t n)
{
	(void)prev;
	(void)n;
	return !memcmp(msg, reply, len);
}

static const struct reference echo_reference = {
	.what = "the echo is not the message", .check = echo_check,
};

/*
 * A reference server's client (echo-rate, floor-rate): SIZE-byte messages
 * one after the other, each reply of ref->reply bytes (0: SIZE) checked by
 * ref->check, which is also shown the reply before it.
 */
static void *reference_client(void *arg)
{
	int fd = unix_connect(ks_path), sndbuf = ECHO_MAX * 2;
	size_t want = ref->reply ?: size;
	uint8_t *msg = malloc(size), *back[2] = { malloc(want + 1), malloc(want + 1) };
	uint64_t n = 0;

	(void)arg;
	if (!msg || !back[0] || !back[1])
		die("out of memory");
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (size_t i = 0; i < size; i++)
		msg[i] = (uint8_t)(i * 7);
	while (!atomic_load(&ks_stop)) {
		uint8_t *now = back[n & 1], *prev = n ? back[(n - 1) & 1] : NULL;

		if (send(fd, msg, size, 0) != (ssize_t)size ||
		    recv(fd, now, want + 1, 0) != (ssize_t)want)
			die("no reply of the right size from the reference server");
		if (!ref->check(msg, size, now, prev, n))
			die(ref->what);
		n++;
	}
	atomic_fetch_add(&ks_done, n);
	free(msg);
	free(back[0]);
	free(back[1]);
	close(fd);
	return NULL;
}

static const struct hsmkey_kv ctx[] = { { "bench", "kms_socket" } };

/* One client's items: plaintexts, and for decrypt their blobs. */
struct work {
	struct hsmkey *h;
	uint8_t pt[BATCH_MAX][ITEM];
	uint8_t blob[BATCH_MAX][HSMKEY_BLOB_MAX];
	size_t bloblen[BATCH_MAX];
	uint8_t out[BATCH_MAX][HSMKEY_BLOB_MAX];
	struct hsmkey_item items[BATCH_MAX];
};

static void check(struct work *w, int r, const char *what)
{
	if (r) {
		fprintf(stderr, "kms_socket: %s: %s (%s)\n", what, strerror(-r),
			hsmkey_error(w->h));
		exit(1);
	}
}

/* The items of a batch: @in to @out, each out buffer as large as any reply. */
static void set_items(struct work *w, bool from_blobs)
{
	for (size_t i = 0; i < batch; i++) {
		w->items[i] = (struct hsmkey_item){
			.ctx = ctx, .nctx = 1,
			.in = from_blobs ? w->blob[i] : w->pt[i],
			.inlen = from_blobs ? w->bloblen[i] : ITEM,
			.out = w->out[i], .outlen = HSMKEY_BLOB_MAX,
		};
	}
}

static void prepare(struct work *w)
{
	size_t n;

	check(w, hsmkey_open(ks_path, &w->h), "hsmkey_open");
	for (size_t i = 0; i < batch; i++) {
		for (size_t j = 0; j < ITEM; j++)
			w->pt[i][j] = (uint8_t)(i + j * 13);
		if (!strcmp(op, "sign"))
			continue;
		w->bloblen[i] = HSMKEY_BLOB_MAX;
		check(w, hsmkey_encrypt(w->h, key, ctx, 1, w->pt[i], ITEM, w->blob[i],
					&w->bloblen[i]), "encrypt");
		n = ITEM;
		check(w, hsmkey_decrypt(w->h, ctx, 1, w->blob[i], w->bloblen[i], w->out[i], &n),
		      "decrypt");
		if (n != ITEM || memcmp(w->out[i], w->pt[i], ITEM))
			die("a blob does not decrypt to its plaintext");
	}
}

static void one(struct work *w)
{
	size_t n = HSMKEY_BLOB_MAX;

	if (!strcmp(op, "encrypt")) {
		check(w, hsmkey_encrypt(w->h, key, ctx, 1, w->pt[0], ITEM, w->out[0], &n),
		      "encrypt");
		if (n != ITEM + HSMKEY_BLOB_OVERHEAD)
			die("an encrypt's blob is of the wrong size");
	} else if (!strcmp(op, "decrypt")) {
		check(w, hsmkey_decrypt(w->h, ctx, 1, w->blob[0], w->bloblen[0], w->out[0], &n),
		      "decrypt");
		if (n != ITEM || memcmp(w->out[0], w->pt[0], ITEM))
			die("a decrypt gave other bytes");
	} else {
		n = HSMKEY_SIGNATURE_MAX;
		check(w, hsmkey_sign(w->h, key, sign_flags, w->pt[0], ITEM, w->out[0], &n), "sign");
		check(w, n ? 0 : -EBADMSG, "sign");
	}
}

static void batched(struct work *w)
{
	bool enc = !strcmp(op, "encrypt");

	set_items(w, !enc);
	check(w, enc ? hsmkey_encrypt_batch(w->h, key, w->items, batch) :
		       hsmkey_decrypt_batch(w->h, w->items, batch), "batch");
	for (size_t i = 0; i < batch; i++) {
		check(w, w->items[i].result, "a batch item");
		if (enc ? w->items[i].outlen != ITEM + HSMKEY_BLOB_OVERHEAD :
			  w->items[i].outlen != ITEM || memcmp(w->out[i], w->pt[i], ITEM))
			die("a batch item gave the wrong result");
	}
}

static void *kms_client(void *arg)
{
	struct work *w = calloc(1, sizeof(*w));
	uint64_t n = 0;

	(void)arg;
	if (!w)
		die("out of memory");
	prepare(w);
	if (!strcmp(op, "sign")) {
		uint8_t sig[HSMKEY_SIGNATURE_MAX];
		size_t slen = sizeof(sig);

		check(w, hsmkey_sign(w->h, key, sign_flags, w->pt[0], ITEM, sig, &slen), "sign");
		check(w, hsmkey_verify(w->h, key, sign_flags, w->pt[0], ITEM, sig, slen), "verify");
	}
	while (!atomic_load(&ks_stop)) {
		if (batch > 1)
			batched(w);
		else
			one(w);
		n += batch;
	}
	atomic_fetch_add(&ks_done, n);
	hsmkey_close(w->h);
	free(w);
	return NULL;
}

/* One thread of local-sign: SHA-256 signatures of a 4 KiB message, as hsmkeyd makes them. */
static void *local_client(void *arg)
{
	uint8_t msg[ITEM], sig[HSMKEY_SIGNATURE_MAX];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc;
	uint64_t n = 0;
	size_t slen;

	(void)arg;
	for (size_t j = 0; j < ITEM; j++)
		msg[j] = (uint8_t)(j * 13);
	while (c && !atomic_load(&ks_stop)) {
		slen = sizeof(sig);
		if (EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, local_key) != 1 ||
		    (sign_flags && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
				    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
		    EVP_DigestSign(c, sig, &slen, msg, ITEM) != 1)
			die("OpenSSL cannot sign");
		n++;
	}
	EVP_MD_CTX_free(c);
	atomic_fetch_add(&ks_done, n);
	return NULL;
}

static void run(void *(*fn)(void *), unsigned int clients, double seconds)
{
	pthread_t t[64];
	struct timespec a, b;

	if (!clients || clients > 64)
		die("1 to 64 clients");
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned int i = 0; i < clients; i++)
		if (pthread_create(&t[i], NULL, fn, NULL))
			die("no thread");
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&ks_stop, true);
	for (unsigned int i = 0; i < clients; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.0f\n", (double)atomic_load(&ks_done) /
	       ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9));
}

/*
 * A request's size as libhsmkey sends it: its JSON (measured from what it
 * writes: hsmkey_request_size(3) would be an API for a benchmark alone, so
 * the JSON's length here is the library's for these fields), a NUL, and
 * the payload.
 */
static size_t request_size(void)
{
	char json[512];
	size_t items = batch, payload;
	int n;

	if (!strcmp(op, "encrypt"))
		payload = ITEM * items;
	else if (!strcmp(op, "decrypt"))
		payload = (ITEM + HSMKEY_BLOB_OVERHEAD) * items;
	else
		payload = ITEM;
	n = snprintf(json, sizeof(json), "{ \"v\": 1, \"op\": \"%s\", \"name\": \"kbench\", \"context\": { \"bench\": \"kms_socket\" } }",
		     op);
	if (items > 1)	/* each item's length and context */
		n += (int)items * (int)strlen("{ \"len\": 4152, \"context\": { \"bench\": \"kms_socket\" } }, ");
	return (size_t)n + 1 + payload;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "echo")) {
		ks_path = argv[2];
		serve(echo_conn);
	}
	if (argc == 4 && !strcmp(argv[1], "floor")) {
		ks_path = argv[2];
		floor_server(argv[3]);
	}
	if (argc == 6 && (!strcmp(argv[1], "echo-rate") || !strcmp(argv[1], "floor-rate"))) {
		ref = strcmp(argv[1], "floor-rate") ? &echo_reference : &floor_reference;
		ks_path = argv[2];
		size = strtoul(argv[5], NULL, 10);
		if (size < ref->least || !size || size > ECHO_MAX)
			die("bad size");
		run(reference_client, (unsigned int)atoi(argv[3]), atof(argv[4]));
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "size")) {
		op = argv[2];
		batch = strtoul(argv[3], NULL, 10);
		printf("%zu\n", request_size());
		return 0;
	}
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "local-sign")) {
		FILE *f = fopen(argv[2], "r");

		local_key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
		if (!local_key)
			die("no private key in PEM");
		fclose(f);
		sign_flags = argc == 6 && !strcmp(argv[5], "pss") ? HSMKEY_SIGN_PSS : 0;
		run(local_client, (unsigned int)atoi(argv[3]), atof(argv[4]));
		return 0;
	}
	if (argc == 8 && !strcmp(argv[1], "rate")) {
		ks_path = argv[2];
		op = argv[3];
		key = argv[4];
		batch = strtoul(argv[7], NULL, 10);
		if (!strcmp(op, "sign-pss")) {
			op = "sign";
			sign_flags = HSMKEY_SIGN_PSS;
		}
		if (strcmp(op, "encrypt") && strcmp(op, "decrypt") && strcmp(op, "sign"))
			die("OP: encrypt, decrypt or sign");
		if (!batch || batch > BATCH_MAX || (batch > 1 && !strcmp(op, "sign")))
			die("BATCH: 1 to HSMKEY_BATCH_MAX, 1 for sign");
		run(kms_client, (unsigned int)atoi(argv[5]), atof(argv[6]));
		return 0;
	}
	fprintf(stderr, "usage: kms_socket echo PATH | echo-rate PATH CLIENTS SECONDS SIZE | floor PATH LOG | floor-rate PATH CLIENTS SECONDS SIZE | rate PATH OP KEY CLIENTS SECONDS BATCH | size OP BATCH | local-sign PEM CLIENTS SECONDS [pss]\n");
	return 2;
}
