// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyctl: the operator's CLI.  Each subcommand builds one request for
 * hsmkeyd (see daemon/proto.h) and prints the reply, as text or --json.
 *
 * Exit codes: 0 success; 1 the daemon refused or the operation failed;
 * 2 usage error; 3 the daemon cannot be reached.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/hsmkey.h>
#include "proto.h"
#include "util.h"

enum { EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NODAEMON };

static const char *socket_path = "/run/hsmkey/hsmkeyd.sock";
static bool json_out;

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
};

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
	fprintf(stderr, "hsmkeyctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nUsage: hsmkeyctl %s\n", usage);
	return EXIT_USAGE;
}

static struct json_object *request(const char *op)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "op", json_object_new_string(op));
	return o;
}

static void add(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* Send @req (consumed), receive the reply; prints errors once, here. */
static int call(struct json_object *req, int passfd, struct json_object **reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t err = 0;
	int fd, r;

	*reply = NULL;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "hsmkeyctl: cannot reach hsmkeyd at %s: %m\n"
			"Is the daemon running? (systemctl start hsmkeyd, or --socket PATH)\n",
			socket_path);
		json_object_put(req);
		if (fd >= 0)
			close(fd);
		return EXIT_NODAEMON;
	}
	r = proto_send(fd, req, passfd);
	json_object_put(req);
	if (!r)
		r = proto_recv(fd, reply, NULL);
	close(fd);
	if (r) {
		fprintf(stderr, "hsmkeyctl: no valid reply from hsmkeyd: %s\n", strerror(-r));
		return EXIT_NODAEMON;
	}
	if (!json_object_get_boolean(json_object_object_get(*reply, "ok"))) {
		proto_int(*reply, "errno", &err);
		if (json_out)
			printf("%s\n", json_object_to_json_string_ext(*reply, JSON_C_TO_STRING_PRETTY));
		fprintf(stderr, "hsmkeyctl: %s\n", proto_str(*reply, "error") ?: strerror((int)err));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* Run a request whose reply needs no more than a line or the JSON. */
static int simple(struct json_object *req, int passfd, const char *done)
{
	struct json_object *reply;
	int r = call(req, passfd, &reply);

	if (r == EXIT_OK) {
		if (json_out)
			printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
		else if (done)
			printf("%s\n", done);
	}
	json_object_put(reply);
	return r;
}

/* --version N (token) and --wait DURATION (schedule-deletion). */
static const char *opt_version, *opt_wait;

/* Parse "--type T" and "--key-file F" style options after positionals. */
static int parse_opts(int argc, char **argv, const char *usage, int npos,
		      const char **pos, const char **type, const char **file,
		      const char **key)
{
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "key-file", required_argument, NULL, 'f' },
		{ "key", required_argument, NULL, 'k' },
		{ "version", required_argument, NULL, 'v' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, n = 0;

	optind = 0;
	opt_version = opt_wait = NULL;
	while ((c = getopt_long(argc, argv, "-t:f:k:v:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (n == npos)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			pos[n++] = optarg;
			break;
		case 't':
			if (!type)
				return usage_error(usage, "%s takes no --type", argv[0]);
			*type = optarg;
			break;
		case 'f':
			if (!file)
				return usage_error(usage, "%s takes no --key-file", argv[0]);
			*file = optarg;
			break;
		case 'k':
			if (!key)
				return usage_error(usage, "%s takes no --key", argv[0]);
			*key = optarg;
			break;
		case 'v':
			if (strcmp(argv[0], "token"))
				return usage_error(usage, "%s takes no --version", argv[0]);
			opt_version = optarg;
			break;
		case 'w':
			if (strcmp(argv[0], "schedule-deletion"))
				return usage_error(usage, "%s takes no --wait", argv[0]);
			opt_wait = optarg;
			break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (n != npos)
		return usage_error(usage, "%s: missing arguments", argv[0]);
	if ((type && !*type) || (file && !*file) || (key && !*key))
		return usage_error(usage, "%s: a required option is missing", argv[0]);
	return 0;
}

#define PARSE(...) do { \
	int _r = parse_opts(argc, argv, __VA_ARGS__); \
	if (_r) \
		return _r < 0 ? EXIT_OK : _r; \
} while (0)

static int cmd_create(int argc, char **argv)
{
	const char *name, *type = NULL;
	struct json_object *req;

	PARSE("create NAME --type TYPE", 1, &name, &type, NULL, NULL);
	req = request("create");
	add(req, "name", name);
	add(req, "type", type);
	return simple(req, -1, "created");
}

static int cmd_import(int argc, char **argv)
{
	const char *name, *type = NULL, *file = NULL;
	struct json_object *req;
	int fd, r;

	PARSE("import NAME --type TYPE --key-file FILE|-", 1, &name, &type, &file, NULL);
	/* Opened here, with the caller's rights; the daemon reads it. */
	fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
	if (fd < 0) {
		fprintf(stderr, "hsmkeyctl: cannot open key file %s: %m\n", file);
		return EXIT_FAILED;
	}
	req = request("import");
	add(req, "name", name);
	add(req, "type", type);
	r = simple(req, fd, "imported");
	close(fd);
	return r;
}

static void print_keys(struct json_object *keys)
{
	size_t i, n = json_object_array_length(keys);

	printf("%-24s %-12s %7s %-8s %-8s %s\n", "NAME", "TYPE", "VERSION",
	       "STATE", "KERNEL", "BINDINGS");
	for (i = 0; i < n; i++) {
		struct json_object *k = json_object_array_get_idx(keys, i);
		int64_t version = 0, bindings = 0;

		proto_int(k, "version", &version);
		proto_int(k, "bindings", &bindings);
		printf("%-24s %-12s %7lld %-8s %-8s %lld\n", proto_str(k, "name"),
		       proto_str(k, "type"), (long long)version, proto_str(k, "state"),
		       proto_str(k, "kernel"), (long long)bindings);
	}
}

static int cmd_list(int argc, char **argv)
{
	struct json_object *reply;
	int r;

	PARSE("list", 0, NULL, NULL, NULL, NULL);
	r = call(request("list"), -1, &reply);
	if (r == EXIT_OK) {
		if (json_out)
			printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
		else
			print_keys(json_object_object_get(reply, "keys"));
	}
	json_object_put(reply);
	return r;
}

static int cmd_status(int argc, char **argv)
{
	struct json_object *reply, *k;
	int64_t pid = 0, nkeys = 0;
	int r;

	PARSE("status", 0, NULL, NULL, NULL, NULL);
	r = call(request("status"), -1, &reply);
	if (r == EXIT_OK && json_out) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	} else if (r == EXIT_OK) {
		k = json_object_object_get(reply, "kernel");
		proto_int(reply, "pid", &pid);
		printf("daemon:   hsmkeyd %s, pid %lld\n", proto_str(reply, "daemon_version"),
		       (long long)pid);
		printf("keystore: %s (%s)\n", proto_str(reply, "state_dir"),
		       proto_str(reply, "keystore"));
		if (json_object_get_boolean(json_object_object_get(k, "loaded"))) {
			proto_int(k, "keys", &nkeys);
			printf("kernel:   hsmkey.ko %s, %lld key versions, xts(hsmaes) over %s\n",
			       proto_str(k, "version"), (long long)nkeys,
			       proto_str(k, "xts_driver"));
		} else {
			printf("kernel:   hsmkey.ko is not loaded\n");
		}
		printf("\n");
		print_keys(json_object_object_get(reply, "keys"));
		k = json_object_object_get(reply, "foreign");
		if (k && json_object_array_length(k)) {
			printf("\nkernel keys of other keystores (left alone): ");
			for (size_t i = 0; i < json_object_array_length(k); i++)
				printf("%s%s", i ? ", " : "",
				       proto_str(json_object_array_get_idx(k, i), "name"));
			printf("\n");
		}
	}
	json_object_put(reply);
	return r;
}

static int cmd_name_op(int argc, char **argv, const char *op, const char *done)
{
	char usage[64];
	const char *name;
	struct json_object *req;

	snprintf(usage, sizeof(usage), "%s NAME", op);
	PARSE(usage, 1, &name, NULL, NULL, NULL);
	req = request(op);
	add(req, "name", name);
	return simple(req, -1, done);
}

static int cmd_load(int argc, char **argv)
{
	return cmd_name_op(argc, argv, "load", "loaded");
}

static int cmd_revoke(int argc, char **argv)
{
	return cmd_name_op(argc, argv, "revoke", "revoked");
}

static int cmd_token(int argc, char **argv)
{
	struct json_object *req, *reply;
	const char *name;
	int r;

	PARSE("token NAME [--version N]", 1, &name, NULL, NULL, NULL);
	req = request("token");
	add(req, "name", name);
	if (opt_version) {
		char *end;
		long long v = strtoll(opt_version, &end, 10);

		if (*end || v < 1 || v > UINT32_MAX) {
			json_object_put(req);
			return usage_error("token NAME [--version N]", "bad version '%s'", opt_version);
		}
		json_object_object_add(req, "version", json_object_new_int64(v));
	}
	r = call(req, -1, &reply);
	if (r == EXIT_OK && json_out)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	else if (r == EXIT_OK)
		printf("%s\n", proto_str(reply, "token"));
	json_object_put(reply);
	return r;
}

static int cmd_disable(int argc, char **argv)
{
	return cmd_name_op(argc, argv, "disable", "disabled");
}

static int cmd_enable(int argc, char **argv)
{
	return cmd_name_op(argc, argv, "enable", "enabled");
}

static int cmd_rotate(int argc, char **argv)
{
	const char *name, *file = "";	/* optional: "" is none */
	struct json_object *req;
	int fd = -1, r;

	PARSE("rotate NAME [--key-file FILE|-]", 1, &name, NULL, &file, NULL);
	if (*file) {
		fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
		if (fd < 0) {
			fprintf(stderr, "hsmkeyctl: cannot open key file %s: %m\n", file);
			return EXIT_FAILED;
		}
	}
	req = request("rotate");
	add(req, "name", name);
	r = simple(req, fd, "rotated");
	if (fd >= 0)
		close(fd);
	return r;
}

static int cmd_schedule_deletion(int argc, char **argv)
{
	static const char usage[] = "schedule-deletion NAME [--wait DURATION]";
	struct json_object *req, *reply;
	const char *name;
	long long wait;
	int64_t at = 0;
	int r;

	PARSE(usage, 1, &name, NULL, NULL, NULL);
	req = request("schedule-deletion");
	add(req, "name", name);
	if (opt_wait) {
		if (parse_duration(opt_wait, &wait)) {
			json_object_put(req);
			return usage_error(usage, "bad duration '%s' (such as 30d, 12h, 45s)", opt_wait);
		}
		json_object_object_add(req, "wait", json_object_new_int64(wait));
	}
	r = call(req, -1, &reply);
	if (r == EXIT_OK && json_out) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	} else if (r == EXIT_OK) {
		time_t t;
		char when[64];

		proto_int(reply, "delete_at", &at);
		t = (time_t)at;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
		printf("key %s is disabled and will be destroyed at %s\n"
		       "(hsmkeyctl cancel-deletion %s keeps it)\n", name, when, name);
	}
	json_object_put(reply);
	return r;
}

static int cmd_cancel_deletion(int argc, char **argv)
{
	return cmd_name_op(argc, argv, "cancel-deletion",
			   "deletion cancelled; the key is disabled ('hsmkeyctl enable' to use it)");
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
	proto_int(p, "algorithms", &v);
	printf("           algorithms %s%s%s%s\n", !v ? "all that fit" : "",
	       v & HSMKEY_ALG_XTS ? "xts " : "", v & HSMKEY_ALG_CBC ? "cbc " : "",
	       v & HSMKEY_ALG_GCM ? "gcm" : "");
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
}

static void print_versions(struct json_object *a)
{
	size_t n = a ? json_object_array_length(a) : 0;

	printf("versions:  %-7s %-20s %-8s %s\n", "VERSION", "CREATED", "KERNEL", "BINDINGS");
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
		printf("           %-7lld %-20s %-8s %lld\n", (long long)v, when,
		       proto_str(o, "kernel") ?: "-", (long long)bindings);
	}
}

