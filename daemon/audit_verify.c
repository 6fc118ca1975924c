// SPDX-License-Identifier: GPL-2.0
/*
 * Verifying the audit log: every file present, oldest first, as one chain
 * (MACs, sequence, links, checkpoint signatures, the anchor).  Apart from
 * the writer because it trusts nothing the writer keeps in memory: it
 * reads only the files and the keys.  Signatures are checked against the
 * public key pinned when the log was opened (audit_pin(): from the key
 * storage), never against the one a record names: whoever can write the
 * state directory can write that too.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "audit_internal.h"
#include "proto.h"
#include "util.h"

/* Verification's progress through the files. */
struct verify {
	uint64_t expect;	/* next sequence number; 0: no record seen yet */
	uint8_t prev[AUDIT_HEAD_LEN];
	uint64_t first;		/* the first record present */
	uint64_t anchor_seq;
	const uint8_t *anchor_head;
	bool anchor_seen;
	uint64_t records, checkpoints;
	/* The log's own evidence of trouble: once the chain verifies again it
	 * is all that is left of a truncation, a torn line or lost records. */
	uint64_t failed_checks, repairs, lost;
	char *msg;
	size_t len;
};

static void note_evidence(struct verify *v, struct json_object *o)
{
	const char *op = proto_str(o, "op"), *result = proto_str(o, "result");

	if (!op)
		return;
	if (!strcmp(op, "audit-check") && result && strcmp(result, "ok"))
		v->failed_checks++;
	else if (!strcmp(op, "audit-repair"))
		v->repairs++;
	else if (!strcmp(op, "audit-lost"))
		v->lost++;
}

/*
 * Where the chain may start: at record 1, or (older files removed) at a
 * signed checkpoint that opened a file after a rotation.
 */
static bool chain_start(struct verify *v, struct json_object *o, int64_t seq, const char *op)
{
	const char *why = json_object_get_string(json_object_object_get(o, "why"));
	const char *prev = json_object_get_string(json_object_object_get(o, "prev"));

	if (seq == 1) {
		memset(v->prev, 0, sizeof(v->prev));
	} else if (!op || strcmp(op, "checkpoint") || !why || strcmp(why, "continued") ||
		   hex_decode(prev, v->prev, sizeof(v->prev))) {
		return false;
	}
	v->expect = v->first = (uint64_t)seq;
	return true;
}

/* Does @o carry a good signature, if it is a checkpoint?  Counts it. */
static bool checkpoint_ok(struct audit *a, struct verify *v, struct json_object *o, int64_t seq,
			  const char *prev_hex)
{
	const char *s = json_object_get_string(json_object_object_get(o, "signature"));
	uint8_t sig[64];

	if (!s || hex_decode(s, sig, sizeof(sig)) ||
	    audit_checkpoint_sig(a, (uint64_t)seq, prev_hex, sig, true))
		return false;
	v->checkpoints++;
	return true;
}

/* Check record @o (MAC already good) against the chain so far. */
static int verify_record(struct audit *a, struct verify *v, struct json_object *o,
			 const char *where, uint64_t lineno)
{
	const char *op = json_object_get_string(json_object_object_get(o, "op"));
	const char *prev = json_object_get_string(json_object_object_get(o, "prev"));
	char prev_hex[2 * AUDIT_HEAD_LEN + 1];
	int64_t seq = -1;

	proto_int(o, "seq", &seq);
	if (!v->expect && !chain_start(v, o, seq, op)) {
		snprintf(v->msg, v->len, "%s: record %lld where 1 (or a file's opening checkpoint) was expected: records were deleted",
			 where, (long long)seq);
		return -EBADMSG;
	}
	if (seq != (int64_t)v->expect) {
		snprintf(v->msg, v->len, "%s: record %lld where %llu was expected: %s",
			 where, (long long)seq, (unsigned long long)v->expect, lineno == 1 ?
			 "a rotated file is missing, or records were deleted" :
			 "records were deleted, inserted or reordered");
		return -EBADMSG;
	}
	hex_encode(v->prev, sizeof(v->prev), prev_hex);
	if (strcmp(prev ?: "", prev_hex)) {
		snprintf(v->msg, v->len, "%s (record %lld): it does not follow the record before it: records were reordered or deleted",
			 where, (long long)seq);
		return -EBADMSG;
	}
	if (op && !strcmp(op, "checkpoint") && !checkpoint_ok(a, v, o, seq, prev_hex)) {
		const char *named = proto_str(o, "public_key");

		snprintf(v->msg, v->len, "%s (record %lld): bad checkpoint signature: not by the audit signing key %s%s%s",
			 where, (long long)seq, a->pub_hex, named && strcmp(named, a->pub_hex) ?
			 " (the record names another key, " : "",
			 named && strcmp(named, a->pub_hex) ? "which is not trusted)" : "");
		return -EBADMSG;
	}
	return 0;
}

