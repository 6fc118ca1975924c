// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyd's kTLS installer (daemon/ktls.c) against a real TLS peer: an
 * OpenSSL server finishes a handshake with an OpenSSL client over loopback
 * TCP (TLS 1.3 and 1.2, AES-128-GCM and AES-256-GCM), then ktls_keys()
 * derives the server's traffic keys and ktls_install() hands them to
 * hsmkey.ko (ktls=1) and sets kTLS up on the server's socket with session
 * tokens.  The client goes on in OpenSSL's own record layer: what the
 * server's socket writes (write() and sendfile()) must open there, and
 * what the client writes must read back in the clear from the socket.  So
 * the derivation, sequence numbers and tokens are checked by an
 * independent TLS implementation.  Then: getsockopt() on the socket gives
 * no key; the module counts the records; a revoked session stops them.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "../../daemon/ktls.h"
#include "../../daemon/tls_diag.h"
#include "../lib/tls_pair.h"
#include "kselftest_harness.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/* Read exactly @n bytes through the client's OpenSSL. */
static int ssl_read_all(SSL *c, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		int r = SSL_read(c, buf + got, (int)(n - got));

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int read_all(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

FIXTURE(kd) {
	int a, b;
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	struct kernel *k;
	struct ktls_secrets sec;
	struct ktls_keys keys;
	struct ktls_installed inst;
	char why[256];
};

FIXTURE_VARIANT(kd) {
	int version;		/* TLS1_2_VERSION, TLS1_3_VERSION */
	const char *suite;	/* OpenSSL's name */
	unsigned int keylen;
};

FIXTURE_VARIANT_ADD(kd, tls13_aes128) {
	.version = TLS1_3_VERSION, .suite = "TLS_AES_128_GCM_SHA256", .keylen = 16,
};

FIXTURE_VARIANT_ADD(kd, tls13_aes256) {
	.version = TLS1_3_VERSION, .suite = "TLS_AES_256_GCM_SHA384", .keylen = 32,
};

FIXTURE_VARIANT_ADD(kd, tls12_aes128) {
	.version = TLS1_2_VERSION, .suite = "ECDHE-ECDSA-AES128-GCM-SHA256", .keylen = 16,
};

FIXTURE_VARIANT_ADD(kd, tls12_aes256) {
	.version = TLS1_2_VERSION, .suite = "ECDHE-ECDSA-AES256-GCM-SHA384", .keylen = 32,
};

FIXTURE_SETUP(kd)
{
	EVP_PKEY *key;
	X509 *cert;

	self->a = self->b = -1;
	ASSERT_EQ(0, kernel_open(&self->k)) TH_LOG("hsmkey.ko not loaded?");
	ASSERT_EQ(0, tls_pair_cert(&key, &cert));
	self->sctx = SSL_CTX_new(TLS_server_method());
	self->cctx = SSL_CTX_new(TLS_client_method());
	ASSERT_TRUE(self->sctx && self->cctx);
	ASSERT_EQ(0, ktls_prepare_ctx(self->sctx));
	ASSERT_EQ(1, SSL_CTX_use_certificate(self->sctx, cert));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey(self->sctx, key));
	/* The variant's version and suite, on the client's side. */
	ASSERT_EQ(1, SSL_CTX_set_min_proto_version(self->cctx, variant->version));
	ASSERT_EQ(1, SSL_CTX_set_max_proto_version(self->cctx, variant->version));
	if (variant->version == TLS1_3_VERSION) {
		ASSERT_EQ(1, SSL_CTX_set_ciphersuites(self->cctx, variant->suite));
	} else {
		ASSERT_EQ(1, SSL_CTX_set_cipher_list(self->cctx, variant->suite));
	}
	EVP_PKEY_free(key);
	X509_free(cert);
	ASSERT_EQ(0, tls_pair_tcp(&self->a, &self->b));
	self->s = SSL_new(self->sctx);
	self->c = SSL_new(self->cctx);
	ASSERT_TRUE(self->s && self->c);
	ASSERT_EQ(0, ktls_watch(self->s, &self->sec));
	SSL_set_fd(self->s, self->a);
	SSL_set_fd(self->c, self->b);
	ASSERT_EQ(0, tls_pair_handshake(self->s, self->c, self->a, self->b)) {
		ERR_print_errors_fp(stderr);
	}
	ASSERT_EQ(0, strcmp(SSL_get_cipher_name(self->s), variant->suite));
	ASSERT_EQ(0, ktls_keys(self->s, &self->sec, true, &self->keys));
	ASSERT_EQ(variant->keylen, self->keys.keylen);
	ASSERT_EQ(0, ktls_install(self->k, self->a, &self->keys, &self->inst, self->why,
				  sizeof(self->why))) TH_LOG("%s", self->why);
	/* The server's OpenSSL is done: kTLS has the socket (no close_notify). */
	SSL_free(self->s);
	self->s = NULL;
}

FIXTURE_TEARDOWN(kd)
{
	SSL_free(self->s);
	SSL_free(self->c);
	SSL_CTX_free(self->sctx);
	SSL_CTX_free(self->cctx);
	close(self->a);
	close(self->b);
	kernel_close(self->k);
}

TEST_F(kd, records_both_ways_with_openssl)
{
	static const char hello[] = "written by the kTLS socket", back[] = "from OpenSSL";
	uint8_t buf[64];

	ASSERT_EQ((ssize_t)sizeof(hello), write(self->a, hello, sizeof(hello)));
	ASSERT_EQ(0, ssl_read_all(self->c, buf, sizeof(hello))) {
		ERR_print_errors_fp(stderr);
	}
	EXPECT_EQ(0, memcmp(buf, hello, sizeof(hello)));
	ASSERT_EQ((int)sizeof(back), SSL_write(self->c, back, sizeof(back)));
	ASSERT_EQ(0, read_all(self->a, buf, sizeof(back)));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(back)));
	/* Again, each way: the sequence numbers go on. */
	ASSERT_EQ((ssize_t)sizeof(hello), write(self->a, hello, sizeof(hello)));
	ASSERT_EQ(0, ssl_read_all(self->c, buf, sizeof(hello)));
	EXPECT_EQ(0, memcmp(buf, hello, sizeof(hello)));
	ASSERT_EQ((int)sizeof(back), SSL_write(self->c, back, sizeof(back)));
	ASSERT_EQ(0, read_all(self->a, buf, sizeof(back)));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(back)));
}