static int cmd_show(int argc, char **argv)
{
	struct json_object *req, *reply;
	const char *name;
	int64_t v;
	int r;

	PARSE("show NAME", 1, &name, NULL, NULL, NULL);
	req = request("show");
	add(req, "name", name);
	r = call(req, -1, &reply);
	if (r == EXIT_OK && json_out) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	} else if (r == EXIT_OK) {
		printf("name:      %s\n", proto_str(reply, "name"));
		printf("type:      %s\n", proto_str(reply, "type"));
		proto_int(reply, "version", &v);
		printf("version:   %lld\n", (long long)v);
		printf("id:        %s\n", proto_str(reply, "id"));
		printf("state:     %s\n", proto_str(reply, "state"));
		printf("kernel:    %s\n", proto_str(reply, "kernel") ?: "not loaded (no module)");
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
	}
	json_object_put(reply);
	return r;
}

/* policy NAME [options]: the options given replace those stored. */
static int cmd_policy(int argc, char **argv)
{
	static const char usage[] =
		"policy NAME [--users U,...] [--groups G,...] [--algorithms xts,cbc,gcm]\n"
		"       [--not-before TIME] [--expires TIME] [--max-bytes N] [--max-requests N]\n"
		"       [--max-bindings N] [--load-at-start yes|no]\n"
		"TIME: seconds since the epoch, +SECONDS from now, or 0 for none";
	static const struct option longopts[] = {
		{ "users", required_argument, NULL, 'u' },
		{ "groups", required_argument, NULL, 'g' },
		{ "algorithms", required_argument, NULL, 'a' },
		{ "not-before", required_argument, NULL, 'b' },
		{ "expires", required_argument, NULL, 'e' },
		{ "max-bytes", required_argument, NULL, 'B' },
		{ "max-requests", required_argument, NULL, 'R' },
		{ "max-bindings", required_argument, NULL, 'N' },
		{ "load-at-start", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct json_object *req = request("policy");
	const char *name = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "-h", longopts, NULL)) != -1) {
		const char *field = NULL;
		char *end, *list, *tok, *save;
		long long n;

		switch (c) {
		case 1:
			if (name) {
				json_object_put(req);
				return usage_error(usage, "unexpected argument '%s'", optarg);
			}
			name = optarg;
			continue;
		case 'u': field = "users"; break;
		case 'g': field = "groups"; break;
		case 'a': field = "algorithms"; break;
		case 'l':
			if (strcmp(optarg, "yes") && strcmp(optarg, "no")) {
				json_object_put(req);
				return usage_error(usage, "--load-at-start takes yes or no, not '%s'", optarg);
			}
			json_object_object_add(req, "load_at_start",
					       json_object_new_boolean(!strcmp(optarg, "yes")));
			continue;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			json_object_put(req);
			return EXIT_OK;
		case 'b': case 'e': case 'B': case 'R': case 'N':
			n = strtoll(optarg + (*optarg == '+'), &end, 10);
			if (*end || n < 0 || !*optarg) {
				json_object_put(req);
				return usage_error(usage, "not a number: '%s'", optarg);
			}
			if (*optarg == '+' && (c == 'b' || c == 'e'))
				n += (long long)time(NULL);
			json_object_object_add(req, c == 'b' ? "not_before" : c == 'e' ? "not_after" :
					       c == 'B' ? "max_bytes" : c == 'R' ? "max_requests" :
					       "max_bindings", json_object_new_int64(n));
			continue;
		default:
			json_object_put(req);
			return EXIT_USAGE;
		}
		/* A comma-separated list; empty clears it. */
		list = strdup(optarg);
		struct json_object *a = json_object_new_array();

		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_object_array_add(a, json_object_new_string(tok));
		free(list);
		json_object_object_add(req, field, a);
	}
	if (!name) {
		json_object_put(req);
		return usage_error(usage, "%s: missing the key name", "policy");
	}
	add(req, "name", name);
	return simple(req, -1, "policy set");
}

