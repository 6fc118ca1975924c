/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the local KMS API's operations share (kms.c): who may call one, its
 * audit record, its reply's payload.  Encrypt and decrypt are in kms.c,
 * sign, verify and public-key in kms_sign.c.
 */
#ifndef HSMKEY_KMS_H
#define HSMKEY_KMS_H

#include <stddef.h>
#include <stdint.h>
#include "request.h"

/*
 * The current version's metadata of key @name into @meta, if a grant of
 * its policy allows the peer @op (enum ks_op) now, and the key is of a
 * type that does @op, active and within its validity.  Root and the admin
 * group are told why a key cannot be used; anyone else without a grant
 * only that it may not (the same whether or not the key exists).
 */
int kms_authorise(struct request *rq, uint32_t op, const char *name, struct ks_key *meta);
/*
 * The call's audit record, allowed (@r 0, with @detail) or refused (with
 * the request's error): 0, or -EIO when it cannot be written and the log
 * fails closed (the caller then refuses the call).
 */
int kms_audit(struct request *rq, uint32_t op, const char *name, uint32_t version,
	      const char *detail, int r);
/* A reply payload of @len bytes for the handler to fill; NULL: no memory. */
uint8_t *kms_reply_buffer(struct request *rq, size_t len);

#endif
