/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The KMIP client (client.c): a list of servers tried in order, a pool of
 * connections kept between calls, the protocol version agreed with each
 * server (DiscoverVersions: the newest of KMIP 1.4, 1.3, 1.2 both sides
 * speak), and the typed operations hsmkey needs (ops.c).
 *
 * Failover: a server that cannot be reached, or whose connection fails
 * before the request has been sent whole, is skipped for the next one.
 * A pooled connection that fails is first replaced by a new one to the
 * same server, once (an idempotent request even after it went out, which
 * can cost two timeouts on a server gone quiet).
 * After the request has gone out, only an idempotent request (Get,
 * GetAttributes, Locate, Query) goes on to the next server: a Create or a
 * Revoke may have been carried out by a server that then failed, and the
 * caller must find out which (-ECONNABORTED says so).  The server that
 * last answered is tried first next time.
 *
 * Thread-safe: the daemon's workers call it at once; each call has a
 * connection of its own for its duration.  Errors are -errno with @why
 * for the operator: -EHOSTDOWN when no server answered (never -ENOENT: a
 * caller must take a key as unknown then, not as gone), the server's
 * refusal as kmip_result_errno() gives it.
 */
#ifndef HSMKEY_KMIP_CLIENT_H
#define HSMKEY_KMIP_CLIENT_H

#include <stdbool.h>
#include "kmip/message.h"

#define KMIP_SERVERS_MAX	8
#define KMIP_IDLE_MAX		4	/* pooled connections per server */
#define KMIP_IDLE_SECONDS	60	/* a pooled connection older is closed */

struct kmip_client_config {
	const char *servers[KMIP_SERVERS_MAX];	/* "HOST:PORT", in the order tried */
	unsigned int nservers;
	const char *ca, *cert, *key;
	int timeout_ms;		/* connecting, and each call */
};

struct kmip_client;

int kmip_client_new(const struct kmip_client_config *cfg, struct kmip_client **out, char *why,
		    size_t whylen);
void kmip_client_free(struct kmip_client *c);

/* A response, and the locked buffer it points into. */
struct kmip_reply {
	uint8_t *buf;
	size_t len;
	struct kmip_response resp;
	unsigned int server;	/* the index of the server that answered */
	struct kmip_version version;
};

void kmip_reply_free(struct kmip_reply *r);

/* Builds one request for the version agreed with the server at hand. */
typedef void (*kmip_build_fn)(struct ttlv_out *o, const struct kmip_version *v, const void *arg);

/*
 * One request, built by @build, answered by the first server that can;
 * the answer parsed into @r (its batch items are the caller's to read).
 */
int kmip_client_call(struct kmip_client *c, bool idempotent, kmip_build_fn build,
		     const void *arg, struct kmip_reply *r, char *why, size_t whylen);
const char *kmip_client_server(const struct kmip_client *c, unsigned int i);

/* Typed operations (ops.c): one batch item each, -errno and @why. */
int kmip_create(struct kmip_client *c, const struct kmip_key_attrs *a, char uid[KMIP_UID_MAX],
		char *why, size_t whylen);
int kmip_register(struct kmip_client *c, const struct kmip_key_attrs *a, const uint8_t *key,
		  size_t len, char uid[KMIP_UID_MAX], char *why, size_t whylen);
/* @wrap_uid: fetched wrapped under that key of the server's, or NULL: in clear. */
int kmip_get(struct kmip_client *c, const char *uid, const char *wrap_uid, struct kmip_key *k,
	     char *why, size_t whylen);
int kmip_get_attrs(struct kmip_client *c, const char *uid, struct kmip_attrs *a, char *why,
		   size_t whylen);
/*
 * Many objects' attributes in as few messages as may be (KMIP_BATCH_MAX
 * items each): @errs[i] is 0 or the refusal for @uids[i] (-ENOENT for an
 * object the server no longer has).  Returns 0 if every message was
 * answered, whatever each item's fate.
 */
int kmip_get_attrs_batch(struct kmip_client *c, const char *const *uids, unsigned int n,
			 struct kmip_attrs *attrs, int *errs, char *why, size_t whylen);
int kmip_locate(struct kmip_client *c, const char *name, char (*uids)[KMIP_UID_MAX],
		unsigned int max, unsigned int *n, char *why, size_t whylen);
int kmip_activate(struct kmip_client *c, const char *uid, char *why, size_t whylen);
int kmip_revoke(struct kmip_client *c, const char *uid, uint32_t reason, const char *message,
		char *why, size_t whylen);
int kmip_destroy(struct kmip_client *c, const char *uid, char *why, size_t whylen);
/*
 * The spent count @s on object @uid (message.h): its instance @index
 * modified, or with @index negative one added.  *@reason: the server's
 * Result Reason when it refused (0 else): one that cannot add attributes
 * says Operation Not Supported, or, PyKMIP, which cannot read the
 * request, Invalid Message.
 */
int kmip_set_spent(struct kmip_client *c, const char *uid, int32_t index,
		   const struct kmip_spent *s, uint32_t *reason, char *why, size_t whylen);

#endif
