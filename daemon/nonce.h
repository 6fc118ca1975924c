/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Public random bytes (AES-GCM nonces) from a per-thread pool that
 * getrandom(2) fills: one system call per NONCE_POOL bytes, where
 * OpenSSL's RAND_bytes() makes one per call (its fork check).
 */
#ifndef HSMKEYD_NONCE_H
#define HSMKEYD_NONCE_H

#include <stddef.h>
#include <stdint.h>

#define NONCE_POOL	4096

/*
 * @len (at most NONCE_POOL) random bytes into @out, never given out
 * twice, not even across fork(): a child starts with empty pools.  Not
 * for secrets: the pool is ordinary memory.  0, or -EIO if the kernel
 * gives no random bytes.
 */
int nonce_bytes(uint8_t *out, size_t len);

#endif
