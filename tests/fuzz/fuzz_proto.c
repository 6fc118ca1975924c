// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: the control protocol's message parser and request checks. */
#include <stdint.h>
#include <stdlib.h>
#include "key.h"
#include "proto.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *msg, *pol;
	struct ks_policy p;
	const char *op, *s;
	int64_t v;

	if (proto_parse((const char *)data, size, &msg))
		return 0;
	if (!proto_request_op(msg, &op)) {
		s = proto_str(msg, "name");
		if (s)
			(void)valid_name(s);
		s = proto_str(msg, "type");
		if (s)
			(void)key_type_from_name(s);
		(void)proto_int(msg, "max_bytes", &v);
		if (json_object_object_get_ex(msg, "policy", &pol))
			(void)ks_policy_from_json(pol, &p);
	}
	json_object_put(msg);
	return 0;
}
