// SPDX-License-Identifier: GPL-2.0
/* audit verify: the daemon checks its log (MACs, chain, signatures, anchor). */
#include <string.h>
#include "ctl.h"
#include "proto.h"

static void print_verified(struct json_object *reply, const char *arg)
{
	(void)arg;
	printf("audit log verified: %s\ncheckpoint signing key (Ed25519): %s\n",
	       proto_str(reply, "result"), proto_str(reply, "public_key"));
}

int cmd_audit(int argc, char **argv)
{
	static const char usage[] = "audit verify";
	const char *what;
	int r = args_exact(argc, argv, usage, NULL, &what, 1);

	if (r)
		return PARSED(r);
	if (strcmp(what, "verify"))
		return usage_error(usage, "unknown audit command '%s'", what);
	return call_print(request("audit-verify"), -1, print_verified, NULL);
}
