// SPDX-License-Identifier: GPL-2.0
/*
 * encrypt, decrypt, re-encrypt, sign, verify, public-key: the local KMS API from the
 * command line, through libhsmkey as any application calls it.  Data on
 * standard input, the result on standard output, both as bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kms_cmd.h"
#include "util.h"

static const char encrypt_usage[] =
	"encrypt NAME [--context KEY=VALUE]... < PLAINTEXT > BLOB\n"
	"PLAINTEXT: 1 to 4096 bytes; the blob's format is hsmkey-blob(5)";
static const char decrypt_usage[] =
	"decrypt [--context KEY=VALUE]... < BLOB > PLAINTEXT\n"
	"the context the blob was made with, pair for pair";

int kms_add_pair(const struct arg_opt *o, const char *arg)
{
	struct kms_context *c = o->ctx;
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return usage_error(c->usage, "--context takes KEY=VALUE, not '%s'", arg);
	if (c->n == KMS_CONTEXT_MAX)
		return usage_error(c->usage, "at most 32 context pairs (%s)", arg);
	*eq = '\0';		/* argv is ours */
	c->kv[c->n].key = arg;
	c->kv[c->n++].value = eq + 1;
	return 0;
}

ssize_t kms_read_all(const char *cmd, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while ((r = read(STDIN_FILENO, buf + n, cap + 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "hsmkeyctl %s: cannot read standard input: %m\n", cmd);
			return -1;
		}
		n += (size_t)r;
		if (n > cap) {
			fprintf(stderr, "hsmkeyctl %s: standard input has more than %zu bytes\n",
				cmd, cap);
			return -1;
		}
	}
	return (ssize_t)n;
}

int kms_write_to(const char *cmd, int fd, const char *what, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "hsmkeyctl %s: cannot write %s: %m\n", cmd, what);
			return EXIT_FAILED;
		}
		p += r;
		len -= (size_t)r;
	}
	return EXIT_OK;
}

int kms_write_all(const char *cmd, const uint8_t *buf, size_t len)
{
	return kms_write_to(cmd, STDOUT_FILENO, "standard output", buf, len);
}

int kms_connect(const char *cmd, struct hsmkey **h)
{
	int r = hsmkey_open(socket_path, h);

	if (r)
		fprintf(stderr, "hsmkeyctl %s: cannot reach hsmkeyd at %s: %s\n", cmd, socket_path,
			strerror(-r));
	return r ? EXIT_NODAEMON : EXIT_OK;
}

int kms_input_and_connect(const char *cmd, uint8_t *in, size_t cap, size_t *inlen,
			     struct hsmkey **h)
{
	ssize_t n = kms_read_all(cmd, in, cap);

	if (n < 0)
		return EXIT_FAILED;
	*inlen = (size_t)n;
	return kms_connect(cmd, h);
}

/* Parse, read standard input, connect: the steps encrypt and decrypt share. */
static int start(int argc, char **argv, struct kms_context *c, const char **name, uint8_t *in,
		 size_t cap, size_t *inlen, struct hsmkey **h)
{
	const struct arg_opt opts[] = {
		{ .name = "context", .handle = kms_add_pair, .ctx = c },
		{}
	};
	int r = name ? args_exact(argc, argv, c->usage, opts, name, 1) :
		args_parse(argc, argv, c->usage, opts, NULL, 0);

	return r ?: kms_input_and_connect(argv[0], in, cap, inlen, h);	/* HELP_SHOWN too */
}

int kms_finish(const char *cmd, struct hsmkey *h, int r, const uint8_t *out, size_t len)
{
	if (r)
		fprintf(stderr, "hsmkeyctl %s: %s\n", cmd, *hsmkey_error(h) ? hsmkey_error(h) :
			strerror(-r));
	hsmkey_close(h);
	return r ? EXIT_FAILED : kms_write_all(cmd, out, len);
}

