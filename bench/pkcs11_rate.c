// SPDX-License-Identifier: GPL-2.0
/*
 * pkcs11_rate MODULE TOKEN PIN_FILE [KEYS [REPS [BATCH [token]]]]: SoftHSM's
 * own rate for the calls of end-to-end delivery, made directly.
 *
 * Issue 12's goal for hsmkeyd's provisioning rate from an HSM is a ratio,
 * >= 0.90 of what the token itself does for the same work, measured in the
 * same run.  This is that baseline: one CKM_ECDH1_DERIVE (CKD_NULL) per
 * BATCH keys with a fixed kernel-side point, then per key the KEK derived
 * with CKM_AES_ECB_ENCRYPT_DATA over the context hash, C_WrapKey
 * (CKM_AES_KEY_WRAP) of a 64-byte CKK_GENERIC_SECRET key, and C_DestroyObject
 * of the KEK (issue 12 design, sections 2 and 11.1).  KEYS keys (default
 * 2000) per repetition, REPS repetitions (5), the median reported.
 *
 * With "token" the keys are what hsmkeyd wraps: token objects, KEYS of
 * them (one per key delivered, made on the first run and found by label
 * on later ones, untimed), and the EC key a token object too.  SoftHSM
 * re-reads a token object's file whenever it is used, so wrapping session
 * objects measures cheaper work than any daemon of token keys can do.
 *
 * So that it cannot measure wrong work, the kernel's side is played by
 * OpenSSL with the design's known-answer vector (section 2.4): the keys are
 * the vector's, one delivery must give its blob byte for byte, and every
 * blob of every repetition is unwrapped by OpenSSL under the KEK it derives
 * from its own ECDH secret and must give the key back.
 *
 * With PKCS11_RATE_MT=1 in the environment the process is made
 * multi-threaded first (a thread started and joined), as hsmkeyd's helper
 * is: glibc and libstdc++ then take their locked paths (malloc's arena
 * lock, atomic reference counts), which cost far more under TCG than
 * natively.  For the README's account of the ratio; the goal's baseline
 * runs without it.
 *
 * Prints "rep N RATE" per repetition and "median RATE" (keys/s) last; exit
 * 1 if any check fails, 2 on a usage or setup error.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include "p11_open.h"
#include "util.h"

#define POINT_LEN	65
#define MATERIAL_LEN	64
#define BLOB_LEN	(MATERIAL_LEN + 8)
#define TYPE_XTS_256	2	/* enum hsmkey_key_type: the vector's */

/* The design's known-answer vector (section 2.4). */
static const char VEC_DK[] = "24d121ebe5cf2d83f6621b6e43843aa38be086c32019da92505303e1c0eab882";
static const char VEC_DH[] = "76dbc0ad754ade3bb2ee4324e67253aa6d360aed3e3eea36c2af5b4d3a794c04";
static const char VEC_QK[] = "041a7feb5200bd3c317db670c186a6c7c43bc55f6c6f583cf5b66382773324a15f"
			     "6aca436ff77eff023708cc405e7afd6a6a026e4187683877faa944432def09df";
static const char VEC_QH[] = "04071886295f2ea29858d2060cf3a73d8a3565cfffc493f6adbc08b86b8000b32d"
			     "34ff30360c79a120c34518073985e5ed5cebd0707393d5c70fb0e3dd5361a4f1";
static const char VEC_Z[] = "7592ecccc0032b7ea01e86e328ab77ae47cd765bcd075744adf021a0c71c5410";
static const char VEC_BLOB[] = "3431ea4b6e57c0cf86bd4e9060bc8326663fbb2800c89e7d26fe039d7049354d"
			       "8e2504d7ec4750d38cb9874a7905023916726f9b1ca93e2328596dcc42b2ae36"
			       "40ec502d555fb940";
#define VEC_VERSION	3
#define DATA_LABEL	"pkcs11_rate data"
#define EC_LABEL	"pkcs11_rate ec"

