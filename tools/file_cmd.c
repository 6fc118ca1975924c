// SPDX-License-Identifier: GPL-2.0
/*
 * encrypt-file and decrypt-file: envelope encryption of files of any size
 * through libhsmkey's streams (hsmkey_encrypt_stream(3)).  "-" is standard
 * input or output; standard output gets each frame as it verifies.  An
 * output file is made unnamed (O_TMPFILE) in its directory and linked
 * under its name only once the whole stream has been written
 * (decrypt-file: verified), never replacing a file: a cut or altered
 * stream, or a process killed half-way, leaves no partial plaintext under
 * any name.  A file system without O_TMPFILE gets a named temporary file,
 * renamed at the end and removed on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "kms_cmd.h"

static const char encrypt_file_usage[] =
	"encrypt-file NAME [--context KEY=VALUE]... IN OUT\n"
	"IN, OUT: files, or - for standard input and output; OUT must not exist.\n"
	"A new data key wrapped under KMS key NAME heads the output (hsmkey-blob(5) STREAMS)";
static const char decrypt_file_usage[] =
	"decrypt-file [--context KEY=VALUE]... IN OUT\n"
	"the context encrypt-file was given; a file OUT appears only if all of IN verifies\n"
	"(- writes each frame as it verifies, and fails at the first that does not)";

struct target {
	const char *path;	/* the final name; NULL: standard output */
	char tmp[PATH_MAX];	/* a named temporary file; "": O_TMPFILE's */
	int fd;
};

static int open_in(const char *cmd, const char *path)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;

	if (fd < 0)
		fprintf(stderr, "hsmkeyctl %s: cannot open %s: %m\n", cmd, path);
	return fd;
}

/* @path's directory into @dir (PATH_MAX bytes). */
static void dir_of(const char *path, char *dir)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else
		snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
}

static int open_out(const char *cmd, const char *path, struct target *t)
{
	char dir[PATH_MAX];
	struct stat st;

	t->path = strcmp(path, "-") ? path : NULL;
	t->fd = STDOUT_FILENO;
	t->tmp[0] = '\0';
	if (!t->path)
		return 0;
	if (!fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) || errno != ENOENT) {
		fprintf(stderr, "hsmkeyctl %s: %s exists: nothing is replaced\n", cmd, path);
		return -1;
	}
	if (strlen(path) + 8 > sizeof(t->tmp)) {
		fprintf(stderr, "hsmkeyctl %s: %s: name too long\n", cmd, path);
		return -1;
	}
	dir_of(path, dir);
	t->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (t->fd >= 0)
		return 0;
	snprintf(t->tmp, sizeof(t->tmp), "%s.XXXXXX", path);	/* no O_TMPFILE there */
	t->fd = mkostemp(t->tmp, O_CLOEXEC);
	if (t->fd < 0)
		fprintf(stderr, "hsmkeyctl %s: cannot make a file in %s: %m\n", cmd, dir);
	return t->fd < 0 ? -1 : 0;
}

/* The whole output under its name: linked (O_TMPFILE) or renamed, never replacing. */
static int publish(const struct target *t)
{
	char proc[64];

	if (fsync(t->fd))
		return -1;
	if (*t->tmp)
		return renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->path, RENAME_NOREPLACE);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, t->path, AT_SYMLINK_FOLLOW);
}

/* The output's end: kept under its name after @ok, else gone. */
static int close_out(const char *cmd, struct target *t, bool ok)
{
	int r = EXIT_OK;

	if (!t->path)
		return ok ? EXIT_OK : EXIT_FAILED;
	if (ok && publish(t)) {
		fprintf(stderr, "hsmkeyctl %s: cannot write %s: %m\n", cmd, t->path);
		r = EXIT_FAILED;
	}
	if (*t->tmp && (!ok || r))
		unlink(t->tmp);
	close(t->fd);
	return ok ? r : EXIT_FAILED;
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
