/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * The control socket protocol between hsmkeyctl and hsmkeyd.
 *
 * A SOCK_SEQPACKET UNIX socket; each message is one JSON object of at most
 * PROTO_MAX_MSG bytes, for encrypt and decrypt followed by a NUL and a
 * payload (the plaintext or the blob, as bytes: proto_recv_payload()).  A request is {"v": 1, "op": "<operation>", ...};
 * import passes the key file as a descriptor (SCM_RIGHTS), so key bytes
 * never appear in a message.  Every request gets one reply:
 *   {"v": 1, "ok": true, ...results}
 *   {"v": 1, "ok": false, "errno": <positive errno>, "error": "<what to do>"}
 *
 * Operations and their fields (admin: root or the admin group):
 *   create  name, type (admin)        import   name, type, + fd (admin)
 *   list                              status
 *   show    name                      load     name (admin)
 *   revoke  name (admin)              token    name (admin)
 *   disable name (admin)              enable   name (admin)
 *   policy  name, [users, groups: arrays of names; algorithms: array of
 *           "xts"/"cbc"/"gcm"; not_before, not_after, max_bytes,
 *           max_requests, max_bindings: numbers; load_at_start: bool] (admin)
 *   dm-open device, map, key (admin)  dm-close map (admin)
 * The local KMS API's operations (encrypt, decrypt, re-encrypt, data-key,
 * sign, generate-mac, ...) are listed in hsmkeyd(8); encrypt, decrypt and
 * data-key also take "items", a batch of calls (daemon/kms_batch.c).
 */
#ifndef HSMKEY_PROTO_H
#define HSMKEY_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#define PROTO_VERSION	1
#define PROTO_MAX_MSG	65536

/*
 * A connection to the control socket at @path, replies awaited at most
 * @timeout_s seconds (0: no limit): the descriptor, or -errno.  The one
 * connect of hsmkeyctl and libhsmkey alike.
 */
int proto_connect(const char *path, int timeout_s);
int proto_send(int fd, struct json_object *msg, int passfd);
/*
 * On a non-blocking socket: wait for room until @deadline (proto_deadline(),
 * 0: none), then -ETIMEDOUT.
 */
int proto_send_by(int fd, struct json_object *msg, int passfd, int64_t deadline);
/*
 * One message; a descriptor passed with it goes to *@passfd (NULL: none is
 * wanted), any other is closed, and on an error none is left open.
 */
int proto_recv(int fd, struct json_object **msg, int *passfd);
/*
 * A message may carry a payload, bytes after a NUL that ends the JSON
 * object (a plaintext, a ciphertext blob: kept out of JSON and its
 * parser's buffers).  proto_recv() refuses one (-EBADMSG); this takes it
 * into *@payload (malloc'd, NULL when none; the caller wipes and frees
 * it).  The receive buffer is wiped either way.
 */
int proto_recv_payload(int fd, struct json_object **msg, int *passfd, uint8_t **payload,
		       size_t *plen);
int proto_send_payload(int fd, struct json_object *msg, int passfd, const void *payload,
		       size_t plen, int64_t deadline);
/* The monotonic time @ms from now, and waiting for @fd until such a time. */
int64_t proto_deadline(int ms);
int proto_wait(int fd, short events, int64_t deadline);
/* Parse one message's bytes: 0 and *msg, or -EBADMSG / -EMSGSIZE. */
int proto_parse(const char *buf, size_t n, struct json_object **msg);

/* Field accessors: NULL / false when absent or of the wrong type. */
const char *proto_str(struct json_object *o, const char *key);
bool proto_int(struct json_object *o, const char *key, int64_t *out);
/* Check the envelope of a request; *op is its operation. */
int proto_request_op(struct json_object *req, const char **op);

struct json_object *proto_reply_ok(void);
struct json_object *proto_reply_err(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