/* Check one line of file @name: its MAC, its place in the chain, the anchor. */
static int verify_line(struct audit *a, struct verify *v, const char *name, uint64_t lineno,
		       char *line)
{
	uint8_t mac[AUDIT_HEAD_LEN], want[AUDIT_HEAD_LEN];
	const char *body = line + 2 * AUDIT_HEAD_LEN + 1;
	struct json_object *o;
	size_t n = strlen(line);
	char where[96];
	int r;

	snprintf(where, sizeof(where), "%s line %llu", name, (unsigned long long)lineno);
	if (n < 2 * AUDIT_HEAD_LEN + 3 || line[n - 1] != '\n' ||
	    line[2 * AUDIT_HEAD_LEN] != ' ' || audit_mac_from_line(line, want)) {
		snprintf(v->msg, v->len, "%s: not a record (truncated or damaged line)", where);
		return -EBADMSG;
	}
	line[n - 1] = '\0';
	if (audit_mac(a, body, strlen(body), mac)) {
		snprintf(v->msg, v->len, "%s: out of memory for its MAC", where);
		return -ENOMEM;
	}
	o = json_tokener_parse(body);
	if (CRYPTO_memcmp(mac, want, sizeof(mac))) {
		int64_t seq = -1;

		proto_int(o, "seq", &seq);
		snprintf(v->msg, v->len, "%s (record %lld): its MAC does not match: the record was changed or forged",
			 where, (long long)seq);
		r = -EBADMSG;
	} else {
		r = verify_record(a, v, o, where, lineno);
	}
	if (!r)
		note_evidence(v, o);
	json_object_put(o);
	if (r)
		return r;
	if (v->anchor_seq == v->expect) {
		v->anchor_seen = true;
		if (CRYPTO_memcmp(mac, v->anchor_head, AUDIT_HEAD_LEN)) {
			snprintf(v->msg, v->len, "record %llu differs from the anchor kept outside the log: the log was rewritten",
				 (unsigned long long)v->expect);
			return -EBADMSG;
		}
	}
	memcpy(v->prev, mac, sizeof(mac));
	v->expect++;
	v->records++;
	return 0;
}

static int verify_file(struct audit *a, struct verify *v, const char *name, uint64_t named_first)
{
	char line[AUDIT_LINE_MAX + 2];
	uint64_t lineno = 0, before = v->expect;
	int fd = openat(a->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;
	FILE *f;

	if (fd < 0 && errno == ENOENT && !named_first)
		return 0;
	f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		r = -errno;
		snprintf(v->msg, v->len, "cannot open %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (!r && fgets(line, sizeof(line), f)) {
		r = verify_line(a, v, name, ++lineno, line);
		if (!r && lineno == 1 && named_first && v->expect - 1 != named_first) {
			snprintf(v->msg, v->len, "%s: it starts at record %llu, not as its name says: it was renamed",
				 name, (unsigned long long)(v->expect - 1));
			r = -EBADMSG;
		}
	}
	fclose(f);
	if (!r && named_first && v->expect == before) {
		snprintf(v->msg, v->len, "%s: holds no record: it was emptied", name);
		r = -EBADMSG;
	}
	return r;
}

/* Every file present, oldest first, as one chain. */
static int audit_verify_unlocked(struct audit *a, struct verify *v)
{
	uint64_t *files = NULL;
	char name[64];
	size_t n = 0, len;
	int r = audit_rotated_files(a, &files, &n);

	if (r)
		snprintf(v->msg, v->len, "cannot list the audit log's files: %s", strerror(-r));
	for (size_t i = 0; !r && i < n; i++) {
		snprintf(name, sizeof(name), AUDIT_ROTATED, (unsigned long long)files[i]);
		r = verify_file(a, v, name, files[i]);
	}
	free(files);
	if (!r)
		r = verify_file(a, v, AUDIT_FILE, 0);
	if (r)
		return -EBADMSG;
	if (v->anchor_seq && !v->anchor_seen) {
		snprintf(v->msg, v->len, "the log ends at record %llu but its anchor (kept in the kernel and the keystore) is record %llu: records were removed from the end",
			 (unsigned long long)(v->expect ? v->expect - 1 : 0),
			 (unsigned long long)v->anchor_seq);
		return -EBADMSG;
	}
	len = (size_t)snprintf(v->msg, v->len, "%llu records, %llu signed checkpoints, chain intact%s%s",
			     (unsigned long long)v->records, (unsigned long long)v->checkpoints,
			     v->anchor_seq ? ", matches its anchor" : " (no anchor to compare)",
			     v->first > 1 ? " (it starts at a rotated file's opening checkpoint: older files were removed)" : "");
	if (len < v->len && (v->failed_checks || v->repairs || v->lost))
		snprintf(v->msg + len, v->len - len,
			 "; but it records %llu failed start check(s) (the log was cut or rewritten then), %llu torn line(s) repaired, %llu record(s) lost: see its audit-check, audit-repair and audit-lost records",
			 (unsigned long long)v->failed_checks, (unsigned long long)v->repairs,
			 (unsigned long long)v->lost);
	return 0;
}

int audit_verify(struct audit *a, uint64_t anchor_seq, const uint8_t *anchor_head,
		 char *msg, size_t len, uint64_t *records, uint64_t *checkpoints)
{
	struct verify v = { .anchor_seq = anchor_seq, .anchor_head = anchor_head,
			    .msg = msg, .len = len };
	int r;

	pthread_mutex_lock(&a->lock);
	r = audit_verify_unlocked(a, &v);
	pthread_mutex_unlock(&a->lock);
	*records = v.records;
	*checkpoints = v.checkpoints;
	return r;
}