struct sink {
	SSL *c;
	uint8_t *buf;
	size_t n;
	int err;
};

static void *sink_fn(void *arg)
{
	struct sink *s = arg;

	s->err = ssl_read_all(s->c, s->buf, s->n);
	return NULL;
}

TEST_F(kd, a_file_by_sendfile_arrives_byte_for_byte)
{
	size_t n = 300000;
	uint8_t *data = malloc(n), *got = malloc(n);
	struct sink sk = { .c = self->c, .buf = got, .n = n };
	char path[] = "/tmp/ktls-daemon-test.XXXXXX";
	int f = mkstemp(path);
	off_t off = 0;
	pthread_t t;

	ASSERT_TRUE(data && got && f >= 0);
	unlink(path);
	ASSERT_EQ(1, RAND_bytes(data, (int)n));
	ASSERT_EQ((ssize_t)n, write(f, data, n));
	/* The client reads while the socket sends: more than TCP buffers. */
	ASSERT_EQ(0, pthread_create(&t, NULL, sink_fn, &sk));
	while ((size_t)off < n)
		if (sendfile(self->a, f, &off, n - (size_t)off) <= 0)
			break;
	pthread_join(t, NULL);
	EXPECT_EQ((off_t)n, off);
	EXPECT_EQ(0, sk.err);
	EXPECT_EQ(0, memcmp(data, got, n));
	close(f);
	free(data);
	free(got);
}

/* What getsockopt(SOL_TLS, @which) gives as the key (exactly its struct). */
static int key_of(int fd, int which, unsigned int keylen, uint8_t *key)
{
	union {
		struct tls12_crypto_info_aes_gcm_128 g128;
		struct tls12_crypto_info_aes_gcm_256 g256;
	} ci;
	socklen_t sl = keylen == 16 ? sizeof(ci.g128) : sizeof(ci.g256);

	if (getsockopt(fd, SOL_TLS, which, &ci, &sl))
		return -errno;
	memcpy(key, keylen == 16 ? ci.g128.key : ci.g256.key, keylen);
	return 0;
}

TEST_F(kd, the_socket_holds_no_key)
{
	unsigned int n = self->keys.keylen;
	struct kernel_session s, s2;
	uint8_t key[32];

	/* The installed tokens (magic, then the handle), spent. */
	ASSERT_EQ(0, key_of(self->a, TLS_TX, n, key));
	EXPECT_EQ(0, memcmp(key, HSMKEY_SESSION_MAGIC, 4));
	EXPECT_EQ(self->inst.tx_handle, (uint32_t)key[4] << 24 | key[5] << 16 | key[6] << 8 | key[7]);
	EXPECT_NE(0, memcmp(key, self->keys.tx.key, n));
	ASSERT_EQ(0, key_of(self->a, TLS_RX, n, key));
	EXPECT_EQ(0, memcmp(key, HSMKEY_SESSION_MAGIC, 4));
	EXPECT_EQ(self->inst.rx_handle, (uint32_t)key[4] << 24 | key[5] << 16 | key[6] << 8 | key[7]);
	EXPECT_NE(0, memcmp(key, self->keys.rx.key, n));
	ASSERT_EQ(0, kernel_session_get_pair(self->k, self->inst.tx_handle, self->inst.rx_handle,
					     &s, &s2));
	EXPECT_EQ(HSMKEY_SESSION_SPENT, s.state);
	EXPECT_EQ(HSMKEY_SESSION_SPENT, s2.state);
}

