// SPDX-License-Identifier: GPL-2.0
/*
 * The floor (kms_socket floor PATH LOG): a minimal server doing an encrypt
 * call's work with hsmkeyd's guarantees, served as the echo is (a thread
 * per connection).  Not a proven bound: a measure of how much of hsmkeyd's
 * distance from the socket's limit is that work.  For each message:
 *  - the key is opened from its sealed copy: AES-256-GCM under the master
 *    key, whose schedule is made again for each call as hsmkeyd's is, so
 *    that the server holds the key in clear only during the call (its
 *    clients know it, floor_key, to check replies: a bench key);
 *  - the message's last 4 KiB is sealed with AES-256-GCM under it (the
 *    nonce from hsmkeyd's own pool, daemon/nonce.c), and the key and both
 *    schedules are wiped;
 *  - the call is recorded in LOG: a record of FLOOR_RECORD bytes (caller,
 *    operation, key; no time, no sequence number) whose HMAC-SHA256 covers
 *    it and the MAC of the record before, the last step of the MAC and the
 *    append under the chain's lock; then flushed (fdatasync, outside the
 *    lock: a flush covers every record written before it) before the reply.
 *    The MAC key goes to LOG.key, so that bench/kms.sh can check the chain.
 * Nothing else: no parsing, no policy, no key lookup, no JSON, no context
 * in the blob.  The reply is the sealed item, of a blob's size.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <hsmkey/kms.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "fetched.h"
#include "kms_socket.h"
#include "nonce.h"

#define FLOOR_RECORD	128
#define FLOOR_MAC	32
#define FLOOR_NONCE	12
#define FLOOR_TAG	16
#define FLOOR_REPLY	(ITEM + HSMKEY_BLOB_OVERHEAD)

/* The floor's key, known to its clients so that they can check a reply. */
static const uint8_t floor_key[32] = "kms_socket floor: a bench key.";

/*
 * The floor's key sealed under its master key; its log: the MAC key, the
 * last record's MAC.  Set before the first connection.
 */
static struct {
	uint8_t master[32];
	uint8_t sealed[FLOOR_NONCE + sizeof(floor_key) + FLOOR_TAG];
	pthread_mutex_t lock;		/* @head, and the order of @fd's records */
	uint8_t mac_key[32];
	uint8_t head[FLOOR_MAC];
	int fd;
	EVP_MAC *mac;
} floor_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* One connection of the floor's: its cipher and MAC contexts. */
struct floor_conn {
	int fd;
	uid_t uid;
	EVP_CIPHER_CTX *master;		/* the master key's, during a call */
	EVP_CIPHER_CTX *aead;		/* the key's, during a call */
	EVP_MAC_CTX *mac;		/* keyed; each record's is a copy */
	uint8_t in[ECHO_MAX], out[FLOOR_REPLY];
};

/*
 * AES-256-GCM of @len bytes, @in to @out, and its tag (made, or checked),
 * with @aes and @key set up in @x for it.
 */
static int gcm(EVP_CIPHER_CTX *x, bool enc, const EVP_CIPHER *aes, const uint8_t *key,
	       const uint8_t *iv, const uint8_t *in, int len, uint8_t *out, uint8_t *tag)
{
	int n, fin;

	if (!enc && (EVP_DecryptInit_ex(x, aes, NULL, key, iv) != 1 ||
		     EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, FLOOR_TAG, tag) != 1 ||
		     EVP_DecryptUpdate(x, out, &n, in, len) != 1 ||
		     EVP_DecryptFinal_ex(x, out + n, &fin) != 1))
		return -1;
	if (enc && (EVP_EncryptInit_ex(x, aes, NULL, key, iv) != 1 ||
		    EVP_EncryptUpdate(x, out, &n, in, len) != 1 ||
		    EVP_EncryptFinal_ex(x, out + n, &fin) != 1 ||
		    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, FLOOR_TAG, tag) != 1))
		return -1;
	return 0;
}

/*
 * The key opened, @pt sealed under it into c->out (nonce || ciphertext ||
 * tag || zeros to a blob's size), the key and both schedules wiped.
 */
static int floor_seal(struct floor_conn *c, const uint8_t *pt)
{
	const EVP_CIPHER *aes = fetched_aes_gcm(256);
	const uint8_t *sealed = floor_log.sealed;
	uint8_t key[sizeof(floor_key)], *ct = c->out + FLOOR_NONCE;
	int r;

	/* The rest of c->out, to a blob's size, stays as calloc() left it. */
	r = nonce_bytes(c->out, FLOOR_NONCE) ||
	    gcm(c->master, false, aes, floor_log.master, sealed, sealed + FLOOR_NONCE,
		sizeof(key), key, (uint8_t *)sealed + FLOOR_NONCE + sizeof(key)) ||
	    gcm(c->aead, true, aes, key, c->out, pt, ITEM, ct, ct + ITEM) ? -1 : 0;
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_reset(c->master);
	EVP_CIPHER_CTX_reset(c->aead);
	return r;
}

/*
 * The call's record: MACed over itself, then, under the lock, over the MAC
 * before it, and appended; flushed after, so that every record up to it is
 * on disk before the reply.
 */
