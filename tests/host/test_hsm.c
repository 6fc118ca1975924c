// SPDX-License-Identifier: GPL-2.0
/*
 * daemon/pkcs11/hsm.h against real SoftHSM2 tokens, with PyKCS11
 * (tests/lib/softhsm.sh) as the independent client that plants and counts
 * objects, and OpenSSL as the reference for the crypto: the §2.4 known
 * answer, unwrapping by the kernel's side of the KDF, adoption, MACs,
 * signatures, the rollback anchor, PIN and token failures, a helper killed
 * or stopped, threads, and the wrap rate beside the module in-process.
 * This binary is also the helper (/proc/self/exe --pkcs11-helper FD).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include "pkcs11/hsm.h"
#include "pkcs11/helper.h"
#include "util.h"

static int tap_n, tap_failed;
static char dir[64], lib[4200], pin_path[96];

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!cond)
		printf(" (hsm_error: %s)", hsm_error());
	printf("\n");
	fflush(stdout);
	tap_failed += !cond;
}

/* A command with tests/lib/softhsm.sh sourced; its output as a number. */
static long sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long sh(const char *fmt, ...)
{
	char cmd[4096], out[64] = "";
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	setenv("HSMT_CMD", cmd, 1);
	f = popen("bash -c 'source \"$HSMT_LIB\" && eval \"$HSMT_CMD\"'", "r");
	if (!f)
		return -1;
	if (!fgets(out, sizeof(out), f))
		out[0] = 0;
	if (pclose(f))
		return -1;
	return out[0] ? strtol(out, NULL, 10) : 0;
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
	hex_decode(s, out, n);
}

static struct hsm *open_token(const char *token, const char *pin_file, unsigned int timeout,
			      bool in_process)
{
	char uri[128], module[] = "/usr/lib/softhsm/libsofthsm2.so";
	struct hsm_config cfg = {
		.module = module, .token = uri, .pin_file = pin_file, .timeout_ms = timeout,
		.in_process = in_process,
	};
	struct hsm *h = NULL;
	int r;

	snprintf(uri, sizeof(uri), "pkcs11:token=%s", token);
	r = hsm_open(&cfg, &h);
	if (r)
		printf("# hsm_open %s: %d %s\n", token, r, hsm_error());
	return r ? NULL : h;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void id_of(uint8_t id[HSMKEY_ID_LEN], unsigned int n)
{
	memset(id, 0xa5, HSMKEY_ID_LEN);
	id[0] = n >> 8;
	id[1] = n;
}

static void vid_hex(const uint8_t *id, uint32_t version, char out[41])
{
	uint8_t v[20];

	memcpy(v, id, 16);
	v[16] = version >> 24, v[17] = version >> 16, v[18] = version >> 8, v[19] = version;
	hex_encode(v, 20, out);
}

/* ---- OpenSSL: the kernel's side of design §2.3 ---- */

static EVP_PKEY *point_key(const uint8_t *point)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	OSSL_PARAM *p;

	OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
	OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, HSM_POINT_LEN);
	p = OSSL_PARAM_BLD_to_param(b);
	if (EVP_PKEY_fromdata_init(c) <= 0 || EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p) <= 0)
		k = NULL;
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	return k;
}

struct kernel_key {
	EVP_PKEY *k;
	uint8_t point[HSM_POINT_LEN];
};

static void kernel_key_new(struct kernel_key *kk)
{
	size_t len = 0;

	kk->k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY_get_octet_string_param(kk->k, OSSL_PKEY_PARAM_PUB_KEY, kk->point,
					sizeof(kk->point), &len);
}

