/* SPDX-License-Identifier: GPL-2.0 */
/* AF_ALG helpers for the guest tests: skcipher and AEAD, one request each. */
#ifndef HSMKEY_ALGTEST_H
#define HSMKEY_ALGTEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_alg.h>

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

/* A tfm socket of @type ("skcipher", "aead") for @name, or -errno. */
static inline int alg_open_type(const char *type, const char *name)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG };
	int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf((char *)sa.salg_type, sizeof(sa.salg_type), "%s", type);
	snprintf((char *)sa.salg_name, sizeof(sa.salg_name), "%s", name);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

static inline int alg_open(const char *name)
{
	return alg_open_type("skcipher", name);
}

static inline int alg_setkey(int fd, const void *key, int len)
{
	return setsockopt(fd, SOL_ALG, ALG_SET_KEY, key, (socklen_t)len) ? -errno : 0;
}

static inline int alg_set_authsize(int fd, unsigned int authsize)
{
	return setsockopt(fd, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, authsize) ? -errno : 0;
}

/*
 * One request on tfm socket @tfm: @inlen bytes in, @outlen bytes expected
 * out.  @assoclen < 0 for a skcipher.  0 or -errno.
 */
static inline int alg_request(int tfm, bool enc, const uint8_t *iv, unsigned int ivlen,
			      int assoclen, const uint8_t *in, size_t inlen,
			      uint8_t *out, size_t outlen)
{
	char cbuf[CMSG_SPACE(sizeof(int)) * 2 + CMSG_SPACE(sizeof(struct af_alg_iv) + 16)];
	struct iovec iov = { .iov_base = (void *)in, .iov_len = inlen };
	struct msghdr mh = { .msg_control = cbuf, .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	struct af_alg_iv *aiv;
	int op = enc ? ALG_OP_ENCRYPT : ALG_OP_DECRYPT, fd, r = 0;
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_controllen = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(*aiv) + ivlen) +
			    (assoclen >= 0 ? CMSG_SPACE(sizeof(int)) : 0);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_OP;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &op, sizeof(int));
	cm = CMSG_NXTHDR(&mh, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_IV;
	cm->cmsg_len = CMSG_LEN(sizeof(*aiv) + ivlen);
	aiv = (void *)CMSG_DATA(cm);
	aiv->ivlen = ivlen;
	memcpy(aiv->iv, iv, ivlen);
	if (assoclen >= 0) {
		cm = CMSG_NXTHDR(&mh, cm);
		cm->cmsg_level = SOL_ALG;
		cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &assoclen, sizeof(int));
	}

	fd = accept(tfm, NULL, 0);
	if (fd < 0)
		return -errno;
	if (sendmsg(fd, &mh, 0) != (ssize_t)inlen) {
		r = -errno;
	} else {
		n = read(fd, out, outlen);
		r = n == (ssize_t)outlen ? 0 : n < 0 ? -errno : -EIO;
	}
	close(fd);
	return r;
}

/* One skcipher request with a 16-byte IV. */
static inline int alg_crypt(int tfm, bool enc, const uint8_t *iv, const uint8_t *in,
			    uint8_t *out, size_t len)
{
	return alg_request(tfm, enc, iv, 16, -1, in, len, out, len);
}

static inline void unhex(const char *s, uint8_t *out)
{
	for (size_t i = 0; s[2 * i]; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

#endif
