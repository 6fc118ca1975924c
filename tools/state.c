// SPDX-License-Identifier: GPL-2.0
/*
 * Commands that change a key's state: load (into the kernel), revoke,
 * disable, enable, and the deletion schedule.
 */
#include <time.h>
#include "ctl.h"
#include "proto.h"
#include "util.h"

/* A request naming one key, answered by a line. */
static int name_op(int argc, char **argv, const char *op, const char *done)
{
	struct json_object *req;
	char usage[64];
	const char *name;
	int r;

	snprintf(usage, sizeof(usage), "%s NAME", op);
	r = args_exact(argc, argv, usage, NULL, &name, 1);
	if (r)
		return PARSED(r);
	req = request(op);
	add(req, "name", name);
	return simple(req, -1, done);
}

int cmd_load(int argc, char **argv)
{
	return name_op(argc, argv, "load", "loaded");
}

int cmd_revoke(int argc, char **argv)
{
	return name_op(argc, argv, "revoke", "revoked");
}

int cmd_disable(int argc, char **argv)
{
	return name_op(argc, argv, "disable", "disabled");
}

int cmd_enable(int argc, char **argv)
{
	return name_op(argc, argv, "enable", "enabled");
}

int cmd_cancel_deletion(int argc, char **argv)
{
	return name_op(argc, argv, "cancel-deletion",
		       "deletion cancelled; the key is disabled ('hsmkeyctl enable' to use it)");
}

static void print_scheduled(struct json_object *reply, const char *name)
{
	int64_t at = 0;
	time_t t;
	char when[64];

	proto_int(reply, "delete_at", &at);
	t = (time_t)at;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
	printf("key %s is disabled and will be destroyed at %s\n"
	       "(hsmkeyctl cancel-deletion %s keeps it)\n", name, when, name);
}

int cmd_schedule_deletion(int argc, char **argv)
{
	static const char usage[] = "schedule-deletion NAME [--wait DURATION]";
	const char *name, *wait_arg = NULL;
	const struct arg_opt opts[] = {
		{ "wait", 'w', .value = &wait_arg },
		{}
	};
	struct json_object *req;
	long long wait;
	int r = args_exact(argc, argv, usage, opts, &name, 1);

	if (r)
		return PARSED(r);
	if (wait_arg && parse_duration(wait_arg, &wait))
		return usage_error(usage, "bad duration '%s' (such as 30d, 12h, 45s)", wait_arg);
	req = request("schedule-deletion");
	add(req, "name", name);
	if (wait_arg)
		json_object_object_add(req, "wait", json_object_new_int64(wait));
	return call_print(req, -1, print_scheduled, name);
}