/* Unwrap @w as the kernel would: 0 and the material in @out, or -1. */
static int kernel_unwrap(struct kernel_key *kk, const uint8_t *hpoint, const uint8_t *id,
			 uint32_t version, uint32_t type, const struct hsm_wrapped *w,
			 uint8_t *out)
{
	uint8_t z[32], ctx[172], h[32], kek[32], *c = ctx;
	EVP_PKEY *peer = point_key(hpoint);
	EVP_PKEY_CTX *d = EVP_PKEY_CTX_new(kk->k, NULL);
	EVP_CIPHER_CTX *e;
	size_t zlen = sizeof(z);
	int n = 0, m = 0, ok1;
	unsigned int hl;

	ok1 = peer && EVP_PKEY_derive_init(d) > 0 && EVP_PKEY_derive_set_peer(d, peer) > 0 &&
	      EVP_PKEY_derive(d, z, &zlen) > 0 && zlen == 32;
	EVP_PKEY_CTX_free(d);
	EVP_PKEY_free(peer);
	if (!ok1)
		return -1;
	memcpy(c, "hsmkey e2e kek v1", 18), c += 18;
	memcpy(c, kk->point, 65), c += 65;
	memcpy(c, hpoint, 65), c += 65;
	memcpy(c, id, 16), c += 16;
	*c++ = version >> 24, *c++ = version >> 16, *c++ = version >> 8, *c++ = version;
	*c++ = type >> 24, *c++ = type >> 16, *c++ = type >> 8, *c++ = type;
	EVP_Digest(ctx, sizeof(ctx), h, &hl, EVP_sha256(), NULL);
	e = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(e, EVP_aes_256_ecb(), NULL, z, NULL);
	EVP_CIPHER_CTX_set_padding(e, 0);
	EVP_EncryptUpdate(e, kek, &n, h, 32);
	EVP_CIPHER_CTX_free(e);
	e = EVP_CIPHER_CTX_new();
	EVP_CIPHER_CTX_set_flags(e, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok1 = EVP_DecryptInit_ex(e, EVP_aes_256_wrap(), NULL, kek, NULL) > 0 &&
	      EVP_DecryptUpdate(e, out, &n, w->blob, w->len) > 0 &&
	      EVP_DecryptFinal_ex(e, out + n, &m) > 0;
	EVP_CIPHER_CTX_free(e);
	return ok1 && n + m == (int)w->len - 8 ? 0 : -1;
}

/* ---- the cases ---- */

static void test_names(struct hsm *h)
{
	uint8_t id[16], in1[16], in2[16];
	char vid[41];
	int r;

	ok(hsm_state(h, NULL, 0) == HSM_UP && !strcmp(hsm_label(h), "t1"), "t1 is up, label %s",
	   hsm_label(h));
	ok(!hsm_instance(h, in1) && !hsm_instance(h, in2) && !memcmp(in1, in2, 16),
	   "instance id is stable");
	ok(sh("softhsm_count_label t1 hsmkey:instance") == 1 &&
	   sh("softhsm_count_label t1 hsmkey:record") == 1 &&
	   sh("softhsm_count_label t1 hsmkey:root") == 1 &&
	   sh("softhsm_count_label t1 hsmkey:delivery") == 2 &&
	   sh("softhsm_count_label t1 hsmkey:audit") == 2, "hsm_open made the hsmkey:* objects");

	id_of(id, 1);
	vid_hex(id, 7, vid);
	r = hsm_key_generate(h, id, 7, HSMKEY_TYPE_AES_256_XTS, "disk");
	ok(!r, "generate an XTS-256 key version: %d", r);
	ok(!hsm_key_find(h, id, 7), "find it");
	ok(hsm_key_find(h, id, 8) == -ENOENT, "version 8 is not there: -ENOENT");
	ok(hsm_key_generate(h, id, 7, HSMKEY_TYPE_AES_256_XTS, "disk") == -EEXIST,
	   "generate the same version again: -EEXIST");
	ok(sh("softhsm_count_id t1 %s", vid) == 1 && sh("softhsm_count_label t1 hsmkey:disk:v7") == 1,
	   "PyKCS11 sees one object with its CKA_ID and label hsmkey:disk:v7");
	ok(sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, \"hsmkey:disk:v7\")])[0]\n"
	      "a = s.getAttributeValue(o, [P.CKA_KEY_TYPE, P.CKA_VALUE_LEN, P.CKA_SENSITIVE, "
	      "P.CKA_EXTRACTABLE, P.CKA_ENCRYPT, P.CKA_WRAP, P.CKA_DERIVE, P.CKA_TOKEN, "
	      "P.CKA_PRIVATE])\n"
	      "print(int(a == [P.CKK_GENERIC_SECRET, 64, True, True, False, False, False, True, "
	      "True]))'") == 1,
	   "its attributes: GENERIC_SECRET 64, sensitive, extractable, no use, token, private");
	r = hsm_key_generate(h, id, 9, HSMKEY_TYPE_AES_128_GCM, "disk");
	ok(!r && sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, \"hsmkey:disk:v9\")])[0]\n"
		    "print(int(s.getAttributeValue(o, [P.CKA_KEY_TYPE, P.CKA_VALUE_LEN]) == "
		    "[P.CKK_AES, 16]))'") == 1, "an AES-128 version is CKK_AES of 16 bytes");
	ok(!hsm_key_destroy(h, id, 7), "destroy version 7");
	ok(hsm_key_find(h, id, 7) == -ENOENT && hsm_key_destroy(h, id, 7) == -ENOENT,
	   "then find and destroy: -ENOENT");
	ok(sh("softhsm_count_id t1 %s", vid) == 0, "PyKCS11 finds no object with its CKA_ID");
	ok(!hsm_key_find(h, id, 9), "version 9 is still there");
}

