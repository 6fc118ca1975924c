/* SPDX-License-Identifier: GPL-2.0 */
/*
 * OpenSSL algorithms fetched once for the process.  A legacy EVP_aes_*()
 * or EVP_sha256() handle is fetched again from the provider at each
 * initialisation, which on a 4 KiB KMS call costs more than the AES
 * itself.  NULL if the provider has no such algorithm; never freed.
 */
#ifndef HSMKEY_FETCHED_H
#define HSMKEY_FETCHED_H

#include <openssl/evp.h>

const EVP_CIPHER *fetched_aes_gcm(int bits);	/* 128 or 256 */
const EVP_MD *fetched_sha256(void);

#endif
