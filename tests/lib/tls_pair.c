// SPDX-License-Identifier: GPL-2.0
/* A TLS connection between two OpenSSL ends in one process (tls_pair.h). */
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/x509.h>
#include "tls_pair.h"

int tls_pair_cert(EVP_PKEY **key, X509 **cert)
{
	X509_NAME *name;

	*key = EVP_EC_gen("P-256");
	*cert = X509_new();
	if (!*key || !*cert)
		return -1;
	name = X509_get_subject_name(*cert);
	X509_set_version(*cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(*cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(*cert), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"hsmkey-test",
				   -1, -1, 0);
	X509_set_issuer_name(*cert, name);
	X509_set_pubkey(*cert, *key);
	return X509_sign(*cert, *key, EVP_sha256()) > 0 ? 0 : -1;
}

int tls_pair_tcp(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -1;

	*a = -1;
	*b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l >= 0 && *b >= 0 && !bind(l, (struct sockaddr *)&sa, sizeof(sa)) && !listen(l, 1) &&
	    !getsockname(l, (struct sockaddr *)&sa, &sl) &&
	    !connect(*b, (struct sockaddr *)&sa, sizeof(sa))) {
		*a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		r = *a < 0 ? -1 : 0;
	}
	if (l >= 0)
		close(l);
	return r;
}

/* One step of @ssl's handshake: 1 done, 0 to go on, -1 failed. */
static int step(SSL *ssl, int server)
{
	int r = server ? SSL_accept(ssl) : SSL_connect(ssl), e;

	if (r == 1)
		return 1;
	e = SSL_get_error(ssl, r);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

int tls_pair_handshake(SSL *s, SSL *c, int a, int b)
{
	int sd = 0, cd = 0, i;

	fcntl(a, F_SETFL, O_NONBLOCK);
	fcntl(b, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 10000 && !(sd == 1 && cd == 1) && sd >= 0 && cd >= 0; i++) {
		if (sd == 0)
			sd = step(s, 1);
		if (cd == 0)
			cd = step(c, 0);
		if (sd == 0 || cd == 0)
			poll(NULL, 0, 1);
	}
	fcntl(a, F_SETFL, 0);
	fcntl(b, F_SETFL, 0);
	return sd == 1 && cd == 1 ? 0 : -1;
}