/* The two sides' fixed inputs. */
struct setup {
	uint8_t dk[32], dh[32], qk[POINT_LEN], qh[POINT_LEN], z[32];
	uint8_t id[16], material[MATERIAL_LEN];
};

static CK_FUNCTION_LIST_PTR p11;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static void die(const char *what, unsigned long rv, int code)
{
	fprintf(stderr, "pkcs11_rate: %s", what);
	if (rv)
		fprintf(stderr, ": CK_RV 0x%lx", rv);
	fprintf(stderr, "\n");
	exit(code);
}

static void ck(const char *call, CK_RV rv)
{
	if (rv != CKR_OK)
		die(call, rv, 1);
}

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	if (hex_decode(hex, out, len))
		die("bad vector", 0, 2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- the kernel's side, by OpenSSL --- */

/* d·G and the x coordinate of d·Q, P-256, big endian. */
static void ec_mul(const uint8_t d[32], const uint8_t *peer, uint8_t point[POINT_LEN],
		   uint8_t x[32])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *bd = BN_bin2bn(d, 32, NULL), *bx = BN_new();
	EC_POINT *q = EC_POINT_new(g), *r = EC_POINT_new(g);
	BN_CTX *ctx = BN_CTX_new();
	int ok;

	ok = g && bd && bx && q && r && ctx;
	if (ok && peer)
		ok = EC_POINT_oct2point(g, q, peer, POINT_LEN, ctx) &&
		     EC_POINT_mul(g, r, NULL, q, bd, ctx) &&
		     EC_POINT_get_affine_coordinates(g, r, bx, NULL, ctx) &&
		     BN_bn2binpad(bx, x, 32) == 32;
	else if (ok)
		ok = EC_POINT_mul(g, r, bd, NULL, NULL, ctx) &&
		     EC_POINT_point2oct(g, r, POINT_CONVERSION_UNCOMPRESSED, point, POINT_LEN,
					ctx) == POINT_LEN;
	BN_clear_free(bd);
	BN_free(bx);
	EC_POINT_free(q);
	EC_POINT_clear_free(r);
	BN_CTX_free(ctx);
	EC_GROUP_free(g);
	if (!ok)
		die("OpenSSL EC arithmetic failed", 0, 1);
}

/* H = SHA-256("hsmkey e2e kek v1\0" || Qk || Qh || id || be32 version || be32 type) */
static void context_hash(const struct setup *st, uint32_t version, uint32_t type, uint8_t h[32])
{
	static const char label[] = "hsmkey e2e kek v1";
	uint8_t buf[sizeof(label) + 2 * POINT_LEN + 16 + 8], *q = buf;
	unsigned int n;

	memcpy(q, label, sizeof(label));
	q += sizeof(label);
	memcpy(q, st->qk, POINT_LEN);
	q += POINT_LEN;
	memcpy(q, st->qh, POINT_LEN);
	q += POINT_LEN;
	memcpy(q, st->id, 16);
	q += 16;
	for (int i = 3; i >= 0; i--)
		*q++ = (uint8_t)(version >> (8 * i));
	for (int i = 3; i >= 0; i--)
		*q++ = (uint8_t)(type >> (8 * i));
	if (!EVP_Digest(buf, sizeof(buf), h, &n, EVP_sha256(), NULL))
		die("SHA-256 failed", 0, 1);
}

