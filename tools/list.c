// SPDX-License-Identifier: GPL-2.0
/*
 * The listings: list and status.  Their replies may come as a stream of
 * messages (a keystore of any size); call_listing() joins them, so what
 * is printed -- a table, or with --json one document -- is the same as
 * for a single reply.
 */
#include "ctl.h"
#include "proto.h"

static void print_keys(struct json_object *keys)
{
	size_t i, n = json_object_is_type(keys, json_type_array) ?
		json_object_array_length(keys) : 0;

	printf("%-24s %-12s %7s %-8s %-8s %-11s %s\n", "NAME", "TYPE", "VERSION",
	       "STATE", "KERNEL", "DELIVERY", "BINDINGS");
	for (i = 0; i < n; i++) {
		struct json_object *k = json_object_array_get_idx(keys, i);
		int64_t version = 0, bindings = 0;

		proto_int(k, "version", &version);
		proto_int(k, "bindings", &bindings);
		printf("%-24s %-12s %7lld %-8s %-8s %-11s %lld\n", proto_str(k, "name"),
		       proto_str(k, "type"), (long long)version, proto_str(k, "state"),
		       proto_str(k, "kernel"), proto_str(k, "delivery") ?: "-",
		       (long long)bindings);
	}
}

static void print_list(struct json_object *reply, const char *arg)
{
	(void)arg;
	print_keys(json_object_object_get(reply, "keys"));
}

int cmd_list(int argc, char **argv)
{
	int r = args_exact(argc, argv, "list", NULL, NULL, 0);

	return r ? PARSED(r) : call_listing(request("list"), print_list);
}

static void print_foreign(struct json_object *a)
{
	size_t i, n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;

	if (!n)
		return;
	printf("\nkernel keys of other keystores (left alone): ");
	for (i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", proto_str(json_object_array_get_idx(a, i), "name"));
	printf("\n");
}

static void print_data_keys(struct json_object *o)
{
	int64_t live = 0, spent = 0;

	if (!o || !proto_int(o, "live", &live) || !proto_int(o, "spent", &spent) ||
	    (!live && !spent))
		return;
	printf("\ndata keys in the kernel (data-key --kernel, unwrap-to-kernel): %lld live, %lld spent\n",
	       (long long)live, (long long)spent);
}

static void print_status(struct json_object *reply, const char *arg)
{
	struct json_object *k = json_object_object_get(reply, "kernel");
	int64_t pid = 0, nkeys = 0;

	(void)arg;
	proto_int(reply, "pid", &pid);
	printf("daemon:   hsmkeyd %s, pid %lld\n", proto_str(reply, "daemon_version"),
	       (long long)pid);
	printf("keystore: %s (%s)\n", proto_str(reply, "state_dir"), proto_str(reply, "keystore"));
	if (proto_str(reply, "backend"))
		printf("backend:  %s%s%s\n", proto_str(reply, "backend"),
		       proto_str(reply, "backend_reason") ? ": " : "",
		       proto_str(reply, "backend_reason") ?: "");
	if (proto_str(reply, "delivery"))
		printf("delivery: %s\n", proto_str(reply, "delivery"));
	if (json_object_get_boolean(json_object_object_get(k, "loaded"))) {
		proto_int(k, "keys", &nkeys);
		printf("kernel:   hsmkey.ko %s, %lld key versions, xts(hsmaes) over %s\n",
		       proto_str(k, "version"), (long long)nkeys, proto_str(k, "xts_driver"));
	} else {
		printf("kernel:   hsmkey.ko is not loaded\n");
	}
	printf("\n");
	print_keys(json_object_object_get(reply, "keys"));
	print_foreign(json_object_object_get(reply, "foreign"));
	print_data_keys(json_object_object_get(reply, "data_keys"));
}

int cmd_status(int argc, char **argv)
{
	int r = args_exact(argc, argv, "status", NULL, NULL, 0);

	return r ? PARSED(r) : call_listing(request("status"), print_status);
}
