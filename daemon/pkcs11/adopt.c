// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyctl import --from: taking as a key of ours an object the token
 * already holds (made by the HSM vendor's tools or a key ceremony), so
 * that an adoption cut short by a crash is finished or dropped at the
 * next load instead of leaving the operator's key unnamed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "adapter.h"
#include "util.h"

/* "pkcs11:object=LABEL" (the one attribute taken; %XX escapes decoded). */
int p11_label(const char *uri, char *label, size_t size)
{
	const char *s = strstr(uri, "object=");
	size_t n = 0;

	if (strncmp(uri, "pkcs11:", 7) || !s || (s != uri + 7 && s[-1] != ';'))
		return -EINVAL;
	for (s += 7; *s && *s != ';' && *s != '?' && n + 1 < size; s++) {
		unsigned int c;

		if (*s == '%' && sscanf(s + 1, "%2x", &c) == 1) {
			label[n++] = (char)c;
			s += 2;
		} else {
			label[n++] = *s;
		}
	}
	label[n] = '\0';
	return n && (!*s || *s == ';' || *s == '?') ? 0 : -EINVAL;
}

/*
 * Adopting is two steps the token and the disk cannot take at once: the
 * object is relabelled ours (CKA_LABEL hsmkey:NAME:v1, CKA_ID the key's
 * id), then its record is written.  Cut in between (a crash, a record that
 * cannot be written), the operator's label finds nothing any more and no
 * record names the object.  So the intent is noted first in the daemon's
 * records (authenticated and anchored with the keys): the label, and the
 * name, type and id it becomes.  A note whose object carries that id and
 * has no record is finished, at the next load or by the same import again;
 * one whose object never got the id is dropped.  Nothing is relabelled
 * back: CKA_SENSITIVE, once raised, cannot be lowered, so the object is no
 * longer the operator's key as it was either way.
 */
#define P11_ADOPTING	"pkcs11 adopting"	/* in the records file: LABEL -> note */

/* The records file (*@o, new if none) and its notes (*@notes, NULL if none). */
int p11_adopt_notes(struct p11be *p, struct json_object **o, struct json_object **notes)
{
	int r = p11_file_read(&p->st, P11_RECORDS, o);

	if (r == -ENOENT) {
		*o = json_object_new_object();
		r = *o ? 0 : -ENOMEM;
	}
	if (!r && !json_object_object_get_ex(*o, P11_ADOPTING, notes))
		*notes = NULL;
	return r;
}

/* Note @label's adoption as @rec, or (@rec NULL) drop its note. */
static int adopt_note(struct p11be *p, const char *label, const struct p11_rec *rec)
{
	char id[2 * HSMKEY_ID_LEN + 1];
	struct json_object *o = NULL, *notes, *n;
	int r = p11_adopt_notes(p, &o, &notes);

	if (!r && !rec && (!notes || !json_object_object_get_ex(notes, label, NULL))) {
		json_object_put(o);
		return 0;	/* none: nothing to write */
	}
	if (!r && !notes) {
		notes = json_object_new_object();
		json_object_object_add(o, P11_ADOPTING, notes);
	}
	if (!r && rec) {
		n = json_object_new_object();
		hex_encode(rec->meta.id, HSMKEY_ID_LEN, id);
		json_object_object_add(n, "name", json_object_new_string(rec->meta.name));
		json_object_object_add(n, "type",
				       json_object_new_string(key_type_name(rec->meta.type)));
		json_object_object_add(n, "id", json_object_new_string(id));
		json_object_object_add(notes, label, n);
	} else if (!r) {
		json_object_object_del(notes, label);
		if (!json_object_object_length(notes))
			json_object_object_del(o, P11_ADOPTING);
	}
	r = r ?: p11_file_write(&p->st, P11_RECORDS, o);
	json_object_put(o);
	return r;
}

/* A note's fields: 0, or -EBADMSG for one that does not parse. */
int p11_adopt_parse(struct json_object *n, char *name, int *type, uint8_t *id)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(n, "name", &v) || !(s = json_object_get_string(v)) ||
	    !valid_name(s))
		return -EBADMSG;
	snprintf(name, HSMKEY_NAME_MAX, "%s", s);
	if (!json_object_object_get_ex(n, "type", &v) ||
	    (*type = key_type_from_name(json_object_get_string(v) ?: "")) < 0 ||
	    !p11_keeps(*type) || !json_object_object_get_ex(n, "id", &v) || !(s = json_object_get_string(v)))
		return -EBADMSG;
	return hex_decode(s, id, HSMKEY_ID_LEN) ? -EBADMSG : 0;
}

