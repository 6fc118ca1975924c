/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Scope-bound cleanup (GCC's cleanup attribute), as systemd does: a
 * variable declared with one of these is released, or wiped, on every
 * path out of its scope, so error paths need no unwinding of their own.
 * Initialise each such variable where it is declared.
 */
#ifndef HSMKEY_CLEANUP_H
#define HSMKEY_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "kernel.h"
#include "key.h"

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void json_putp(struct json_object **o)
{
	json_object_put(*o);
}

static inline void evp_cipher_ctx_freep(EVP_CIPHER_CTX **c)
{
	EVP_CIPHER_CTX_free(*c);	/* wipes its key schedule */
}

static inline void kernel_closep(struct kernel **k)
{
	kernel_close(*k);
}

/* A key whose secrets may have been read: wiped whatever the path. */
static inline void ks_key_wipep(struct ks_key *key)
{
	ks_key_wipe(key);
}

#define _cleanup_free_		_cleanup_(freep)
#define _cleanup_close_		_cleanup_(closep)
#define _cleanup_json_		_cleanup_(json_putp)
#define _cleanup_evp_ctx_	_cleanup_(evp_cipher_ctx_freep)
#define _cleanup_kernel_	_cleanup_(kernel_closep)
#define _cleanup_key_		_cleanup_(ks_key_wipep)

#endif
