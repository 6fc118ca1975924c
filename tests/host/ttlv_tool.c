// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkey's KMIP messages on files, for the cross-check with PyKMIP
 * (tests/host/test_kmip_ttlv.sh, tests/host/kmip/engine.py):
 *
 *   ttlv_tool requests DIR    the requests of the check, NN-NAME.req
 *   ttlv_tool responses DIR   each NN-NAME.resp, read by hsmkey's parser,
 *                             as lines engine.py also writes from PyKMIP's
 *   ttlv_tool dump FILE       any TTLV message, an item a line
 *
 * The requests' values are fixed: engine.py checks them as PyKMIP decodes
 * them.  PyKMIP's engine numbers objects from 1 in a new database, so the
 * requests can name the objects the ones before made.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kmip/message.h"
#include "kmip_print.h"
#include "util.h"

/* The 32-byte key registered as "hsmkey-b" (uid 2), and the KEK (uid 3). */
static const uint8_t key_b[32] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};
static const uint8_t kek[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static const struct kmip_version v12 = { 1, 2 };

static int write_out(const char *dir, const char *name, struct ttlv_out *o)
{
	char path[512];
	const uint8_t *buf;
	size_t len;
	int fd, r;

	r = ttlv_out_finish(o, &buf, &len);
	if (r) {
		fprintf(stderr, "%s: %s\n", name, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/%s.req", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	r = fd < 0 ? -errno : write_full(fd, buf, len);
	if (fd >= 0)
		close(fd);
	ttlv_out_free(o);
	return r < 0 ? r : 0;
}

/* One request of one batch item, made by @fill. */
#define REQUEST(dir, name, call) ({				\
	struct ttlv_out o;					\
								\
	ttlv_out_init(&o, KMIP_MSG_MAX);			\
	kmip_request_begin(&o, &v12, 1);			\
	call;							\
	kmip_request_end(&o);					\
	write_out(dir, name, &o);				\
})

static int requests(const char *dir)
{
	static const struct kmip_version versions[] = { { 1, 4 }, { 1, 3 }, { 1, 2 } };
	static const uint32_t query[] = { KMIP_QUERY_OPERATIONS, KMIP_QUERY_OBJECTS };
	static const char *const attr_names[] = { "State", "Name", "Cryptographic Length" };
	struct kmip_key_attrs a = {
		.object_type = KMIP_OBJECT_SYMMETRIC_KEY, .algorithm = KMIP_ALG_AES,
		.name = "hsmkey-a", .bits = 256, .group = "hsmkey-test",
		.usage = KMIP_USAGE_ENCRYPT | KMIP_USAGE_DECRYPT | KMIP_USAGE_EXPORT,
	};
	static const struct kmip_spent spent = { 4294967296ULL, 18446744073709551615ULL };
	struct kmip_key_attrs b = a, k = a, m = a, p = a;
	struct ttlv_out o;
	int r = 0;

	a.spent = true;		/* as the daemon creates a key */
	a.version = 1;

	b.name = "hsmkey-b";
	b.spent = true;		/* as the daemon registers a key's material */
	b.version = 2;		/* ... as a key's second version */
	b.replaces = "1";
	k.name = "hsmkey-kek";
	k.group = NULL;
	k.usage = KMIP_USAGE_WRAP_KEY | KMIP_USAGE_UNWRAP_KEY;
	m.name = "hsmkey-mac";
	m.algorithm = KMIP_ALG_HMAC_SHA256;
	m.usage = KMIP_USAGE_MAC_GENERATE | KMIP_USAGE_MAC_VERIFY | KMIP_USAGE_EXPORT;
	p.name = "hsmkey-private";
	p.object_type = KMIP_OBJECT_PRIVATE_KEY;
	p.algorithm = KMIP_ALG_ECDSA;
	p.usage = KMIP_USAGE_SIGN | KMIP_USAGE_EXPORT;
	r |= REQUEST(dir, "01-discover", kmip_req_discover(&o, versions, 3));
	r |= REQUEST(dir, "02-query", kmip_req_query(&o, query, 2));
	r |= REQUEST(dir, "03-create", kmip_req_create(&o, &a));
	r |= REQUEST(dir, "04-register", kmip_req_register(&o, &b, key_b, sizeof(key_b)));
	r |= REQUEST(dir, "05-register-kek", kmip_req_register(&o, &k, kek, sizeof(kek)));
	r |= REQUEST(dir, "06-activate-kek", kmip_req_uid(&o, KMIP_OP_ACTIVATE, "3"));
	r |= REQUEST(dir, "07-get", kmip_req_get(&o, "2", NULL));
	r |= REQUEST(dir, "08-get-wrapped", kmip_req_get(&o, "2", "3"));
	r |= REQUEST(dir, "09-get-attributes", kmip_req_uid(&o, KMIP_OP_GET_ATTRIBUTES, "2"));
	/* The spent count of "hsmkey-a" (uid 1: its instance 0), then read back. */
	r |= REQUEST(dir, "09a-modify-spent", kmip_req_spent(&o, "1", 0, &spent));
	r |= REQUEST(dir, "09b-attributes-spent", kmip_req_uid(&o, KMIP_OP_GET_ATTRIBUTES, "1"));
	r |= REQUEST(dir, "10-get-some-attributes",
		     kmip_req_get_attributes(&o, "1", attr_names, ARRAY_SIZE(attr_names)));
	r |= REQUEST(dir, "11-locate", kmip_req_locate(&o, "hsmkey-b", NULL, 10));
	r |= REQUEST(dir, "12-locate-group", kmip_req_locate(&o, NULL, "hsmkey-test", 10));
	r |= REQUEST(dir, "13-activate", kmip_req_uid(&o, KMIP_OP_ACTIVATE, "1"));
	r |= REQUEST(dir, "14-revoke", kmip_req_revoke(&o, "1", KMIP_REVOKE_KEY_COMPROMISE,
						      "lost with a laptop", 1700000000));
	r |= REQUEST(dir, "15-attributes-revoked", kmip_req_uid(&o, KMIP_OP_GET_ATTRIBUTES, "1"));
	r |= REQUEST(dir, "16-destroy", kmip_req_uid(&o, KMIP_OP_DESTROY, "2"));
	r |= REQUEST(dir, "17-get-destroyed", kmip_req_get(&o, "2", NULL));
	r |= REQUEST(dir, "18-get-wrapped-missing-kek", kmip_req_get(&o, "1", "99"));
	/* Two batch items in one message. */
	ttlv_out_init(&o, KMIP_MSG_MAX);
	kmip_request_begin(&o, &v12, 2);
	kmip_req_uid(&o, KMIP_OP_GET_ATTRIBUTES, "3");
	kmip_req_get(&o, "3", NULL);
	kmip_request_end(&o);
	r |= write_out(dir, "19-batch", &o);
	r |= REQUEST(dir, "20-register-mac", kmip_req_register(&o, &m, key_b, sizeof(key_b)));
	r |= REQUEST(dir, "21-register-private", kmip_req_register(&o, &p, key_b, sizeof(key_b)));
	return r ? 1 : 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > KMIP_MSG_MAX ||
	    fseek(f, 0, SEEK_SET) || !(*buf = malloc(n ? n : 1)) ||
	    fread(*buf, 1, n, f) != (size_t)n) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_resp(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && !strcmp(d->d_name + n - 5, ".resp");
}

static int responses(const char *dir)
{
	struct dirent **list;
	char path[512];
	uint8_t *buf;
	size_t len;
	int n, i, bad = 0;

	n = scandir(dir, &list, is_resp, by_name);
	if (n <= 0)
		return 1;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		list[i]->d_name[strlen(list[i]->d_name) - 5] = '\0';
		if (read_file(path, &buf, &len))
			bad = 1;
		else
			bad |= kmip_print_response(list[i]->d_name, buf, len), free(buf);
		free(list[i]);
	}
	free(list);
	return bad;
}

