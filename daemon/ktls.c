// SPDX-License-Identifier: GPL-2.0
/*
 * kTLS keyed by session tokens (uapi/linux/hsmkey.h, "kTLS session
 * tokens").  When OpenSSL has finished a handshake on a TCP socket, the
 * connection's traffic keys are derived here from its secrets and handed to
 * hsmkey.ko, wrapped under the transport key (SESSION_ADD); kTLS is set up
 * on the socket with the tokens the module returns in their place.  The
 * module takes each token at setsockopt() and binds its key to the
 * socket's gcm(aes); SESSION_GET (SPENT) and sock_diag (TLS_CONF_SW both
 * ways) then show that no other gcm(aes), and no NIC, got a token as a
 * key.  Whoever gets the socket afterwards holds no key: getsockopt()
 * gives spent tokens.
 *
 * Only what kTLS on 6.1 and 6.12 takes: TLS 1.3 and 1.2 with AES-128-GCM
 * and AES-256-GCM.  No session tickets: a ticket sent after the handshake
 * would be a record under the new keys before kTLS holds them.  No
 * renegotiation: a kTLS socket cannot be given new keys on 6.1.
 *
 * Sequence numbers: TLS 1.3's application traffic keys start at record 0
 * in both directions (nothing is sent under them before kTLS: no tickets).
 * TLS 1.2's first record under the new keys is each side's Finished, so
 * application data starts at 1; the explicit nonce this side sends is the
 * sequence number (RFC 5288, 3).  OpenSSL sent its Finished under the same
 * key with an explicit nonce it drew at random (64 bits), so that one
 * repeats only if it fell among the first records' numbers: one chance in
 * 2^64 per record sent, not excluded by construction.
 *
 * As a client: a TLS 1.3 server may send tickets after the handshake.
 * OpenSSL has not read them (no read-ahead), so kTLS RX gets them as
 * records of type handshake, in sequence; a plain read() then fails with
 * EIO, and the reader must take them with recvmsg() (TLS_GET_RECORD_TYPE).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include "ktls.h"
#include "tls_diag.h"
#include "util.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* A session key waits this long for its setsockopt() (seconds). */
#define KTLS_TOKEN_TTL 5

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
	ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* "LABEL CLIENT_RANDOM SECRET", hex: the traffic secrets into @ssl's watch. */
static void keylog(const SSL *ssl, const char *line)
{
	struct ktls_secrets *sec = SSL_get_ex_data(ssl, ex_index);
	const char *hex = strrchr(line, ' ');
	uint8_t *to = NULL;
	unsigned int *len = NULL;
	size_t n;

	if (!sec || !hex)
		return;
	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		to = sec->client, len = &sec->client_len;
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		to = sec->server, len = &sec->server_len;
	if (!to)
		return;
	n = strlen(++hex) / 2;
	if (n > sizeof(sec->client) || hex_decode(hex, to, n))
		return;
	*len = (unsigned int)n;
}

int ktls_prepare_ctx(SSL_CTX *ctx)
{
	pthread_once(&ex_once, ex_init);
	if (ex_index < 0)
		return -ENOMEM;
	SSL_CTX_set_keylog_callback(ctx, keylog);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* No session (with its master secret) outlives its connection here. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_read_ahead(ctx, 0);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256") ||
	    !SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES256-GCM-SHA384:"
					  "ECDHE-RSA-AES256-GCM-SHA384:"
					  "ECDHE-ECDSA-AES128-GCM-SHA256:"
					  "ECDHE-RSA-AES128-GCM-SHA256"))
		return -EINVAL;
	return 0;
}

int ktls_watch(SSL *ssl, struct ktls_secrets *sec)
{
	memset(sec, 0, sizeof(*sec));
	return ex_index >= 0 && SSL_set_ex_data(ssl, ex_index, sec) ? 0 : -ENOMEM;
}

/*
 * OpenSSL's HKDF and TLS1-PRF, each fetched once and kept: a fetch per
 * derivation (as EVP_PKEY_CTX_new_id() makes) cost more than the
 * derivations.  A failed fetch is tried again at the next derivation.
 */
static EVP_KDF *hkdf, *tls1_prf;
static pthread_mutex_t kdf_lock = PTHREAD_MUTEX_INITIALIZER;

