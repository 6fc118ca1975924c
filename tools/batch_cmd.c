// SPDX-License-Identifier: GPL-2.0
/*
 * encrypt-batch, decrypt-batch, data-key-batch: the KMS API's batches from
 * the command line, through libhsmkey.  Items are lines of base64, a
 * script's way with bytes: line N of the output is the result of line N
 * of the input (for data keys, of the Nth key).  Lines go to hsmkeyd as
 * batches of HSMKEY_BATCH_MAX at most (and HSMKEY_BATCH_BYTES of input),
 * each item a call of its own, authorised and recorded alone.  The first
 * line that cannot be read or whose call fails stops the command, after
 * the results of every line before it: it is named, and the exit status
 * says so.  Standard input is read into a buffer of the command's own
 * (not stdio's), wiped with every plaintext before the command ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "kms_cmd.h"
#include "util.h"

/* A line of base64 holds one blob at most (4152 bytes: 5536 characters). */
#define LINE_CHARS	(4 * ((HSMKEY_BLOB_MAX + 2) / 3))
/* What such a line decodes to at most: an item's slot. */
#define SLOT		(LINE_CHARS / 4 * 3)

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char encrypt_batch_usage[] =
	"encrypt-batch NAME [--context KEY=VALUE]... < PLAINTEXTS > BLOBS\n"
	"each line of PLAINTEXTS is a plaintext of 1 to 4096 bytes in base64; each line of\n"
	"BLOBS its blob (hsmkey-blob(5)) in base64, in order, under the same context";
static const char decrypt_batch_usage[] =
	"decrypt-batch [--context KEY=VALUE]... < BLOBS > PLAINTEXTS\n"
	"each line of BLOBS is a blob in base64; each line of PLAINTEXTS its plaintext in\n"
	"base64, in order; the context the blobs were made with, pair for pair";
static const char data_key_batch_usage[] =
	"data-key-batch NAME --count N [--type TYPE] [--context KEY=VALUE]...\n"
	"               [--plaintext FILE] > WRAPPED\n"
	"N (1 to 100000) new data keys wrapped under KMS key NAME, one line of base64 each;\n"
	"with --plaintext their plaintexts, line for line, into the new file FILE, else\n"
	"without (for the kernel only: unwrap-to-kernel)";

/* Standard input, a line at a time, through a buffer of its own. */
struct reader {
	char buf[LINE_CHARS + 2];	/* a longest line, a CR and its newline */
	size_t len;			/* bytes in @buf */
	bool eof;
};

/* Up to a batch of items and the bytes they use; the lines they came from. */
struct chunk {
	struct hsmkey_item items[HSMKEY_BATCH_MAX];
	uint8_t in[HSMKEY_BATCH_MAX][SLOT];
	uint8_t out[HSMKEY_BATCH_MAX][HSMKEY_BLOB_MAX];
	size_t n, bytes;
	size_t line;			/* the input line of items[0] */
	struct reader rd;
};

/* What encrypt-batch and decrypt-batch differ in. */
struct batch_kind {
	const char *usage;
	size_t in_min, in_max;		/* an item's input, decoded */
	int (*call)(struct hsmkey *h, const char *key, struct hsmkey_item *items, size_t n);
};

static int decrypt_call(struct hsmkey *h, const char *key, struct hsmkey_item *items, size_t n)
{
	(void)key;
	return hsmkey_decrypt_batch(h, items, n);
}

static const struct batch_kind encrypt_kind = {
	encrypt_batch_usage, 1, HSMKEY_PLAINTEXT_MAX, hsmkey_encrypt_batch,
};
static const struct batch_kind decrypt_kind = {
	decrypt_batch_usage, HSMKEY_BLOB_OVERHEAD + 1, HSMKEY_BLOB_MAX, decrypt_call,
};

/* A line that is not an item, said once the lines before it are written. */
#define BAD_LINE	(-EINVAL)
/* The end of the input. */
#define NO_MORE		(-ENODATA)

/*
 * The next line into @r's buffer: *@len characters without its newline
 * (or CR-LF), *@used bytes with it, taken out by line_done().  EXIT_OK;
 * NO_MORE at the end of the input; BAD_LINE for an empty line or one
 * longer than any item's base64 (read to its end and dropped); or
 * EXIT_FAILED reported.
 */