/* Unwrap @blob under AES-256-ECB_Z(H(version)); 0 if it gives the material. */
static int openssl_check(const struct setup *st, uint32_t version, const uint8_t *blob)
{
	uint8_t h[32], kek[32], out[BLOB_LEN];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0, ok;

	context_hash(st, version, TYPE_XTS_256, h);
	ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, st->z, NULL) &&
	     EVP_CIPHER_CTX_set_padding(c, 0) && EVP_EncryptUpdate(c, kek, &n1, h, 32) &&
	     EVP_EncryptFinal_ex(c, kek + n1, &n2) && n1 + n2 == 32;
	if (ok) {
		EVP_CIPHER_CTX_reset(c);
		EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
		ok = EVP_DecryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) &&
		     EVP_DecryptUpdate(c, out, &n1, blob, BLOB_LEN) &&
		     EVP_DecryptFinal_ex(c, out + n1, &n2) && n1 + n2 == MATERIAL_LEN &&
		     !memcmp(out, st->material, MATERIAL_LEN);
	}
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* --- the HSM's side --- */

/* The vector's HSM key (derive only), in the session or (@token) the token. */
static CK_OBJECT_HANDLE ec_key(CK_SESSION_HANDLE s, struct setup *st, CK_BBOOL *token)
{
	static CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY;
	CK_KEY_TYPE ec = CKK_EC;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &pc, sizeof(pc) }, { CKA_KEY_TYPE, &ec, sizeof(ec) },
		{ CKA_EC_PARAMS, p256, sizeof(p256) }, { CKA_VALUE, st->dh, 32 },
		{ CKA_TOKEN, token, 1 }, { CKA_PRIVATE, &yes, 1 }, { CKA_SENSITIVE, &yes, 1 },
		{ CKA_EXTRACTABLE, &no, 1 }, { CKA_DERIVE, &yes, 1 },
		{ CKA_LABEL, (char *)EC_LABEL, sizeof(EC_LABEL) - 1 },
	};
	CK_OBJECT_HANDLE h;

	ck("C_CreateObject (EC key)", p11->C_CreateObject(s, t, 10, &h));
	return h;
}

/* The vector's data key (sensitive, extractable). */
static CK_OBJECT_HANDLE data_key(CK_SESSION_HANDLE s, struct setup *st, CK_BBOOL *token)
{
	CK_OBJECT_CLASS sc = CKO_SECRET_KEY;
	CK_KEY_TYPE gs = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &sc, sizeof(sc) }, { CKA_KEY_TYPE, &gs, sizeof(gs) },
		{ CKA_VALUE, st->material, MATERIAL_LEN }, { CKA_TOKEN, token, 1 },
		{ CKA_PRIVATE, &yes, 1 }, { CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &yes, 1 },
		{ CKA_LABEL, (char *)DATA_LABEL, sizeof(DATA_LABEL) - 1 },
	};
	CK_OBJECT_HANDLE h;

	ck("C_CreateObject (data key)", p11->C_CreateObject(s, t, 8, &h));
	return h;
}

/* Up to @max objects labelled @label, of an earlier run. */
static CK_ULONG find_labelled(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *h,
			      CK_ULONG max)
{
	CK_ATTRIBUTE t[] = { { CKA_LABEL, (char *)label, strlen(label) } };
	CK_ULONG n = 0;

	ck("C_FindObjectsInit", p11->C_FindObjectsInit(s, t, 1));
	ck("C_FindObjects", p11->C_FindObjects(s, h, max, &n));
	ck("C_FindObjectsFinal", p11->C_FindObjectsFinal(s));
	return n;
}

/*
 * The token's keys: @n data keys (all with the vector's material) and the
 * EC key, those an earlier run left found, the others made.
 */
static void token_keys(CK_SESSION_HANDLE s, struct setup *st, CK_OBJECT_HANDLE *priv,
		       CK_OBJECT_HANDLE *data, unsigned int n)
{
	CK_OBJECT_HANDLE ec[2];
	CK_ULONG have = find_labelled(s, DATA_LABEL, data, n);

	for (; have < n; have++)
		data[have] = data_key(s, st, &yes);
	switch (find_labelled(s, EC_LABEL, ec, 2)) {
	case 0:
		ec[0] = ec_key(s, st, &yes);
		break;
	case 1:
		break;
	default:
		die("more than one " EC_LABEL " in the token", 0, 2);
	}
	*priv = ec[0];
}

