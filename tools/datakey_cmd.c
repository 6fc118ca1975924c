// SPDX-License-Identifier: GPL-2.0
/*
 * data-key and unwrap-to-kernel: data keys from the command line, through
 * libhsmkey.  The wrapped key is the standard output (data-key) or input
 * (unwrap-to-kernel), as bytes; a plaintext or a token goes to a file of
 * its own, made new with mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kms_cmd.h"
#include "util.h"

static const char data_key_usage[] =
	"data-key NAME [--type TYPE] [--context KEY=VALUE]...\n"
	"         [--plaintext FILE | --kernel TOKEN-FILE [--ttl SECONDS]] > WRAPPED\n"
	"a new data key of kernel key type TYPE (default aes-256-gcm) wrapped under KMS key\n"
	"NAME; with --plaintext its plaintext into FILE, with --kernel into the kernel (for\n"
	"your uid, SECONDS long, default 3600) and its token into TOKEN-FILE; files are new";
static const char unwrap_usage[] =
	"unwrap-to-kernel [--type TYPE] [--ttl SECONDS] [--context KEY=VALUE]...\n"
	"                 < WRAPPED > TOKEN\n"
	"a wrapped data key into the kernel, for your uid; the token for setkey()";

/* New file @path (mode 0600), made before the call, so the call's result has a place. */
static int open_new(const char *cmd, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		fprintf(stderr, "hsmkeyctl %s: cannot make %s: %m\n", cmd, path);
	return fd;
}

/* @len bytes into @fd, made as @path: EXIT_OK, or EXIT_FAILED reported and @path removed. */
static int write_new(const char *cmd, int fd, const char *path, const uint8_t *buf, size_t len)
{
	ssize_t n = len ? write(fd, buf, len) : 0;
	int err = n < 0 ? errno : 0;

	if (close(fd) && !err)
		err = errno;
	if (n != (ssize_t)len || err) {
		fprintf(stderr, "hsmkeyctl %s: cannot write %s: %s\n", cmd, path,
			err ? strerror(err) : "short write");
		unlink(path);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* --ttl: 1 to 86400 seconds. */
static int parse_ttl(const char *usage, const char *arg, unsigned int *ttl)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = arg ? strtoul(arg, &end, 10) : 0;
	if (arg && (errno || *end || v < 1 || v > 86400 || *arg == '-'))
		return usage_error(usage, "--ttl takes 1 to 86400 seconds, not '%s'", arg);
	*ttl = (unsigned int)v;
	return 0;
}

struct dk_args {
	struct kms_context c;
	const char *name, *type, *ttl, *plaintext, *kernel;
	unsigned int ttl_s;
};

static int dk_parse(int argc, char **argv, struct dk_args *a)
{
	const struct arg_opt opts[] = {
		{ .name = "context", .handle = kms_add_pair, .ctx = &a->c },
		{ .name = "type", .value = &a->type },
		{ .name = "ttl", .value = &a->ttl },
		{ .name = "plaintext", .value = &a->plaintext },
		{ .name = "kernel", .value = &a->kernel },
		{}
	};
	int r = args_exact(argc, argv, a->c.usage, opts, &a->name, 1);

	if (r)
		return r;	/* HELP_SHOWN too: the caller stops */
	if (a->plaintext && a->kernel)
		return usage_error(a->c.usage, "%s", "--plaintext or --kernel, not both");
	if (a->ttl && !a->kernel)
		return usage_error(a->c.usage, "%s", "--ttl is for --kernel");
	return parse_ttl(a->c.usage, a->ttl, &a->ttl_s);
}

int cmd_data_key(int argc, char **argv)
{
	struct dk_args a = { .c.usage = data_key_usage };
	uint8_t wrapped[HSMKEY_WRAPPED_KEY_MAX], second[HSMKEY_DATA_KEY_MAX];
	size_t wlen = sizeof(wrapped), slen = sizeof(second);
	const char *file;
	struct hsmkey *h = NULL;
	int fd = -1, r = dk_parse(argc, argv, &a);

	if (r)
		return PARSED(r);
	file = a.kernel ?: a.plaintext;
	if (file && (fd = open_new(argv[0], file)) < 0)
		return EXIT_FAILED;
	r = kms_connect(argv[0], &h);
	if (!r && a.kernel)
		r = hsmkey_data_key_to_kernel(h, a.name, a.type, a.ttl_s, a.c.kv, a.c.n, wrapped,
					      &wlen, second, &slen);
	else if (!r)
		r = hsmkey_generate_data_key(h, a.name, a.type, a.c.kv, a.c.n, wrapped, &wlen,
					     a.plaintext ? second : NULL, &slen);
	if (r && h)
		r = kms_finish(argv[0], h, r, NULL, 0);	/* reported, closed */
	else if (h)
		hsmkey_close(h);
	if (r && fd >= 0) {
		close(fd);
		unlink(file);
	} else if (fd >= 0) {
		r = write_new(argv[0], fd, file, second, slen);
	}
	wipe(second, sizeof(second));
	return r ?: kms_write_all(argv[0], wrapped, wlen);
}

int cmd_unwrap_to_kernel(int argc, char **argv)
{
	const char *type = NULL, *ttl = NULL;
	struct kms_context c = { .usage = unwrap_usage };
	const struct arg_opt opts[] = {
		{ .name = "context", .handle = kms_add_pair, .ctx = &c },
		{ .name = "type", .value = &type },
		{ .name = "ttl", .value = &ttl },
		{}
	};
	uint8_t wrapped[HSMKEY_WRAPPED_KEY_MAX + 1], token[HSMKEY_TOKEN_SIZE];
	size_t wlen = 0, tlen = sizeof(token);
	struct hsmkey *h = NULL;
	unsigned int ttl_s = 0;
	int r = args_parse(argc, argv, unwrap_usage, opts, NULL, 0);

	if (r)
		return PARSED(r);
	r = parse_ttl(unwrap_usage, ttl, &ttl_s) ?:
	    kms_input_and_connect(argv[0], wrapped, HSMKEY_WRAPPED_KEY_MAX, &wlen, &h);
	if (r)
		return PARSED(r);
	r = hsmkey_unwrap_to_kernel(h, type, ttl_s, c.kv, c.n, wrapped, wlen, token, &tlen);
	return kms_finish(argv[0], h, r, token, tlen);
}
