// SPDX-License-Identifier: GPL-2.0
/*
 * Fetching a version's material from the key server (store.h), wrapped
 * under this host's KEK where the server can.
 *
 * The KEK: 32 random bytes this host registered on the server as an AES
 * key that may only wrap and unwrap (Register, then Activate), its
 * identifier and bytes sealed in the host's keystore (KMIP_KEK_RECORD).
 * It is made at the first fetch that finds none, and made again when the
 * server no longer has it.  Get then asks for the key wrapped under it
 * with AES key wrap (RFC 3394), and the answer is unwrapped here.  A
 * server that answers that it cannot wrap is asked in clear for an hour
 * (logged once), then asked to wrap again: the material then crosses TLS
 * in clear, as it must.  The answer is read, and unwrapped, in secret
 * pages; the material goes into the caller's key, which the caller wipes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "identity.h"
#include "kmip/store.h"
#include "util.h"

/*
 * The KEK's record in the keystore: its identifier on the server, and the
 * KEK itself wrapped (RFC 3394) under a key derived from the keystore's
 * root (KEK_SEAL_LABEL), so that the keystore's records in memory and on
 * disk never hold it in clear.  In clear it is only in st->kek and in the
 * secret pages of the calls that use it.
 */
#define KEK_SEAL_LABEL	"hsmkey kmip kek seal v1"

struct kek_record {
	char uid[KMIP_UID_MAX];
	uint8_t wrapped[KMIP_KEK_LEN + 8];
};

/* Scratch for a KEK in clear and the key that seals it: in secret pages. */
struct kek_scratch {
	uint8_t kek[KMIP_KEK_LEN];
	uint8_t seal[KMIP_KEK_LEN];
};

static int64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void kmip_kek_free(struct kmip_store *st)
{
	if (st->kek) {
		wipe(st->kek, KMIP_KEK_LEN);
		secret_pages_free(st->kek, KMIP_KEK_LEN);
		st->kek = NULL;
	}
}

/*
 * RFC 3394 under @key: @in (@n bytes) wrapped (@seal) into n + 8 bytes, or
 * unwrapped into n - 8 bytes, at @out.
 */
static int key_wrap(bool seal, const uint8_t *key, const uint8_t *in, int n, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0, ok;

	if (!ctx)
		return -ENOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_wrap(), NULL, key, NULL, seal) == 1 &&
	     EVP_CipherUpdate(ctx, out, &len, in, n) == 1 &&
	     EVP_CipherFinal_ex(ctx, out + len, &fin) == 1 && len + fin == n + (seal ? 8 : -8);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : seal ? -EIO : -EKEYREJECTED;
}

/* The key the KEK's record is sealed under, into @x->seal. */
static int seal_key(struct kmip_store *st, struct kek_scratch *x)
{
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_derive(st->ks, KEK_SEAL_LABEL, x->seal, sizeof(x->seal));
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* With st->kek_lock held: @uid and @x->kek as the KEK in use. */
static int kek_take(struct kmip_store *st, const char *uid, const struct kek_scratch *x)
{
	if (!st->kek)
		st->kek = secret_pages(KMIP_KEK_LEN, "the KMIP key-encryption key");
	if (!st->kek)
		return -ENOMEM;
	memcpy(st->kek, x->kek, KMIP_KEK_LEN);
	snprintf(st->kek_uid, sizeof(st->kek_uid), "%s", uid);
	return 0;
}

/* With st->kek_lock held: the KEK the keystore holds, if any. */
static int kek_load(struct kmip_store *st, struct kek_scratch *x)
{
	struct kek_record rec;
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_record_load(st->ks, KMIP_KEK_RECORD, &rec, sizeof(rec));
	pthread_mutex_unlock(&st->lock);
	if (r < 0)
		return r;
	if (r != sizeof(rec) || !memchr(rec.uid, 0, sizeof(rec.uid)) || !rec.uid[0])
		return -EBADMSG;
	r = seal_key(st, x);
	if (!r)
		r = key_wrap(false, x->seal, rec.wrapped, sizeof(rec.wrapped), x->kek);
	return r ? log_errno(r, "this host's key-encryption key does not unseal: %s", strerror(-r)) :
		   kek_take(st, rec.uid, x);
}

/* The KEK's record: @uid and @x->kek sealed, in the keystore. */
static int kek_keep(struct kmip_store *st, const char *uid, struct kek_scratch *x)
{
	struct kek_record rec;
	int r;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.uid, sizeof(rec.uid), "%s", uid);
	r = seal_key(st, x);
	if (!r)
		r = key_wrap(true, x->seal, x->kek, KMIP_KEK_LEN, rec.wrapped);
	if (!r) {
		pthread_mutex_lock(&st->lock);
		r = ks_record_store(st->ks, KMIP_KEK_RECORD, &rec, sizeof(rec));
		pthread_mutex_unlock(&st->lock);
	}
	return r;
}