static int floor_record(struct floor_conn *c)
{
	uint8_t rec[FLOOR_RECORD] = { 0 };
	EVP_MAC_CTX *m = EVP_MAC_CTX_dup(c->mac);
	size_t len;
	int r;

	snprintf((char *)rec, FLOOR_RECORD - FLOOR_MAC, "uid=%u op=encrypt key=kbench result=ok",
		 (unsigned int)c->uid);
	if (!m || EVP_MAC_update(m, rec, FLOOR_RECORD - FLOOR_MAC) != 1) {
		EVP_MAC_CTX_free(m);
		return -1;
	}
	pthread_mutex_lock(&floor_log.lock);
	r = EVP_MAC_update(m, floor_log.head, FLOOR_MAC) == 1 &&
	    EVP_MAC_final(m, rec + FLOOR_RECORD - FLOOR_MAC, &len, FLOOR_MAC) == 1 &&
	    write(floor_log.fd, rec, FLOOR_RECORD) == FLOOR_RECORD ? 0 : -1;
	if (!r)
		memcpy(floor_log.head, rec + FLOOR_RECORD - FLOOR_MAC, FLOOR_MAC);
	pthread_mutex_unlock(&floor_log.lock);
	EVP_MAC_CTX_free(m);
	return r || fdatasync(floor_log.fd) ? -1 : 0;
}

static void *floor_conn(void *arg)
{
	struct floor_conn *c = calloc(1, sizeof(*c));
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	ssize_t n;

	if (!c)
		die("out of memory");
	c->fd = (int)(intptr_t)arg;
	c->master = EVP_CIPHER_CTX_new();
	c->aead = EVP_CIPHER_CTX_new();
	c->mac = EVP_MAC_CTX_new(floor_log.mac);
	if (!c->master || !c->aead || !c->mac ||
	    getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    EVP_MAC_init(c->mac, floor_log.mac_key, sizeof(floor_log.mac_key), p) != 1)
		die("the floor cannot set up a connection");
	c->uid = cred.uid;
	while ((n = recv(c->fd, c->in, sizeof(c->in), 0)) >= ITEM) {
		if (floor_seal(c, c->in + n - ITEM) || floor_record(c))
			die("the floor cannot seal or record");
		if (send(c->fd, c->out, FLOOR_REPLY, MSG_NOSIGNAL) != FLOOR_REPLY)
			break;
	}
	close(c->fd);
	EVP_CIPHER_CTX_free(c->master);
	EVP_CIPHER_CTX_free(c->aead);
	EVP_MAC_CTX_free(c->mac);
	free(c);
	return NULL;
}

static int random_bytes(uint8_t *out, size_t len)
{
	return getrandom(out, len, 0) == (ssize_t)len ? 0 : -1;
}

/* LOG made empty for appending, and a new MAC key for it written to LOG.key. */
static int floor_log_open(const char *log)
{
	char keyfile[4096];
	int kfd, r;

	snprintf(keyfile, sizeof(keyfile), "%s.key", log);
	floor_log.fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	floor_log.mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (floor_log.fd < 0 || !floor_log.mac ||
	    random_bytes(floor_log.mac_key, sizeof(floor_log.mac_key)))
		return -1;
	kfd = open(keyfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (kfd < 0)
		return -1;
	r = write(kfd, floor_log.mac_key, sizeof(floor_log.mac_key)) ==
	    (ssize_t)sizeof(floor_log.mac_key) ? 0 : -1;
	return close(kfd) ? -1 : r;
}

/* floor_key sealed under a new master key, as a key record is. */
static int floor_key_seal(void)
{
	uint8_t *sealed = floor_log.sealed;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int r = !x || !fetched_aes_gcm(256) ||
		random_bytes(floor_log.master, sizeof(floor_log.master)) ||
		random_bytes(sealed, FLOOR_NONCE) ||
		gcm(x, true, fetched_aes_gcm(256), floor_log.master, sealed, floor_key,
		    sizeof(floor_key), sealed + FLOOR_NONCE,
		    sealed + FLOOR_NONCE + sizeof(floor_key)) ? -1 : 0;

	EVP_CIPHER_CTX_free(x);
	return r;
}

void floor_server(const char *log)
{
	if (floor_log_open(log) || floor_key_seal())
		die("the floor cannot open its log or seal its key");
	serve(floor_conn);
}

/* Does a floor reply open under the floor's key to @pt? */
static bool floor_opens(const uint8_t *reply, const uint8_t *pt)
{
	EVP_CIPHER_CTX *d = EVP_CIPHER_CTX_new();
	uint8_t back[ITEM];
	bool ok;

	ok = d && !gcm(d, false, fetched_aes_gcm(256), floor_key, reply, reply + FLOOR_NONCE, ITEM,
		       back, (uint8_t *)reply + FLOOR_NONCE + ITEM) && !memcmp(back, pt, ITEM);
	EVP_CIPHER_CTX_free(d);
	return ok;
}

/*
 * Reply @n of a client's to @msg: its nonce other than the one before it,
 * and the first and every 256th opening to the message's last 4 KiB.
 */
static bool floor_check(const uint8_t *msg, size_t len, const uint8_t *reply,
			const uint8_t *prev, uint64_t n)
{
	if (prev && !memcmp(reply, prev, FLOOR_NONCE))
		return false;
	return n % 256 || floor_opens(reply, msg + len - ITEM);
}

const struct reference floor_reference = {
	.what = "the floor's reply is not the message sealed",
	.least = ITEM, .reply = FLOOR_REPLY, .check = floor_check,
};
