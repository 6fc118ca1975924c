// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyctl backup, restore: the key store copied to the backup token,
 * or from it into new tokens.  The daemon's backend copies, token to
 * token, wrapped; nothing secret passes here.
 */
#include <stdio.h>
#include "ctl.h"
#include "proto.h"
#include "util.h"

static long long num(struct json_object *reply, const char *key)
{
	int64_t v = 0;

	proto_int(reply, key, &v);
	return (long long)v;
}

static void print_backup(struct json_object *reply, const char *arg)
{
	(void)arg;
	printf("backup token '%s' holds the key store at generation %lld: %lld key version(s) copied to it, %lld destroyed in it\n",
	       proto_str(reply, "token") ?: "", num(reply, "generation"), num(reply, "copied"),
	       num(reply, "destroyed"));
}

static void print_restore(struct json_object *reply, const char *arg)
{
	(void)arg;
	printf("restored from backup token '%s': %lld key version(s) copied into the key store's tokens\n",
	       proto_str(reply, "token") ?: "", num(reply, "copied"));
	if (num(reply, "missing"))
		printf("NOT in the backup (made after it; their data cannot be read): %lld version(s): %s\n",
		       num(reply, "missing"), proto_str(reply, "missing_versions") ?: "");
}

static int copy_cmd(int argc, char **argv, const char *op, print_fn *print)
{
	const struct arg_opt opts[] = { {} };
	int r = args_parse(argc, argv, op, opts, NULL, 0);

	if (r)
		return PARSED(r);
	return call_print(request(op), -1, print, NULL);
}

int cmd_backup(int argc, char **argv)
{
	return copy_cmd(argc, argv, "backup", print_backup);
}

int cmd_restore(int argc, char **argv)
{
	return copy_cmd(argc, argv, "restore", print_restore);
}