/* Z from ECDH with the kernel's point: a non-extractable AES-256 derivation base. */
static CK_OBJECT_HANDLE hsm_ecdh(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, struct setup *st)
{
	CK_ECDH1_DERIVE_PARAMS prm = {
		.kdf = CKD_NULL, .public_data_len = POINT_LEN, .public_data = st->qk,
	};
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &prm, sizeof(prm) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, 1 },
		{ CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &no, 1 }, { CKA_DERIVE, &yes, 1 },
		{ CKA_ENCRYPT, &no, 1 }, { CKA_WRAP, &no, 1 },
	};
	CK_OBJECT_HANDLE z;

	ck("C_DeriveKey (ECDH1)", p11->C_DeriveKey(s, &mech, priv, t, 9, &z));
	return z;
}

/* One key's delivery: KEK = AES-256-ECB_Z(H), wrap, destroy the KEK. */
static void hsm_deliver(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE z, CK_OBJECT_HANDLE data,
			const struct setup *st, uint32_t version, uint8_t blob[BLOB_LEN])
{
	uint8_t h[32];
	CK_KEY_DERIVATION_STRING_DATA d = { h, sizeof(h) };
	CK_MECHANISM derive = { CKM_AES_ECB_ENCRYPT_DATA, &d, sizeof(d) };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32, blen = BLOB_LEN;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, 1 },
		{ CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &no, 1 }, { CKA_WRAP, &yes, 1 },
		{ CKA_UNWRAP, &no, 1 }, { CKA_ENCRYPT, &no, 1 }, { CKA_DECRYPT, &no, 1 },
		{ CKA_DERIVE, &no, 1 },
	};
	CK_OBJECT_HANDLE kek;

	context_hash(st, version, TYPE_XTS_256, h);
	ck("C_DeriveKey (AES_ECB_ENCRYPT_DATA)", p11->C_DeriveKey(s, &derive, z, t, 11, &kek));
	ck("C_WrapKey", p11->C_WrapKey(s, &kw, kek, data, blob, &blen));
	ck("C_DestroyObject", p11->C_DestroyObject(s, kek));
	if (blen != BLOB_LEN)
		die("C_WrapKey gave a blob of the wrong length", 0, 1);
}

/* One repetition, timed: @n keys, versions @first.., a new Z every @batch keys. */
static double repetition(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
			 const CK_OBJECT_HANDLE *data, unsigned int ndata, struct setup *st,
			 unsigned int n, unsigned int batch, uint32_t first, uint8_t *blobs)
{
	CK_OBJECT_HANDLE z = CK_INVALID_HANDLE;
	double t0 = now();

	for (unsigned int i = 0; i < n; i++) {
		if (i % batch == 0) {
			if (z != CK_INVALID_HANDLE)
				ck("C_DestroyObject (Z)", p11->C_DestroyObject(s, z));
			z = hsm_ecdh(s, priv, st);
		}
		hsm_deliver(s, z, data[i % ndata], st, first + i, blobs + (size_t)i * BLOB_LEN);
	}
	ck("C_DestroyObject (Z)", p11->C_DestroyObject(s, z));
	return n / (now() - t0);
}

static void setup_vector(struct setup *st)
{
	uint8_t qk[POINT_LEN], qh[POINT_LEN], z[32];

	unhex(VEC_DK, st->dk, 32);
	unhex(VEC_DH, st->dh, 32);
	unhex(VEC_QK, qk, POINT_LEN);
	unhex(VEC_QH, qh, POINT_LEN);
	unhex(VEC_Z, z, 32);
	for (int i = 0; i < 16; i++)
		st->id[i] = (uint8_t)i;
	for (int i = 0; i < MATERIAL_LEN; i++)
		st->material[i] = (uint8_t)(0x40 + i);
	ec_mul(st->dk, NULL, st->qk, NULL);
	ec_mul(st->dh, NULL, st->qh, NULL);
	ec_mul(st->dk, st->qh, NULL, st->z);
	if (memcmp(qk, st->qk, POINT_LEN) || memcmp(qh, st->qh, POINT_LEN) ||
	    memcmp(z, st->z, 32))
		die("OpenSSL does not reproduce the vector's points and Z", 0, 1);
}

