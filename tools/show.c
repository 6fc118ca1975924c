// SPDX-License-Identifier: GPL-2.0
/*
 * show: one key's metadata, policy, kernel state, usage and versions, as
 * the daemon reports them (never material).
 */
#include <time.h>
#include <linux/hsmkey.h>
#include "ctl.h"
#include "proto.h"

/*
 * "algorithms" is an array of names ("xts", "cbc", "gcm"; empty: any).
 * A daemon older than that sends a HSMKEY_ALG_* mask; both print alike.
 */
static void print_algorithms(struct json_object *a)
{
	static const char *const names[] = { "xts", "cbc", "gcm" };
	static const int bits[] = { HSMKEY_ALG_XTS, HSMKEY_ALG_CBC, HSMKEY_ALG_GCM };
	size_t i, n = 0;

	printf("           algorithms ");
	if (json_object_is_type(a, json_type_array)) {
		n = json_object_array_length(a);
		for (i = 0; i < n; i++)
			printf("%s%s", i ? " " : "",
			       json_object_get_string(json_object_array_get_idx(a, i)));
	} else if (json_object_is_type(a, json_type_int)) {
		int64_t v = json_object_get_int64(a);

		for (i = 0; i < 3; i++)
			if (v & bits[i])
				printf("%s%s", n++ ? " " : "", names[i]);
	}
	printf("%s\n", n ? "" : "all that fit");
}

/* A KMS key's grants: "encrypt,decrypt to uid 1000". */
static void print_grants(struct json_object *a)
{
	size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *g = json_object_array_get_idx(a, i);
		struct json_object *ops = json_object_object_get(g, "ops");
		bool group = json_object_object_get_ex(g, "gid", NULL);
		int64_t id = 0;

		proto_int(g, group ? "gid" : "uid", &id);
		printf("%s", i ? "           " : "grants:    ");
		for (size_t j = 0; j < json_object_array_length(ops); j++)
			printf("%s%s", j ? "," : "",
			       json_object_get_string(json_object_array_get_idx(ops, j)));
		printf(" to %s %lld\n", group ? "gid" : "uid", (long long)id);
	}
}

static void print_policy(struct json_object *p)
{
	int64_t v;

	if (!p) {
		printf("policy:    none (anyone holding the token; no limits)\n");
		return;
	}
	printf("policy:    uids %s, gids %s\n",
	       json_object_to_json_string(json_object_object_get(p, "uids")),
	       json_object_to_json_string(json_object_object_get(p, "gids")));
	print_algorithms(json_object_object_get(p, "algorithms"));
	proto_int(p, "not_before", &v);
	printf("           not before %lld", (long long)v);
	proto_int(p, "not_after", &v);
	printf(", not after %lld (0: none)\n", (long long)v);
	proto_int(p, "max_bytes", &v);
	printf("           max bytes %lld", (long long)v);
	proto_int(p, "max_requests", &v);
	printf(", max requests %lld", (long long)v);
	proto_int(p, "max_bindings", &v);
	printf(", max bindings %lld (0: none)\n", (long long)v);
	printf("           load at start: %s\n",
	       json_object_get_boolean(json_object_object_get(p, "load_at_start")) ? "yes" : "no");
	print_grants(json_object_object_get(p, "grants"));
}

static void print_versions(struct json_object *a)
{
	size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;

	printf("versions:  %-7s %-20s %-8s %-11s %s\n", "VERSION", "CREATED", "KERNEL", "DELIVERY",
	       "BINDINGS");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		int64_t v = 0, created = 0, bindings = 0;
		time_t t;
		char when[32];

		proto_int(o, "version", &v);
		proto_int(o, "created", &created);
		proto_int(o, "bindings", &bindings);
		t = (time_t)created;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("           %-7lld %-20s %-8s %-11s %lld\n", (long long)v, when,
		       proto_str(o, "kernel") ?: "-", proto_str(o, "delivery") ?: "-",
		       (long long)bindings);
	}
}

/* @name as the user gave it, for the command it suggests. */
static void print_key(struct json_object *reply, const char *name)
{
	int64_t v;

	printf("name:      %s\n", proto_str(reply, "name"));
	printf("type:      %s\n", proto_str(reply, "type"));
	proto_int(reply, "version", &v);
	printf("version:   %lld\n", (long long)v);
	printf("id:        %s\n", proto_str(reply, "id"));
	printf("state:     %s\n", proto_str(reply, "state"));
	printf("kernel:    %s\n", proto_str(reply, "kernel") ?: "not loaded (no module)");
	if (proto_str(reply, "delivery"))
		printf("delivery:  %s\n", proto_str(reply, "delivery"));
	if (proto_int(reply, "bindings", &v)) {
		printf("bindings:  %lld\n", (long long)v);
		proto_int(reply, "requests", &v);
		printf("usage:     %lld requests", (long long)v);
		proto_int(reply, "bytes", &v);
		printf(", %lld bytes\n", (long long)v);
	}
	if (proto_int(reply, "delete_at", &v)) {
		time_t t = (time_t)v;
		char when[64];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
		printf("deletion:  %s (hsmkeyctl cancel-deletion %s keeps it)\n", when, name);
	}
	print_policy(json_object_object_get(reply, "policy"));
	print_versions(json_object_object_get(reply, "version_list"));
	if (proto_str(reply, "public_key"))
		printf("public key:\n%s", proto_str(reply, "public_key"));
}

int cmd_show(int argc, char **argv)
{
	struct json_object *req;
	const char *name;
	int r = args_exact(argc, argv, "show NAME", NULL, &name, 1);

	if (r)
		return PARSED(r);
	req = request("show");
	add(req, "name", name);
	return call_print(req, -1, print_key, name);
}
