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
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/hsmkey.h>
#include <openssl/evp.h>
#include "luks2.h"
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

/* --version N (token), --wait DURATION (schedule-deletion), --wrapped-file F (import). */
static const char *opt_version, *opt_wait, *opt_wrapped;

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
		{ "wrapped-file", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, n = 0;

	optind = 0;
	opt_version = opt_wait = opt_wrapped = NULL;
	while ((c = getopt_long(argc, argv, "-t:f:k:v:w:W:h", longopts, NULL)) != -1) {
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
		case 'W':
			if (strcmp(argv[0], "import"))
				return usage_error(usage, "%s takes no --wrapped-file", argv[0]);
			opt_wrapped = optarg;
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
	static const char usage[] =
		"import NAME --type TYPE --key-file FILE|-\n"
		"       import NAME --type TYPE --wrapped-file FILE|-   (RSA-OAEP, see import-key)";
	const char *name, *type = NULL, *file = "";
	struct json_object *req;
	int fd, r;

	PARSE(usage, 1, &name, &type, &file, NULL);
	if (!*file == !opt_wrapped)
		return usage_error(usage, "import needs --key-file or --wrapped-file%s", "");
	if (opt_wrapped)
		file = opt_wrapped;
	/* Opened here, with the caller's rights; the daemon reads it. */
	fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
	if (fd < 0) {
		fprintf(stderr, "hsmkeyctl: cannot open key file %s: %m\n", file);
		return EXIT_FAILED;
	}
	req = request("import");
	add(req, "name", name);
	add(req, "type", type);
	if (opt_wrapped)
		json_object_object_add(req, "wrapped", json_object_new_boolean(1));
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

static int cmd_import_key(int argc, char **argv)
{
	static const char usage[] = "import-key [--renew]";
	struct json_object *reply;
	bool renew = argc == 2 && !strcmp(argv[1], "--renew");
	int r;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		printf("Usage: hsmkeyctl %s\n", usage);
		return EXIT_OK;
	}
	if (argc > 2 || (argc == 2 && !renew))
		return usage_error(usage, "unexpected argument '%s'", argv[1]);
	r = call(request(renew ? "import-key-renew" : "import-key"), -1, &reply);
	if (r == EXIT_OK && json_out) {
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	} else if (r == EXIT_OK) {
		fprintf(stderr, "# %s, SHA-256 of the key: %s\n"
			"# wrap with: openssl pkeyutl -encrypt -pubin -inkey THIS.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256\n",
			proto_str(reply, "algorithm"), proto_str(reply, "fingerprint"));
		fputs(proto_str(reply, "public_key") ?: "", stdout);
	}
	json_object_put(reply);
	return r;
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

static int run_capture(char *const argv[], char *out, size_t size);

/*
 * The device-mapper crypt volumes keyed through hsmkey (an hsmaes cipher),
 * from "dmsetup table": whoever opened them (dm open, luks open, crypttab).
 * The table names the key only by its keyring description; each volume's
 * I/O state shows whether its key is still good.
 */
static int dm_status(void)
{
	char *const v[] = { "dmsetup", "table", "--target", "crypt", NULL };
	static char out[1 << 16];
	struct json_object *a = json_object_new_array();
	char *line, *save = NULL;
	int r = run_capture(v, out, sizeof(out));

	if (r) {
		json_object_put(a);
		fprintf(stderr, "hsmkeyctl: dmsetup table failed (status %d): is device-mapper there?\n", r);
		return EXIT_FAILED;
	}
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], cipher[128], key[160], dev[64];
		unsigned long long start, len, ivoff, off;
		struct json_object *o;

		if (sscanf(line, "%127[^:]: %llu %llu crypt %127s %159s %llu %63s %llu",
			   name, &start, &len, cipher, key, &ivoff, dev, &off) != 8 ||
		    !strstr(cipher, "hsmaes"))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "map", json_object_new_string(name));
		json_object_object_add(o, "cipher", json_object_new_string(cipher));
		json_object_object_add(o, "device", json_object_new_string(dev));
		json_object_object_add(o, "sectors", json_object_new_int64((int64_t)len));
		json_object_object_add(o, "key", json_object_new_string(key));
		json_object_array_add(a, o);
	}
	if (json_out) {
		printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY));
	} else {
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
	json_object_put(a);
	return EXIT_OK;
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
	if (argc >= 2 && !strcmp(argv[1], "status")) {
		argc--, argv++;
		PARSE("dm status", 0, pos, NULL, NULL, NULL);
		return dm_status();
	}
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: hsmkeyctl dm open DEVICE MAPNAME --key NAME | dm close MAPNAME | dm status\n");
		return EXIT_OK;
	}
	return usage_error("dm open DEVICE MAPNAME --key NAME | dm close MAPNAME | dm status",
			   "dm needs 'open', 'close' or 'status'%s", "");
}