static int cmd_audit(int argc, char **argv)
{
	struct json_object *reply;
	const char *what;
	int r;

	PARSE("audit verify", 1, &what, NULL, NULL, NULL);
	if (strcmp(what, "verify"))
		return usage_error("audit verify", "unknown audit command '%s'", what);
	r = call(request("audit-verify"), -1, &reply);
	if (r == EXIT_OK && json_out)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	else if (r == EXIT_OK)
		printf("audit log verified: %s\ncheckpoint signing key (Ed25519): %s\n",
		       proto_str(reply, "result"), proto_str(reply, "public_key"));
	json_object_put(reply);
	return r;
}

static int cmd_dm(int argc, char **argv)
{
	const char *pos[2], *key = NULL;
	struct json_object *req;

	if (argc >= 2 && !strcmp(argv[1], "open")) {
		argc--, argv++;
		PARSE("dm open DEVICE MAPNAME --key NAME", 2, pos, NULL, NULL, &key);
		req = request("dm-open");
		add(req, "device", pos[0]);
		add(req, "map", pos[1]);
		add(req, "key", key);
		return simple(req, -1, NULL);
	}
	if (argc >= 2 && !strcmp(argv[1], "close")) {
		argc--, argv++;
		PARSE("dm close MAPNAME", 1, pos, NULL, NULL, NULL);
		req = request("dm-close");
		add(req, "map", pos[0]);
		return simple(req, -1, NULL);
	}
	return usage_error("dm open DEVICE MAPNAME --key NAME | dm close MAPNAME",
			   "dm needs 'open' or 'close'%s", "");
}