static int next_line(const char *cmd, struct reader *r, size_t *len, size_t *used)
{
	bool dropping = false;
	char *nl;

	while (!(nl = memchr(r->buf, '\n', r->len)) && !r->eof) {
		ssize_t n;

		if (r->len == sizeof(r->buf)) {
			wipe(r->buf, r->len);
			r->len = 0;
			dropping = true;
		}
		n = read(STDIN_FILENO, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "hsmkeyctl %s: cannot read standard input: %m\n", cmd);
			return EXIT_FAILED;
		}
		r->eof = n == 0;
		r->len += (size_t)n;
	}
	*used = nl ? (size_t)(nl - r->buf) + 1 : r->len;
	*len = nl ? (size_t)(nl - r->buf) : r->len;
	if (*len && r->buf[*len - 1] == '\r')
		(*len)--;
	if (!nl && !r->len && !dropping)
		return NO_MORE;
	return dropping || !*len ? BAD_LINE : EXIT_OK;
}

/* The line of @used bytes out of @r's buffer, wiped. */
static void line_done(struct reader *r, size_t used)
{
	memmove(r->buf, r->buf + used, r->len - used);
	wipe(r->buf + r->len - used, used);
	r->len -= used;
}

/* @line (@len characters) as strict base64 into @out: its length, or BAD_LINE. */
static int from_base64(const char *line, size_t len, uint8_t *out, size_t max)
{
	size_t pad = 0;
	int n;

	if (!len || len % 4 || len / 4 * 3 > SLOT)
		return BAD_LINE;
	while (pad < 2 && line[len - 1 - pad] == '=')
		pad++;
	/* '=' only at the end, and nothing outside the alphabet (OpenSSL is lax). */
	for (size_t i = 0; i < len - pad; i++)
		if (!line[i] || !strchr(b64_chars, line[i]))
			return BAD_LINE;
	n = EVP_DecodeBlock(out, (const unsigned char *)line, (int)len);
	if (n < 0 || (size_t)n - pad > max)
		return BAD_LINE;
	return n - (int)pad;
}

/* @len bytes (a blob's at most) as one line of base64 to @fd: EXIT_OK, or EXIT_FAILED reported. */
static int put_line(const char *cmd, int fd, const char *what, const uint8_t *buf, size_t len)
{
	char line[LINE_CHARS + 2];
	int n, r;

	if (len > HSMKEY_BLOB_MAX) {
		fprintf(stderr, "hsmkeyctl %s: a result of %zu bytes: not from hsmkeyd\n", cmd, len);
		return EXIT_FAILED;
	}
	n = EVP_EncodeBlock((unsigned char *)line, buf, (int)len);
	line[n++] = '\n';
	r = kms_write_to(cmd, fd, what, line, (size_t)n);
	wipe(line, sizeof(line));
	return r;
}

/*
 * The next line of standard input, decoded into @c's next item (or *@end
 * at the end of the input): EXIT_OK, BAD_LINE, or EXIT_FAILED reported.
 */
static int read_item(const char *cmd, const struct batch_kind *k, struct chunk *c, bool *end)
{
	size_t len = 0, used = 0;
	int n, r = next_line(cmd, &c->rd, &len, &used);

	*end = r == NO_MORE;
	if (*end || r == EXIT_FAILED)
		return *end ? EXIT_OK : r;
	n = r ? BAD_LINE : from_base64(c->rd.buf, len, c->in[c->n], k->in_max);
	line_done(&c->rd, used);
	if (n < 0 || (size_t)n < k->in_min)
		return BAD_LINE;
	c->items[c->n] = (struct hsmkey_item){ .in = c->in[c->n], .inlen = (size_t)n };
	return EXIT_OK;
}

/*
 * Why the call failed: the handle's message without the library's "item
 * N: ", N counted within the batch (the caller names the line or key).
 */
static const char *why(struct hsmkey *h, int e)
{
	const char *m = hsmkey_error(h), *p = m;

	if (!*m)
		return strerror(-e);
	if (!strncmp(p, "item ", 5)) {
		p += 5;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p > m + 5 && !strncmp(p, ": ", 2))
			return p + 2;
	}
	return m;
}

/*
 * How many of a batch's @n results (@res) to write: those before the
 * first that failed, when @r, the call's error, is that item's; none when
 * the call failed as a whole.  The index to name in *@bad.
 */
