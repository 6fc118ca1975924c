/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the token helper's tests share: TAP output, a shell with
 * tests/lib/softhsm.sh for the reference client, opening a token, and the
 * kernel's side of end-to-end delivery played by OpenSSL.  Included once,
 * by test_hsm.c.
 */
#ifndef HSM_TEST_COMMON_H
#define HSM_TEST_COMMON_H

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

#endif