static const struct command commands[] = {
	{ "create", cmd_create, "create NAME --type TYPE", "create a key with random material" },
	{ "import", cmd_import, "import NAME --type TYPE --key-file FILE|-", "import raw key material" },
	{ "list", cmd_list, "list", "list keys, their state and kernel bindings" },
	{ "load", cmd_load, "load NAME", "provision a key into the kernel" },
	{ "revoke", cmd_revoke, "revoke NAME", "revoke a key everywhere; its volumes fail closed" },
	{ "show", cmd_show, "show NAME", "a key's metadata, policy and kernel counters (never material)" },
	{ "disable", cmd_disable, "disable NAME", "refuse new bindings of a key; open volumes keep working" },
	{ "enable", cmd_enable, "enable NAME", "allow a disabled key again and provision it" },
	{ "policy", cmd_policy, "policy NAME [--users ...] [--expires ...] ...",
	  "set who may bind a key, for what, until when, how much (see --help)" },
	{ "audit", cmd_audit, "audit verify",
	  "check the audit log: every record's MAC, the chain, signatures, the kernel's anchor" },
	{ "token", cmd_token, "token NAME [--version N]",
	  "print a key's token (hex) for an AF_ALG application of an allowed user" },
	{ "dm", cmd_dm, "dm open DEVICE MAPNAME --key NAME | dm close MAPNAME", "open or close a dm-crypt volume" },
	{ "status", cmd_status, "status", "show the daemon, the kernel module and the keys" },
	{ "rotate", cmd_rotate, "rotate NAME [--key-file FILE|-]",
	  "add a new current version; older versions keep reading existing data" },
	{ "schedule-deletion", cmd_schedule_deletion, "schedule-deletion NAME [--wait DURATION]",
	  "disable a key now and destroy it after the waiting period" },
	{ "cancel-deletion", cmd_cancel_deletion, "cancel-deletion NAME",
	  "keep a key scheduled for deletion (it stays disabled)" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: hsmkeyctl [--socket PATH] [--json] COMMAND [ARGS]\n\nCommands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-50s %s\n", commands[i].usage, commands[i].help);
	fprintf(f, "\nKey types: aes-128-xts aes-256-xts aes-128-cbc aes-256-cbc aes-128-gcm aes-256-gcm\n"
		   "Exit codes: 0 success, 1 operation failed, 2 usage error, 3 daemon unreachable\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "+S:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': socket_path = optarg; break;
		case 'j': json_out = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("hsmkeyctl %s\n", HSMKEY_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[optind], commands[i].name))
			return commands[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "hsmkeyctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
