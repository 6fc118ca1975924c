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
 * otherwise speak as the server the certificate names).  A user the key
 * does not serve learns nothing of it: whether it exists, its type or its
 * state.  A client handshake without a key needs what reading commands
 * need (control.c).
 *
 * The file description is the application's too, and so are its flags:
 * the handshake's I/O is non-blocking by its own flag (tls_bio.c) and its
 * deadline holds whatever the application does meanwhile.  Any failure
 * leaves the socket shut down.
 *
 * An identity key kept inside the key storage (a PKCS#11 token) signs
 * there: the context holds a key of tls_signer.c's provider, whose one
 * signature a handshake asks for is the storage's (sign_inside()).
 *
 * The worker that read the request checks it, authorises it and finds
 * the context; the handshake itself, which waits on the peer, runs on a
 * handshake thread (worker.h), so that peers slow or silent until the
 * deadline hold no worker.  There may be a handshake thread for every
 * client connection hsmkeyd takes (MAX_CLIENTS; each user has
 * CLIENTS_PER_UID at most), so a handshake waits for another's only when
 * a thread cannot be started (worker.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include "audit.h"
#include "audit_anchor.h"
#include "cleanup.h"
#include "identity.h"
#include "key_use.h"
#include "ktls.h"
#include "proto.h"
#include "provision.h"
#include "request.h"
#include "tls_cache.h"
#include "tls_context.h"
#include "tls_signer.h"
#include "util.h"
#include "worker.h"

#define HANDSHAKE_MS		10000	/* the default deadline */
#define HANDSHAKE_MS_MAX	60000

/* Before the mutation lock: the socket the client passed, kept for the handler. */
int take_socket(struct request *rq)
{
	if (rq->fd < 0)
		return fail(rq, EINVAL, "tls-handshake needs the socket passed as a descriptor");
	rq->sock = rq->fd;
	rq->fd = -1;
	return 0;
}

/* The network namespace of @fd's socket, by its cookie. */
static int netns_of(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) ? -errno : 0;
}

/* hsmkeyd's own network namespace (it never changes), read until it is had. */
static int own_netns(uint64_t *cookie)
{
	static uint64_t own;
	uint64_t c = __atomic_load_n(&own, __ATOMIC_RELAXED);
	int fd, r = 0;

	if (!c) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		r = fd < 0 ? -errno : netns_of(fd, &c);
		if (fd >= 0)
			close(fd);
		if (!r)
			__atomic_store_n(&own, c, __ATOMIC_RELAXED);
	}
	*cookie = c;
	return r;
}

/*
 * A connected TCP socket without kTLS (no upper layer protocol yet), in
 * the daemon's own network namespace, where sock_diag can see it.
 */
static int check_socket(struct request *rq)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), il = sizeof(int);
	uint64_t theirs = 0, ours = 0;
	char ulp[16] = "";
	socklen_t ul = sizeof(ulp);
	int type = 0, proto = 0;
	struct stat st;

	if (fstat(rq->sock, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(rq->sock, SOL_SOCKET, SO_TYPE, &type, &il) < 0 || type != SOCK_STREAM ||
	    getsockopt(rq->sock, SOL_SOCKET, SO_PROTOCOL, &proto, &il) < 0 ||
	    proto != IPPROTO_TCP)
		return fail(rq, ENOTSOCK, "the descriptor passed is not a TCP socket");
	if (getpeername(rq->sock, (struct sockaddr *)&ss, &len) < 0)
		return fail(rq, ENOTCONN, "the socket passed is not connected");
	if (getsockopt(rq->sock, IPPROTO_TCP, TCP_ULP, ulp, &ul) < 0 || ulp[0])
		return fail(rq, EISCONN, "the socket passed has kernel TLS (or another upper layer) already");
	if (own_netns(&ours))
		return fail(rq, EIO, "hsmkeyd cannot tell its own network namespace: %m");
	if (netns_of(rq->sock, &theirs) || theirs != ours)
		return fail(rq, EXDEV, "the socket passed is of another network namespace than hsmkeyd's, where its kTLS state cannot be checked");
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
	if (q->key && !valid_name(q->key))
		return fail(rq, EINVAL, "invalid key name '%s'", q->key);
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
	if (q->server_name && !valid_dns_name(q->server_name))
		return fail(rq, EINVAL, "'%s' is no DNS name", q->server_name);
	return 0;
}