static void test_secrets(struct hsm *h, struct hsm *h2)
{
	uint8_t m1[32], m2[32], m3[32], m4[32], d1[64], d2[64], d3[16], sig[64], pub[32];
	static const char msg[] = "record of key disk, generation 4";
	EVP_PKEY *k;
	EVP_MD_CTX *c;
	int v;

	ok(!hsm_mac(h, msg, sizeof(msg), m1) && !hsm_mac(h, msg, sizeof(msg), m2) &&
	   !memcmp(m1, m2, 32), "hsm_mac is deterministic");
	ok(!hsm_mac(h, msg, sizeof(msg) - 1, m3) && memcmp(m1, m3, 32),
	   "another message, another MAC");
	ok(!hsm_mac(h2, msg, sizeof(msg), m4) && memcmp(m1, m4, 32),
	   "another token, another MAC (its own hsmkey:record)");
	ok(!hsm_derive(h, "audit mac", d1, 64) && !hsm_derive(h, "audit mac", d2, 64) &&
	   !memcmp(d1, d2, 64) && !hsm_derive(h, "audit mac", d3, 16) && !memcmp(d1, d3, 16),
	   "hsm_derive is deterministic, shorter output is its prefix");
	ok(!hsm_derive(h, "verifier", d2, 64) && memcmp(d1, d2, 64) && memcmp(d1, m1, 32),
	   "another label, another secret (and not the record MAC)");
	ok(hsm_derive(h, "x", d1, 65) == -EINVAL, "derive 65 bytes: -EINVAL");
	ok(!hsm_sign(h, msg, sizeof(msg), sig, pub), "hsm_sign");
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	c = EVP_MD_CTX_new();
	v = k && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) > 0 &&
	    EVP_DigestVerify(c, sig, 64, (const uint8_t *)msg, sizeof(msg)) == 1;
	ok(v, "OpenSSL verifies the Ed25519 signature with the returned key");
	EVP_MD_CTX_free(c);
	c = EVP_MD_CTX_new();
	sig[5] ^= 1;
	v = k && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) > 0 &&
	    EVP_DigestVerify(c, sig, 64, (const uint8_t *)msg, sizeof(msg)) == 1;
	ok(!v, "a flipped signature does not verify");
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
}

static void test_anchor(struct hsm *h)
{
	uint8_t buf[HSM_ANCHOR_MAX];
	size_t len = sizeof(buf);
	uint64_t n = 0;

	ok(hsm_anchor_load(h, &n, buf, &len) == -ENOENT, "no anchor yet: -ENOENT");
	ok(!hsm_anchor_store(h, 1, "one", 3) && !hsm_anchor_store(h, 2, "two!", 4), "store 1, 2");
	len = sizeof(buf);
	ok(!hsm_anchor_load(h, &n, buf, &len) && n == 2 && len == 4 && !memcmp(buf, "two!", 4),
	   "load gives 2");
	ok(hsm_anchor_store(h, 2, "dup", 3) == -EEXIST, "store 2 again: -EEXIST");
	ok(sh("softhsm_count_label t1 hsmkey:anchor:1") == 0 &&
	   sh("softhsm_count_label t1 hsmkey:anchor:2") == 1, "the older anchor was removed");
	/* A crash between making 5 and removing 2 leaves both. */
	sh("softhsm_py t1 <<< 's.createObject([(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, True), "
	   "(P.CKA_PRIVATE, True), (P.CKA_APPLICATION, \"hsmkey anchor\"), "
	   "(P.CKA_LABEL, \"hsmkey:anchor:5\"), (P.CKA_VALUE, b\"five\")])'");
	len = sizeof(buf);
	ok(!hsm_anchor_load(h, &n, buf, &len) && n == 5 && len == 4 && !memcmp(buf, "five", 4),
	   "two anchors left by a crash: the highest wins");
	ok(hsm_anchor_store(h, 4, "x", 1) == -EEXIST && !hsm_anchor_store(h, 6, "six", 3),
	   "store 4 refused, 6 taken");
	ok(sh("softhsm_count_label t1 hsmkey:anchor:2") == 0 &&
	   sh("softhsm_count_label t1 hsmkey:anchor:5") == 0 &&
	   sh("softhsm_count_label t1 hsmkey:anchor:6") == 1, "6 replaced both");
}

/* The §2.4 vector: the HSM's delivery key planted before hsm_open. */
static void test_kat(void)
{
	static const char dh[] = "76dbc0ad754ade3bb2ee4324e67253aa6d360aed3e3eea36c2af5b4d3a794c04";
	static const char qk[] = "041a7feb5200bd3c317db670c186a6c7c43bc55f6c6f583cf5b66382773324a15f"
				 "6aca436ff77eff023708cc405e7afd6a6a026e4187683877faa944432def09df";
	static const char qh[] = "04071886295f2ea29858d2060cf3a73d8a3565cfffc493f6adbc08b86b8000b32d"
				 "34ff30360c79a120c34518073985e5ed5cebd0707393d5c70fb0e3dd5361a4f1";
	static const char blob[] = "3431ea4b6e57c0cf86bd4e9060bc8326663fbb2800c89e7d26fe039d7049354d"
				   "8e2504d7ec4750d38cb9874a7905023916726f9b1ca93e2328596dcc42b2ae36"
				   "40ec502d555fb940";
	uint8_t kpt[65], hpt[65], want_h[65], want[72], mat[64];
	struct hsm_wrap_req q = { .version = 3, .type = HSMKEY_TYPE_AES_256_XTS };
	struct hsm_wrapped w;
	struct hsm *h;
	int i, r;

	sh("softhsm_token kat && softhsm_py kat <<< 'p256 = bytes.fromhex(\"06082a8648ce3d030107\")\n"
	   "s.createObject([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_EC), "
	   "(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True), "
	   "(P.CKA_EXTRACTABLE, False), (P.CKA_DERIVE, True), (P.CKA_LABEL, \"hsmkey:delivery\"), "
	   "(P.CKA_EC_PARAMS, p256), (P.CKA_VALUE, bytes.fromhex(\"%s\"))])\n"
	   "s.createObject([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_KEY_TYPE, P.CKK_EC), "
	   "(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_LABEL, \"hsmkey:delivery\"), "
	   "(P.CKA_EC_PARAMS, p256), (P.CKA_EC_POINT, bytes.fromhex(\"0441%s\"))])'", dh, qh);
	unhex(qk, kpt, 65);
	unhex(qh, want_h, 65);
	unhex(blob, want, 72);
	unhex("000102030405060708090a0b0c0d0e0f", q.id, 16);
	for (i = 0; i < 64; i++)
		mat[i] = 0x40 + i;
	h = open_token("kat", pin_path, 0, false);
	ok(h != NULL, "open the KAT token (its delivery key planted by PyKCS11)");
	if (!h)
		return;
	r = h ? hsm_key_import(h, q.id, 3, HSMKEY_TYPE_AES_256_XTS, "kat", mat) : -1;
	ok(!r, "import the vector's material 40..7f as version 3: %d", r);
	r = h ? hsm_wrap_for_kernel(h, kpt, &q, 1, hpt, &w) : -1;
	ok(!r && !memcmp(hpt, want_h, 65), "hpoint is the vector's Qh");
	ok(!r && w.len == 72 && !memcmp(w.blob, want, 72),
	   "hsm_wrap_for_kernel gives the §2.4 blob byte for byte");
	q.version = 4;
	ok(h && hsm_wrap_for_kernel(h, kpt, &q, 1, hpt, &w) == -ENOENT,
	   "a version the token lacks: -ENOENT");
	hsm_close(h);
}

