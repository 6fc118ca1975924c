/* SPDX-License-Identifier: GPL-2.0 */
/* Differences between the kernel versions hsmkey builds for (6.1, 6.12). */
#ifndef _HSMKEY_COMPAT_H
#define _HSMKEY_COMPAT_H

#include <linux/crypto.h>

/* The unaligned access helpers moved from asm/ to linux/ in 6.12. */
#ifdef HSMKEY_LINUX_UNALIGNED
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * Crypto completion callbacks receive the request's data pointer since
 * 6.3, and the async request before; Kbuild probes the headers and defines
 * HSMKEY_COMPLETION_TAKES_DATA.  HSMKEY_DEFINE_DONE(name, fn) defines a
 * callback @name that calls fn(data, err) on either.
 */
#ifndef HSMKEY_COMPLETION_TAKES_DATA
#define HSMKEY_DEFINE_DONE(name, fn)					\
static void name(struct crypto_async_request *areq, int err)		\
{									\
	fn(areq->data, err);						\
}
#else
#define HSMKEY_DEFINE_DONE(name, fn)					\
static void name(void *data, int err)					\
{									\
	fn(data, err);							\
}
#endif

/*
 * A family's pre_doit receives the split op since 6.2 (Kbuild probes for
 * struct genl_split_ops and defines HSMKEY_GENL_SPLIT_OPS).
 */
#ifdef HSMKEY_GENL_SPLIT_OPS
#define hsmkey_genl_ops_t struct genl_split_ops
#else
#define hsmkey_genl_ops_t struct genl_ops
#endif

#endif
