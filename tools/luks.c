// SPDX-License-Identifier: GPL-2.0
/*
 * LUKS2 volumes whose volume key is a token: the header keeps the token
 * encrypted under the passphrase (keyslots use stock aes-xts-plain64),
 * and the data segment uses capi:xts(hsmaes)-plain64, so opening needs
 * both the passphrase and the key provisioned in the kernel.  The header
 * also carries a LUKS2 token of type "hsmkey" naming the key, which
 * "luks open" has the daemon load first.  crypttab is in crypttab.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/hsmkey.h>
#include "ctl.h"
#include "luks.h"
#include "luks2.h"
#include "proto.h"
#include "run.h"
#include "util.h"

#define LUKS_CIPHER	"capi:xts(hsmaes)-plain64"

struct luks_args {
	const char *pos[2];
	const char *key, *passfile;
	bool yes;
	char **extra;		/* after "--", for cryptsetup */
	int nextra;
};

/* format takes --key and --yes; open neither. */
static int luks_parse(int argc, char **argv, int npos, bool format, struct luks_args *a)
{
	const struct arg_opt format_opts[] = {
		{ "key", 'k', .value = &a->key },
		{ "passphrase-file", 'p', .value = &a->passfile },
		{ "yes", 'y', .flag = &a->yes },
		{}
	};
	const struct arg_opt open_opts[] = {
		{ "passphrase-file", 'p', .value = &a->passfile },
		{}
	};
	int r;

	memset(a, 0, sizeof(*a));
	r = args_parse(argc, argv, LUKS_USAGE, format ? format_opts : open_opts, a->pos, npos);
	if (r)
		return r;
	if (!a->pos[npos - 1])
		return usage_error(LUKS_USAGE, "luks %s: missing arguments", argv[0]);
	a->extra = argv + optind;
	a->nextra = argc - optind;
	return 0;
}

/* cryptsetup's argv: @fixed, then --key-file, then the pass-through ones. */
static char **luks_argv(const char *const *fixed, const struct luks_args *a,
			const char *const *tail)
{
	size_t n = 0, i;
	char **v = calloc(64 + (size_t)a->nextra, sizeof(*v));

	if (!v)
		return NULL;
	for (i = 0; fixed[i]; i++)
		v[n++] = (char *)fixed[i];
	if (a->passfile) {
		v[n++] = (char *)"--key-file";
		v[n++] = (char *)a->passfile;
	}
	for (i = 0; i < (size_t)a->nextra; i++)
		v[n++] = a->extra[i];
	for (i = 0; tail[i]; i++)
		v[n++] = (char *)tail[i];
	return v;
}

static int run_cryptsetup(const char *const *fixed, const struct luks_args *a,
			  const char *const *tail)
{
	char **v = luks_argv(fixed, a, tail);
	int r = v ? run(v) : 127;

	free(v);
	return r;
}

/*
 * The key's current token and the LUKS2 token JSON naming it; the key
 * must be XTS.  0, or an exit code after reporting.
 */
static int fetch_token(const char *key, uint8_t tok[HSMKEY_TOKEN_LEN], char *json,
		       size_t jsize, int64_t *version)
{
	char tokhex[2 * HSMKEY_TOKEN_LEN + 1];
	struct json_object *req = request("token"), *reply;
	const char *type;
	int r;

	add(req, "name", key);
	r = call(req, -1, &reply);
	if (r)
		return r;
	type = proto_str(reply, "type") ?: "";
	if (strcmp(type, "aes-256-xts") && strcmp(type, "aes-128-xts")) {
		fprintf(stderr, "hsmkeyctl: key '%s' is %s; a LUKS2 volume needs an aes-128-xts or aes-256-xts key\n",
			key, type);
		json_object_put(reply);
		return EXIT_FAILED;
	}
	snprintf(tokhex, sizeof(tokhex), "%s", proto_str(reply, "token") ?: "");
	proto_int(reply, "version", version);
	snprintf(json, jsize,
		 "{\"type\":\"hsmkey\",\"keyslots\":[],\"key\":\"%s\",\"key_id\":\"%s\",\"key_version\":%lld}",
		 key, proto_str(reply, "id") ?: "", (long long)*version);
	json_object_put(reply);
	r = hex_decode(tokhex, tok, HSMKEY_TOKEN_LEN);
	wipe(tokhex, sizeof(tokhex));
	if (r) {
		fprintf(stderr, "hsmkeyctl: the daemon sent no valid token\n");
		return EXIT_FAILED;
	}
	return 0;
}