/* A new context of the KDF @name, kept in *@kdf: NULL if there is none. */
static EVP_KDF_CTX *kdf_ctx(EVP_KDF **kdf, const char *name)
{
	EVP_KDF *k = __atomic_load_n(kdf, __ATOMIC_ACQUIRE);

	if (!k) {
		pthread_mutex_lock(&kdf_lock);
		k = *kdf;
		if (!k) {
			k = EVP_KDF_fetch(NULL, name, NULL);
			__atomic_store_n(kdf, k, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&kdf_lock);
	}
	return k ? EVP_KDF_CTX_new(k) : NULL;
}

/* TLS 1.3's HKDF-Expand-Label(@secret, @label, "", @len) (RFC 8446, 7.1). */
static int expand_label(const EVP_MD *md, const uint8_t *secret, size_t slen,
			const char *label, uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1];
	size_t ll = strlen(label), il = 0;
	EVP_KDF_CTX *kc;
	OSSL_PARAM p[5];
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;

	if (ll > 16)
		return -EINVAL;
	info[il++] = (uint8_t)(len >> 8);
	info[il++] = (uint8_t)len;
	info[il++] = (uint8_t)(6 + ll);
	memcpy(info + il, "tls13 ", 6);
	il += 6;
	memcpy(info + il, label, ll);
	il += ll;
	info[il++] = 0;		/* no context */
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, il);
	p[4] = OSSL_PARAM_construct_end();
	kc = kdf_ctx(&hkdf, "HKDF");
	ok = kc && EVP_KDF_derive(kc, out, len, p) > 0;
	EVP_KDF_CTX_free(kc);
	return ok ? 0 : -EIO;
}

/* One TLS 1.3 direction from its traffic secret. */
static int dir13(const EVP_MD *md, const uint8_t *secret, unsigned int slen,
		 unsigned int keylen, struct ktls_dir *d)
{
	uint8_t iv[12];
	int r;

	if (!slen || slen != (unsigned int)EVP_MD_get_size(md))
		return -EPROTO;
	r = expand_label(md, secret, slen, "key", d->key, keylen) ?:
	    expand_label(md, secret, slen, "iv", iv, sizeof(iv));
	memcpy(d->salt, iv, 4);
	memcpy(d->iv, iv + 4, 8);
	d->seq = 0;
	wipe(iv, sizeof(iv));
	return r;
}

/* TLS 1.2's key block (RFC 5246, 6.3): the PRF of the master secret. */
static int key_block(SSL *ssl, const EVP_MD *md, uint8_t *out, size_t len)
{
	static const char label[] = "key expansion";
	uint8_t master[SSL_MAX_MASTER_KEY_LENGTH], seed[sizeof(label) - 1 + 64];
	size_t mlen = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof(master));
	EVP_KDF_CTX *kc = kdf_ctx(&tls1_prf, "TLS1-PRF");
	OSSL_PARAM p[4];
	int ok;

	memcpy(seed, label, sizeof(label) - 1);
	SSL_get_server_random(ssl, seed + sizeof(label) - 1, 32);
	SSL_get_client_random(ssl, seed + sizeof(label) - 1 + 32, 32);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
	p[3] = OSSL_PARAM_construct_end();
	ok = kc && mlen && EVP_KDF_derive(kc, out, len, p) > 0;
	EVP_KDF_CTX_free(kc);
	wipe(master, sizeof(master));
	return ok ? 0 : -EIO;
}

/* Both TLS 1.2 directions: client then server in the key block. */
static int dirs12(SSL *ssl, const EVP_MD *md, struct ktls_keys *k, bool server)
{
	unsigned int kl = k->keylen;
	uint8_t kb[2 * 32 + 2 * 4];
	struct ktls_dir *c = server ? &k->rx : &k->tx, *s = server ? &k->tx : &k->rx;
	int r = key_block(ssl, md, kb, 2 * kl + 8);

	if (!r) {
		memcpy(c->key, kb, kl);
		memcpy(s->key, kb + kl, kl);
		memcpy(c->salt, kb + 2 * kl, 4);
		memcpy(s->salt, kb + 2 * kl + 4, 4);
		c->seq = s->seq = 1;
		/* The explicit nonce this side starts from: the sequence number. */
		memset(k->tx.iv, 0, 8);
		k->tx.iv[7] = 1;
		memcpy(k->rx.iv, k->tx.iv, 8);
	}
	wipe(kb, sizeof(kb));
	return r;
}