/* Known material through the token and back out by the kernel's KDF. */
static void test_roundtrip(struct hsm *h)
{
	static const int types[] = { HSMKEY_TYPE_AES_128_CBC, HSMKEY_TYPE_AES_256_GCM,
				     HSMKEY_TYPE_AES_256_XTS };
	struct hsm_wrap_req q[3];
	struct hsm_wrapped w[3];
	struct kernel_key kk;
	uint8_t mat[3][64], out[72], hpt[65];
	int i, r;

	kernel_key_new(&kk);
	for (i = 0; i < 3; i++) {
		id_of(q[i].id, 100 + i);
		q[i].version = 1;
		q[i].type = types[i];
		memset(mat[i], 0x11 * (i + 1), 64);
		mat[i][0] = i;
		r = hsm_key_import(h, q[i].id, 1, types[i], "rt", mat[i]);
		if (r)
			break;
	}
	ok(!r, "import keys of 16, 32 and 64 bytes");
	r = hsm_wrap_for_kernel(h, kk.point, q, 3, hpt, w);
	ok(!r, "wrap the three in one batch: %d", r);
	for (i = 0; i < 3 && !r; i++) {
		unsigned int len = key_type_len(types[i]);

		ok(w[i].len == len + 8 && !kernel_unwrap(&kk, hpt, q[i].id, 1, types[i], &w[i], out) &&
		   !memcmp(out, mat[i], len), "OpenSSL as the kernel unwraps %u bytes: the material",
		   len);
		ok(kernel_unwrap(&kk, hpt, q[i].id, 2, types[i], &w[i], out),
		   "under the KEK for another version (%u bytes) it does not unwrap", len);
	}
	q[0].type = HSMKEY_TYPE_AES_256_CBC;
	ok(hsm_wrap_for_kernel(h, kk.point, q, 1, hpt, w) == -EMEDIUMTYPE,
	   "a 16-byte key asked for as AES-256: -EMEDIUMTYPE");
	kk.point[0] = 0x05;
	q[0].type = HSMKEY_TYPE_AES_128_CBC;
	ok(hsm_wrap_for_kernel(h, kk.point, q, 1, hpt, w) == -EINVAL, "a point with 0x05: -EINVAL");
	EVP_PKEY_free(kk.k);
}

/* What adoption must refuse: the keys test_adopt puts in the token, by label. */
static const struct adopt_refusal {
	const char *label;
	int type, err;
	const char *said;	/* in hsm_error(), if not NULL */
	const char *name;
} refusals[] = {
	{ "short", HSMKEY_TYPE_AES_256_XTS, -EMEDIUMTYPE, NULL,
	  "a 16-byte AES key as XTS-256: -EMEDIUMTYPE" },
	{ "short", HSMKEY_TYPE_AES_256_CBC, -EMEDIUMTYPE, NULL,
	  "a 16-byte AES key as AES-256: -EMEDIUMTYPE" },
	{ "locked", HSMKEY_TYPE_AES_256_XTS, -EMEDIUMTYPE, "not extractable",
	  "a key that is not extractable: -EMEDIUMTYPE, said so" },
	{ "nothing", HSMKEY_TYPE_AES_256_XTS, -ENOENT, NULL, "no such label: -ENOENT" },
};

