// SPDX-License-Identifier: GPL-2.0
/*
 * Commands that make key material or hand it out: create, import (raw or
 * wrapped to the import key), import-key, rotate and token.  Material
 * never passes through hsmkeyctl: a key file goes to the daemon as an
 * open descriptor.
 */
#include <getopt.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"
#include "number.h"
#include "proto.h"

int cmd_create(int argc, char **argv)
{
	static const char usage[] = "create NAME --type TYPE";
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *name = NULL, *type = NULL;
	struct json_object *req;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "-:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (name)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			name = optarg;
			break;
		case 't':
			type = optarg;
			break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return EXIT_OK;
		default:
			return bad_option(usage, argv, c);
		}
	}
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
		"       import NAME --type TYPE --wrapped-file FILE|-   (RSA-OAEP, see import-key)";
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "key-file", required_argument, NULL, 'f' },
		{ "wrapped-file", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *name = NULL, *type = NULL, *file = NULL, *wrapped = NULL;
	struct json_object *req;
	int c, fd, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "-:t:f:W:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (name)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			name = optarg;
			break;
		case 't': type = optarg; break;
		case 'f': file = optarg; break;
		case 'W': wrapped = optarg; break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return EXIT_OK;
		default:
			return bad_option(usage, argv, c);
		}
	}
	if (!name || !type || !*type)
		return usage_error(usage, "import: missing %s", !name ? "the key name" : "--type");
	if (!file == !wrapped)
		return usage_error(usage, "import needs --key-file or --wrapped-file%s", "");
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

int cmd_import_key(int argc, char **argv)
{
	static const char usage[] = "import-key [--renew]";
	static const struct option longopts[] = {
		{ "renew", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct json_object *reply;
	bool renew = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "-:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			return usage_error(usage, "unexpected argument '%s'", optarg);
		case 'r':
			renew = true;
			break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return EXIT_OK;
		default:
			return bad_option(usage, argv, c);
		}
	}
	r = call(request(renew ? "import-key-renew" : "import-key"), -1, &reply);
	if (r == EXIT_OK && json_out) {
		print_json(reply);
	} else if (r == EXIT_OK) {
		fprintf(stderr, "# %s, SHA-256 of the key: %s\n"
			"# wrap with: openssl pkeyutl -encrypt -pubin -inkey THIS.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256\n",
			proto_str(reply, "algorithm"), proto_str(reply, "fingerprint"));
		fputs(proto_str(reply, "public_key") ?: "", stdout);
	}
	json_object_put(reply);
	return r;
}

int cmd_rotate(int argc, char **argv)
{
	static const char usage[] = "rotate NAME [--key-file FILE|-]";
	static const struct option longopts[] = {
		{ "key-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *name = NULL, *file = NULL;
	struct json_object *req;
	int c, fd = -1, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "-:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (name)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			name = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return EXIT_OK;
		default:
			return bad_option(usage, argv, c);
		}
	}
	if (!name)
		return usage_error(usage, "%s: missing arguments", argv[0]);
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

int cmd_token(int argc, char **argv)
{
	static const char usage[] = "token NAME [--version N]";
	static const struct option longopts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct json_object *req, *reply;
	const char *name = NULL, *version = NULL;
	uint64_t v = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "-:v:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (name)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			name = optarg;
			break;
		case 'v':
			version = optarg;
			break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return EXIT_OK;
		default:
			return bad_option(usage, argv, c);
		}
	}
	if (!name)
		return usage_error(usage, "%s: missing arguments", argv[0]);
	if (version && (parse_u64(version, UINT32_MAX, &v) || !v))
		return usage_error(usage, "bad version '%s' (a number from 1 to 4294967295)",
				   version);
	req = request("token");
	add(req, "name", name);
	if (version)
		json_object_object_add(req, "version", json_object_new_int64((int64_t)v));
	r = call(req, -1, &reply);
	if (r == EXIT_OK && json_out)
		print_json(reply);
	else if (r == EXIT_OK)
		printf("%s\n", proto_str(reply, "token"));
	json_object_put(reply);
	return r;
}
