// SPDX-License-Identifier: GPL-2.0
/*
 * policy NAME [options]: what the kernel enforces for a key.  The options
 * given replace those stored; the daemon resolves names and checks the
 * whole.  Numbers are strict (digits only, range checked).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctl.h"
#include "number.h"
#include "util.h"

static const char usage[] =
	"policy NAME [--users U,...] [--groups G,...] [--algorithms xts,cbc,gcm]\n"
	"       [--not-before TIME] [--expires TIME] [--max-bytes N] [--max-requests N]\n"
	"       [--max-bindings N] [--load-at-start yes|no] [--grant OPS:WHO]...\n"
	"TIME: seconds since the epoch, +SECONDS from now, or 0 for none\n"
	"--grant: OPS encrypt,decrypt,data-key (KMS keys), sign,verify (identity keys) or mac\n"
	"(MAC keys); WHO a user, or @GROUP; the grants given replace the key's;\n"
	"--grant none removes them all";

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

/* Each option and the request field it sets. */
static const struct policy_option {
	const char *option, *field;
	enum { LIST, TIME, COUNT, YES_NO, GRANT } kind;
	uint64_t max;		/* of a TIME or COUNT */
} policy_options[] = {
	{ "users", "users", LIST, 0 },
	{ "groups", "groups", LIST, 0 },
	{ "algorithms", "algorithms", LIST, 0 },
	{ "not-before", "not_before", TIME, INT64_MAX },
	{ "expires", "not_after", TIME, INT64_MAX },
	{ "max-bytes", "max_bytes", COUNT, INT64_MAX },
	{ "max-requests", "max_requests", COUNT, INT64_MAX },
	{ "max-bindings", "max_bindings", COUNT, UINT32_MAX },
	{ "load-at-start", "load_at_start", YES_NO, 0 },
	{ "grant", "grants", GRANT, 0 },
};

/* --grant OPS:WHO, added to the request's grants (none: they stay empty). */
static int add_grant(struct json_object *req, const char *arg)
{
	struct json_object *grants, *g;
	const char *colon = strchr(arg, ':');
	char ops[64];

	if (!json_object_object_get_ex(req, "grants", &grants)) {
		grants = json_object_new_array();
		json_object_object_add(req, "grants", grants);
	}
	if (!strcmp(arg, "none"))
		return 0;
	if (!colon || colon == arg || !colon[1] || (colon[1] == '@' && !colon[2]) ||
	    (size_t)(colon - arg) >= sizeof(ops))
		return usage_error(usage, "--grant takes OPS:USER or OPS:@GROUP, not '%s'", arg);
	memcpy(ops, arg, (size_t)(colon - arg));
	ops[colon - arg] = '\0';
	g = json_object_new_object();
	json_object_object_add(g, colon[1] == '@' ? "group" : "user",
			       json_object_new_string(colon + 1 + (colon[1] == '@')));
	json_object_object_add(g, "ops", list_of(ops));
	json_object_array_add(grants, g);
	return 0;
}

/* An option as met, into the request (@o->ctx). */
static int set_field(const struct arg_opt *o, const char *arg)
{
	const struct policy_option *p = policy_options;
	struct json_object *req = o->ctx;

	while (strcmp(p->option, o->name))
		p++;
	switch (p->kind) {
	case LIST:
		json_object_object_add(req, p->field, list_of(arg));
		return 0;
	case GRANT:
		return add_grant(req, arg);
	case YES_NO:
		if (strcmp(arg, "yes") && strcmp(arg, "no"))
			return usage_error(usage, "--load-at-start takes yes or no, not '%s'", arg);
		json_object_object_add(req, p->field, json_object_new_boolean(!strcmp(arg, "yes")));
		return 0;
	default:	/* TIME, COUNT */
		return add_number(req, p->field, arg, p->kind == TIME, p->max);
	}
}

int cmd_policy(int argc, char **argv)
{
	struct arg_opt opts[ARRAY_SIZE(policy_options) + 1] = {};
	struct json_object *req = request("policy");
	const char *name;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(policy_options); i++)
		opts[i] = (struct arg_opt){ .name = policy_options[i].option,
					    .handle = set_field, .ctx = req };
	r = args_parse(argc, argv, usage, opts, &name, 1);
	if (!r && !name)
		r = usage_error(usage, "%s: missing the key name", "policy");
	if (r) {
		json_object_put(req);
		return PARSED(r);
	}
	add(req, "name", name);
	return simple(req, -1, "policy set");
}
