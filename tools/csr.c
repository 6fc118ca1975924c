// SPDX-License-Identifier: GPL-2.0
/*
 * csr: a certificate request for an identity key, signed by hsmkeyd with
 * the key it keeps; printed as PEM for a CA.
 */
#include <stdio.h>
#include "ctl.h"
#include "proto.h"

static int add_dns(const struct arg_opt *o, const char *arg)
{
	struct json_object *names = o->ctx;

	json_object_array_add(names, json_object_new_string(arg));
	return 0;
}

static void print_csr(struct json_object *reply, const char *arg)
{
	(void)arg;
	fputs(proto_str(reply, "csr") ?: "", stdout);
}

int cmd_csr(int argc, char **argv)
{
	static const char usage[] = "csr NAME --subject /CN=HOST[/O=ORG...] [--dns HOST]...";
	struct json_object *req = request("csr"), *names = json_object_new_array();
	const char *name, *subject = NULL;
	const struct arg_opt opts[] = {
		{ "subject", 's', .value = &subject },
		{ "dns", 'd', .handle = add_dns, .ctx = names },
		{}
	};
	int r = args_exact(argc, argv, usage, opts, &name, 1);

	if (!r && !subject)
		r = usage_error(usage, "csr: missing %s", "--subject");
	if (r) {
		json_object_put(req);
		json_object_put(names);
		return PARSED(r);
	}
	add(req, "name", name);
	add(req, "subject", subject);
	json_object_object_add(req, "dns", names);
	return call_print(req, -1, print_csr, NULL);
}