int ktls_keys(SSL *ssl, const struct ktls_secrets *sec, bool server, struct ktls_keys *out)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	const EVP_MD *md = cipher ? SSL_CIPHER_get_handshake_digest(cipher) : NULL;
	int nid = cipher ? SSL_CIPHER_get_cipher_nid(cipher) : NID_undef, r;

	memset(out, 0, sizeof(*out));
	if (!md || (nid != NID_aes_128_gcm && nid != NID_aes_256_gcm))
		return -EPROTONOSUPPORT;
	out->keylen = nid == NID_aes_128_gcm ? 16 : 32;
	switch (SSL_version(ssl)) {
	case TLS1_3_VERSION:
		out->version = TLS_1_3_VERSION;
		r = dir13(md, server ? sec->server : sec->client,
			  server ? sec->server_len : sec->client_len, out->keylen, &out->tx) ?:
		    dir13(md, server ? sec->client : sec->server,
			  server ? sec->client_len : sec->server_len, out->keylen, &out->rx);
		break;
	case TLS1_2_VERSION:
		out->version = TLS_1_2_VERSION;
		r = dirs12(ssl, md, out, server);
		break;
	default:
		r = -EPROTONOSUPPORT;
	}
	if (r)
		wipe(out, sizeof(*out));
	return r;
}

/*
 * setsockopt(SOL_TLS, @which) with @token in place of the key.  Both AES-GCM
 * structures are the header, then iv[8], key[keylen], salt[4], rec_seq[8],
 * byte arrays without padding: filled in that order.
 */
#define KTLS_AT(type, field, at) \
	_Static_assert(offsetof(type, field) == sizeof(struct tls_crypto_info) + (at), \
		       #type "." #field " where set_dir() puts it")
KTLS_AT(struct tls12_crypto_info_aes_gcm_128, iv, 0);
KTLS_AT(struct tls12_crypto_info_aes_gcm_128, key, 8);
KTLS_AT(struct tls12_crypto_info_aes_gcm_128, salt, 8 + 16);
KTLS_AT(struct tls12_crypto_info_aes_gcm_128, rec_seq, 8 + 16 + 4);
KTLS_AT(struct tls12_crypto_info_aes_gcm_256, iv, 0);
KTLS_AT(struct tls12_crypto_info_aes_gcm_256, key, 8);
KTLS_AT(struct tls12_crypto_info_aes_gcm_256, salt, 8 + 32);
KTLS_AT(struct tls12_crypto_info_aes_gcm_256, rec_seq, 8 + 32 + 4);

static int set_dir(int fd, int which, const struct ktls_keys *k, const struct ktls_dir *d,
		   const uint8_t *token)
{
	union {
		struct tls12_crypto_info_aes_gcm_256 g256;	/* the larger */
		uint8_t b[sizeof(struct tls12_crypto_info_aes_gcm_256)];
	} ci;
	size_t len = k->keylen == 16 ? sizeof(struct tls12_crypto_info_aes_gcm_128) :
				       sizeof(struct tls12_crypto_info_aes_gcm_256);
	uint8_t *p = ci.b + sizeof(struct tls_crypto_info);
	int i, r;

	memset(&ci, 0, sizeof(ci));
	ci.g256.info.version = k->version;
	ci.g256.info.cipher_type = k->keylen == 16 ? TLS_CIPHER_AES_GCM_128 : TLS_CIPHER_AES_GCM_256;
	memcpy(p, d->iv, 8);
	p += 8;
	memcpy(p, token, k->keylen);
	p += k->keylen;
	memcpy(p, d->salt, 4);
	p += 4;
	for (i = 0; i < 8; i++)
		*p++ = (uint8_t)(d->seq >> (56 - 8 * i));
	r = setsockopt(fd, SOL_TLS, which, &ci, (socklen_t)len) ? -errno : 0;
	wipe(&ci, sizeof(ci));
	return r;
}

/* Did hsmkey.ko's gcm(aes) take both session keys? */
static int taken(struct kernel *k, uint32_t tx, uint32_t rx, char *why, size_t wl)
{
	struct kernel_session s[2];
	int r = kernel_session_get_pair(k, tx, rx, &s[0], &s[1]);

	if (r && r != -ENOENT) {
		snprintf(why, wl, "cannot ask hsmkey.ko whether it took the session keys: %s%s%s",
			 strerror(-r), *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
		return r;
	}
	/* -ENOENT: one of them is out of the table, not taken either. */
	for (int i = 0; i < 2; i++) {
		if (r || s[i].state != HSMKEY_SESSION_SPENT) {
			snprintf(why, wl, "the %s session key was not taken by hsmkey's gcm(aes) "
				 "(another gcm(aes) or a NIC's offload has the socket)",
				 r ? "TX or RX" : i ? "RX" : "TX");
			return -EMEDIUMTYPE;
		}
	}
	return 0;
}

static int sockets_part(struct kernel *k, int fd, const struct ktls_keys *keys,
			const struct kernel_session *tx, const struct kernel_session *rx,
			char *why, size_t wl)
{
	struct tls_diag d;
	int r;

	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) && errno != EEXIST) {
		r = -errno;
		snprintf(why, wl, "kTLS is not available on the socket: %s", strerror(-r));
		return r;
	}
	r = set_dir(fd, TLS_TX, keys, &keys->tx, tx->token);
	if (!r)
		r = set_dir(fd, TLS_RX, keys, &keys->rx, rx->token);
	if (r) {
		snprintf(why, wl, "kTLS refused the session token: %s", strerror(-r));
		return r;
	}
	r = taken(k, tx->handle, rx->handle, why, wl);
	if (r)
		return r;
	r = tls_diag(fd, &d);
	if (r) {
		snprintf(why, wl, "cannot read the socket's kTLS configuration: %s", strerror(-r));
		return r;
	}
	if (d.txconf != TLS_CONF_SW || d.rxconf != TLS_CONF_SW) {
		snprintf(why, wl, "the socket's kTLS is not in software (TX %u, RX %u): "
			 "a NIC would hold the session tokens", d.txconf, d.rxconf);
		return -EMEDIUMTYPE;
	}
	return 0;
}