int cmd_encrypt(int argc, char **argv)
{
	struct kms_context c = { .usage = encrypt_usage };
	uint8_t pt[HSMKEY_PLAINTEXT_MAX + 1], blob[HSMKEY_BLOB_MAX];
	size_t ptlen = 0, bloblen = sizeof(blob);
	struct hsmkey *h = NULL;
	const char *name = NULL;
	int r = start(argc, argv, &c, &name, pt, HSMKEY_PLAINTEXT_MAX, &ptlen, &h);

	if (!r) {
		r = hsmkey_encrypt(h, name, c.kv, c.n, pt, ptlen, blob, &bloblen);
		r = kms_finish(argv[0], h, r, blob, bloblen);
	}
	wipe(pt, sizeof(pt));
	return PARSED(r);
}

int cmd_decrypt(int argc, char **argv)
{
	struct kms_context c = { .usage = decrypt_usage };
	uint8_t blob[HSMKEY_BLOB_MAX + 1], pt[HSMKEY_PLAINTEXT_MAX];
	size_t bloblen = 0, ptlen = sizeof(pt);
	struct hsmkey *h = NULL;
	int r = start(argc, argv, &c, NULL, blob, HSMKEY_BLOB_MAX, &bloblen, &h);

	if (!r) {
		r = hsmkey_decrypt(h, c.kv, c.n, blob, bloblen, pt, &ptlen);
		r = kms_finish(argv[0], h, r, pt, ptlen);
	}
	wipe(pt, sizeof(pt));
	return PARSED(r);
}

static const char re_encrypt_usage[] =
	"re-encrypt [--context KEY=VALUE]... [--to NAME] [--to-context KEY=VALUE]...\n"
	"           [--to-no-context] [--type TYPE] < BLOB > BLOB\n"
	"the blob sealed again under NAME's current version (default: its own key's)\n"
	"and the --to-context pairs (default: its own context); the plaintext never\n"
	"leaves hsmkeyd.  --type: a data key for the kernel only's kernel key type";

struct re_encrypt_args {
	struct kms_context from, to;
	struct hsmkey_re_encrypt_to dest;
	bool no_context;
};

static int re_encrypt_args(int argc, char **argv, struct re_encrypt_args *a)
{
	const struct arg_opt opts[] = {
		{ .name = "context", .handle = kms_add_pair, .ctx = &a->from },
		{ .name = "to-context", .handle = kms_add_pair, .ctx = &a->to },
		{ .name = "to", .value = &a->dest.key },
		{ .name = "type", .value = &a->dest.type },
		{ .name = "to-no-context", .flag = &a->no_context },
		{}
	};
	int r = args_parse(argc, argv, re_encrypt_usage, opts, NULL, 0);

	if (!r && a->no_context && a->to.n)
		return usage_error(re_encrypt_usage, "%s and --to-context exclude each other",
				   "--to-no-context");
	if (a->no_context || a->to.n) {
		a->dest.ctx = a->to.kv;
		a->dest.nctx = a->to.n;
	}
	return r;
}

int cmd_re_encrypt(int argc, char **argv)
{
	struct re_encrypt_args a = { .from.usage = re_encrypt_usage, .to.usage = re_encrypt_usage };
	uint8_t blob[HSMKEY_BLOB_MAX + 1], out[HSMKEY_BLOB_MAX];
	size_t bloblen = 0, outlen = sizeof(out);
	struct hsmkey *h = NULL;
	int r = re_encrypt_args(argc, argv, &a);

	if (r)
		return PARSED(r);
	r = kms_input_and_connect(argv[0], blob, HSMKEY_BLOB_MAX, &bloblen, &h);
	if (r)
		return r;
	r = hsmkey_re_encrypt(h, a.from.kv, a.from.n, &a.dest, blob, bloblen, out, &outlen);
	return kms_finish(argv[0], h, r, out, outlen);
}

static const char sign_usage[] =
	"sign NAME [--digest] [--pss] < DATA > SIGNATURE\n"
	"DATA: the message (1 to 32768 bytes) or, with --digest, its SHA-256 (ecdsa-p256, RSA)\n"
	"or SHA-384 (ecdsa-p384) digest; the signature as openssl dgst -sign writes it\n"
	"(RSA: PKCS #1 v1.5, or with --pss, PSS with a salt as long as the digest)";