/* luksFormat with the stock cipher and @tok as the volume key: its status. */
static int format_stock(const struct luks_args *a, uint8_t tok[HSMKEY_TOKEN_LEN])
{
	char vkpath[64];
	int r, vkfd;

	/* The token reaches cryptsetup through a memory file, never argv. */
	vkfd = memfd_with("hsmkey-volume-key", tok, HSMKEY_TOKEN_LEN);
	wipe(tok, HSMKEY_TOKEN_LEN);
	if (vkfd < 0) {
		fprintf(stderr, "hsmkeyctl: cannot make a memory file: %m\n");
		return 127;
	}
	snprintf(vkpath, sizeof(vkpath), "/proc/self/fd/%d", vkfd);
	{
		const char *fixed[] = { "cryptsetup", "luksFormat", "--type", "luks2",
			"--cipher", "aes-xts-plain64", "--key-size", "512",
			/* Keyslots are opened with a passphrase-derived key:
			 * stock AES, not hsmaes. */
			"--keyslot-cipher", "aes-xts-plain64", "--keyslot-key-size", "512",
			"--volume-key-file", vkpath, a->yes ? "--batch-mode" : NULL, NULL };
		const char *tail[] = { a->pos[0], NULL };

		r = run_cryptsetup(fixed, a, tail);
	}
	/* Zero the memory file's page before it is freed. */
	if (pwrite(vkfd, tok, HSMKEY_TOKEN_LEN, 0) != HSMKEY_TOKEN_LEN)
		fprintf(stderr, "hsmkeyctl: warning: cannot clear the volume key's memory file\n");
	close(vkfd);
	return r;
}

#ifdef HSMKEY_TEST_HOOKS
/* Test builds: $HSMKEY_TEST_AFTER_FORMAT runs between luksFormat and the edit. */
static void after_format_hook(const char *device)
{
	const char *cmd = getenv("HSMKEY_TEST_AFTER_FORMAT");

	if (cmd && setenv("HSMKEY_TEST_DEVICE", device, 1) == 0 && system(cmd))
		fprintf(stderr, "hsmkeyctl: test hook failed\n");
}
#else
static inline void after_format_hook(const char *device)
{
	(void)device;
}
#endif

/* Make the stock header ours: the hsmaes data cipher, then the hsmkey token. */
static int make_ours(const char *device, const char *json)
{
	char tokpath[64];
	int r, tokfd;

	after_format_hook(device);
	r = luks2_set_cipher(device, LUKS_CIPHER);
	if (r) {
		fprintf(stderr, "hsmkeyctl: cannot set the data cipher in the LUKS2 header of %s: %s\n",
			device, r == -EBADMSG ? "a header checksum is wrong" :
			r == -EOPNOTSUPP ? "the header has several segments or requirements" :
			strerror(-r));
		return -1;
	}
	tokfd = memfd_with("hsmkey-luks-token", json, strlen(json));
	if (tokfd < 0) {
		fprintf(stderr, "hsmkeyctl: cannot make a memory file: %m\n");
		return -1;
	}
	snprintf(tokpath, sizeof(tokpath), "/proc/self/fd/%d", tokfd);
	{
		char *const imp[] = { "cryptsetup", "token", "import", "--json-file", tokpath,
				      (char *)device, NULL };

		r = run(imp);
	}
	close(tokfd);
	if (r)
		fprintf(stderr, "hsmkeyctl: cryptsetup token import failed (status %d)\n", r);
	return r ? -1 : 0;
}

/* A detached header would be formatted where the edit never looks. */
static bool names_header(const struct luks_args *a)
{
	for (int i = 0; i < a->nextra; i++)
		if (!strcmp(a->extra[i], "--header") || !strncmp(a->extra[i], "--header=", 9))
			return true;
	return false;
}

static int luks_format(int argc, char **argv)
{
	uint8_t tok[HSMKEY_TOKEN_LEN];
	struct luks_args a;
	int64_t version = 0;
	char json[512];
	int r;

	r = luks_parse(argc, argv, 1, true, &a);
	if (r)
		return PARSED(r);
	if (!a.key)
		return usage_error(LUKS_USAGE, "luks format needs --key NAME%s", "");
	if (names_header(&a))
		return usage_error(LUKS_USAGE, "luks format makes the header on the device; %s is not supported",
				   "--header");
	r = fetch_token(a.key, tok, json, sizeof(json), &version);
	if (r)
		return r;
	r = format_stock(&a, tok);
	if (r) {
		fprintf(stderr, "hsmkeyctl: cryptsetup luksFormat failed (status %d)\n", r);
		return EXIT_FAILED;
	}
	/* Never leave a stock volume whose key is the token: erase it. */
	if (make_ours(a.pos[0], json)) {
		r = luks2_erase(a.pos[0]);
		if (r)
			fprintf(stderr, "hsmkeyctl: WARNING: cannot erase the LUKS2 header of %s (%s): it opens with the stock cipher; wipe it (wipefs -a)\n",
				a.pos[0], strerror(-r));
		else
			fprintf(stderr, "hsmkeyctl: the header of %s is erased; format it again\n",
				a.pos[0]);
		return EXIT_FAILED;
	}
	if (json_out)
		printf("{ \"device\": \"%s\", \"key\": \"%s\", \"key_version\": %lld }\n", a.pos[0],
		       a.key, (long long)version);
	else
		printf("formatted %s as LUKS2 with key %s version %lld (cipher %s)\n", a.pos[0],
		       a.key, (long long)version, LUKS_CIPHER);
	return EXIT_OK;
}