/*
 * Revoke the session key of @handle (0: none), if still in the table; a
 * refusal of the module's is said at the end of @why.
 */
static void revoke_one(struct kernel *k, uint32_t handle, char *why, size_t wl)
{
	int r = handle ? kernel_session_revoke(k, handle) : 0;
	size_t n = strlen(why);

	/* -ENOENT: out of the table already, nothing holds it. */
	if (r && r != -ENOENT && n + 1 < wl)
		snprintf(why + n, wl - n, "; and the module refused to revoke session key %u: %s%s%s",
			 handle, strerror(-r), *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
}

/*
 * The end of a failed installation: the socket shut down, whoever else
 * holds it, and its session keys withdrawn (waiting) or stopped (bound).
 */
static void undo(struct kernel *k, int fd, uint32_t tx, uint32_t rx, char *why, size_t wl)
{
	shutdown(fd, SHUT_RDWR);
	revoke_one(k, tx, why, wl);
	revoke_one(k, rx, why, wl);
}

int ktls_install(struct kernel *k, int fd, const struct ktls_keys *keys,
		 struct ktls_installed *out, char *why, size_t whylen)
{
	struct kernel_session tx = { 0 }, rx = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	r = kernel_session_add_pair(k, keys->tx.key, keys->rx.key, keys->keylen, KTLS_TOKEN_TTL,
				    &tx, &rx);
	if (r)
		snprintf(why, whylen, "hsmkey.ko refused the session key: %s%s%s",
			 strerror(-r), *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
	else
		r = sockets_part(k, fd, keys, &tx, &rx, why, whylen);
	if (r) {
		undo(k, fd, tx.handle, rx.handle, why, whylen);
	} else {
		out->tx_handle = tx.handle;
		out->rx_handle = rx.handle;
	}
	wipe(&tx, sizeof(tx));
	wipe(&rx, sizeof(rx));
	return r;
}