static const char verify_usage[] =
	"verify NAME SIGNATURE-FILE [--digest] [--pss] < DATA\n"
	"prints \"Verified OK\" and exits 0, or says why not and exits 1";

/* The parse, read and connect of sign and verify: @npos names at @pos. */
static int sig_start(int argc, char **argv, const char *usage, const char **pos, int npos,
		     unsigned int *flags, uint8_t *in, size_t *inlen, struct hsmkey **h)
{
	bool digest = false, pss = false;
	const struct arg_opt opts[] = {
		{ .name = "digest", .flag = &digest },
		{ .name = "pss", .flag = &pss },
		{}
	};
	int r = args_exact(argc, argv, usage, opts, pos, npos);

	*flags = (digest ? HSMKEY_SIGN_DIGEST : 0) | (pss ? HSMKEY_SIGN_PSS : 0);
	return r ?: kms_input_and_connect(argv[0], in, HSMKEY_MESSAGE_MAX, inlen, h);	/* HELP_SHOWN too */
}

int cmd_sign(int argc, char **argv)
{
	uint8_t msg[HSMKEY_MESSAGE_MAX + 1], sig[HSMKEY_SIGNATURE_MAX];
	size_t len = 0, siglen = sizeof(sig);
	struct hsmkey *h = NULL;
	const char *name = NULL;
	unsigned int flags = 0;
	int r = sig_start(argc, argv, sign_usage, &name, 1, &flags, msg, &len, &h);

	if (r)
		return PARSED(r);
	r = hsmkey_sign(h, name, flags, msg, len, sig, &siglen);
	return kms_finish(argv[0], h, r, sig, siglen);
}

/* The signature file into @sig (HSMKEY_SIGNATURE_MAX + 1 bytes, one to tell "longer"). */
static ssize_t read_signature(const char *path, uint8_t *sig)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "hsmkeyctl verify: cannot open %s: %m\n", path);
		return -1;
	}
	n = fread(sig, 1, HSMKEY_SIGNATURE_MAX + 1, f);
	fclose(f);
	if (!n || n > HSMKEY_SIGNATURE_MAX) {
		fprintf(stderr, "hsmkeyctl verify: %s is no signature (1 to %d bytes)\n", path,
			HSMKEY_SIGNATURE_MAX);
		return -1;
	}
	return (ssize_t)n;
}

int cmd_verify(int argc, char **argv)
{
	uint8_t msg[HSMKEY_MESSAGE_MAX + 1], sig[HSMKEY_SIGNATURE_MAX + 1];
	const char *pos[2] = { NULL, NULL };
	struct hsmkey *h = NULL;
	unsigned int flags = 0;
	ssize_t siglen;
	size_t len = 0;
	int r = sig_start(argc, argv, verify_usage, pos, 2, &flags, msg, &len, &h);

	if (r)
		return PARSED(r);
	siglen = read_signature(pos[1], sig);
	if (siglen < 0) {
		hsmkey_close(h);
		return EXIT_FAILED;
	}
	r = hsmkey_verify(h, pos[0], flags, msg, len, sig, (size_t)siglen);
	r = kms_finish(argv[0], h, r, NULL, 0);
	if (r == EXIT_OK)
		printf("Verified OK\n");
	return r;
}

int cmd_public_key(int argc, char **argv)
{
	char pem[4096];
	size_t len = sizeof(pem);
	struct hsmkey *h = NULL;
	const char *name = NULL;
	int r = args_exact(argc, argv, "public-key NAME", NULL, &name, 1);

	if (r)
		return PARSED(r);
	r = kms_connect(argv[0], &h);
	if (r)
		return r;
	r = hsmkey_public_key(h, name, pem, &len);
	return kms_finish(argv[0], h, r, (const uint8_t *)pem, r ? 0 : len - 1);
}
