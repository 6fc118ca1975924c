// SPDX-License-Identifier: GPL-2.0
/*
 * A mutual-TLS connection to a KMIP server (conn.h).  The socket is
 * non-blocking from the start and every wait is a poll() bounded by the
 * step's deadline, so a server that stops answering costs at most the
 * timeout, never a hung worker.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "kmip/conn.h"
#include "kmip/message.h"
#include "util.h"

/* TLS 1.2's suites: forward secrecy and an AEAD only.  TLS 1.3's are all such. */
#define KMIP_TLS12_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20"

struct kmip_tls {
	SSL_CTX *ctx;
};

struct kmip_conn {
	int fd;
	SSL *ssl;
	int timeout_ms;
	char host[256];		/* for the certificate's check */
	char addr[280];		/* HOST:PORT, for messages */
};

/* OpenSSL's reason for the last failure, for @why. */
static int tls_fail(int err, char *why, size_t whylen, const char *what)
{
	char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(why, whylen, "%s%s%s", what, e ? ": " : "", e ? buf : "");
	ERR_clear_error();
	return err;
}

int kmip_tls_new(const char *ca, const char *cert, const char *key, struct kmip_tls **out,
		 char *why, size_t whylen)
{
	struct kmip_tls *t = calloc(1, sizeof(*t));
	SSL_CTX *ctx;

	if (!t)
		return -ENOMEM;
	t->ctx = ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		free(t);
		return tls_fail(-ENOMEM, why, whylen, "no TLS context");
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_cipher_list(ctx, KMIP_TLS12_CIPHERS) ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		kmip_tls_free(t);
		return tls_fail(-EINVAL, why, whylen, "kmip_ca: cannot load the server's CA");
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		kmip_tls_free(t);
		return tls_fail(-EINVAL, why, whylen, "kmip_cert: cannot load this host's certificate");
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		kmip_tls_free(t);
		return tls_fail(-EINVAL, why, whylen,
				"kmip_key: cannot load this host's key, or it is not the certificate's");
	}
	*out = t;
	return 0;
}

void kmip_tls_free(struct kmip_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

int kmip_split_server(const char *server, char *host, size_t hostlen, char *port,
		      size_t portlen)
{
	const char *colon, *h = server;
	size_t n;

	if (*server == '[') {
		const char *end = strchr(server, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = server + 1;
		n = end - h;
		colon = end + 1;
	} else {
		colon = strrchr(server, ':');
		if (!colon || memchr(server, ':', colon - server))
			return -EINVAL;	/* a bare IPv6 address needs brackets */
		n = colon - server;
	}
	if (!n || n >= hostlen || !colon[1] || strlen(colon + 1) >= portlen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) < 1 ||
	    atoi(colon + 1) > 65535)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/* Wait for @events on @fd until @deadline: 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - monotonic_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int connect_addr(const struct addrinfo *ai, int64_t deadline)
{
	int fd, r, err = 0, one = 1;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	r = wait_fd(fd, POLLOUT, deadline);
	if (!r && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		r = -errno;
	if (!r && err)
		r = -err;
	if (r) {
		close(fd);
		return r;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * A TCP connection to @host:@port, trying each of its addresses, each
 * with its share of the time left (an unreachable IPv6 address must not
 * take the time of the IPv4 one after it).  The name is resolved by the
 * system's resolver, whose own timeouts (resolv.conf) bound that step.
 */
static int connect_host(const char *host, const char *port, int64_t deadline, char *why,
			size_t whylen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *ai, *a;
	int r, fd = -EHOSTUNREACH, left = 0;

	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		snprintf(why, whylen, "cannot resolve %s: %s", host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	for (a = ai; a; a = a->ai_next)
		left++;
	for (a = ai; a && monotonic_ms() < deadline; a = a->ai_next, left--) {
		fd = connect_addr(a, monotonic_ms() + (deadline - monotonic_ms()) / left);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		snprintf(why, whylen, "cannot connect to %s:%s: %s", host, port, strerror(-fd));
	return fd;
}

/* Drive an SSL call that may want to read or write, until @deadline. */
static int ssl_wait(struct kmip_conn *c, int ret, int64_t deadline)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(c->fd, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(c->fd, POLLOUT, deadline);
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		return errno ? -errno : -ECONNRESET;
	default:
		/* OpenSSL 3 reports a peer gone without close_notify as an error. */
		if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return -ECONNRESET;
		}
		return -EPROTO;
	}
}

/* The server's name or address, as its certificate must name it. */
static int expect_peer(struct kmip_conn *c)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, c->host, addr) == 1 || inet_pton(AF_INET6, c->host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host) == 1;
	return SSL_set_tlsext_host_name(c->ssl, c->host) == 1 && SSL_set1_host(c->ssl, c->host) == 1;
}