static bool listed(const uint32_t *ids, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Does @p name the peer, by uid, primary group or a supplementary one? */
static bool policy_names(struct request *rq, const struct ks_policy *p)
{
	return listed(p->uids, p->nuids, rq->cred.uid) ||
	       control_peer_in_gids(rq->cfd, &rq->cred, p->gids, p->ngids);
}

/*
 * Identity key @name's metadata into @meta, if the peer may handshake with
 * it (see the top of this file); one answer for every refusal of a user
 * the key does not serve.
 */
static int may_use(struct request *rq, const char *name, struct ks_key *meta)
{
	const struct ks_policy *p = &meta->policy;
	int64_t now = time(NULL);
	struct ucred cred;
	bool admin = false;
	int r;

	if (control_peer(rq->d, rq->cfd, &cred, &admin) < 0)
		return fail(rq, EPERM, "who is asking cannot be told");
	r = rq->d->be->ops->get(rq->d->be, name, 0, false, meta);
	if (!admin && (r || !(meta->has_policy && policy_names(rq, p))))
		return fail(rq, EPERM, "uid %u may not use key '%s': its policy must name the user or a group of it (hsmkeyctl policy %s --users ...)",
			    rq->cred.uid, name, name);
	if (r)
		return get_key(rq, name, false, meta);	/* worded there */
	if (!ks_type_identity(meta->type))
		return fail(rq, EMEDIUMTYPE, "key '%s' is %s, not an identity key", name,
			    key_type_name(meta->type));
	if (meta->state != KS_ACTIVE)
		return fail(rq, EKEYREVOKED, "key '%s' is %s: it serves no handshake", name,
			    ks_state_name(meta->state));
	if (meta->has_policy && ((p->not_before && now < p->not_before) ||
				 (p->not_after && now >= p->not_after)))
		return fail(rq, EKEYEXPIRED, "key '%s' is outside its policy's validity", name);
	return 0;
}

/* Run the handshake to its end or @deadline on a non-blocking socket. */
static int drive(SSL *ssl, int fd, bool server, int64_t deadline)
{
	ERR_clear_error();	/* the reason worded is this handshake's */
	for (;;) {
		int r, e, saved;

		errno = 0;
		r = server ? SSL_accept(ssl) : SSL_connect(ssl);
		saved = errno;
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		errno = saved;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			r = proto_wait(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
			if (r)
				return r;
			continue;
		}
		if (e == SSL_ERROR_SYSCALL)	/* errno 0: the peer closed */
			return errno ? -errno : -ECONNRESET;
		return -EPROTO;
	}
}

/*
 * A signature the key storage did not make in this thread's handshake
 * (sign_inside()): -errno, 0 if none failed.  OpenSSL words it as its own
 * failure; the handshake's answer says what it was.
 */
static __thread int sign_error;
/* recheck() stopped the handshake (and set sign_error): rq->err says why. */
static __thread bool stopped;

/* The handshake's failure, worded: OpenSSL's reason when it has one. */
static int handshake_failed(struct request *rq, const struct tls_request *q, int r,
			    const char *peer)
{
	unsigned long e = ERR_peek_last_error();
	char reason[160] = "";

	if (stopped) {
		char why[sizeof(rq->err)];

		ERR_clear_error();
		snprintf(why, sizeof(why), "%s", rq->err);
		return fail(rq, -sign_error, "the handshake with %s was stopped before key '%s' signed: %s",
			    peer, q->key, why);
	}
	if (sign_error) {
		ERR_clear_error();
		if (sign_error == -EKEYREVOKED)
			return fail(rq, EKEYREVOKED, "key '%s' was stopped during the handshake with %s: it signed nothing",
				    q->key, peer);
		return fail(rq, -sign_error, "the handshake with %s failed: key '%s' did not sign in %s: %s; see the daemon's log",
			    peer, q->key, rq->d->be->ops->storage ?: "the key storage",
			    strerror(-sign_error));
	}
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (r == -ETIMEDOUT)	/* ETIME: fail() takes ETIMEDOUT for the storage's */
		return fail(rq, ETIME, "the handshake with %s did not finish in time", peer);
	return fail(rq, r, "the handshake with %s failed: %s", peer,
		    *reason ? reason : strerror(-r));
}

/* "ADDRESS:PORT" of the socket's peer. */
static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss = { 0 };
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

/*
 * The handshake thread's family socket, kept from one handshake to the
 * next (opening one is a netlink round trip, a twentieth of a handshake).
 * Its family id stays valid: once a session key went to the module,
 * hsmkeyd holds /dev/hsmkey and the module cannot be unloaded under it.
 * Dropped after any failure all the same.
 */
static __thread struct kernel *worker_kernel;

static int kernel_for(struct request *rq, struct kernel **k)
{
	int r = worker_kernel ? 0 : open_kernel(rq, &worker_kernel);

	*k = worker_kernel;
	return r;
}

static void kernel_done(int r)
{
	if (r && worker_kernel) {
		kernel_close(worker_kernel);
		worker_kernel = NULL;
	}
}

/* A handshake authorised, for a handshake thread: the request and its context. */
struct handshake_job {
	struct request rq;		/* the worker's, taken over */
	struct tls_request q;		/* its strings rq.req's */
	struct tls_cached *cached;
	uint8_t key_id[HSMKEY_ID_LEN];	/* q.key's when authorised */
	char peer[64];
	int64_t deadline;
};

/* may_use() again, and the name still the same key: 0, or -errno with rq.err set. */
static int may_still_use(struct handshake_job *job)
{
	_cleanup_key_ struct ks_key now = { 0 };
	int r = may_use(&job->rq, job->q.key, &now);

	if (!r && memcmp(now.id, job->key_id, HSMKEY_ID_LEN))
		r = fail(&job->rq, EKEYREVOKED, "key '%s' is another key now", job->q.key);
	return r;
}

/*
 * OpenSSL's certificate callback: a server's after the peer's hello, a
 * client's when the server asks for a certificate; before the identity
 * key signs either way.  A handshake may have waited on its peer for up
 * to HANDSHAKE_MS_MAX since may_use(): the key must still be active, the
 * same key, in its validity, and the caller still named by its policy.
 * 1 to go on, 0 to stop the handshake (sign_error and stopped say why).
 */
static int recheck(SSL *ssl, void *arg)
{
	struct handshake_job *job = arg;
	int r = may_still_use(job);

	(void)ssl;
	if (!r)
		return 1;
	sign_error = r;
	stopped = true;
	return 0;
}

/* The handshake (by its deadline) and the keys' installation, on the non-blocking socket. */
static int run(struct handshake_job *job, char *detail, size_t dlen)
{
	struct request *rq = &job->rq;
	const struct tls_request *q = &job->q;
	const char *peer = job->peer;
	struct kernel *k;
	struct ktls_secrets sec;
	struct ktls_keys keys;
	struct ktls_installed inst;
	char why[200];
	SSL *ssl = NULL;
	int r = kernel_for(rq, &k);

	if (r)
		return r;
	r = tls_context_ssl(tls_cached_context(job->cached), q, rq->sock, &ssl) ?:
	    ktls_watch(ssl, &sec);
	if (r) {
		SSL_free(ssl);
		return fail(rq, r, "cannot set the handshake up");
	}
	if (q->key)
		SSL_set_cert_cb(ssl, recheck, job);
	sign_error = 0;
	stopped = false;
	r = drive(ssl, rq->sock, q->server, job->deadline);
	if (r) {
		r = handshake_failed(rq, q, r, peer);
	} else if (q->key && (r = may_still_use(job))) {
		/* Stopped after it signed, before any key reaches the socket. */
		char was[sizeof(rq->err)];

		snprintf(was, sizeof(was), "%s", rq->err);
		r = fail(rq, -r, "the handshake with %s was stopped before its keys were set: %s",
			 peer, was);
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
	kernel_done(r);
	return r;
}

/*
 * At the token's signature itself, a last look at the key's state (after
 * recheck(), OpenSSL may still wait on a peer that reads slowly before it
 * signs): active, and the name still the same key.
 */
static int still_active(const struct tls_signer *s)
{
	struct ks_key now;
	int r = s->be->ops->get(s->be, s->key.name, s->key.version, false, &now);

	if (r)
		return r == -ENOENT ? -EKEYREVOKED : r;
	r = now.state != KS_ACTIVE || memcmp(now.id, s->key.id, HSMKEY_ID_LEN) ? -EKEYREVOKED : 0;
	ks_key_wipe(&now);
	return r;
}

/*
 * A signature for a handshake by an identity key kept inside the key
 * storage (tls_signer.h).  The storage signs RSA with SHA-256 only, which
 * the context's signature algorithms hold the handshake to.
 */
static int sign_inside(const struct tls_signer *s, const EVP_MD *md, bool pss, const uint8_t *in,
		       size_t len, uint8_t *sig, size_t *siglen)
{
	int r = -EOPNOTSUPP;

	if (!ks_type_rsa(s->key.type) || (md && EVP_MD_is_a(md, "SHA2-256")))
		r = still_active(s) ?:
		    key_use_sign_in(s->be, &s->key, pss ? KS_SIGN_PSS : 0, in, len, sig, siglen);
	if (r && r != -EKEYREVOKED)
		log_warn("key '%s' version %u did not sign for a TLS handshake in %s: %s",
			 s->key.name, s->key.version, s->be->ops->storage ?: "the key storage",
			 strerror(-r));
	sign_error = r;
	return r;
}

/* @key, kept inside the storage, as a key OpenSSL signs with there. */
static int signer_of(struct request *rq, const struct ks_key *key, EVP_PKEY **out)
{
	struct tls_signer *s = calloc(1, sizeof(*s));
	EVP_PKEY *pub = NULL;
	int r = s ? key_use_public(rq, key, &pub) : fail(rq, ENOMEM, "out of memory");

	if (!r) {
		s->sign = sign_inside;
		s->be = rq->d->be;
		/* What ->use and ->get need of it: its name, id, version and type. */
		memcpy(s->key.name, key->name, sizeof(s->key.name));
		memcpy(s->key.id, key->id, HSMKEY_ID_LEN);
		s->key.version = key->version;
		s->key.type = key->type;
		r = tls_signer_key(s, pub, out);
		if (r)
			r = fail(rq, -r, "key '%s' cannot sign for handshakes in %s: %s",
				 key->name, rq->d->be->ops->storage ?: "its key storage",
				 strerror(-r));
	}
	EVP_PKEY_free(pub);
	free(s);
	return r;
}

/*
 * Identity key @meta as OpenSSL takes it: its private key unsealed here,
 * or, kept inside the storage, a key that signs there.
 */
static int identity_of(struct request *rq, const struct ks_key *meta, EVP_PKEY **out)
{
	_cleanup_key_ struct ks_key key = { 0 };
	bool inside = key_use_inside(rq->d->be);
	int r = get_version(rq, meta->name, meta->version, !inside, &key);

	if (r)
		return r;
	/* Changed since may_use() (and then perhaps forgotten)? */
	if (key.state != KS_ACTIVE || memcmp(key.id, meta->id, HSMKEY_ID_LEN))
		return fail(rq, EKEYREVOKED, "key '%s' changed meanwhile: it serves no handshake",
			    meta->name);
	if (inside)
		return signer_of(rq, &key, out);
	r = identity_pkey(&key, out);
	return r ? fail(rq, -r, "key '%s' cannot be used: %s", meta->name, strerror(-r)) : 0;
}

/*
 * The context for @q and the identity key @meta (NULL: none): a kept one,
 * or one made now and kept.  Release it.
 */
static int context_for(struct request *rq, const struct tls_request *q,
		       const struct ks_key *meta, uint64_t gen, struct tls_cached **out)
{
	struct tls_identity id = { .name = meta ? meta->name : NULL };
	struct tls_cache_id cid = { 0 };
	struct tls_context *t;
	char why[200] = "";
	int r;

	if (meta) {
		memcpy(cid.key_id, meta->id, HSMKEY_ID_LEN);
		cid.version = meta->version;
	}
	if (tls_cache_digest(q, cid.digest))
		return fail(rq, ENOMEM, "cannot name the TLS context");
	*out = tls_cache_get(&cid);
	if (*out)
		return 0;
	if (meta) {
		r = identity_of(rq, meta, &id.pkey);
		if (r)
			return r;
	}
	r = tls_context_new(&t, q, meta ? &id : NULL, why, sizeof(why));
	EVP_PKEY_free(id.pkey);	/* the context holds its own reference */
	if (r)
		return fail(rq, r, "%s", *why ? why : "cannot make the TLS context");
	*out = tls_cache_put(&cid, meta ? meta->name : NULL, gen, t);
	return *out ? 0 : fail(rq, ENOMEM, "cannot keep the TLS context");
}

static void audit_handshake(struct request *rq, const char *key, int r, const char *detail)
{
	struct audit_who who = request_who(rq);

	if (rq->d->audit && !audit_record(rq->d->audit, &who, "tls-handshake", key, 0, r,
					  r ? rq->err : detail))
		audit_anchor_kernel(rq->d);
}

/* The end of any handshake, done or refused: the socket, the context, its record. */
static void finished(struct request *rq, const struct tls_request *q, struct tls_cached *cached,
		     int r, const char *detail)
{
	if (r && rq->sock >= 0)
		shutdown(rq->sock, SHUT_RDWR);
	tls_cache_release(cached);
	audit_handshake(rq, q->key, r, detail);
	if (!r)
		log_info("uid %u: tls %s handshake%s%s: %s", rq->cred.uid,
			 q->server ? "server" : "client", q->key ? " as key " : "", q->key ?: "",
			 detail);
}

bool handshake_job_run(void *arg)
{
	struct handshake_job *job = arg;
	struct request *rq = &job->rq;
	char detail[600] = "";
	int r = run(job, detail, sizeof(detail));

	finished(rq, &job->q, job->cached, r, detail);
	r = control_reply(rq, r);
	free(job);
	return r == 0;
}

/* Hand @rq over to a handshake thread; it answers the client. */
static int detach(struct request *rq, const struct tls_request *q, const struct ks_key *meta,
		  struct tls_cached *cached, const char *peer)
{
	struct handshake_job *job = calloc(1, sizeof(*job));

	if (!job)
		return fail(rq, ENOMEM, "cannot queue the handshake");
	job->rq = *rq;
	job->q = *q;
	job->cached = cached;
	if (meta)
		memcpy(job->key_id, meta->id, HSMKEY_ID_LEN);
	snprintf(job->peer, sizeof(job->peer), "%s", peer);
	job->deadline = proto_deadline(q->timeout_ms);
	if (workers_submit_handshake(rq->d->workers, rq->cfd, job)) {
		free(job);
		return fail(rq, EAGAIN, "no thread can be started for the handshake: try again");
	}
	rq->detached = true;	/* from here on, all of it is the job's */
	return 0;
}

int op_tls_handshake(struct request *rq)
{
	struct tls_cached *cached = NULL;
	struct ks_key meta = { 0 };
	struct tls_request q = { 0 };
	char peer[64] = "?";
	uint64_t gen = tls_cache_generation();	/* before the key's state is read */
	int r = check_socket(rq);

	if (!r)
		peer_name(rq->sock, peer, sizeof(peer));
	else if (rq->sock >= 0)
		close(rq->sock), rq->sock = -1;	/* not a TCP socket: not ours to shut */
	r = r ?: parse(rq, &q);
	if (!r && q.key)
		r = may_use(rq, q.key, &meta);
	if (!r)
		r = context_for(rq, &q, q.key ? &meta : NULL, gen, &cached);
	if (!r)
		r = detach(rq, &q, q.key ? &meta : NULL, cached, peer);
	if (!r)
		return 0;
	finished(rq, &q, cached, r, "");
	return r;
}