/* With st->kek_lock held: a new KEK, registered and activated on the server. */
static int kek_enroll(struct kmip_store *st, struct kek_scratch *x)
{
	const uint8_t *inst = ks_instance(st->ks);
	char name[64], hex[17], uid[KMIP_UID_MAX], why[512], why2[512];
	struct kmip_key_attrs a = {
		.object_type = KMIP_OBJECT_SYMMETRIC_KEY, .algorithm = KMIP_ALG_AES,
		.name = name, .bits = 8 * KMIP_KEK_LEN,
		.usage = KMIP_USAGE_WRAP_KEY | KMIP_USAGE_UNWRAP_KEY,
	};
	int r;

	hex_encode(inst, 8, hex);
	snprintf(name, sizeof(name), KMIP_KEK_NAME "%s", hex);
	if (RAND_priv_bytes(x->kek, KMIP_KEK_LEN) != 1)
		return -EIO;
	r = kmip_register(st->client, &a, x->kek, KMIP_KEK_LEN, uid, why, sizeof(why));
	if (!r) {
		r = kmip_activate(st->client, uid, why, sizeof(why));
		if (r && kmip_destroy(st->client, uid, why2, sizeof(why2)))
			log_error("this host's unused key-encryption key %s is left on the KMIP server: %s",
				  uid, why2);
	}
	kmip_note(st, r, why);
	if (r)
		return log_errno(r, "cannot register this host's key-encryption key: %s", why);
	r = kek_keep(st, uid, x);
	if (r)
		return log_errno(r, "cannot keep this host's key-encryption key: %s", strerror(-r));
	log_info("registered this host's key-encryption key on the KMIP server as %s (%s)",
		 uid, name);
	return kek_take(st, uid, x);
}

/*
 * The KEK's identifier and bytes into @uid and @kek (secret pages of the
 * caller's, who wipes them), made if need be; 1 if the server does not
 * wrap (none then).
 */
static int kek_get(struct kmip_store *st, bool renew, char *uid, uint8_t *kek)
{
	struct kek_scratch *x = NULL;
	int r = 0;

	pthread_mutex_lock(&st->kek_lock);
	if (st->no_wrap && mono_s() - st->no_wrap_at >= 3600) {
		log_info("asking the KMIP server to wrap keys again");
		st->no_wrap = false;
	}
	if (st->no_wrap)
		r = 1;
	else if (!st->kek || renew) {
		x = secret_pages(sizeof(*x), "the KMIP key-encryption key");
		r = !x ? -ENOMEM : renew ? -ENOENT : kek_load(st, x);
		if (r == -ENOENT)
			r = kek_enroll(st, x);
	}
	if (!r) {
		memcpy(kek, st->kek, KMIP_KEK_LEN);
		strcpy(uid, st->kek_uid);
	}
	pthread_mutex_unlock(&st->kek_lock);
	if (x) {
		wipe(x, sizeof(*x));
		secret_pages_free(x, sizeof(*x));
	}
	return r;
}

/* Why identity_parse() refused a private key (identity.h's errors). */
static const char *unreadable_why(int r)
{
	switch (r) {
	case -EMEDIUMTYPE:
		return "it is a key of another type";
	case -EKEYREJECTED:
		return "its values do not belong together (a public key not the private key's, or RSA values not the primes')";
	case -EDOM:
		return "its curve is given as explicit parameters";
	case -ERANGE:
		return "it is a weak RSA key";
	}
	return "it does not read as a private key (PKCS #8, PKCS #1 or SEC 1)";
}