static int handshake(struct kmip_conn *c, int64_t deadline, char *why, size_t whylen)
{
	long v;
	int r;

	while ((r = SSL_connect(c->ssl)) != 1) {
		r = ssl_wait(c, r, deadline);
		if (!r)
			continue;
		v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK) {
			snprintf(why, whylen, "the server %s is not trusted: %s", c->addr,
				 X509_verify_cert_error_string(v));
			ERR_clear_error();
			return -EPROTO;
		}
		if (r == -EPROTO)
			return tls_fail(r, why, whylen, "TLS handshake failed");
		snprintf(why, whylen, "TLS handshake with %s: %s", c->addr, strerror(-r));
		ERR_clear_error();
		return r;
	}
	return 0;
}

int kmip_conn_open(struct kmip_tls *t, const char *server, int timeout_ms,
		   struct kmip_conn **out, char *why, size_t whylen)
{
	int64_t deadline = monotonic_ms() + timeout_ms;
	struct kmip_conn *c;
	char port[8];
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	snprintf(c->addr, sizeof(c->addr), "%s", server);
	if (kmip_split_server(server, c->host, sizeof(c->host), port, sizeof(port))) {
		snprintf(why, whylen, "not HOST:PORT: %s", server);
		kmip_conn_close(c);
		return -EINVAL;
	}
	c->fd = connect_host(c->host, port, deadline, why, whylen);
	if (c->fd < 0) {
		r = c->fd;
		kmip_conn_close(c);
		return r;
	}
	c->ssl = SSL_new(t->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || !expect_peer(c)) {
		kmip_conn_close(c);
		return tls_fail(-ENOMEM, why, whylen, "no TLS session");
	}
	r = handshake(c, deadline, why, whylen);
	if (r) {
		kmip_conn_close(c);
		return r;
	}
	*out = c;
	return 0;
}

/* All @n bytes written (@out) or read, by SSL_write_ex or SSL_read_ex, until @deadline. */
static int transfer(struct kmip_conn *c, bool out, uint8_t *p, size_t n, int64_t deadline)
{
	size_t done;
	int r;

	while (n) {
		r = out ? SSL_write_ex(c->ssl, p, n, &done) : SSL_read_ex(c->ssl, p, n, &done);
		if (r == 1) {
			p += done;
			n -= done;
			continue;
		}
		r = ssl_wait(c, 0, deadline);
		if (r)
			return r;
	}
	return 0;
}

static int call_fail(int r, const struct kmip_conn *c, char *why, size_t whylen)
{
	if (r == -EPROTO)
		return tls_fail(r, why, whylen, "TLS failed");
	if (r == -ETIMEDOUT)
		snprintf(why, whylen, "KMIP server %s: no answer within %d ms", c->addr,
			 c->timeout_ms);
	else
		snprintf(why, whylen, "KMIP server %s: %s", c->addr,
			 r == -EBADMSG ? "its answer is not a KMIP response" :
			 r == -EMSGSIZE ? "its answer is larger than any hsmkey takes" :
			 strerror(-r));
	ERR_clear_error();
	return r;
}

int kmip_conn_call(struct kmip_conn *c, const uint8_t *req, size_t len, uint8_t **resp,
		   size_t *resp_len, bool *sent, char *why, size_t whylen)
{
	int64_t deadline = monotonic_ms() + c->timeout_ms;
	uint8_t hdr[TTLV_HEADER_LEN], *buf;
	size_t total;
	int r;

	r = transfer(c, true, (uint8_t *)req, len, deadline);
	*sent = !r;
	if (!r)
		r = transfer(c, false, hdr, sizeof(hdr), deadline);
	if (!r)
		r = ttlv_frame_len(hdr, KMIP_TAG_RESPONSE_MESSAGE, KMIP_MSG_MAX, &total);
	if (r)
		return call_fail(r, c, why, whylen);
	buf = secret_pages(total, "a KMIP response");
	if (!buf)
		return call_fail(-ENOMEM, c, why, whylen);
	memcpy(buf, hdr, sizeof(hdr));
	r = transfer(c, false, buf + sizeof(hdr), total - sizeof(hdr), deadline);
	if (r) {
		kmip_response_free(buf, total);
		return call_fail(r, c, why, whylen);
	}
	*resp = buf;
	*resp_len = total;
	return 0;
}

bool kmip_conn_idle_ok(struct kmip_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return !SSL_pending(c->ssl) && poll(&p, 1, 0) == 0;
}

void kmip_response_free(uint8_t *resp, size_t len)
{
	if (!resp)
		return;
	wipe(resp, len);
	secret_pages_free(resp, len);
}

void kmip_conn_close(struct kmip_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		SSL_shutdown(c->ssl);	/* best effort: the socket is non-blocking */
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
