// SPDX-License-Identifier: GPL-2.0
/*
 * The tls-handshake request.  An application passes a connected TCP
 * socket (SCM_RIGHTS) and names an identity key; hsmkeyd runs the TLS
 * handshake on that socket with the key (tls_context.c), gives the
 * traffic keys to hsmkey.ko and sets kTLS up with session tokens
 * (ktls.c), then answers.  The application's descriptor is the same
 * socket: after the answer it reads and writes plain data, holding
 * neither the identity key nor a session key.
 *
 * Who may: root, the admin group, and the users and groups the identity
 * key's policy names, within its not-before/not-after; a key without a
 * policy serves root and the admin group only (any other user could
 * otherwise speak as the server the certificate names).
 *
 * The socket's file status flags are shared with the application: the
 * handshake sets O_NONBLOCK for its deadline and puts the flags back.
 * Any failure after the first byte leaves the socket shut down.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include "audit.h"
#include "audit_anchor.h"
#include "cleanup.h"
#include "ktls.h"
#include "proto.h"
#include "provision.h"
#include "request.h"
#include "tls_context.h"
#include "util.h"

#define HANDSHAKE_MS		10000	/* the default deadline */
#define HANDSHAKE_MS_MAX	60000

/* Before the mutation lock: the descriptor must be a connected TCP socket. */
int take_socket(struct request *rq)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0, proto = 0;
	socklen_t il = sizeof(int);
	struct stat st;

	if (rq->fd < 0)
		return fail(rq, EINVAL, "tls-handshake needs the socket passed as a descriptor");
	if (fstat(rq->fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(rq->fd, SOL_SOCKET, SO_TYPE, &type, &il) < 0 || type != SOCK_STREAM ||
	    getsockopt(rq->fd, SOL_SOCKET, SO_PROTOCOL, &proto, &il) < 0 ||
	    proto != IPPROTO_TCP)
		return fail(rq, ENOTSOCK, "the descriptor passed is not a TCP socket");
	if (getpeername(rq->fd, (struct sockaddr *)&ss, &len) < 0)
		return fail(rq, ENOTCONN, "the socket passed is not connected");
	rq->sock = rq->fd;
	rq->fd = -1;
	return 0;
}

/* The request's fields; the strings stay the request's. */
static int parse(struct request *rq, struct tls_request *q)
{
	const char *role = proto_str(rq->req, "role");
	int64_t ms = HANDSHAKE_MS;

	memset(q, 0, sizeof(*q));
	if (!role || (strcmp(role, "server") && strcmp(role, "client")))
		return fail(rq, EINVAL, "'role' must be server or client");
	q->server = !strcmp(role, "server");
	q->key = proto_str(rq->req, "key");
	q->cert = proto_str(rq->req, "cert");
	q->ca = proto_str(rq->req, "ca");
	q->server_name = proto_str(rq->req, "server_name");
	q->alpn = json_object_object_get(rq->req, "alpn");
	if (proto_int(rq->req, "timeout_ms", &ms) && (ms < 100 || ms > HANDSHAKE_MS_MAX))
		return fail(rq, EINVAL, "'timeout_ms' must be 100 to %d", HANDSHAKE_MS_MAX);
	q->timeout_ms = (int)ms;
	if (q->server && !q->key)
		return fail(rq, EINVAL, "a server needs an identity key ('key') and its certificate");
	if (q->key && !q->cert)
		return fail(rq, EINVAL, "key '%s' needs its certificate chain ('cert', PEM)", q->key);
	if (!q->server && !q->server_name)
		return fail(rq, EINVAL, "a client needs the server's name ('server_name'): its certificate is checked against it");
	return 0;
}

