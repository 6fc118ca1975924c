// SPDX-License-Identifier: GPL-2.0
/*
 * Key version objects in the token that no record names, listed for the
 * operator after each verified load and never destroyed here.
 */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "adapter.h"
#include "util.h"

/*
 * Key version objects that no record names (orphans): left by a create or
 * rotation whose record the token refused (unconfirmed, then undone), by a
 * crash between the object and its record, or by keys whose records a
 * state directory restored from an older copy lacks.  Listed after each
 * load that verified the store (the log, and hsmkeyctl status through
 * ->health()), never destroyed here: after --accept-keystore on an older
 * copy such an object may be the only copy of a key data is still
 * encrypted under, and no grace period tells it from a leftover, while a
 * destruction cannot be undone.  The operator destroys them with the
 * HSM's tools once sure.  An object whose id a record or a pending
 * adoption names is no orphan (a rotation's leftover version is destroyed
 * by the next rotation).
 */
static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, HSMKEY_ID_LEN);
}

/* The ids records and adoption notes name, sorted: *@out (free()), their count. */
static int known_ids(struct p11be *p, uint8_t (**out)[HSMKEY_ID_LEN], size_t *n)
{
	struct json_object *o = NULL, *notes;
	char name[HSMKEY_NAME_MAX];
	uint8_t (*ids)[HSMKEY_ID_LEN];
	size_t k = 0;
	int type, r = p11_adopt_notes(p, &o, &notes);

	ids = r ? NULL : calloc(p->st.n + (notes ? json_object_object_length(notes) : 0) + 1,
				sizeof(*ids));
	if (!r && !ids)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < p->st.n; i++)
		if (p->st.f[i].has_id)
			memcpy(ids[k++], p->st.f[i].id, HSMKEY_ID_LEN);
	if (!r && notes) {
		json_object_object_foreach(notes, label, note) {
			(void)label;
			k += !p11_adopt_parse(note, name, &type, ids[k]);
		}
	}
	json_object_put(o);
	if (r)
		return r;
	qsort(ids, k, sizeof(*ids), cmp_id);
	*out = ids;
	*n = k;
	return 0;
}

void p11_orphans(struct p11be *p)
{
	char hex[2 * HSMKEY_ID_LEN + 1];
	uint8_t (*ids)[HSMKEY_ID_LEN] = NULL;
	struct hsm_version *v = NULL;
	size_t n = 0, nids = 0, k = 0;
	bool tell;

	if (hsm_key_list(p->st.hsm, &v, &n) || known_ids(p, &ids, &nids)) {
		free(v);
		return;		/* not known now: as before */
	}
	for (size_t i = 0; i < n; i++)
		k += !bsearch(v[i].id, ids, nids, sizeof(*ids), cmp_id);
	tell = k != p->orphans;
	for (size_t i = 0, shown = 0; tell && i < n && shown < 10; i++) {
		if (bsearch(v[i].id, ids, nids, sizeof(*ids), cmp_id))
			continue;
		hex_encode(v[i].id, HSMKEY_ID_LEN, hex);
		log_warn("pkcs11: key object version %u of id %s (CKA_ID %s%08x) belongs to no key in the records",
			 v[i].version, hex, hex, v[i].version);
		shown++;
	}
	if (tell && k)
		log_warn("pkcs11: %zu key object(s) in token %s belong to no key in the records: left in place, as they may be the only copy of keys an older state directory lacks; once sure they are not, destroy them with the HSM's tools (e.g. pkcs11-tool --delete-object --type secrkey --id CKA_ID)",
			 k, hsm_label(p->st.hsm));
	p->orphans = k;
	free(v);
	free(ids);
}
