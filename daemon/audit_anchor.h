/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The audit log's anchor: its last sequence number and MAC (the head),
 * kept outside the file so that records removed from its end are noticed.
 * Two copies: in the kernel module (lost when it unloads or the machine
 * restarts) and in the backend's sealed, rollback-protected record
 * "audit-anchor" (8-byte big-endian seq, then the 32-byte head), which
 * survives both.  Verification uses the higher of the two.
 */
#ifndef HSMKEY_AUDIT_ANCHOR_H
#define HSMKEY_AUDIT_ANCHOR_H

#include <stdint.h>

struct daemon;

/* After a record that must survive anything: move both anchors to the head. */
void audit_anchor(struct daemon *d);
/*
 * The kernel's copy only: after a request's outcome record, and from the
 * event loop, which must never wait on the backend.  The keystore's copy
 * catches up at the next audit_anchor() (the next request's intent, or
 * the stop checkpoint).
 */
void audit_anchor_kernel(struct daemon *d);
/* The anchor to verify against (@seq 0: none known); @head 32 bytes. */
void audit_anchor_get(struct daemon *d, uint64_t *seq, uint8_t *head);
/*
 * At start: check the log against the anchor before adding to it.  A
 * mismatch (truncation, rewriting) is logged and recorded in the chain
 * itself, so that the evidence survives the anchor moving on.
 */
void audit_anchor_check(struct daemon *d);

#endif
