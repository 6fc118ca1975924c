// SPDX-License-Identifier: GPL-2.0
/*
 * TLS handshakes per second, three servers side by side in one run:
 *
 *   hsm    each handshake by hsmkeyd (hsmkey_tls_handshake(3)) with an
 *          identity key from its key store, kTLS set up with session tokens
 *   stock  an OpenSSL server in this process with a key of the same type
 *          from a PEM file, kTLS set up by OpenSSL (SSL_OP_ENABLE_KTLS)
 *   aa     the same as stock: the A/A control
 *
 *   handshake_bench SECONDS KEY CERT STOCK_KEY STOCK_CERT
 *     KEY: the identity key's name (hsmkeyd at $HSMKEYD_SOCKET) and CERT its
 *     certificate, for hsm; STOCK_KEY (PEM, of KEY's type) and STOCK_CERT
 *     for stock and aa.  hsmkey.ko with ktls=1.
 *
 * Each server (a thread here, pinned with hsmkeyd to CPU 1 by the caller)
 * accepts on loopback, completes a TLS 1.3 handshake with AES-256-GCM and
 * sends one byte over kTLS.  One client (CPU 0), the same OpenSSL client
 * for every side, connects, completes the handshake (no certificate
 * check: the same work on every side), reads the byte and closes; the
 * sides take turns for about SECONDS / 10 each, the order rotated every
 * turn, after an untimed one, until each has had about SECONDS.  Prints
 * each side's handshakes per second, one line each: hsm, stock, aa.
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <hsmkey/tls.h>

enum { HSM, STOCK, AA, SIDES };

struct server {
	int lfd, port;
	bool hsm;
	SSL_CTX *ctx;			/* stock, aa */
	const char *key, *cert;		/* hsm */
	pthread_t t;
};

static void die(const char *what)
{
	fprintf(stderr, "handshake_bench: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		die("cannot pin a thread");
}

static int listen_any(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		die("cannot listen");
	*port = ntohs(sa.sin_port);
	return fd;
}

/* One connection: the handshake, then one byte by kTLS. */
static void serve_one(struct server *s, int fd)
{
	struct hsmkey_tls_config cfg = { .role = HSMKEY_TLS_SERVER, .key = s->key,
					 .cert_file = s->cert };
	struct hsmkey_tls_result res;
	SSL *ssl;

	if (s->hsm) {
		if (hsmkey_tls_handshake(fd, &cfg, &res)) {
			fprintf(stderr, "handshake_bench: %s\n", res.error);
			exit(1);
		}
		if (write(fd, "x", 1) != 1)
			die("hsm: write");
		return;
	}
	ssl = SSL_new(s->ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1)
		die("stock: handshake");
	if (!BIO_get_ktls_send(SSL_get_wbio(ssl)))
		die("stock: OpenSSL did not set kTLS up");
	if (SSL_write(ssl, "x", 1) != 1)
		die("stock: write");
	SSL_free(ssl);
}

static void *serve(void *arg)
{
	struct server *s = arg;

	pin(1);
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			die("accept");
		serve_one(s, fd);
		close(fd);
	}
	return NULL;
}

/* One handshake as the client, to the one byte. */
static void connect_one(SSL_CTX *ctx, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	SSL *ssl = SSL_new(ctx);
	char c;

	if (fd < 0 || !ssl || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, "hsmkey-bench") != 1 ||
	    SSL_connect(ssl) != 1 || SSL_read(ssl, &c, 1) != 1 || c != 'x')
		die("client: handshake");
	SSL_free(ssl);
	close(fd);
}

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die("stock: certificate or key");
	/* As hsmkeyd's: TLS 1.3, no tickets, no session cache; and kTLS. */
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384"))
		die("client context");
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

int main(int argc, char **argv)
{
	struct server srv[SIDES] = { 0 };
	double secs, slice, spent[SIDES] = { 0 };
	long done[SIDES] = { 0 };
	SSL_CTX *cctx;
	int round;

	if (argc != 6) {
		fprintf(stderr, "usage: handshake_bench SECONDS KEY CERT STOCK_KEY STOCK_CERT\n");
		return 2;
	}
	secs = atof(argv[1]);
	slice = secs / 10 > 0.2 ? secs / 10 : 0.2;
	for (int i = 0; i < SIDES; i++) {
		srv[i].lfd = listen_any(&srv[i].port);
		srv[i].hsm = i == HSM;
		srv[i].key = argv[2];
		srv[i].cert = argv[3];
		if (!srv[i].hsm)
			srv[i].ctx = server_ctx(argv[5], argv[4]);
		if (pthread_create(&srv[i].t, NULL, serve, &srv[i]))
			die("thread");
	}
	pin(0);
	cctx = client_ctx();
	for (int i = 0; i < SIDES; i++)
		connect_one(cctx, srv[i].port);	/* untimed */
	for (round = 0; spent[HSM] < secs || spent[STOCK] < secs || spent[AA] < secs; round++) {
		for (int k = 0; k < SIDES; k++) {
			int i = (round + k) % SIDES;
			double t0 = now(), t;

			do {
				connect_one(cctx, srv[i].port);
				done[i]++;
				t = now();
			} while (t - t0 < slice);
			spent[i] += t - t0;
		}
	}
	for (int i = 0; i < SIDES; i++)
		printf("%.1f\n", (double)done[i] / spent[i]);
	return 0;
}
