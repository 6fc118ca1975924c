// SPDX-License-Identifier: GPL-2.0
/*
 * The audit log's keys at work: each record's HMAC-SHA256, chained, and
 * the checkpoints' Ed25519 signatures, by the seed the daemon holds or by
 * the key storage that keeps the signing key.
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "audit_internal.h"
#include "util.h"

/*
 * SHA-256, fetched once when the log opens: OpenSSL's one-shot HMAC()
 * fetched the MAC and the digest for every record, several times the cost
 * of the record's MAC itself.
 */
int audit_mac_init(struct audit *a)
{
	a->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	return a->sha256 ? 0 : -EIO;
}

/*
 * HMAC-SHA256 (RFC 2104) of @body under mac_key.  The padded keys live on
 * the stack for the call and are wiped; nothing derived from the key stays
 * outside this locked page between records (a keyed context kept by
 * OpenSSL would, in ordinary heap).
 */
int audit_mac(const struct audit *a, const char *body, size_t n, uint8_t *out)
{
	uint8_t ipad[64] = { 0 }, opad[64] = { 0 }, inner[AUDIT_HEAD_LEN];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int il = 0, ol = 0;
	int ok;

	memcpy(ipad, a->mac_key, sizeof(a->mac_key));	/* 32 bytes: shorter than a block */
	memcpy(opad, a->mac_key, sizeof(a->mac_key));
	for (size_t i = 0; i < sizeof(ipad); i++) {
		ipad[i] ^= 0x36;
		opad[i] ^= 0x5c;
	}
	ok = c && EVP_DigestInit_ex(c, a->sha256, NULL) && EVP_DigestUpdate(c, ipad, sizeof(ipad)) &&
	     EVP_DigestUpdate(c, body, n) && EVP_DigestFinal_ex(c, inner, &il) &&
	     EVP_DigestInit_ex(c, a->sha256, NULL) && EVP_DigestUpdate(c, opad, sizeof(opad)) &&
	     EVP_DigestUpdate(c, inner, il) && EVP_DigestFinal_ex(c, out, &ol) &&
	     il == AUDIT_HEAD_LEN && ol == AUDIT_HEAD_LEN;
	EVP_MD_CTX_free(c);	/* its state wiped with it */
	wipe(ipad, sizeof(ipad));
	wipe(opad, sizeof(opad));
	wipe(inner, sizeof(inner));
	return ok ? 0 : -ENOMEM;
}

/* Ed25519 by the seed the daemon holds (a backend without ->sign_audit). */
static int sign_with_seed(const struct audit *a, const char *msg, size_t n, uint8_t *sig)
{
	size_t siglen = 64;
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, a->sign_seed,
						     sizeof(a->sign_seed));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = key && md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
		 EVP_DigestSign(md, sig, &siglen, (const uint8_t *)msg, n) == 1;

	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok ? 0 : -EIO;
}

/* Ed25519 by the backend's own key, which must still be the pinned one. */
static int sign_in_backend(const struct audit *a, const char *msg, size_t n, uint8_t *sig)
{
	uint8_t pub[32];
	char hex[65];
	int r = a->signer->ops->sign_audit(a->signer, msg, n, sig, pub);

	if (r)
		return r;
	if (CRYPTO_memcmp(pub, a->pub, sizeof(pub))) {
		hex_encode(pub, sizeof(pub), hex);
		log_error("the key storage signed an audit checkpoint with key %s, not %s, the one it had when the log was opened: checkpoint not written",
			  hex, a->pub_hex);
		return -EKEYREJECTED;
	}
	return audit_sig_check(a->pub, msg, n, sig) ? -EIO : 0;
}

int audit_sig_check(const uint8_t *pub, const char *msg, size_t n, const uint8_t *sig)
{
	EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = key && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
		 EVP_DigestVerify(md, sig, 64, (const uint8_t *)msg, n) == 1;

	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok ? 0 : -EBADMSG;
}

int audit_checkpoint_sig(const struct audit *a, uint64_t seq, const char *prev_hex,
			 uint8_t *sig, bool check)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "hsmkey audit checkpoint v1 %llu %s",
			 (unsigned long long)seq, prev_hex);

	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EINVAL;
	if (check)
		return audit_sig_check(a->pub, msg, (size_t)n, sig);
	return a->signer ? sign_in_backend(a, msg, (size_t)n, sig) :
			   sign_with_seed(a, msg, (size_t)n, sig);
}

/* The MAC at the start of a line: 64 hex digits. */
int audit_mac_from_line(const char *line, uint8_t *out)
{
	char hex[2 * AUDIT_HEAD_LEN + 1];

	memcpy(hex, line, 2 * AUDIT_HEAD_LEN);
	hex[2 * AUDIT_HEAD_LEN] = '\0';
	return hex_decode(hex, out, AUDIT_HEAD_LEN);
}
