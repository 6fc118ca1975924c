// SPDX-License-Identifier: GPL-2.0
/*
 * Copies of the key store between HSMs (hsmkeyctl backup, restore): the
 * backend does the copying, token to token, wrapped (backend.h); here
 * the requests and their replies.  The daemon sees no key.
 */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include "request.h"
#include "util.h"

static void report(struct request *rq, const struct ks_copy_report *rep)
{
	struct json_object *o = rq->reply;

	json_object_object_add(o, "token", json_object_new_string(rep->token));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)rep->generation));
	json_object_object_add(o, "copied", json_object_new_int64((int64_t)rep->copied));
	json_object_object_add(o, "destroyed", json_object_new_int64((int64_t)rep->destroyed));
	json_object_object_add(o, "missing", json_object_new_int64((int64_t)rep->missing));
	json_object_object_add(o, "missing_versions", json_object_new_string(rep->missing_names));
}

typedef int copy_fn(struct backend *b, struct ks_copy_report *out);

static int copy_op(struct request *rq, copy_fn *fn, const char *what)
{
	struct ks_copy_report rep;
	int r;

	if (!fn)
		return fail(rq, EOPNOTSUPP, "%s copies keys between HSMs: it needs backend = pkcs11 and a backup token (pkcs11_backup_token)",
			    what);
	r = fn(rq->d->be, &rep);
	if (r)
		return fail(rq, r, "%s failed: %s", what, *rep.why ? rep.why : strerror(-r));
	report(rq, &rep);
	return 0;
}

int op_backup(struct request *rq)
{
	return copy_op(rq, rq->d->be->ops->backup, "backup");
}

int op_restore(struct request *rq)
{
	return copy_op(rq, rq->d->be->ops->restore, "restore");
}
