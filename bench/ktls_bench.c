// SPDX-License-Identifier: GPL-2.0
/*
 * kTLS sendfile() throughput, three connections side by side in one run:
 *
 *   hsm    kTLS TX keyed by hsmkey session tokens (daemon/ktls.c)
 *   stock  kTLS TX keyed by OpenSSL itself with the raw keys
 *          (SSL_OP_ENABLE_KTLS)
 *   aa     the same as stock: the A/A control
 *
 *   ktls_bench SECONDS     (hsmkey.ko loaded with ktls=1)
 *
 * Each: TLS 1.3 with AES-256-GCM over loopback TCP, the handshake between
 * two OpenSSL ends in this process.  The sender (CPU 1) sends a 4 MiB file
 * in the page cache with sendfile() on each connection in turn, the order
 * rotated every round, after an untimed round, until each has had about
 * SECONDS; a receiving thread per connection (CPU 0) reads the records off
 * its plain TCP socket and drops them: the same work on every side, none
 * of it decryption, so that what differs is the sender's.  Prints each
 * side's MB/s, one line each: hsm, stock, aa.
 *
 * On a kernel where hsmkey.ko has ktls=1, OpenSSL's raw keys go through
 * gcm-aes-hsmkey's fallback too (every gcm(aes) user's do); what that
 * layer costs against the driver below it is the gcm-raw workload's ratio.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include "../daemon/ktls.h"
#include "../tests/lib/tls_pair.h"

#define FILE_LEN (4 << 20)

struct side {
	int a, b;		/* the sender's socket, the receiver's */
	pthread_t rt;
	long long bytes;
	double secs;
};

static void die(const char *what)
{
	fprintf(stderr, "ktls_bench: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void pin(pthread_t t, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(t, sizeof(set), &set);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A receiver: everything off its plain socket, dropped, until EOF. */
static void *drain(void *arg)
{
	char buf[1 << 16];
	int fd = *(int *)arg;

	pin(pthread_self(), 0);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

/* A file of random bytes, unlinked, in the page cache. */
static int data_file(void)
{
	char path[] = "/tmp/ktls-bench.XXXXXX";
	unsigned char *p = malloc(FILE_LEN);
	int f = mkstemp(path);

	if (f < 0 || !p || RAND_bytes(p, FILE_LEN) != 1 || write(f, p, FILE_LEN) != FILE_LEN)
		die("cannot make the data file");
	unlink(path);
	free(p);
	return f;
}

static SSL_CTX *ctx_new(const SSL_METHOD *m)
{
	SSL_CTX *c = SSL_CTX_new(m);

	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(c, "TLS_AES_256_GCM_SHA384"))
		die("SSL_CTX");
	return c;
}

/* The server's socket @a keyed for kTLS TX the side's way. */
static void key_side(bool hsm, SSL *s, struct ktls_secrets *sec, int a)
{
	struct ktls_installed inst;
	struct ktls_keys keys;
	struct kernel *k;
	char why[256] = "";

	if (!hsm) {
		if (!BIO_get_ktls_send(SSL_get_wbio(s)))
			die("OpenSSL did not set kTLS TX up (is the tls module loaded?)");
		return;
	}
	if (kernel_open(&k))
		die("hsmkey.ko is not loaded");
	if (ktls_keys(s, sec, true, &keys))
		die("cannot derive the traffic keys");
	if (ktls_install(k, a, &keys, &inst, why, sizeof(why))) {
		fprintf(stderr, "ktls_bench: %s\n", why);
		exit(1);
	}
	explicit_bzero(&keys, sizeof(keys));
	kernel_close(k);
}

/* One connection, through its handshake and keyed: hsm or OpenSSL's. */
static void side_open(struct side *d, bool hsm, EVP_PKEY *key, X509 *cert)
{
	SSL_CTX *sctx = ctx_new(TLS_server_method()), *cctx = ctx_new(TLS_client_method());
	struct ktls_secrets sec;
	SSL *s, *c;

	if (hsm ? ktls_prepare_ctx(sctx) != 0 : !SSL_CTX_set_options(sctx, SSL_OP_ENABLE_KTLS))
		die("server context");
	SSL_CTX_set_num_tickets(sctx, 0);
	if (SSL_CTX_use_certificate(sctx, cert) != 1 || SSL_CTX_use_PrivateKey(sctx, key) != 1 ||
	    tls_pair_tcp(&d->a, &d->b))
		die("setting up");
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	if (!s || !c || (hsm && ktls_watch(s, &sec)) || !SSL_set_fd(s, d->a) ||
	    !SSL_set_fd(c, d->b) || tls_pair_handshake(s, c, d->a, d->b))
		die("handshake");
	key_side(hsm, s, &sec, d->a);
	explicit_bzero(&sec, sizeof(sec));
	/* The sockets stay; OpenSSL's objects go (no close_notify is sent). */
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (pthread_create(&d->rt, NULL, drain, &d->b))
		die("thread");
}

/* The whole file once on @d's connection, timed or not. */
static void side_send(struct side *d, int f, bool timed)
{
	double t0 = now();
	off_t off = 0;

	while (off < FILE_LEN)
		if (sendfile(d->a, f, &off, FILE_LEN - (size_t)off) <= 0)
			die("sendfile");
	if (timed) {
		d->bytes += FILE_LEN;
		d->secs += now() - t0;
	}
}

int main(int argc, char **argv)
{
	struct side sides[3] = { { 0 } };	/* hsm, stock, aa */
	double secs;
	EVP_PKEY *key;
	X509 *cert;
	int f, r, i;

	if (argc != 2 || (secs = atof(argv[1])) <= 0)
		die("usage: ktls_bench SECONDS");
	pin(pthread_self(), 1);
	f = data_file();
	if (tls_pair_cert(&key, &cert))
		die("certificate");
	for (i = 0; i < 3; i++)
		side_open(&sides[i], i == 0, key, cert);
	for (i = 0; i < 3; i++)
		side_send(&sides[i], f, false);
	for (r = 0; sides[0].secs < secs || sides[1].secs < secs || sides[2].secs < secs; r++)
		for (i = 0; i < 3; i++)
			side_send(&sides[(r + i) % 3], f, true);
	for (i = 0; i < 3; i++) {
		shutdown(sides[i].a, SHUT_WR);
		pthread_join(sides[i].rt, NULL);
		printf("%.1f\n", (double)sides[i].bytes / sides[i].secs / 1e6);
	}
	EVP_PKEY_free(key);
	X509_free(cert);
	return 0;
}