static bool listed(const uint32_t *ids, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* May the peer (@cred) handshake with @key (see the top of this file)? */
static int may_use(struct request *rq, const struct ks_key *key)
{
	const struct ks_policy *p = &key->policy;
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	int64_t now = time(NULL);
	bool admin = false, ok;
	uid_t uid;

	if (!ks_type_identity(key->type))
		return fail(rq, EMEDIUMTYPE, "key '%s' is %s, not an identity key", key->name,
			    key_type_name(key->type));
	if (key->state != KS_ACTIVE)
		return fail(rq, EKEYREVOKED, "key '%s' is %s: it serves no handshake", key->name,
			    ks_state_name(key->state));
	if (control_peer(rq->d, rq->cfd, &uid, &admin) < 0)
		return fail(rq, EPERM, "who is asking cannot be told");
	ok = admin;
	if (!ok && key->has_policy) {
		ok = listed(p->uids, p->nuids, rq->cred.uid) || listed(p->gids, p->ngids, rq->cred.gid);
		if (!ok && getsockopt(rq->cfd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
			for (size_t i = 0; !ok && i < len / sizeof(gid_t); i++)
				ok = listed(p->gids, p->ngids, groups[i]);
	}
	if (!ok)
		return fail(rq, EPERM, "uid %u may not use key '%s': its policy must name the user or a group of it (hsmkeyctl policy %s --users ...)",
			    rq->cred.uid, key->name, key->name);
	if (key->has_policy && ((p->not_before && now < p->not_before) ||
				(p->not_after && now >= p->not_after)))
		return fail(rq, EKEYEXPIRED, "key '%s' is outside its policy's validity", key->name);
	return 0;
}

/* Run the handshake to its end or @deadline on a non-blocking socket. */
static int drive(SSL *ssl, int fd, bool server, int64_t deadline)
{
	for (;;) {
		int r = server ? SSL_accept(ssl) : SSL_connect(ssl), e;

		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			r = proto_wait(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
			if (r)
				return r;
			continue;
		}
		return e == SSL_ERROR_SYSCALL && errno ? -errno : -EPROTO;
	}
}

/* The handshake's failure, worded: OpenSSL's reason when it has one. */
static int handshake_failed(struct request *rq, int r, const char *peer)
{
	unsigned long e = ERR_peek_last_error();
	char reason[160] = "";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (r == -ETIMEDOUT)
		return fail(rq, r, "the handshake with %s did not finish in time", peer);
	return fail(rq, r, "the handshake with %s failed: %s", peer,
		    *reason ? reason : strerror(-r));
}

/* "ADDRESS:PORT" of the socket's peer. */
static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (!getpeername(fd, (struct sockaddr *)&ss, &sl) && ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(out, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

/* What was agreed, into the reply and the audit record's @detail. */
static void describe(struct request *rq, SSL *ssl, const char *peer, char *detail, size_t len)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;
	X509 *cert = SSL_get0_peer_certificate(ssl);
	char subject[256] = "", proto[256] = "";

	SSL_get0_alpn_selected(ssl, &alpn, &alen);
	if (alen)
		snprintf(proto, sizeof(proto), "%.*s", (int)alen, alpn);
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	json_object_object_add(rq->reply, "version", json_object_new_string(SSL_get_version(ssl)));
	json_object_object_add(rq->reply, "cipher", json_object_new_string(SSL_get_cipher_name(ssl)));
	json_object_object_add(rq->reply, "peer", json_object_new_string(peer));
	if (sni)
		json_object_object_add(rq->reply, "server_name", json_object_new_string(sni));
	if (*proto)
		json_object_object_add(rq->reply, "alpn", json_object_new_string(proto));
	if (*subject)
		json_object_object_add(rq->reply, "peer_subject", json_object_new_string(subject));
	snprintf(detail, len, "peer %s, %s %s, sni %s, alpn %s, peer certificate %s", peer,
		 SSL_get_version(ssl), SSL_get_cipher_name(ssl), sni ?: "-", *proto ? proto : "-",
		 *subject ? subject : "-");
}

/* The handshake and the keys' installation, on the non-blocking socket. */
static int run(struct request *rq, const struct tls_request *q, struct tls_context *t,
	       const char *peer, char *detail, size_t dlen)
{
	_cleanup_kernel_ struct kernel *k = NULL;
	struct ktls_secrets sec;
	struct ktls_keys keys;
	struct ktls_installed inst;
	char why[200];
	SSL *ssl = NULL;
	int r = open_kernel(rq, &k);

	if (r)
		return r;
	r = tls_context_ssl(t, q, rq->sock, &ssl) ?: ktls_watch(ssl, &sec);
	if (r) {
		SSL_free(ssl);
		return fail(rq, r, "cannot set the handshake up");
	}
	r = drive(ssl, rq->sock, q->server, proto_deadline(q->timeout_ms));
	if (r) {
		r = handshake_failed(rq, r, peer);
	} else {
		describe(rq, ssl, peer, detail, dlen);
		r = ktls_keys(ssl, &sec, q->server, &keys);
		if (r == -EPROTONOSUPPORT)
			r = fail(rq, r, "the agreed %s is not one kTLS takes", SSL_get_cipher_name(ssl));
		else if (r)
			r = fail(rq, r, "the session keys cannot be derived: %s", strerror(-r));
		if (!r && ktls_install(k, rq->sock, &keys, &inst, why, sizeof(why)))
			r = fail(rq, EIO, "kTLS was not set up: %s", why);
		wipe(&keys, sizeof(keys));
	}
	wipe(&sec, sizeof(sec));
	SSL_free(ssl);	/* the socket stays open: it is the application's */
	return r;
}

static void audit_handshake(struct request *rq, const char *key, int r, const char *detail)
{
	struct audit_who who = { .uid = rq->cred.uid, .pid = rq->cred.pid };

	if (rq->d->audit && !audit_record(rq->d->audit, &who, "tls-handshake", key, 0, r,
					  r ? rq->err : detail))
		audit_anchor_kernel(rq->d);
}

int op_tls_handshake(struct request *rq)
{
	_cleanup_key_ struct ks_key key = { 0 };
	struct tls_context t = { 0 };
	struct tls_request q;
	char peer[64], why[200] = "", detail[600] = "";
	int flags = -1, r = parse(rq, &q);

	if (!r && q.key)
		r = get_key(rq, q.key, true, &key) ?: may_use(rq, &key);
	if (!r && tls_context_new(&t, &q, q.key ? &key : NULL, why, sizeof(why)))
		r = fail(rq, EINVAL, "%s", *why ? why : "cannot make the TLS context");
	ks_key_wipe(&key);	/* OpenSSL holds its own copy for the handshake */
	peer_name(rq->sock, peer, sizeof(peer));
	if (!r) {
		flags = fcntl(rq->sock, F_GETFL);
		if (flags < 0 || fcntl(rq->sock, F_SETFL, flags | O_NONBLOCK) < 0)
			r = fail(rq, errno, "cannot use the socket: %m");
	}
	if (!r)
		r = run(rq, &q, &t, peer, detail, sizeof(detail));
	if (flags >= 0)
		fcntl(rq->sock, F_SETFL, flags);
	if (r && flags >= 0)
		shutdown(rq->sock, SHUT_RDWR);
	tls_context_free(&t);
	audit_handshake(rq, q.key, r, detail);
	if (!r)
		log_info("uid %u: tls %s handshake%s%s: %s", rq->cred.uid,
			 q.server ? "server" : "client", q.key ? " as key " : "", q.key ?: "",
			 detail);
	return r;
}
