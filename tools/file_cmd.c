// SPDX-License-Identifier: GPL-2.0
/*
 * encrypt-file and decrypt-file: envelope encryption of files of any size
 * through libhsmkey's streams (hsmkey_encrypt_stream(3)).  "-" is standard
 * input or output.  An output file is made beside its final name and takes
 * that name only once the whole stream has been written (decrypt-file:
 * verified), never replacing a file; on failure it is removed, so that a
 * cut or altered stream leaves no partial plaintext behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kms_cmd.h"

static const char encrypt_file_usage[] =
	"encrypt-file NAME [--context KEY=VALUE]... IN OUT\n"
	"IN, OUT: files, or - for standard input and output; OUT must not exist.\n"
	"A new data key wrapped under KMS key NAME heads the output (hsmkey-blob(5) STREAMS)";
static const char decrypt_file_usage[] =
	"decrypt-file [--context KEY=VALUE]... IN OUT\n"
	"the context encrypt-file was given; OUT appears only if all of IN verifies";

struct target {
	const char *path;	/* the final name; NULL: standard output */
	char tmp[PATH_MAX];	/* where it is written first */
	int fd;
};

static int open_in(const char *cmd, const char *path)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;

	if (fd < 0)
		fprintf(stderr, "hsmkeyctl %s: cannot open %s: %m\n", cmd, path);
	return fd;
}

static int open_out(const char *cmd, const char *path, struct target *t)
{
	t->path = strcmp(path, "-") ? path : NULL;
	t->fd = STDOUT_FILENO;
	if (!t->path)
		return 0;
	if (!access(path, F_OK)) {
		fprintf(stderr, "hsmkeyctl %s: %s exists: nothing is replaced\n", cmd, path);
		return -1;
	}
	if (snprintf(t->tmp, sizeof(t->tmp), "%s.XXXXXX", path) >= (int)sizeof(t->tmp)) {
		fprintf(stderr, "hsmkeyctl %s: %s: name too long\n", cmd, path);
		return -1;
	}
	t->fd = mkostemp(t->tmp, O_CLOEXEC);
	if (t->fd < 0)
		fprintf(stderr, "hsmkeyctl %s: cannot make %s: %m\n", cmd, t->tmp);
	return t->fd < 0 ? -1 : 0;
}

/* The output's end: kept under its name after @ok, else removed. */
static int close_out(const char *cmd, struct target *t, bool ok)
{
	if (!t->path)
		return ok ? EXIT_OK : EXIT_FAILED;
	if (ok && (fsync(t->fd) || close(t->fd) ||
		   renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->path, RENAME_NOREPLACE))) {
		fprintf(stderr, "hsmkeyctl %s: cannot write %s: %m\n", cmd, t->path);
		unlink(t->tmp);
		return EXIT_FAILED;
	}
	if (!ok) {
		close(t->fd);
		unlink(t->tmp);
	}
	return ok ? EXIT_OK : EXIT_FAILED;
}

static int run(int argc, char **argv, const char *usage, bool encrypt)
{
	struct kms_context c = { .usage = usage };
	const struct arg_opt opts[] = {
		{ .name = "context", .handle = kms_add_pair, .ctx = &c },
		{}
	};
	const char *pos[3] = { NULL, NULL, NULL };
	struct target out;
	struct hsmkey *h = NULL;
	int in, r = args_exact(argc, argv, usage, opts, encrypt ? pos : pos + 1, encrypt ? 3 : 2);

	if (r)
		return PARSED(r);
	r = kms_connect(argv[0], &h);
	if (r)
		return r;
	in = open_in(argv[0], pos[1]);
	if (in < 0 || open_out(argv[0], pos[2], &out)) {
		hsmkey_close(h);
		return EXIT_FAILED;
	}
	r = encrypt ? hsmkey_encrypt_stream(h, pos[0], c.kv, c.n, in, out.fd) :
		      hsmkey_decrypt_stream(h, c.kv, c.n, in, out.fd);
	if (r)
		fprintf(stderr, "hsmkeyctl %s: %s\n", argv[0], *hsmkey_error(h) ? hsmkey_error(h) :
			strerror(-r));
	hsmkey_close(h);
	if (in != STDIN_FILENO)
		close(in);
	return close_out(argv[0], &out, !r);
}

int cmd_encrypt_file(int argc, char **argv)
{
	return run(argc, argv, encrypt_file_usage, true);
}

int cmd_decrypt_file(int argc, char **argv)
{
	return run(argc, argv, decrypt_file_usage, false);
}
