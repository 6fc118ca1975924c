// SPDX-License-Identifier: GPL-2.0
/*
 * tls_app MODE PORT CERT KEY: a TLS server application, for the proof
 * that an application served through hsmkeyd holds no session key.
 *
 *   hsmkey   the handshake by libhsmkey (KEY: the identity key's name)
 *   openssl  the positive control: OpenSSL's own handshake in this process
 *            and OpenSSL's kTLS (SSL_OP_ENABLE_KTLS; KEY: a PEM key file),
 *            as an nginx or any OpenSSL kTLS server does today
 *
 * It accepts one connection on PORT, completes the handshake, then asks the
 * kernel for the socket's kTLS state as any holder of the socket may
 * (getsockopt(SOL_TLS, TLS_TX / TLS_RX)) and prints the key fields it got
 * ("tx HEX" and "rx HEX"; "tx -" when refused).  It sends "hello\n",
 * prints "ready" and its pid, and waits for a line on stdin while the test
 * scans its memory; then it closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <hsmkey/tls.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static int accept_one(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), fd;

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
		return -1;
	printf("listening\n");
	fflush(stdout);
	fd = accept(l, NULL, NULL);
	close(l);
	return fd;
}

/* The key field of what getsockopt() gives for @opt: hex, or "-". */
static void dump(FILE *out, int fd, int opt, const char *name)
{
	union {
		struct tls12_crypto_info_aes_gcm_128 g128;
		struct tls12_crypto_info_aes_gcm_256 g256;
	} ci;
	socklen_t len = sizeof(ci);
	const unsigned char *key = NULL;
	size_t klen = 0;

	memset(&ci, 0, sizeof(ci));
	if (getsockopt(fd, SOL_TLS, opt, &ci, &len) == 0) {
		if (ci.g128.info.cipher_type == TLS_CIPHER_AES_GCM_128)
			key = ci.g128.key, klen = sizeof(ci.g128.key);
		else if (ci.g256.info.cipher_type == TLS_CIPHER_AES_GCM_256)
			key = ci.g256.key, klen = sizeof(ci.g256.key);
	}
	fprintf(out, "%s ", name);
	for (size_t i = 0; i < klen; i++)
		fprintf(out, "%02x", key[i]);
	fprintf(out, "%s\n", klen ? "" : "-");
}

static int by_hsmkey(int fd, const char *cert, const char *key)
{
	struct hsmkey_tls_config cfg = { .role = HSMKEY_TLS_SERVER, .key = key,
					 .cert_file = cert };
	struct hsmkey_tls_result res;

	if (hsmkey_tls_handshake(fd, &cfg, &res)) {
		fprintf(stderr, "tls_app: %s\n", res.error);
		return -1;
	}
	return 0;
}

/* OpenSSL's handshake and kTLS; the SSL stays alive, as in a server. */
static SSL *by_openssl(int fd, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl;

	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_num_tickets(ctx, 0);
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return NULL;
	}
	if (!BIO_get_ktls_send(SSL_get_wbio(ssl))) {
		fprintf(stderr, "tls_app: OpenSSL did not set kTLS up for sending\n");
		return NULL;
	}
	return ssl;
}

int main(int argc, char **argv)
{
	char line[16];
	SSL *ssl = NULL;
	int fd;

	if (argc != 5 || (strcmp(argv[1], "hsmkey") && strcmp(argv[1], "openssl"))) {
		fprintf(stderr, "usage: tls_app hsmkey|openssl PORT CERT KEY\n");
		return 2;
	}
	fd = accept_one(atoi(argv[2]));
	if (fd < 0)
		return 1;
	if (!strcmp(argv[1], "hsmkey") ? by_hsmkey(fd, argv[3], argv[4]) :
	    !(ssl = by_openssl(fd, argv[3], argv[4])))
		return 1;
	dump(stdout, fd, TLS_TX, "tx");
	dump(stdout, fd, TLS_RX, "rx");
	/* kTLS TX is on either way: a plain write() is a record. */
	if (write(fd, "hello\n", 6) != 6) {
		perror("tls_app: write");
		return 1;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	SSL_free(ssl);
	close(fd);
	return 0;
}