static void dump_item(const struct ttlv *it, const char *path)
{
	char me[256], text[512];
	struct ttlv_iter iter;
	struct ttlv c;
	int64_t l;
	int32_t i;
	uint32_t u;
	bool b;

	snprintf(me, sizeof(me), "%s%s%06X", path, *path ? "/" : "", it->tag);
	printf("%s type=%u", me, it->type);
	switch (it->type) {
	case TTLV_STRUCTURE:
		printf("\n");
		ttlv_iter_init(it, &iter);
		while (ttlv_next(&iter, &c))
			dump_item(&c, me);
		return;
	case TTLV_INTEGER:
		ttlv_int(it, &i), printf(" %d", i);
		break;
	case TTLV_LONG:
		ttlv_long(it, &l), printf(" %" PRId64, l);
		break;
	case TTLV_DATETIME:
		ttlv_datetime(it, &l), printf(" %" PRId64, l);
		break;
	case TTLV_ENUM:
		ttlv_enum(it, &u), printf(" %u", u);
		break;
	case TTLV_INTERVAL:
		ttlv_interval(it, &u), printf(" %u", u);
		break;
	case TTLV_BOOL:
		ttlv_bool(it, &b), printf(" %s", b ? "true" : "false");
		break;
	case TTLV_TEXT:
		if (ttlv_text(it, text, sizeof(text)))
			snprintf(text, sizeof(text), "(%u bytes)", it->len);
		printf(" %s", text);
		break;
	default:
		printf(" ");
		for (u = 0; u < it->len; u++)
			printf("%02x", it->val[u]);
	}
	printf("\n");
}

static int dump(const char *path)
{
	struct ttlv top;
	uint8_t *buf;
	size_t len;
	int r;

	r = read_file(path, &buf, &len);
	if (!r)
		r = ttlv_decode(buf, len, &top);
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return 1;
	}
	dump_item(&top, "");
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "requests"))
		return requests(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "responses"))
		return responses(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "dump"))
		return dump(argv[2]);
	fprintf(stderr, "usage: ttlv_tool requests|responses DIR | dump FILE\n");
	return 2;
}