int luks_key_of(const char *device, char *name, size_t nsize, char *id, size_t isize)
{
	char *const dump[] = { "cryptsetup", "luksDump", "--dump-json-metadata",
			       (char *)device, NULL };
	struct json_object *o, *tokens;
	static char out[262144];
	int r = run_capture(dump, out, sizeof(out));

	if (r) {
		fprintf(stderr, "hsmkeyctl: %s is not a LUKS2 device (cryptsetup luksDump: status %d)\n",
			device, r);
		return EXIT_FAILED;
	}
	o = json_tokener_parse(out);
	tokens = o ? json_object_object_get(o, "tokens") : NULL;
	r = EXIT_FAILED;
	if (tokens && json_object_is_type(tokens, json_type_object)) {
		json_object_object_foreach(tokens, k, t) {
			(void)k;
			if (strcmp(proto_str(t, "type") ?: "", "hsmkey") || !proto_str(t, "key"))
				continue;
			snprintf(name, nsize, "%s", proto_str(t, "key"));
			snprintf(id, isize, "%s", proto_str(t, "key_id") ?: "");
			r = EXIT_OK;
			break;
		}
	}
	json_object_put(o);
	if (r)
		fprintf(stderr, "hsmkeyctl: %s has no hsmkey token: it was not made by 'hsmkeyctl luks format'\n",
			device);
	return r;
}

static int luks_open(int argc, char **argv)
{
	char name[HSMKEY_NAME_MAX + 1], id[2 * HSMKEY_ID_LEN + 1];
	struct json_object *req, *reply;
	struct luks_args a;
	int r;

	r = luks_parse(argc, argv, 2, false, &a);
	if (r)
		return PARSED(r);
	r = luks_key_of(a.pos[0], name, sizeof(name), id, sizeof(id));
	if (r)
		return r;
	/* Every version of the key into the kernel (the header pins one). */
	req = request("load");
	add(req, "name", name);
	r = call(req, -1, &reply);
	if (!r && strcmp(proto_str(reply, "id") ?: "", id)) {
		fprintf(stderr, "hsmkeyctl: key '%s' in this keystore is not the key %s was formatted with (id %s)\n",
			name, a.pos[0], id);
		r = EXIT_FAILED;
	}
	json_object_put(reply);
	if (r)
		return r;
	{
		const char *fixed[] = { "cryptsetup", "open", "--type", "luks2", NULL };
		const char *tail[] = { a.pos[0], a.pos[1], NULL };

		r = run_cryptsetup(fixed, &a, tail);
	}
	if (r) {
		fprintf(stderr, "hsmkeyctl: cryptsetup open failed (status %d)\n", r);
		return EXIT_FAILED;
	}
	if (!json_out)
		printf("opened /dev/mapper/%s with key %s\n", a.pos[1], name);
	return EXIT_OK;
}

static int luks_close(int argc, char **argv)
{
	const char *map = NULL;
	char *v[] = { "cryptsetup", "close", NULL, NULL };
	int r = args_exact(argc, argv, LUKS_USAGE, NULL, &map, 1);

	if (r)
		return PARSED(r);
	v[2] = (char *)map;
	r = run(v);
	if (r)
		fprintf(stderr, "hsmkeyctl: cryptsetup close failed (status %d)\n", r);
	return r ? EXIT_FAILED : EXIT_OK;
}

int cmd_luks(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} subs[] = {
		{ "format", luks_format },
		{ "open", luks_open },
		{ "close", luks_close },
		{ "crypttab", luks_crypttab },
	};

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: hsmkeyctl %s\n", LUKS_USAGE);
		return EXIT_OK;
	}
	for (size_t i = 0; argc >= 2 && i < ARRAY_SIZE(subs); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	return usage_error(LUKS_USAGE, "luks needs 'format', 'open', 'close' or 'crypttab'%s", "");
}
