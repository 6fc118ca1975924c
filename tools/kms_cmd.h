/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the KMS commands (kms_cmd.c, datakey_cmd.c) share: the context
 * options, standard input and output as bytes, the libhsmkey handle.
 */
#ifndef HSMKEY_KMS_CMD_H
#define HSMKEY_KMS_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hsmkey/kms.h>
#include "ctl.h"

#define KMS_CONTEXT_MAX	32

struct kms_context {
	const char *usage;
	struct hsmkey_kv kv[KMS_CONTEXT_MAX];
	size_t n;
};

/* --context KEY=VALUE (o->ctx a struct kms_context): split at the first '='. */
int kms_add_pair(const struct arg_opt *o, const char *arg);
/* All of standard input, at most @cap bytes: its length, or -1 reported. */
ssize_t kms_read_all(const char *cmd, uint8_t *buf, size_t cap);
/* @len bytes to @fd, named @what in a failure: EXIT_OK, or EXIT_FAILED reported. */
int kms_write_to(const char *cmd, int fd, const char *what, const void *buf, size_t len);
/* @len bytes to standard output: EXIT_OK, or EXIT_FAILED reported. */
int kms_write_all(const char *cmd, const uint8_t *buf, size_t len);
/* A handle on hsmkeyd: EXIT_OK, or EXIT_NODAEMON reported. */
int kms_connect(const char *cmd, struct hsmkey **h);
/* Standard input (at most @cap bytes) into @in, then a handle. */
int kms_input_and_connect(const char *cmd, uint8_t *in, size_t cap, size_t *inlen,
			  struct hsmkey **h);
/* A call's end: its error reported, or @out written; the handle closed. */
int kms_finish(const char *cmd, struct hsmkey *h, int r, const uint8_t *out, size_t len);

#endif
