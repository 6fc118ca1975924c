// SPDX-License-Identifier: GPL-2.0
/* OpenSSL algorithms fetched once (fetched.h). */
#include <pthread.h>
#include "fetched.h"

static EVP_CIPHER *aes128_gcm, *aes256_gcm;
static EVP_MD *sha256;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	aes128_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	aes256_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

const EVP_CIPHER *fetched_aes_gcm(int bits)
{
	pthread_once(&once, fetch_all);
	return bits == 128 ? aes128_gcm : bits == 256 ? aes256_gcm : NULL;
}

const EVP_MD *fetched_sha256(void)
{
	pthread_once(&once, fetch_all);
	return sha256;
}