static void *no_work(void *arg)
{
	return arg;
}

/* Leave glibc's single-threaded mode for good (PKCS11_RATE_MT). */
static void go_multithreaded(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, no_work, NULL) || pthread_join(t, NULL))
		die("cannot start a thread", 0, 2);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	unsigned int keys = argc > 4 ? strtoul(argv[4], NULL, 10) : 2000;
	unsigned int reps = argc > 5 ? strtoul(argv[5], NULL, 10) : 5;
	unsigned int batch = argc > 6 ? strtoul(argv[6], NULL, 10) : keys, bad = 0;
	bool token = argc > 7 && !strcmp(argv[7], "token");
	unsigned int ndata = token ? keys : 1;
	CK_OBJECT_HANDLE priv, *data, z;
	uint8_t vec[BLOB_LEN], *blobs;
	struct setup st;
	CK_SESSION_HANDLE s;
	double rate[64];
	int err;

	if (argc < 4 || argc > 8 || !keys || !reps || reps > 64 || !batch ||
	    (argc > 7 && !token)) {
		fprintf(stderr, "usage: pkcs11_rate MODULE TOKEN PIN_FILE [KEYS [REPS [BATCH [token]]]]\n");
		return 2;
	}
	blobs = calloc(keys, BLOB_LEN);
	data = calloc(ndata, sizeof(*data));
	if (!blobs || !data)
		die("out of memory", 0, 2);
	setup_vector(&st);
	if (getenv("PKCS11_RATE_MT"))
		go_multithreaded();
	err = p11_open(argv[1], argv[2], argv[3], &p11, &s);
	if (err)
		return err == -EIO ? 1 : 2;
	if (token) {
		token_keys(s, &st, &priv, data, ndata);
	} else {
		priv = ec_key(s, &st, &no);
		data[0] = data_key(s, &st, &no);
	}
	/* The known answer first: SoftHSM's blob for the vector, byte for byte. */
	z = hsm_ecdh(s, priv, &st);
	hsm_deliver(s, z, data[0], &st, VEC_VERSION, blobs);
	ck("C_DestroyObject (Z)", p11->C_DestroyObject(s, z));
	unhex(VEC_BLOB, vec, BLOB_LEN);
	if (memcmp(blobs, vec, BLOB_LEN))
		die("SoftHSM's blob for the known-answer vector differs", 0, 1);
	printf("known answer: the vector's blob, byte for byte\n");
	for (unsigned int r = 0; r < reps; r++) {
		uint32_t first = 1000 + r * keys;

		rate[r] = repetition(s, priv, data, ndata, &st, keys, batch, first, blobs);
		for (unsigned int i = 0; i < keys; i++)
			bad += !!openssl_check(&st, first + i, blobs + (size_t)i * BLOB_LEN);
		/* The check tells versions apart: a blob is bound to its own. */
		if (!openssl_check(&st, first + 1, blobs))
			die("a blob unwrapped under another version's KEK", 0, 1);
		printf("rep %u %.0f\n", r + 1, rate[r]);
		fflush(stdout);
	}
	printf("checked %u blobs: %u did not unwrap (OpenSSL) to the key\n", keys * reps, bad);
	qsort(rate, reps, sizeof(rate[0]), cmp_double);
	printf("median %.0f\n",
	       reps % 2 ? rate[reps / 2] : (rate[reps / 2 - 1] + rate[reps / 2]) / 2);
	p11->C_Logout(s);
	p11->C_Finalize(NULL);
	free(blobs);
	free(data);
	return bad ? 1 : 0;
}
