// SPDX-License-Identifier: GPL-2.0
/*
 * The reference for encrypt-file's throughput: standard input streamed
 * through OpenSSL's EVP AES-256-GCM in 64 KiB reads, under a random key,
 * to standard output, then the tag.  bench/kms.sh times it against
 * hsmkeyctl encrypt-file on the same file, in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define CHUNK 65536

static int write_all(const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(void)
{
	static unsigned char in[CHUNK], out[CHUNK + 16];
	unsigned char key[32], iv[12];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;
	ssize_t r;

	if (!c || RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1 ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) != 1)
		return 1;
	while ((r = read(STDIN_FILENO, in, sizeof(in))) > 0)
		if (EVP_EncryptUpdate(c, out, &n, in, (int)r) != 1 || write_all(out, (size_t)n))
			return 1;
	if (r < 0 || EVP_EncryptFinal_ex(c, out, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + n) != 1 ||
	    write_all(out, (size_t)n + 16))
		return 1;
	EVP_CIPHER_CTX_free(c);
	return 0;
}