static void test_adopt(struct hsm *h)
{
	static const char value[] = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"
				    "f0e1d2c3b4a5968778695a4b3c2d1e0f0f1e2d3c4b5a69788796a5b4c3d2e1f0";
	struct hsm_wrap_req q = { .version = 1, .type = HSMKEY_TYPE_AES_256_XTS };
	struct hsm_wrapped w;
	struct kernel_key kk;
	uint8_t want[64], out[72], hpt[65];
	bool readable = false;
	int r;

	unhex(value, want, 64);
	id_of(q.id, 200);
	sh("softhsm_secret t1 ceremony generic %s 1 0", value);
	sh("softhsm_secret t1 short aes 00112233445566778899aabbccddeeff 1 1");
	sh("softhsm_secret t1 locked generic %s 0 1", value);
	r = hsm_key_adopt(h, "ceremony", q.id, 1, HSMKEY_TYPE_AES_256_XTS, "adopted", &readable);
	ok(!r && readable, "adopt a readable 64-byte key made by PyKCS11: %d, was readable", r);
	ok(sh("softhsm_count_label t1 hsmkey:adopted:v1") == 1 &&
	   sh("softhsm_count_label t1 ceremony") == 0, "it is renamed hsmkey:adopted:v1");
	ok(sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, \"hsmkey:adopted:v1\")])[0]\n"
	      "print(int(s.getAttributeValue(o, [P.CKA_SENSITIVE])[0] == True))'") == 1,
	   "and now sensitive");
	kernel_key_new(&kk);
	r = hsm_wrap_for_kernel(h, kk.point, &q, 1, hpt, &w);
	ok(!r && !kernel_unwrap(&kk, hpt, q.id, 1, q.type, &w, out) && !memcmp(out, want, 64),
	   "its delivery blob unwraps to the value PyKCS11 gave it");
	EVP_PKEY_free(kk.k);
	id_of(q.id, 201);
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
		const struct adopt_refusal *c = &refusals[i];

		r = hsm_key_adopt(h, c->label, q.id, 1, c->type, "x", &readable);
		ok(r == c->err && (!c->said || strstr(hsm_error(), c->said)), "%s", c->name);
	}
	ok(!hsm_key_adopt(h, "short", q.id, 1, HSMKEY_TYPE_AES_128_CBC, "small", &readable) &&
	   !readable, "a sensitive AES-128 key as AES-128: adopted, was not readable");
}