static size_t good_results(int r, const int *res, size_t n, size_t *bad)
{
	size_t i = 0;

	while (r && i < n && !res[i])
		i++;
	*bad = i < n && r == res[i] ? i : 0;
	return r ? *bad : n;
}

/*
 * @c's items through @k's call, their results written in order up to the
 * first that failed (named by its line): EXIT_OK or EXIT_FAILED.
 */
static int flush(const char *cmd, struct hsmkey *h, const struct batch_kind *k, const char *key,
		 const struct kms_context *ctx, struct chunk *c)
{
	int r, res[HSMKEY_BATCH_MAX];
	size_t good, bad;

	if (!c->n)
		return EXIT_OK;
	for (size_t i = 0; i < c->n; i++) {
		c->items[i].ctx = ctx->kv;
		c->items[i].nctx = ctx->n;
		c->items[i].out = c->out[i];
		c->items[i].outlen = sizeof(c->out[i]);
		c->items[i].result = 0;
	}
	r = k->call(h, key, c->items, c->n);
	for (size_t i = 0; i < c->n; i++)
		res[i] = c->items[i].result;
	good = good_results(r, res, c->n, &bad);
	for (size_t i = 0; i < good; i++)
		if (put_line(cmd, STDOUT_FILENO, "standard output", c->out[i], c->items[i].outlen))
			return EXIT_FAILED;
	if (r)
		fprintf(stderr, "hsmkeyctl %s: line %zu: %s\n", cmd, c->line + bad, why(h, r));
	return r ? EXIT_FAILED : EXIT_OK;
}

/* @c's items sent and written; @c empty again, its next item from line @next. */
static int send(const char *cmd, struct hsmkey *h, const struct batch_kind *k, const char *key,
		const struct kms_context *ctx, struct chunk *c, size_t next)
{
	int r = flush(cmd, h, k, key, ctx, c);

	c->n = 0;
	c->bytes = 0;
	c->line = next;
	return r;
}

/*
 * Lines of standard input, a batch at a time: one is sent when it is full
 * or the next line would take it past HSMKEY_BATCH_BYTES (that line then
 * starts the next).  @c's items are wiped by the caller.
 */
static int each_batch(const char *cmd, struct hsmkey *h, const struct batch_kind *k,
		      const char *key, const struct kms_context *ctx, struct chunk *c)
{
	size_t lineno = 1;
	bool end = false;
	int r = EXIT_OK;

	c->line = 1;
	while (!r && !end) {
		r = read_item(cmd, k, c, &end);	/* into slot c->n */
		/* The lines before a bad one go first: their results are written. */
		if (c->n && (r || end || c->bytes + c->items[c->n].inlen > HSMKEY_BATCH_BYTES)) {
			struct hsmkey_item next = c->items[c->n];
			size_t at = c->n;

			if (send(cmd, h, k, key, ctx, c, lineno)) {
				r = EXIT_FAILED;
				break;
			}
			if (!r && !end) {	/* the line read starts the next batch */
				memcpy(c->in[0], c->in[at], next.inlen);
				wipe(c->in[at], next.inlen);
				next.in = c->in[0];
				c->items[0] = next;
			}
		}
		if (r == BAD_LINE) {
			fprintf(stderr, "hsmkeyctl %s: line %zu: not %zu to %zu bytes in base64\n",
				cmd, lineno, k->in_min, k->in_max);
			r = EXIT_FAILED;
		}
		if (r || end)
			break;
		c->bytes += c->items[c->n++].inlen;
		lineno++;
		if (c->n == HSMKEY_BATCH_MAX && send(cmd, h, k, key, ctx, c, lineno))
			r = EXIT_FAILED;
	}
	return r;
}

static int run_lines(int argc, char **argv, const struct batch_kind *k, bool named)
{
	struct kms_context ctx = { .usage = k->usage };
	const struct arg_opt opts[] = {
		{ .name = "context", .handle = kms_add_pair, .ctx = &ctx },
		{}
	};
	const char *key = NULL;
	struct hsmkey *h = NULL;
	struct chunk *c;
	int r = named ? args_exact(argc, argv, k->usage, opts, &key, 1) :
		args_parse(argc, argv, k->usage, opts, NULL, 0);

	if (r)
		return PARSED(r);
	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "hsmkeyctl %s: out of memory\n", argv[0]);
		return EXIT_FAILED;
	}
	r = kms_connect(argv[0], &h) ?: each_batch(argv[0], h, k, key, &ctx, c);
	hsmkey_close(h);
	wipe(c, sizeof(*c));
	free(c);
	return r;
}

