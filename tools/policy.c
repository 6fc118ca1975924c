// SPDX-License-Identifier: GPL-2.0
/*
 * policy NAME [options]: what the kernel enforces for a key.  The options
 * given replace those stored; the daemon resolves names and checks the
 * whole.  Numbers are strict (digits only, range checked).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctl.h"
#include "number.h"

static const char usage[] =
	"policy NAME [--users U,...] [--groups G,...] [--algorithms xts,cbc,gcm]\n"
	"       [--not-before TIME] [--expires TIME] [--max-bytes N] [--max-requests N]\n"
	"       [--max-bindings N] [--load-at-start yes|no]\n"
	"TIME: seconds since the epoch, +SECONDS from now, or 0 for none";

/* A comma-separated list as a JSON array of strings; empty clears it. */
static struct json_object *list_of(const char *arg)
{
	struct json_object *a = json_object_new_array();
	char *list = strdup(arg), *tok, *save;

	for (tok = list ? strtok_r(list, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
		json_object_array_add(a, json_object_new_string(tok));
	free(list);
	return a;
}

/* @field of @req from @arg: a count, or for a time +SECONDS from now. */
static int add_number(struct json_object *req, const char *field, const char *arg,
		      bool time_of_day, uint64_t max)
{
	bool relative = time_of_day && *arg == '+';
	uint64_t now = relative ? (uint64_t)time(NULL) : 0;
	uint64_t n;
	int r = parse_u64(arg + relative, max - now, &n);

	if (r == -ERANGE) {
		char what[96];

		snprintf(what, sizeof(what), "--%s: '%%s' is out of range (at most %llu)",
			 field, (unsigned long long)(max - now));
		return usage_error(usage, what, arg);
	}
	if (r)
		return usage_error(usage, "not a number: '%s' (digits only)", arg);
	json_object_object_add(req, field, json_object_new_int64((int64_t)(n + now)));
	return 0;
}

static int parse_policy(int argc, char **argv, struct json_object *req, const char **name)
{
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
	int c, r = 0;

	optind = 0;
	while (!r && (c = getopt_long(argc, argv, "-:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (*name)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			*name = optarg;
			break;
		case 'u':
			json_object_object_add(req, "users", list_of(optarg));
			break;
		case 'g':
			json_object_object_add(req, "groups", list_of(optarg));
			break;
		case 'a':
			json_object_object_add(req, "algorithms", list_of(optarg));
			break;
		case 'l':
			if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
				return usage_error(usage, "--load-at-start takes yes or no, not '%s'",
						   optarg);
			json_object_object_add(req, "load_at_start",
					       json_object_new_boolean(!strcmp(optarg, "yes")));
			break;
		case 'b': r = add_number(req, "not_before", optarg, true, INT64_MAX); break;
		case 'e': r = add_number(req, "not_after", optarg, true, INT64_MAX); break;
		case 'B': r = add_number(req, "max_bytes", optarg, false, INT64_MAX); break;
		case 'R': r = add_number(req, "max_requests", optarg, false, INT64_MAX); break;
		case 'N': r = add_number(req, "max_bindings", optarg, false, UINT32_MAX); break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return HELP_SHOWN;
		default:
			return bad_option(usage, argv, c);
		}
	}
	if (!r && !*name)
		return usage_error(usage, "%s: missing the key name", "policy");
	return r;
}

int cmd_policy(int argc, char **argv)
{
	struct json_object *req = request("policy");
	const char *name = NULL;
	int r = parse_policy(argc, argv, req, &name);

	if (r) {
		json_object_put(req);
		return PARSED(r);
	}
	add(req, "name", name);
	return simple(req, -1, "policy set");
}
