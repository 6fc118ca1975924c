// SPDX-License-Identifier: GPL-2.0
/*
 * Commands that make key material or hand it out: create, import (raw or
 * wrapped to the import key), import-key, rotate and token.  Material
 * never passes through hsmkeyctl: a key file goes to the daemon as an
 * open descriptor.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"
#include "number.h"
#include "proto.h"

int cmd_create(int argc, char **argv)
{
	static const char usage[] = "create NAME --type TYPE";
	const char *name, *type = NULL;
	const struct arg_opt opts[] = {
		{ "type", 't', .value = &type },
		{}
	};
	struct json_object *req;
	int r = args_parse(argc, argv, usage, opts, &name, 1);

	if (r)
		return PARSED(r);
	if (!name || !type || !*type)
		return usage_error(usage, "create: missing %s", !name ? "the key name" : "--type");
	req = request("create");
	add(req, "name", name);
	add(req, "type", type);
	return simple(req, -1, "created");
}

int cmd_import(int argc, char **argv)
{
	static const char usage[] =
		"import NAME --type TYPE --key-file FILE|-\n"
		"       import NAME --type TYPE --wrapped-file FILE|-   (RSA-OAEP, see import-key)\n"
		"       import NAME --type TYPE --from 'pkcs11:object=LABEL'   (adopt a key the HSM holds)\n"
		"       import NAME --type TYPE --from 'kmip:UID'   (adopt a key the KMIP server holds)";
	const char *name, *type = NULL, *file = NULL, *wrapped = NULL, *from = NULL;
	const struct arg_opt opts[] = {
		{ "type", 't', .value = &type },
		{ "key-file", 'f', .value = &file },
		{ "wrapped-file", 'W', .value = &wrapped },
		{ "from", 'F', .value = &from },
		{}
	};
	struct json_object *req;
	int fd, r = args_parse(argc, argv, usage, opts, &name, 1);

	if (r)
		return PARSED(r);
	if (!name || !type || !*type)
		return usage_error(usage, "import: missing %s", !name ? "the key name" : "--type");
	if ((!!file + !!wrapped + !!from) != 1)
		return usage_error(usage, "import needs --key-file or --wrapped-file (or --from), one of them%s",
				   "");
	if (from) {
		/* Nothing passes through here: the key stays in the HSM. */
		req = request("import");
		add(req, "name", name);
		add(req, "type", type);
		add(req, "from", from);
		return simple(req, -1, "adopted");
	}
	fd = open_key_file(wrapped ?: file);
	if (fd < 0)
		return EXIT_FAILED;
	req = request("import");
	add(req, "name", name);
	add(req, "type", type);
	if (wrapped)
		json_object_object_add(req, "wrapped", json_object_new_boolean(1));
	r = simple(req, fd, "imported");
	close(fd);
	return r;
}

/* The OAEP hash (MGF1 alike) follows the daemon's "algorithm": the key storage decides it. */
static void print_import_key(struct json_object *reply, const char *arg)
{
	const char *alg = proto_str(reply, "algorithm") ?: "";
	const char *md = !strcmp(alg, "RSAES_OAEP_SHA_1") ? "sha1" : "sha256";

	(void)arg;
	fprintf(stderr, "# %s, SHA-256 of the key: %s\n"
		"# wrap with: openssl pkeyutl -encrypt -pubin -inkey THIS.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:%s -pkeyopt rsa_mgf1_md:%s\n",
		alg, proto_str(reply, "fingerprint"), md, md);
	fputs(proto_str(reply, "public_key") ?: "", stdout);
}

int cmd_import_key(int argc, char **argv)
{
	static const char usage[] = "import-key [--renew]";
	bool renew = false;
	const struct arg_opt opts[] = {
		{ "renew", 0, .flag = &renew },
		{}
	};
	int r = args_parse(argc, argv, usage, opts, NULL, 0);

	if (r)
		return PARSED(r);
	return call_print(request(renew ? "import-key-renew" : "import-key"), -1,
			  print_import_key, NULL);
}

int cmd_rotate(int argc, char **argv)
{
	static const char usage[] = "rotate NAME [--key-file FILE|-]";
	const char *name, *file = NULL;
	const struct arg_opt opts[] = {
		{ "key-file", 'f', .value = &file },
		{}
	};
	struct json_object *req;
	int fd = -1, r = args_exact(argc, argv, usage, opts, &name, 1);

	if (r)
		return PARSED(r);
	if (file) {
		fd = open_key_file(file);
		if (fd < 0)
			return EXIT_FAILED;
	}
	req = request("rotate");
	add(req, "name", name);
	r = simple(req, fd, "rotated");
	if (fd >= 0)
		close(fd);
	return r;
}

static void print_token(struct json_object *reply, const char *arg)
{
	(void)arg;
	printf("%s\n", proto_str(reply, "token"));
}

int cmd_token(int argc, char **argv)
{
	static const char usage[] = "token NAME [--version N]";
	const char *name, *version = NULL;
	const struct arg_opt opts[] = {
		{ "version", 'v', .value = &version },
		{}
	};
	struct json_object *req;
	uint64_t v = 0;
	int r = args_exact(argc, argv, usage, opts, &name, 1);

	if (r)
		return PARSED(r);
	if (version && (parse_u64(version, UINT32_MAX, &v) || !v))
		return usage_error(usage, "bad version '%s' (a number from 1 to 4294967295)",
				   version);
	req = request("token");
	add(req, "name", name);
	if (version)
		json_object_object_add(req, "version", json_object_new_int64((int64_t)v));
	return call_print(req, -1, print_token, NULL);
}