int cmd_encrypt_batch(int argc, char **argv)
{
	return run_lines(argc, argv, &encrypt_kind, true);
}

int cmd_decrypt_batch(int argc, char **argv)
{
	return run_lines(argc, argv, &decrypt_kind, false);
}

struct dkb_args {
	struct kms_context c;
	const char *name, *type, *count, *plaintext;
	unsigned long n;
};

static int dkb_parse(int argc, char **argv, struct dkb_args *a)
{
	const struct arg_opt opts[] = {
		{ .name = "context", .handle = kms_add_pair, .ctx = &a->c },
		{ .name = "type", .value = &a->type },
		{ .name = "count", .value = &a->count },
		{ .name = "plaintext", .value = &a->plaintext },
		{}
	};
	int r = args_exact(argc, argv, a->c.usage, opts, &a->name, 1);
	char *end;

	if (r)
		return r;	/* HELP_SHOWN too: the caller stops */
	if (!a->count)
		return usage_error(a->c.usage, "%s", "--count is needed");
	errno = 0;
	a->n = strtoul(a->count, &end, 10);
	if (errno || *end || *a->count < '0' || *a->count > '9' || a->n < 1 || a->n > 100000)
		return usage_error(a->c.usage, "--count takes 1 to 100000, not '%s'", a->count);
	return EXIT_OK;
}

/*
 * One batch of @n data keys, written line for line (*@written counts
 * them): EXIT_OK or EXIT_FAILED.
 */
static int data_keys(const char *cmd, struct hsmkey *h, const struct dkb_args *a,
		     struct hsmkey_data_key_item *items, size_t n, size_t *written, int pfd)
{
	int r, res[HSMKEY_BATCH_MAX];
	size_t good, bad;

	for (size_t i = 0; i < n; i++)
		items[i] = (struct hsmkey_data_key_item){ .ctx = a->c.kv, .nctx = a->c.n };
	r = hsmkey_generate_data_keys(h, a->name, a->type, pfd >= 0 ? HSMKEY_DATA_KEY_PLAINTEXT : 0,
				      items, n);
	for (size_t i = 0; i < n; i++)
		res[i] = items[i].result;
	good = good_results(r, res, n, &bad);
	for (size_t i = 0; i < good; i++, (*written)++)
		if (put_line(cmd, STDOUT_FILENO, "standard output", items[i].wrapped,
			     items[i].wrapped_len) ||
		    (pfd >= 0 && put_line(cmd, pfd, a->plaintext, items[i].plaintext,
					  items[i].plaintext_len)))
			return EXIT_FAILED;
	if (r)
		fprintf(stderr, "hsmkeyctl %s: key %zu: %s\n", cmd, *written + 1, why(h, r));
	return r ? EXIT_FAILED : EXIT_OK;
}

int cmd_data_key_batch(int argc, char **argv)
{
	struct dkb_args a = { .c.usage = data_key_batch_usage };
	struct hsmkey_data_key_item items[HSMKEY_BATCH_MAX];
	struct hsmkey *h = NULL;
	size_t done = 0, written = 0;
	int pfd = -1, r = dkb_parse(argc, argv, &a);

	if (r)
		return PARSED(r);
	if (a.plaintext) {
		pfd = open(a.plaintext, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (pfd < 0) {
			fprintf(stderr, "hsmkeyctl %s: cannot make %s: %m\n", argv[0], a.plaintext);
			return EXIT_FAILED;
		}
	}
	r = kms_connect(argv[0], &h);
	for (; !r && done < a.n; done += HSMKEY_BATCH_MAX) {
		size_t n = a.n - done < HSMKEY_BATCH_MAX ? a.n - done : HSMKEY_BATCH_MAX;

		r = data_keys(argv[0], h, &a, items, n, &written, pfd);
	}
	hsmkey_close(h);
	wipe(items, sizeof(items));
	if (pfd >= 0 && close(pfd) && !r) {
		fprintf(stderr, "hsmkeyctl %s: cannot write %s: %m\n", argv[0], a.plaintext);
		r = EXIT_FAILED;
	}
	/* No key made: no file left in the way of the next try (else it keeps them). */
	if (pfd >= 0 && r && !written)
		unlink(a.plaintext);
	return r;
}