TEST_F(kd, the_module_counts_records_and_revocation_stops_them)
{
	static const char msg[] = "one record";
	struct kernel_session s, s2;
	uint8_t buf[32];
	ssize_t w;
	int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ((ssize_t)sizeof(msg), write(self->a, msg, sizeof(msg)));
		ASSERT_EQ(0, ssl_read_all(self->c, buf, sizeof(msg)));
	}
	ASSERT_EQ(0, kernel_session_get_pair(self->k, self->inst.tx_handle, self->inst.rx_handle,
					     &s, &s2));
	EXPECT_EQ((uint64_t)3, s.records);
	ASSERT_EQ(0, kernel_session_revoke(self->k, self->inst.tx_handle));
	/* The first write may count its bytes before the record fails. */
	w = write(self->a, msg, sizeof(msg));
	EXPECT_EQ(-1, write(self->a, msg, sizeof(msg))) TH_LOG("the first write: %zd", w);
	EXPECT_EQ(EBADMSG, errno);
}

/*
 * A failed installation fails closed: here kTLS refuses the second TX (one
 * is set already), so the new session keys are withdrawn unused and the
 * socket is shut down, for whoever else holds it.
 */
TEST_F(kd, a_failed_installation_withdraws_its_keys_and_shuts_the_socket)
{
	struct pollfd p = { .fd = self->b, .events = POLLIN };
	struct ktls_installed again;
	struct kernel_session s, s2;
	uint8_t buf[8];

	EXPECT_NE(0, ktls_install(self->k, self->a, &self->keys, &again, self->why,
				  sizeof(self->why)));
	TH_LOG("%s", self->why);
	/* It failed where meant to, with both keys added: at kTLS's TX. */
	EXPECT_NE(NULL, strstr(self->why, "kTLS refused the session token"));
	EXPECT_EQ(0U, again.tx_handle);
	/* Handles are given in order: the failed installation's were the next two. */
	/* Each asked beside a handle that is there (spent, not gone). */
	EXPECT_EQ(-ENOENT, kernel_session_get_pair(self->k, self->inst.rx_handle + 1,
						   self->inst.tx_handle, &s, &s2));
	EXPECT_EQ(-ENOENT, kernel_session_get_pair(self->k, self->inst.tx_handle,
						   self->inst.rx_handle + 2, &s, &s2));
	EXPECT_EQ(0, kernel_session_get_pair(self->k, self->inst.tx_handle, self->inst.rx_handle,
					     &s, &s2));
	EXPECT_GT(self->inst.rx_handle, self->inst.tx_handle);
	/* Shut down: the peer sees the connection end (at once, not by a timeout). */
	ASSERT_EQ(1, poll(&p, 1, 2000));
	EXPECT_GE(0, SSL_read(self->c, buf, sizeof(buf)));
}

/* Whether this process has a socket of inode @ino open. */
static bool own_socket(unsigned long ino)
{
	char path[64];
	struct stat st;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (!stat(path, &st) && S_ISSOCK(st.st_mode) && st.st_ino == ino)
			return true;
	}
	return false;
}

/* The port ids of this process's netlink sockets of @proto (at most @max). */
static int own_netlink_ports(int proto, uint32_t *ports, int max)
{
	FILE *f = fopen("/proc/net/netlink", "r");
	char line[256];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long sk, ino;
		unsigned int eth, port;

		if (sscanf(line, "%lx %u %u %*x %*d %*d %*d %*d %*d %lu", &sk, &eth, &port,
			   &ino) == 4 && (int)eth == proto && own_socket(ino) && n < max)
			ports[n++] = port;
	}
	fclose(f);
	return n;
}

/*
 * The installer's sock_diag socket takes answers from the kernel only: a
 * process with CAP_NET_ADMIN (this one: root) sending to its port an
 * answer for each of the next requests is refused, and the next answer
 * is the kernel's.  (A forged TLS_CONF_SW would let a socket whose kTLS
 * fell back to something else be taken as the module's.)
 */
TEST_F(kd, sock_diag_answers_come_from_the_kernel_only)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct nlmsghdr done = { .nlmsg_len = NLMSG_LENGTH(sizeof(int)),
				 .nlmsg_type = NLMSG_DONE };
	struct tls_diag d;
	uint32_t ports[4];
	int s, refused = 0;

	/* The installer has asked already: this thread's socket is open. */
	ASSERT_EQ(0, tls_diag(self->a, &d));
	EXPECT_EQ(TLS_CONF_SW, d.txconf);
	ASSERT_EQ(1, own_netlink_ports(NETLINK_SOCK_DIAG, ports, 4));
	s = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
	ASSERT_LE(0, s);
	to.nl_pid = ports[0];
	for (uint32_t seq = 0; seq < 16; seq++) {
		done.nlmsg_seq = seq;
		refused += sendto(s, &done, done.nlmsg_len, 0, (struct sockaddr *)&to,
				  sizeof(to)) < 0 && errno == ECONNREFUSED;
	}
	close(s);
	EXPECT_EQ(16, refused);
	ASSERT_EQ(0, tls_diag(self->a, &d));
	EXPECT_EQ(TLS_CONF_SW, d.txconf);
	EXPECT_EQ(TLS_CONF_SW, d.rxconf);
}

TEST_HARNESS_MAIN