static int count_children(void)
{
	char path[300], buf[512], *p;
	struct dirent *e;
	int n = 0, ppid;
	DIR *d = opendir("/proc");
	FILE *f;

	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* The pid of a child of ours other than @other: a helper. */
static pid_t helper_pid(pid_t other)
{
	char path[300], buf[512], *p;
	struct dirent *e;
	pid_t pid = 0;
	int ppid;
	DIR *d = opendir("/proc");
	FILE *f;

	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid() &&
		    atoi(e->d_name) != other)
			pid = atoi(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f && fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		st = p[2];
	if (f)
		fclose(f);
	return st;
}

static int count_fds(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && (e = readdir(d)))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void test_pin(void)
{
	char bad[96], why[256];
	int children = count_children(), i;
	uint8_t inst[16];
	struct hsm *h;

	sh("softhsm_token pinned 1234");
	snprintf(bad, sizeof(bad), "%s/badpin", dir);
	sh("softhsm_pin_file %s 9999", bad);
	h = open_token("pinned", bad, 0, false);
	ok(h && hsm_state(h, why, sizeof(why)) == HSM_BAD_PIN, "wrong PIN: HSM_BAD_PIN (%s)",
	   h ? why : "");
	ok(h && hsm_instance(h, inst) == -EACCES && strstr(hsm_error(), "PIN"),
	   "a call: -EACCES, saying PIN: %s", hsm_error());
	ok(sh("softhsm_count_label pinned hsmkey:instance") == 0 &&
	   sh("softhsm_count_label pinned hsmkey:record") == 0, "nothing was made in the token");
	sleep(2);
	ok(h && hsm_state(h, NULL, 0) == HSM_BAD_PIN && count_children() == children,
	   "no new helper without hsm_retry()");
	sh("softhsm_pin_file %s 1234", bad);
	if (h)
		hsm_retry(h);
	for (i = 0; h && i < 50 && hsm_state(h, NULL, 0) != HSM_UP; i++)
		usleep(100000);
	ok(h && hsm_state(h, NULL, 0) == HSM_UP && !hsm_instance(h, inst),
	   "the PIN file fixed and hsm_retry(): up");
	hsm_close(h);
	snprintf(bad, sizeof(bad), "%s/nopin", dir);
	h = open_token("pinned", bad, 0, false);
	ok(h && hsm_state(h, why, sizeof(why)) == HSM_BAD_PIN && hsm_instance(h, inst) == -EACCES,
	   "PIN file missing: -EACCES (%s)", h ? why : "");
	hsm_close(h);
	unsetenv("CREDENTIALS_DIRECTORY");
	h = open_token("pinned", NULL, 0, false);
	ok(h && hsm_instance(h, inst) == -EACCES, "no pin_file, no $CREDENTIALS_DIRECTORY: -EACCES");
	hsm_close(h);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	sh("softhsm_pin_file %s/pkcs11-pin 1234", dir);
	h = open_token("pinned", NULL, 0, false);
	ok(h && !hsm_instance(h, inst), "the PIN from $CREDENTIALS_DIRECTORY/pkcs11-pin");
	hsm_close(h);
}

static void test_down(void)
{
	uint8_t inst[16];
	char why[256];
	struct hsm *h;
	double t0;
	int r = -1;

	h = open_token("later", pin_path, 0, false);
	ok(h && hsm_state(h, why, sizeof(why)) == HSM_DOWN, "no token 'later': opens, HSM_DOWN (%s)",
	   h ? why : "");
	ok(h && hsm_instance(h, inst) == -EHOSTDOWN && strstr(hsm_error(), "since"),
	   "a call: -EHOSTDOWN at once: %s", hsm_error());
	sh("softhsm_token later");
	t0 = now_s();
	while (h && now_s() - t0 < 10 && (r = hsm_instance(h, inst)))
		usleep(100000);
	ok(!r, "the token made: calls succeed after %.1f s without reopening", now_s() - t0);
	hsm_close(h);
}

/*
 * The deadline of the stopped-helper case: generous, so that no call of a
 * helper that runs misses it on a loaded machine (the full host suite
 * beside a guest), and the timing asserted within it and a margin.
 */
#define KILL_DEADLINE_MS	3000
#define KILL_MARGIN_S		3.0

static void test_kill(void)
{
	int fds, r, i, children;
	uint8_t inst[16];
	struct hsm *h;
	pid_t other, pid, pid2;
	double t0, took;
	char why[256];

	other = helper_pid(0);		/* t1's, open all along */
	children = count_children();
	h = open_token("t2", pin_path, KILL_DEADLINE_MS, false);
	if (!h)
		return;
	hsm_instance(h, inst);
	fds = count_fds();
	pid = helper_pid(other);
	ok(pid > 0 && count_children() == children + 1, "one helper more (%d)", pid);
	kill(pid, SIGKILL);
	usleep(100000);
	r = hsm_instance(h, inst);
	ok(r == -EHOSTDOWN || !r, "after SIGKILL the next call: %d", r);
	t0 = now_s();
	while (now_s() - t0 < 5 && (r = hsm_instance(h, inst)))
		usleep(100000);
	pid2 = helper_pid(other);
	ok(!r && pid2 != pid && count_children() == children + 1, "respawned (%d) in %.1f s", pid2,
	   now_s() - t0);
	ok(count_fds() <= fds, "no descriptor leaked (%d, was %d)", count_fds(), fds);

	kill(pid2, SIGSTOP);
	/* A stop is asynchronous: the helper could answer one more call. */
	for (i = 0; i < 500 && proc_state(pid2) != 'T'; i++)
		usleep(10000);
	/* Said with a failure: whether the helper was stopped, the token up. */
	snprintf(why, sizeof(why), "state %c, token ", proc_state(pid2) ?: '-');
	hsm_state(h, why + strlen(why), sizeof(why) - strlen(why));
	t0 = now_s();
	r = hsm_instance(h, inst);
	took = now_s() - t0;
	ok(r == -ETIMEDOUT && took >= KILL_DEADLINE_MS / 1000.0 - 0.01 &&
	   took < KILL_DEADLINE_MS / 1000.0 + KILL_MARGIN_S,
	   "helper stopped: -ETIMEDOUT in %.2f s (deadline %d ms, margin %.0f s; before: %s)",
	   took, KILL_DEADLINE_MS, KILL_MARGIN_S, why);
	ok(kill(pid2, 0) == -1 && errno == ESRCH, "the stopped helper was killed and reaped");
	for (i = 0, r = -1; i < 50 && r; i++, usleep(100000))
		r = hsm_instance(h, inst);
	ok(!r && helper_pid(other) != pid2 && helper_pid(other) > 0, "replaced by a new helper");
	hsm_close(h);
	ok(count_children() == children && count_fds() <= fds - 1,
	   "hsm_close leaves no process and no descriptor");
}

struct worker {
	struct hsm *h;
	int n, failed;
	struct hsm_wrap_req q[8];
};

static void *wrap_loop(void *arg)
{
	struct worker *w = arg;
	struct hsm_wrapped out[8];
	struct kernel_key kk;
	uint8_t hpt[65], mat[64];
	int i, j;

	kernel_key_new(&kk);
	for (i = 0; i < w->n; i++) {
		if (hsm_wrap_for_kernel(w->h, kk.point, w->q, 8, hpt, out)) {
			w->failed++;
			continue;
		}
		for (j = 0; j < 8; j++)
			w->failed += !!kernel_unwrap(&kk, hpt, w->q[j].id, 1, w->q[j].type, &out[j], mat);
	}
	EVP_PKEY_free(kk.k);
	return NULL;
}

static void test_threads(struct hsm *h)
{
	struct worker w[4];
	pthread_t t[4];
	int i, j, failed = 0, r = 0;

	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ .h = h, .n = 25 };
		for (j = 0; j < 8; j++) {
			id_of(w[i].q[j].id, 300 + i * 8 + j);
			w[i].q[j].version = 1;
			w[i].q[j].type = HSMKEY_TYPE_AES_256_GCM;
			r |= hsm_key_generate(h, w[i].q[j].id, 1, HSMKEY_TYPE_AES_256_GCM, "thr");
		}
	}
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, wrap_loop, &w[i]);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		failed += w[i].failed;
	}
	ok(!r && !failed, "4 threads x 25 batches of 8: every blob unwraps (%d failed)", failed);
}

