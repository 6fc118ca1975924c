// SPDX-License-Identifier: GPL-2.0
/*
 * dm open/close: plain dm-crypt volumes keyed by a token, set up by the
 * daemon; dm status: the crypt volumes keyed through hsmkey, whoever
 * opened them.
 */
#include <string.h>
#include "ctl.h"
#include "proto.h"
#include "run.h"

#define DM_USAGE "dm open DEVICE MAPNAME --key NAME | dm close MAPNAME | dm status"

static int dm_open(int argc, char **argv)
{
	static const char usage[] = "dm open DEVICE MAPNAME --key NAME";
	const char *pos[2], *key = NULL;
	const struct arg_opt opts[] = {
		{ "key", 'k', .value = &key },
		{}
	};
	struct json_object *req;
	int r = args_parse(argc, argv, usage, opts, pos, 2);

	if (r)
		return PARSED(r);
	if (!pos[1] || !key || !*key)
		return usage_error(usage, "dm open: missing %s", !pos[1] ? "arguments" : "--key");
	req = request("dm-open");
	add(req, "device", pos[0]);
	add(req, "map", pos[1]);
	add(req, "key", key);
	return simple(req, -1, NULL);
}

static int dm_close(int argc, char **argv)
{
	struct json_object *req;
	const char *map;
	int r = args_exact(argc, argv, "dm close MAPNAME", NULL, &map, 1);

	if (r)
		return PARSED(r);
	req = request("dm-close");
	add(req, "map", map);
	return simple(req, -1, NULL);
}

static void print_volumes(struct json_object *a)
{
	printf("%-20s %-28s %-8s %10s %s\n", "MAP", "CIPHER", "DEVICE", "MIB", "KEY");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		int64_t sectors = 0;

		proto_int(o, "sectors", &sectors);
		printf("%-20s %-28s %-8s %10lld %s\n", proto_str(o, "map"),
		       proto_str(o, "cipher"), proto_str(o, "device"),
		       (long long)(sectors / 2048), proto_str(o, "key"));
	}
}

/*
 * From "dmsetup table": the crypt volumes with an hsmaes cipher.  The
 * table names the key only by its keyring description.
 */
static int dm_status(int argc, char **argv)
{
	char *const v[] = { "dmsetup", "table", "--target", "crypt", NULL };
	static char out[1 << 16];
	struct json_object *a;
	char *line, *save = NULL;
	int r = args_exact(argc, argv, "dm status", NULL, NULL, 0);

	if (r)
		return PARSED(r);
	r = run_capture(v, out, sizeof(out));
	if (r) {
		fprintf(stderr, "hsmkeyctl: dmsetup table failed (status %d): is device-mapper there?\n", r);
		return EXIT_FAILED;
	}
	a = json_object_new_array();
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], cipher[128], key[160], dev[64];
		unsigned long long start, len, ivoff, off;
		struct json_object *o;

		if (sscanf(line, "%127[^:]: %llu %llu crypt %127s %159s %llu %63s %llu",
			   name, &start, &len, cipher, key, &ivoff, dev, &off) != 8 ||
		    !strstr(cipher, "hsmaes"))
			continue;
		o = json_object_new_object();
		add(o, "map", name);
		add(o, "cipher", cipher);
		add(o, "device", dev);
		json_object_object_add(o, "sectors", json_object_new_int64((int64_t)len));
		add(o, "key", key);
		json_object_array_add(a, o);
	}
	if (json_out)
		print_json(a);
	else
		print_volumes(a);
	json_object_put(a);
	return EXIT_OK;
}

int cmd_dm(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "open"))
		return dm_open(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "close"))
		return dm_close(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "status"))
		return dm_status(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: hsmkeyctl %s\n", DM_USAGE);
		return EXIT_OK;
	}
	return usage_error(DM_USAGE, "dm needs 'open', 'close' or 'status'%s", "");
}