/*
 * The server's answer as @key's material: a symmetric key unwrapped, and
 * of @key's length; a private key of @key's type (its PKCS #8, or the
 * PKCS #1 or SEC 1 DER of a key another tool registered), read by
 * identity_parse(), which wipes what it does not take.
 */
static int take_material(struct ks_key *key, const struct kmip_key *k, const uint8_t *kek)
{
	unsigned int want = key_type_len(key->type);
	int r;

	if (ks_type_identity(key->type)) {
		if (k->object_type != KMIP_OBJECT_PRIVATE_KEY || k->wrapped)
			return -EMEDIUMTYPE;
		r = identity_parse(key->type, k->material, k->len, key->material);
		if (r && r != -ENOMEM)
			log_error("key %s version %u: the KMIP server's private key %s: %s", key->name,
				  key->version, key->ref, unreadable_why(r));
		return r == -ENOMEM ? r : r ? -EMEDIUMTYPE : 0;
	}
	if (k->object_type != KMIP_OBJECT_SYMMETRIC_KEY)
		return -EMEDIUMTYPE;
	if (k->wrapped) {
		if (k->len != want + 8)
			return -EMEDIUMTYPE;
		r = key_wrap(false, kek, k->material, (int)k->len, key->material);
		if (r)
			wipe(key->material, sizeof(key->material));
		return r;
	}
	if (k->len != want)
		return -EMEDIUMTYPE;
	memcpy(key->material, k->material, want);
	return 0;
}

/* Get, wrapped under the KEK (@wrap) or in clear: into @k. */
static int get(struct kmip_store *st, const struct ks_key *key, const char *wrap,
	       struct kmip_key *k, char *why, size_t whylen)
{
	int r = kmip_get(st->client, key->ref, wrap, k, why, whylen);

	kmip_note(st, r, why);
	return r;
}

/* A wrapped Get that failed: whether to go on in clear, or with a new KEK. */
static int wrap_refused(struct kmip_store *st, int r, const char *kek_uid, const char *why)
{
	struct kmip_attrs a;
	char why2[512];

	if (r == -EOPNOTSUPP) {
		pthread_mutex_lock(&st->kek_lock);
		if (!st->no_wrap)
			log_warn("the KMIP server does not wrap keys (%s): key material is fetched in clear inside TLS for the next hour",
				 why);
		st->no_wrap = true;
		st->no_wrap_at = mono_s();
		pthread_mutex_unlock(&st->kek_lock);
		return 1;	/* again, in clear */
	}
	/* Item Not Found: the key's, or the KEK's?  Only a KEK gone is made anew. */
	if (r == -ENOENT &&
	    kmip_get_attrs(st->client, kek_uid, &a, why2, sizeof(why2)) == -ENOENT) {
		log_warn("this host's key-encryption key %s is no longer on the KMIP server: registering a new one",
			 kek_uid);
		return 2;	/* again, with a new KEK */
	}
	return 0;
}

int kmip_fetch(struct kmip_store *st, struct ks_key *key)
{
	struct {
		struct kmip_key k;
		uint8_t kek[KMIP_KEK_LEN];
	} *x = secret_pages(sizeof(*x), "key material from the KMIP server");
	char uid[KMIP_UID_MAX], why[512];
	int r, w, again = 0;

	if (!x)
		return -ENOMEM;
	do {
		/* A private key is asked for in clear (see store.h). */
		w = ks_type_identity(key->type) ? 1 : kek_get(st, again == 2, uid, x->kek);
		r = w < 0 ? w : get(st, key, w ? NULL : uid, &x->k, why, sizeof(why));
		again = !r || w || again ? 0 : wrap_refused(st, r, uid, why);
	} while (again);
	if (!r)
		r = take_material(key, &x->k, x->kek);
	else if (w >= 0)
		log_error("key %s version %u: %s", key->name, key->version, why);
	if (r == -EMEDIUMTYPE || r == -EKEYREJECTED)
		log_error("key %s version %u: the KMIP server's %s (%s) %s", key->name, key->version,
			  x->k.wrapped ? "wrapped key" : "key", key->ref,
			  r == -EKEYREJECTED ? "does not unwrap under this host's key-encryption key" :
			  "is not of the key's type");
	wipe(x, sizeof(*x));
	secret_pages_free(x, sizeof(*x));
	return r;
}