/* Keys/s through @h for @n keys in batches of 256, best of 3 runs. */
static double rate(struct hsm *h, const struct hsm_wrap_req *q, int n)
{
	static struct hsm_wrapped out[256];
	struct kernel_key kk;
	uint8_t hpt[65];
	double best = 0, t0, r;
	int run, i;

	kernel_key_new(&kk);
	for (run = 0; run < 3; run++) {
		t0 = now_s();
		for (i = 0; i < n; i += 256)
			if (hsm_wrap_for_kernel(h, kk.point, q + i, 256, hpt, out))
				return 0;
		r = n / (now_s() - t0);
		best = r > best ? r : best;
	}
	EVP_PKEY_free(kk.k);
	return best;
}

static void test_rate(struct hsm *h)
{
	static struct hsm_wrap_req q[1024];
	struct hsm *local;
	double remote, inproc;
	int i, r = 0;

	for (i = 0; i < 1024 && !r; i++) {
		id_of(q[i].id, 1000 + i);
		q[i].version = 1;
		q[i].type = HSMKEY_TYPE_AES_256_XTS;
		r = hsm_key_generate(h, q[i].id, 1, q[i].type, "bench");
	}
	ok(!r, "1024 XTS-256 keys made for the rate");
	local = open_token("t1", pin_path, 0, true);
	ok(local && hsm_state(local, NULL, 0) == HSM_UP, "t1 in_process is up");
	if (!local)
		return;
	inproc = rate(local, q, 1024);
	remote = rate(h, q, 1024);
	ok(inproc > 0 && remote > 0, "wrap rate, batches of 256: helper %.0f keys/s, in-process "
	   "%.0f keys/s, ratio %.2f", remote, inproc, inproc ? remote / inproc : 0);
	hsm_close(local);
}

/* The helper's decoder against damaged and random records. */
static void test_proto(void)
{
	static struct hp_request req;
	size_t len;
	int i, bad = 0, rejected = 0;

	memset(&req, 0, sizeof(req));
	req.op = HP_WRAP;
	req.wrap.n = 2;
	req.wrap.req[0].type = req.wrap.req[1].type = 1;
	len = hp_request_len(&req);
	ok(!hp_request_check(&req, len), "a valid WRAP of 2 passes");
	ok(hp_request_check(&req, len - 1) && hp_request_check(&req, len + 1),
	   "one byte short or long: refused");
	req.wrap.n = 257;
	ok(hp_request_check(&req, len) && !hp_request_len(&req), "257 keys: refused");
	req.wrap.n = 2;
	req.wrap.req[1].type = HSMKEY_TYPE_MAX + 1;
	ok(hp_request_check(&req, len), "a bad key type: refused");
	srandom(12);
	for (i = 0; i < 200000; i++) {
		size_t n = random() % 400;
		size_t k;

		for (k = 0; k < n; k++)
			((uint8_t *)&req)[k] = random();
		req.op = random() % (__HP_OP_MAX + 2);
		if (!hp_request_check(&req, n)) {
			bad += hp_request_len(&req) != n;
			if (req.op == HP_GENERATE && !memchr(req.key.name, 0, sizeof(req.key.name)))
				bad++;
		} else {
			rejected++;
		}
	}
	ok(!bad && rejected, "200000 random records: every accepted one is whole (%d rejected)",
	   rejected);
}

/* Leftovers beyond any fixed count (M1): anchors of many crashes, copies of a version. */
static void test_many(struct hsm *h)
{
	uint8_t buf[HSM_ANCHOR_MAX], id[HSMKEY_ID_LEN];
	size_t len = sizeof(buf);
	long before, after;
	char vid[41];
	uint64_t n = 0;
	int r;

	sh("softhsm_py t1 <<< 'for i in range(100, 140): s.createObject([(P.CKA_CLASS, "
	   "P.CKO_DATA), (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_APPLICATION, "
	   "\"hsmkey anchor\"), (P.CKA_LABEL, \"hsmkey:anchor:%%d\" %% i), "
	   "(P.CKA_VALUE, b\"n%%d\" %% i)])'");
	r = hsm_anchor_load(h, &n, buf, &len);
	ok(!r && n == 139 && len == 4 && !memcmp(buf, "n139", 4),
	   "40 anchors left over: the newest (139) is loaded (got %llu)", (unsigned long long)n);
	ok(!hsm_anchor_store(h, 140, "n140", 4), "anchor 140 stored over 40 left over");
	after = sh("softhsm_py t1 <<< 'print(len(s.findObjects([(P.CKA_APPLICATION, "
		   "\"hsmkey anchor\")])))'");
	ok(after == 1, "... and every older one removed (%ld anchors left)", after);
	id_of(id, 3000);
	vid_hex(id, 1, vid);
	sh("softhsm_py t1 <<< 'for i in range(20): s.createObject([(P.CKA_CLASS, "
	   "P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_TOKEN, True), "
	   "(P.CKA_PRIVATE, True), (P.CKA_VALUE, bytes(32)), "
	   "(P.CKA_ID, bytes.fromhex(\"%s\"))])'", vid);
	before = sh("softhsm_count_id t1 %s", vid);
	r = hsm_key_destroy(h, id, 1);
	after = sh("softhsm_count_id t1 %s", vid);
	ok(before == 20 && !r && !after,
	   "%ld objects holding one version: hsm_key_destroy (%d) removes all (%ld left)", before,
	   r, after);
}