/*
 * LUKS2 volumes whose volume key is a token: the header keeps the token
 * encrypted under the passphrase (keyslots use stock aes-xts-plain64),
 * and the data segment uses capi:xts(hsmaes)-plain64, so opening needs
 * both the passphrase and the key provisioned in the kernel.  The header
 * also carries a LUKS2 token of type "hsmkey" naming the key, which
 * "luks open" has the daemon load first.
 */
#define LUKS_CIPHER	"capi:xts(hsmaes)-plain64"
#define LUKS_USAGE \
	"luks format DEVICE --key NAME [--passphrase-file FILE] [--yes] [-- CRYPTSETUP-OPTIONS]\n" \
	"       luks open DEVICE MAPNAME [--passphrase-file FILE] [-- CRYPTSETUP-OPTIONS]\n" \
	"       luks close MAPNAME\n" \
	"       luks crypttab DEVICE MAPNAME [--passphrase-file FILE] [--root DIR]"

/* Run @argv, waiting; its exit status, or 127 when it cannot run. */
static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 127;
	if (!pid) {
		execvp(argv[0], argv);
		fprintf(stderr, "hsmkeyctl: cannot run %s: %m\n", argv[0]);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run @argv with its standard output in @out (at most @size - 1 bytes). */
static int run_capture(char *const argv[], char *out, size_t size)
{
	int fds[2], status, n;
	size_t len = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return 127;
	pid = fork();
	if (pid < 0)
		return 127;
	if (!pid) {
		dup2(fds[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (len < size - 1 && (n = (int)read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A descriptor (no close-on-exec) holding @len bytes, for /proc/self/fd. */
static int memfd_with(const char *what, const void *buf, size_t len)
{
	int fd = memfd_create(what, 0);

	if (fd < 0)
		return -1;
	if (write_full(fd, buf, len) || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct luks_args {
	const char *pos[2];
	const char *key, *passfile, *root;
	bool yes;
	char **extra;		/* after "--" */
	int nextra;
};

static int luks_parse(int argc, char **argv, int npos, struct luks_args *a)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "yes", no_argument, NULL, 'y' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, n = 0;

	memset(a, 0, sizeof(*a));
	optind = 0;
	while ((c = getopt_long(argc, argv, "-k:p:yr:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (n == npos)
				return usage_error(LUKS_USAGE, "unexpected argument '%s'", optarg);
			a->pos[n++] = optarg;
			break;
		case 'k': a->key = optarg; break;
		case 'p': a->passfile = optarg; break;
		case 'y': a->yes = true; break;
		case 'r': a->root = optarg; break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", LUKS_USAGE);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (n != npos)
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


static int luks_format(int argc, char **argv)
{
	char vkpath[64], tokpath[64], json[512], tokhex[2 * HSMKEY_TOKEN_LEN + 1];
	uint8_t tok[HSMKEY_TOKEN_LEN];
	struct json_object *req, *reply;
	struct luks_args a;
	int r, vkfd, tokfd;
	int64_t version = 0;
	char **v;

	r = luks_parse(argc, argv, 1, &a);
	if (r)
		return r < 0 ? EXIT_OK : r;
	if (!a.key)
		return usage_error(LUKS_USAGE, "luks format needs --key NAME%s", "");
	req = request("token");
	add(req, "name", a.key);
	r = call(req, -1, &reply);
	if (r)
		return r;
	if (strcmp(proto_str(reply, "type") ?: "", "aes-256-xts") &&
	    strcmp(proto_str(reply, "type") ?: "", "aes-128-xts")) {
		fprintf(stderr, "hsmkeyctl: key '%s' is %s; a LUKS2 volume needs an aes-128-xts or aes-256-xts key\n",
			a.key, proto_str(reply, "type"));
		json_object_put(reply);
		return EXIT_FAILED;
	}
	snprintf(tokhex, sizeof(tokhex), "%s", proto_str(reply, "token") ?: "");
	proto_int(reply, "version", &version);
	snprintf(json, sizeof(json),
		 "{\"type\":\"hsmkey\",\"keyslots\":[],\"key\":\"%s\",\"key_id\":\"%s\",\"key_version\":%lld}",
		 a.key, proto_str(reply, "id") ?: "", (long long)version);
	json_object_put(reply);
	r = hex_decode(tokhex, tok, sizeof(tok));
	wipe(tokhex, sizeof(tokhex));
	if (r) {
		fprintf(stderr, "hsmkeyctl: the daemon sent no valid token\n");
		return EXIT_FAILED;
	}
	/* The token reaches cryptsetup through a memory file, never argv. */
	vkfd = memfd_with("hsmkey-volume-key", tok, sizeof(tok));
	wipe(tok, sizeof(tok));
	tokfd = memfd_with("hsmkey-luks-token", json, strlen(json));
	if (vkfd < 0 || tokfd < 0) {
		fprintf(stderr, "hsmkeyctl: cannot make a memory file: %m\n");
		return EXIT_FAILED;
	}
	snprintf(vkpath, sizeof(vkpath), "/proc/self/fd/%d", vkfd);
	snprintf(tokpath, sizeof(tokpath), "/proc/self/fd/%d", tokfd);
	{
		const char *fixed[] = { "cryptsetup", "luksFormat", "--type", "luks2",
			"--cipher", "aes-xts-plain64", "--key-size", "512",
			/* Keyslots are opened with a passphrase-derived key:
			 * stock AES, not hsmaes. */
			"--keyslot-cipher", "aes-xts-plain64", "--keyslot-key-size", "512",
			"--volume-key-file", vkpath, a.yes ? "--batch-mode" : NULL, NULL };
		const char *tail[] = { a.pos[0], NULL };

		v = luks_argv(fixed, &a, tail);
		r = v ? run(v) : 127;
		free(v);
	}
	/* Zero the memory file's page before it is freed. */
	memset(tok, 0, sizeof(tok));
	if (pwrite(vkfd, tok, sizeof(tok), 0) != (ssize_t)sizeof(tok))
		fprintf(stderr, "hsmkeyctl: warning: cannot clear the volume key's memory file\n");
	close(vkfd);
	if (r) {
		close(tokfd);
		fprintf(stderr, "hsmkeyctl: cryptsetup luksFormat failed (status %d)\n", r);
		return EXIT_FAILED;
	}
	r = luks2_set_cipher(a.pos[0], LUKS_CIPHER);
	if (r) {
		close(tokfd);
		fprintf(stderr, "hsmkeyctl: cannot set the data cipher in the LUKS2 header of %s: %s; format it again\n",
			a.pos[0], strerror(-r));
		return EXIT_FAILED;
	}
	{
		char *const imp[] = { "cryptsetup", "token", "import", "--json-file", tokpath,
				      (char *)a.pos[0], NULL };

		r = run(imp);
	}
	close(tokfd);
	if (r) {
		fprintf(stderr, "hsmkeyctl: cryptsetup token import failed (status %d)\n", r);
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

/* The "hsmkey" LUKS2 token of @device: its key name and id. */
static int luks_key_of(const char *device, char *name, size_t nsize, char *id, size_t isize)
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
	char **v;
	int r;

	r = luks_parse(argc, argv, 2, &a);
	if (r)
		return r < 0 ? EXIT_OK : r;
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

		v = luks_argv(fixed, &a, tail);
		r = v ? run(v) : 127;
		free(v);
	}
	if (r) {
		fprintf(stderr, "hsmkeyctl: cryptsetup open failed (status %d)\n", r);
		return EXIT_FAILED;
	}
	if (!json_out)
		printf("opened /dev/mapper/%s with key %s\n", a.pos[1], name);
	return EXIT_OK;
}

/*
 * Open the volume at boot through /etc/crypttab: systemd's cryptsetup
 * opens LUKS2 whatever the data cipher, so the only thing hsmkey adds is
 * order.  The line goes into crypttab, and a drop-in makes the volume's
 * unit (systemd-cryptsetup@MAPNAME.service) require hsmkeyd.service and
 * start after it is ready, that is after its load-at-start keys are in
 * the kernel.  --root writes under another root (images, tests).
 */
static int luks_crypttab(int argc, char **argv)
{
	char uuid[128], name[HSMKEY_NAME_MAX + 1], id[2 * HSMKEY_ID_LEN + 1];
	char path[PATH_MAX], line[PATH_MAX + 256], unit[4 * HSMKEY_NAME_MAX + 64];
	char *old = NULL, *text;
	struct json_object *req, *reply;
	struct luks_args a;
	size_t len = 0, n, u = 0;
	int r, fd, dirfd;

	r = luks_parse(argc, argv, 2, &a);
	if (r)
		return r < 0 ? EXIT_OK : r;
	if (!valid_name(a.pos[1]))
		return usage_error(LUKS_USAGE, "invalid volume name '%s'", a.pos[1]);
	if (a.passfile && (a.passfile[0] != '/' || strpbrk(a.passfile, " \t\n#")))
		return usage_error(LUKS_USAGE, "--passphrase-file needs an absolute path without blanks or '#': '%s'",
				   a.passfile);
	r = luks_key_of(a.pos[0], name, sizeof(name), id, sizeof(id));
	if (r)
		return r;
	{
		char *const v[] = { "cryptsetup", "luksUUID", (char *)a.pos[0], NULL };

		if (run_capture(v, uuid, sizeof(uuid)) || !*uuid) {
			fprintf(stderr, "hsmkeyctl: cannot read the UUID of %s\n", a.pos[0]);
			return EXIT_FAILED;
		}
		uuid[strcspn(uuid, "\n")] = '\0';
	}
	/* The key must be in the kernel before systemd opens the volume. */
	req = request("show");
	add(req, "name", name);
	r = call(req, -1, &reply);
	if (r) {
		json_object_put(reply);
		return r;
	}
	if (!json_object_get_boolean(json_object_object_get(json_object_object_get(reply, "policy"),
							    "load_at_start")) &&
	    json_object_object_get(reply, "policy"))
		fprintf(stderr, "hsmkeyctl: warning: key '%s' is not loaded at start; 'hsmkeyctl policy %s --load-at-start yes' for boot\n",
			name, name);
	json_object_put(reply);

	snprintf(path, sizeof(path), "%s/etc/crypttab", a.root ? a.root : "");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct stat st;

		if (fstat(fd, &st) == 0 && st.st_size < (1 << 20)) {
			old = calloc(1, (size_t)st.st_size + 1);
			if (old && read_full(fd, old, (size_t)st.st_size) >= 0)
				len = strlen(old);
		}
		close(fd);
	} else if (errno != ENOENT) {
		fprintf(stderr, "hsmkeyctl: cannot read %s: %m\n", path);
		return EXIT_FAILED;
	}
	for (char *l = old; l && *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0)) {
		size_t w = strcspn(l, " \t\n");

		if (w == strlen(a.pos[1]) && !strncmp(l, a.pos[1], w)) {
			fprintf(stderr, "hsmkeyctl: %s already has a volume named %s\n", path, a.pos[1]);
			free(old);
			return EXIT_FAILED;
		}
	}
	snprintf(line, sizeof(line), "%s%s UUID=%s %s luks\n",
		 len && old[len - 1] != '\n' ? "\n" : "", a.pos[1], uuid,
		 a.passfile ? a.passfile : "none");
	n = len + strlen(line);
	text = malloc(n + 1);
	if (!text) {
		free(old);
		return EXIT_FAILED;
	}
	snprintf(text, n + 1, "%s%s", old ? old : "", line);
	free(old);
	*strrchr(path, '/') = '\0';
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dirfd < 0 ? -errno : write_file_atomic(dirfd, "crypttab", text, n, 0644);
	free(text);
	if (dirfd >= 0)
		close(dirfd);
	if (r) {
		fprintf(stderr, "hsmkeyctl: cannot write %s/crypttab: %s\n", path, strerror(-r));
		return EXIT_FAILED;
	}

	/* The unit's instance name, escaped as systemd-escape does it. */
	for (const char *c = a.pos[1]; *c; c++)
		u += (size_t)snprintf(unit + u, sizeof(unit) - u, *c == '-' ? "\\x2d" : "%c", *c);
	snprintf(path, sizeof(path), "%s/etc/systemd/system/systemd-cryptsetup@%s.service.d",
		 a.root ? a.root : "", unit);
	{
		char *const v[] = { "mkdir", "-p", path, NULL };

		r = run(v);
	}
	dirfd = r ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(line, sizeof(line),
		 "# Written by hsmkeyctl luks crypttab: volume %s needs key %s,\n"
		 "# which hsmkeyd provisions into the kernel before it reports ready.\n"
		 "[Unit]\nRequires=hsmkeyd.service\nAfter=hsmkeyd.service\n", a.pos[1], name);
	r = dirfd < 0 ? -EIO : write_file_atomic(dirfd, "hsmkey.conf", line, strlen(line), 0644);
	if (dirfd >= 0)
		close(dirfd);
	if (r) {
		fprintf(stderr, "hsmkeyctl: cannot write %s/hsmkey.conf: %s\n", path, strerror(-r));
		return EXIT_FAILED;
	}
	printf("added volume %s (UUID=%s, key %s) to %s/etc/crypttab and %s/hsmkey.conf;\n"
	       "run 'systemctl daemon-reload' (and enable hsmkeyd.service)\n",
	       a.pos[1], uuid, name, a.root ? a.root : "", path);
	return EXIT_OK;
}

static int cmd_luks(int argc, char **argv)
{
	struct luks_args a;
	int r;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: hsmkeyctl %s\n", LUKS_USAGE);
		return EXIT_OK;
	}
	if (argc >= 2 && !strcmp(argv[1], "format"))
		return luks_format(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "open"))
		return luks_open(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "crypttab"))
		return luks_crypttab(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "close")) {
		r = luks_parse(argc - 1, argv + 1, 1, &a);
		if (r)
			return r < 0 ? EXIT_OK : r;
		char *const v[] = { "cryptsetup", "close", (char *)a.pos[0], NULL };

		r = run(v);
		if (r)
			fprintf(stderr, "hsmkeyctl: cryptsetup close failed (status %d)\n", r);
		return r ? EXIT_FAILED : EXIT_OK;
	}
	return usage_error(LUKS_USAGE, "luks needs 'format', 'open', 'close' or 'crypttab'%s", "");
}

static const struct command commands[] = {
	{ "create", cmd_create, "create NAME --type TYPE", "create a key with random material" },
	{ "import", cmd_import, "import NAME --type TYPE --key-file FILE|- | --wrapped-file FILE|-",
	  "import key material, raw or wrapped to the import key" },
	{ "import-key", cmd_import_key, "import-key [--renew]",
	  "print the RSA public key that wrapped imports are encrypted to" },
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
	{ "luks", cmd_luks, "luks format DEVICE --key NAME | open DEVICE MAPNAME | close MAPNAME | crypttab DEVICE MAPNAME",
	  "LUKS2 volumes whose volume key is a token (passphrase and key both needed)" },
	{ "dm", cmd_dm, "dm open DEVICE MAPNAME --key NAME | dm close MAPNAME | dm status",
	  "open or close a dm-crypt volume; list the volumes keyed through hsmkey" },
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