/*
 * Before relabelling @src->label's object as @rec: a note of an adoption
 * of the same label cut short whose object carries its id is resumed
 * (@rec takes that id, @src->relabelled); otherwise the intent is noted.
 */
int p11_adopt_begin(struct p11be *p, struct p11_rec *rec, struct p11_source *src)
{
	char name[HSMKEY_NAME_MAX];
	uint8_t id[HSMKEY_ID_LEN];
	struct json_object *o = NULL, *notes, *n;
	int type, r = p11_adopt_notes(p, &o, &notes);

	if (!r && notes && json_object_object_get_ex(notes, src->label, &n) &&
	    !p11_adopt_parse(n, name, &type, id) && !hsm_key_find(p->st.hsm, id, 1)) {
		if (strcmp(name, rec->meta.name) || type != rec->meta.type) {
			log_error("pkcs11: '%s' was being adopted as key %s (%s) when that was cut short: import it so to finish it",
				  src->label, name, key_type_name(type));
			r = -EBUSY;
		} else {
			log_warn("pkcs11: finishing the adoption of '%s' as key %s cut short before",
				 src->label, name);
			memcpy(rec->meta.id, id, HSMKEY_ID_LEN);
			src->relabelled = true;
			src->was_readable = true;	/* not known any more: taken as it was */
		}
	}
	json_object_put(o);
	if (!r && !src->relabelled)
		r = adopt_note(p, src->label, rec);
	/* An unconfirmed note: nothing relabelled yet, so nothing to say it stands for. */
	return r == P11_UNCONFIRMED ? -EIO : r;
}

/*
 * After the object's relabelling or the record's write (@r): the note goes
 * once the record is written or the token refused the object; otherwise
 * (perhaps relabelled, not recorded) it stays to be finished.
 */
void p11_adopt_end(struct p11be *p, const char *label, int r)
{
	/* Refusals, which changed nothing in the token: their reason, and no note. */
	bool refused = r == -ENOENT || r == -EMEDIUMTYPE || r == -EEXIST || r == -ENXIO ||
		       r == -EPERM || r == -EOPNOTSUPP;

	if (refused)
		log_warn("pkcs11: '%s' is not adopted: %s", label, hsm_error());
	if (r && !refused) {
		log_warn("pkcs11: the adoption of '%s' is cut short (%s): the same import again, or the next start, finishes it",
			 label, strerror(-r));
		return;
	}
	if (adopt_note(p, label, NULL))
		log_warn("pkcs11: cannot drop the note of the adoption of '%s': the next start does",
			 label);
}

/*
 * At load: each adoption cut short is finished (its object carries the
 * id: the record is written) or dropped (it does not, or a key of another
 * id took the name: that object is then an orphan, see the log).
 */
void p11_adopt_recover(struct p11be *p)
{
	struct json_object *o = NULL, *notes;
	char name[HSMKEY_NAME_MAX];
	uint8_t id[HSMKEY_ID_LEN];
	struct p11_rec rec;
	int type, r;

	if (p11_adopt_notes(p, &o, &notes) || !notes) {
		json_object_put(o);
		return;
	}
	json_object_object_foreach(notes, label, n) {
		if (p11_adopt_parse(n, name, &type, id)) {
			log_error("pkcs11: the note of the adoption of '%s' does not parse: dropped",
				  label);
			if (adopt_note(p, label, NULL))
				break;
			continue;
		}
		r = p11_rec_read(&p->st, name, &rec);
		if (!r && memcmp(rec.meta.id, id, HSMKEY_ID_LEN))
			log_error("pkcs11: '%s' was being adopted as key %s, but a key of that name with another id exists: its object is left as it is, labelled hsmkey:%s:v1",
				  label, name, name);
		if (r == -ENOENT && !(r = hsm_key_find(p->st.hsm, id, 1))) {
			p11_rec_new(&rec, name, type, id);
			rec.was_readable = true;	/* not known any more */
			r = p11_rec_write(&p->st, &rec);
			if (!r)
				log_warn("pkcs11: finished the adoption of '%s' as key %s, cut short before",
					 label, name);
		}
		/* Recorded, or never relabelled: done.  Else the next load tries again. */
		if ((!r || r == -ENOENT) && adopt_note(p, label, NULL))
			break;
	}
	json_object_put(o);
}