/* Another user of the module in this process logs the token out (C_Logout). */
static int logout_behind(const char *token)
{
	void *dl = dlopen("/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_NOLOAD);
	CK_RV (*get)(CK_FUNCTION_LIST **);
	CK_FUNCTION_LIST *p = NULL;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO info;
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_GENERAL_ERROR;

	get = dl ? (CK_RV (*)(CK_FUNCTION_LIST **))dlsym(dl, "C_GetFunctionList") : NULL;
	if (!get || get(&p) != CKR_OK || p->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		n = 0;
	for (i = 0; i < n; i++) {
		if (p->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
		    memcmp(info.label, token, strlen(token)) || info.label[strlen(token)] != ' ' ||
		    p->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
			continue;
		rv = p->C_Logout(s);
		p->C_CloseSession(s);
		break;
	}
	if (dl)
		dlclose(dl);
	return rv == CKR_OK ? 0 : -1;
}

/* M2: a lost login shows as an empty search: redone, never a false -ENOENT. */
static void test_relogin(void)
{
	struct hsm *h = open_token("t1", pin_path, 0, true);
	uint8_t id[HSMKEY_ID_LEN], buf[HSM_ANCHOR_MAX];
	size_t len = sizeof(buf);
	uint64_t n = 0;
	int r;

	if (!h)
		return;
	id_of(id, 3100);
	ok(!hsm_key_generate(h, id, 1, HSMKEY_TYPE_AES_256_XTS, "relogin"),
	   "in_process: a key version made");
	ok(!logout_behind("t1"), "the token logged out behind our sessions");
	r = hsm_key_find(h, id, 1);
	ok(!r, "the version is still found (logged in again), not -ENOENT: %d", r);
	ok(!logout_behind("t1"), "logged out again");
	r = hsm_anchor_load(h, &n, buf, &len);
	ok(!r && n == 140, "the rollback anchor is still found (%llu), not -ENOENT: %d",
	   (unsigned long long)n, r);
	hsm_key_destroy(h, id, 1);
	hsm_close(h);
}

/* A PIN file others can read or change, or another user's, is refused. */
static void test_pin_mode(void)
{
	static const struct {
		unsigned int mode, uid;
		bool up;
		const char *says;
	} cases[] = {
		{ 0400, 0, true, "" },
		{ 0600, 0, true, "" },
		{ 0440, 0, false, "mode 0440" },
		{ 0404, 0, false, "mode 0404" },
		{ 0602, 0, false, "mode 0602" },
		{ 0400, 65534, false, "owned by uid 65534" },
	};
	char path[128], why[320];
	struct hsm *h;
	size_t i;
	bool up;

	snprintf(path, sizeof(path), "%s/modepin", dir);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cases[i].uid && geteuid()) {
			printf("ok %d - # SKIP PIN file of uid %u: not root\n", ++tap_n, cases[i].uid);
			continue;
		}
		sh("softhsm_pin_file %s 1234 && chmod %o %s && chown %u %s", path, cases[i].mode,
		   path, cases[i].uid, path);
		h = open_token("pinned", path, 0, false);
		up = h && hsm_state(h, why, sizeof(why)) == HSM_UP;
		ok(h && up == cases[i].up && (up || strstr(why, cases[i].says)),
		   "PIN file mode %04o uid %u: %s (%s)", cases[i].mode, cases[i].uid,
		   cases[i].up ? "taken" : "refused", up ? "up" : why);
		hsm_close(h);
	}
}

int main(int argc, char **argv)
{
	struct hsm *h1, *h2;
	char self[4096];
	ssize_t n;

	if (argc == 3 && !strcmp(argv[1], "--pkcs11-helper"))
		return hsm_helper_main(argv[2]);
	log_init("test_hsm", false);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	*strrchr(self, '/') = 0;
	snprintf(lib, sizeof(lib), "%s/../../../tests/lib/softhsm.sh", self);
	setenv("HSMT_LIB", lib, 1);
	snprintf(dir, sizeof(dir), "/tmp/test_hsm.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(pin_path, sizeof(pin_path), "%s/pin", dir);
	setenv("SOFTHSM2_CONF", "", 1);
	sh("softhsm_setup %s && softhsm_token t1 && softhsm_token t2 && softhsm_pin_file %s",
	   dir, pin_path);
	{
		char conf[128];

		snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
		setenv("SOFTHSM2_CONF", conf, 1);
	}
	test_proto();
	h1 = open_token("t1", pin_path, 0, false);
	h2 = open_token("t2", pin_path, 0, false);
	ok(h1 && h2, "open tokens t1 and t2 through helpers");
	if (h1 && h2) {
		test_names(h1);
		test_secrets(h1, h2);
		test_anchor(h1);
		test_kat();
		test_roundtrip(h1);
		test_adopt(h1);
		test_threads(h1);
		test_rate(h1);
	}
	hsm_close(h2);
	test_pin();
	test_down();
	test_kill();
	if (h1) {
		test_many(h1);
		test_relogin();
	}
	test_pin_mode();
	hsm_close(h1);
	if (!getenv("KEEP"))
		sh("rm -rf %s", dir);
	printf("1..%d\n", tap_n);
	return tap_failed > 0;
}
