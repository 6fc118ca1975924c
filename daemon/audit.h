/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The audit log: STATE/audit.log, one line per record,
 *   <MAC, 64 hex digits> <record: one JSON object>
 * where the record carries its sequence number (1, 2, ...) and "prev", the
 * previous record's MAC (the first: 64 zeros), and the MAC is
 * HMAC-SHA256 under a key derived from the master key over the record's
 * exact bytes.  Every AUDIT_CHECKPOINT_EVERY records, and at start and
 * stop, a checkpoint record carries an Ed25519 signature over its sequence
 * number and chain head: by the key storage's own key where it has one
 * (->sign_audit: a token's hsmkey:audit, so the daemon holds no signing
 * key), else by a key derived from the master key.  Its public key, pinned
 * from the key storage at open, is what verification trusts; the one in
 * the record is for readers only.  The daemon stores the sequence number
 * and MAC (the head) outside the file (audit_anchor.h: the kernel's copy
 * after each record, the sealed one after each request's intent and the
 * daemon's own records), so that truncation is detected too, and logs
 * checkpoints to the journal.
 *
 * Past a configured size the file is rotated: closed by a "rotate"
 * checkpoint and renamed audit.log.<its first seq, 20 digits>; the next
 * file opens with a "continued" checkpoint chained to the last record of
 * the one before, so the chain runs on across files and verification
 * spans all of them (a missing middle file is a gap in the sequence; the
 * oldest files may be removed, the chain then starts at a "continued").
 *
 * A record that finds no space on the disk is held in memory (bounded)
 * and written, before any other, as soon as there is space again.
 */
#ifndef HSMKEY_AUDIT_H
#define HSMKEY_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "backend.h"

#define AUDIT_CHECKPOINT_EVERY 64
#define AUDIT_HEAD_LEN 32

/* Every function may be called from any thread. */
struct audit;

/* Room for a process's name (the kernel's is 16 bytes with its NUL). */
#define AUDIT_COMM_MAX	32

struct audit_who {
	uid_t uid;
	pid_t pid;
	const char *comm;	/* NULL: looked up from /proc for pid */
};

/* Open the log in @dirfd; a partial last line is cut off and recorded. */
int audit_open(struct backend *be, int dirfd, struct audit **out);
/* Rotate the file once it holds @bytes (0: never). */
void audit_rotate_at(struct audit *a, uint64_t bytes);
void audit_close(struct audit *a);
/* Process @pid's name (/proc/PID/comm) into @out, or "?". */
void audit_comm_of(pid_t pid, char *out, size_t len);
/*
 * Append one record: @op on @key (NULL: none) version @version (0: none),
 * @result 0 or -errno, @detail a short text (or NULL).  A @key longer than
 * any key's name (a refused request's, which nothing checked) is recorded
 * by its first HSMKEY_NAME_MAX - 1 bytes at most (never part of a UTF-8
 * character) and "...", so that no caller makes a record too long to
 * write.  Returns 0 when it
 * is written, or held in memory for want of space (audit_held() tells),
 * or the error writing it (-ENOSPC: no room to hold it either).
 */
int audit_record(struct audit *a, const struct audit_who *who, const char *op,
		 const char *key, uint32_t version, int result, const char *detail);
/*
 * Between audit_defer_sync(true) and (false), the calling thread's records
 * are written without waiting for the disk (a call, or a batch of them);
 * it then makes them durable with audit_sync(), whose failure fails them
 * all (and every record after: see audit_internal.h, sync_err).  A
 * checkpoint, another thread's record not deferred, or another thread's
 * audit_sync() makes them durable too.  audit_sync() flushes outside the
 * log's lock, sharing the flush with other threads' records (group
 * commit); never call it with that lock held.
 */
void audit_defer_sync(bool on);
bool audit_deferring(void);
int audit_sync(struct audit *a);
/* Append a record of one kernel event (fields as in uapi/linux/hsmkey.h). */
int audit_kernel_event(struct audit *a, uint32_t type, uint64_t kseq, const uint8_t *key_id,
		       uint32_t version, uint32_t uid, uint32_t pid, const char *comm,
		       uint32_t err);
int audit_checkpoint(struct audit *a, const char *why);
/*
 * Check all its files: MACs, sequence, chain, checkpoint signatures, and
 * the anchor (@anchor_seq 0: none known).  0, or -EBADMSG with @msg naming
 * the first record at fault and what is wrong.
 */
int audit_verify(struct audit *a, uint64_t anchor_seq, const uint8_t *anchor_head,
		 char *msg, size_t len, uint64_t *records, uint64_t *checkpoints);
/* Are records waiting in memory for space on the disk (or lost for want of it)? */
bool audit_held(struct audit *a);
/*
 * The anchor to keep outside the file: the last durable record's sequence
 * number and MAC (not one a batch wrote before its audit_sync()).
 */
uint64_t audit_head(struct audit *a, uint8_t *head);
/* Public key of the checkpoint signatures, hex (for verifiers elsewhere). */
const char *audit_public_key(const struct audit *a);

#endif
