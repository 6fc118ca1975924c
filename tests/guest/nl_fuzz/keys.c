// SPDX-License-Identifier: GPL-2.0
/*
 * The keys the fuzzer made and knows about: ids tagged as ours, their
 * versions and states, the revoked ones (revocation is final) and the audit
 * owners, and wrapping key material under the transport key.
 */
#include "nl_fuzz.h"

uint8_t run_tag[4];
static uint32_t id_counter;
struct tkey keys[TRACK_MAX];	/* ours, present in the table */
size_t nkeys;

/* Key versions the holder saw revoked: final while they stay present. */
struct tkey revoked[4 * TRACK_MAX];
size_t nrevoked;

struct owner owners[OWNERS];

uint8_t transport_key[HSMKEY_TRANSPORT_KEY_LEN];

bool id_ours(const uint8_t *id)
{
	return !memcmp(id, ID_MAGIC, 4);
}

bool id_pinned(const uint8_t *id)
{
	return id_ours(id) && id[8] == KIND_PINNED;
}

void new_id(uint8_t *id, uint8_t kind)
{
	uint32_t c = ++id_counter;

	memcpy(id, ID_MAGIC, 4);
	memcpy(id + 4, run_tag, 4);
	id[8] = kind;
	memcpy(id + 9, &c, 3);
	rnd_bytes(id + 12, 4);
}

unsigned int type_keylen(uint32_t type)
{
	static const unsigned int len[] = { 0, 32, 64, 16, 32, 16, 32 };

	return type < ARRAY_SIZE(len) ? len[type] : 0;
}

bool type_gcm(uint32_t type)
{
	return type == HSMKEY_TYPE_AES_128_GCM || type == HSMKEY_TYPE_AES_256_GCM;
}

uint32_t type_alg(uint32_t type)
{
	if (type_gcm(type))
		return HSMKEY_ALG_GCM;
	return type <= HSMKEY_TYPE_AES_256_XTS ? HSMKEY_ALG_XTS : HSMKEY_ALG_CBC;
}

int kid_cmp(const uint8_t *ida, uint32_t va, const uint8_t *idb,
	    uint32_t vb)
{
	int c = memcmp(ida, idb, HSMKEY_ID_LEN);

	if (c)
		return c;
	return va < vb ? -1 : va > vb;
}

struct tkey *key_find(const uint8_t *id, uint32_t version)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (!kid_cmp(keys[i].id, keys[i].version, id, version))
			return &keys[i];
	return NULL;
}

void key_track(const uint8_t *id, uint32_t version, uint32_t type,
	       uint32_t state)
{
	struct tkey *k = key_find(id, version);

	if (!k) {
		if (nkeys >= TRACK_MAX)
			return;
		k = &keys[nkeys++];
	}
	memcpy(k->id, id, HSMKEY_ID_LEN);
	k->version = version;
	k->type = type;
	k->state = state;
}

void key_untrack(const uint8_t *id, uint32_t version)
{
	struct tkey *k = key_find(id, version);

	if (k)
		*k = keys[--nkeys];
}

bool revoked_has(const uint8_t *id, uint32_t version)
{
	size_t i;

	for (i = 0; i < nrevoked; i++)
		if (!kid_cmp(revoked[i].id, revoked[i].version, id, version))
			return true;
	return false;
}

void revoked_add(const uint8_t *id, uint32_t version)
{
	if (revoked_has(id, version) || nrevoked >= ARRAY_SIZE(revoked))
		return;
	memcpy(revoked[nrevoked].id, id, HSMKEY_ID_LEN);
	revoked[nrevoked].version = version;
	nrevoked++;
}

/* A tracked key the fuzz may touch (never a pinned one), or NULL. */
struct tkey *key_pick(bool want_revoked)
{
	size_t i, start, n = nkeys;

	if (!n)
		return NULL;
	start = rnd((uint32_t)n);
	for (i = 0; i < n; i++) {
		struct tkey *k = &keys[(start + i) % n];

		if (id_pinned(k->id))
			continue;
		if (want_revoked && k->state != HSMKEY_STATE_REVOKED)
			continue;
		return k;
	}
	return NULL;
}

/*
 * HSMKEY_KEY_A_WRAPPED: nonce || AES-256-GCM(verifier || material) || tag
 * under the transport key, with (id, version, type) as associated data.
 */
int wrap_key(const uint8_t *id, uint32_t version, uint32_t type,
	     const uint8_t *plain, size_t plen, uint8_t *out)
{
	/* One context for the run: emulated CPUs make allocations dear. */
	static EVP_CIPHER_CTX *c;
	struct hsmkey_wrap_aad aad;
	int l = 0, l2 = 0, ok;

	if (!c)
		c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	memcpy(aad.key_id, id, HSMKEY_ID_LEN);
	aad.key_version = htonl(version);
	aad.key_type = htonl(type);
	rnd_bytes(out, HSMKEY_WRAP_NONCE_LEN);
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN,
				 HSMKEY_WRAP_NONCE_LEN, NULL) &&
	     EVP_EncryptInit_ex(c, NULL, NULL, transport_key, out) &&
	     EVP_EncryptUpdate(c, NULL, &l, (const uint8_t *)&aad,
			       sizeof(aad)) &&
	     EVP_EncryptUpdate(c, out + HSMKEY_WRAP_NONCE_LEN, &l, plain,
			       (int)plen) &&
	     EVP_EncryptFinal_ex(c, out + HSMKEY_WRAP_NONCE_LEN + l, &l2) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, HSMKEY_WRAP_TAG_LEN,
				 out + HSMKEY_WRAP_NONCE_LEN + plen);
	return ok ? 0 : -1;
}
