// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket (see proto.h): receive a request, check its fields,
 * authorise the peer, read what it passes before the mutation lock,
 * bracket a change with audit records, dispatch it to its handler (one
 * file per subject, request.h) and send the reply with a deadline.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "audit.h"
#include "audit_anchor.h"
#include "cleanup.h"
#include "control.h"
#include "kernel.h"
#include "proto.h"
#include "request.h"
#include "util.h"

/*
 * Before the mutation lock: the key file passed as a descriptor, a regular
 * file or a pipe (read with a deadline, so a FIFO never written holds up
 * only its own request).
 */
int read_input(struct request *rq)
{
	int64_t deadline = proto_deadline(INPUT_MS);
	struct stat st;
	ssize_t n;

	if (rq->fd < 0)
		return 0;
	if (fstat(rq->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)))
		return fail(rq, EINVAL, "the key file must be a regular file or a pipe");
	if (S_ISFIFO(st.st_mode) &&
	    fcntl(rq->fd, F_SETFL, fcntl(rq->fd, F_GETFL) | O_NONBLOCK) < 0)
		return fail(rq, errno, "cannot read the key file: %m");
	/* Allocated here, not in every request: most take no descriptor. */
	rq->input = malloc(REQUEST_INPUT_MAX);
	if (!rq->input)
		return fail(rq, ENOMEM, "out of memory");
	rq->ninput = 0;
	while (rq->ninput < REQUEST_INPUT_MAX) {
		n = read(rq->fd, rq->input + rq->ninput, REQUEST_INPUT_MAX - (size_t)rq->ninput);
		if (n == 0)
			break;
		if (n > 0) {
			rq->ninput += (int)n;
			continue;
		}
		n = errno == EAGAIN ? proto_wait(rq->fd, POLLIN, deadline) :
		    errno == EINTR ? 0 : -errno;
		if (n)
			return fail(rq, (int)n, "cannot read the key file: %s",
				    n == -ETIMEDOUT ? "nothing written to it in time" :
				    strerror((int)-n));
	}
	return 0;
}

static const struct op {
	const char *op;
	bool admin;
	int (*fn)(struct request *rq);
	/*
	 * Before the mutation lock: client I/O (only these take a
	 * descriptor), or create's key pair, which refuses one.
	 */
	int (*prepare)(struct request *rq);
	/* Root's alone, not the admin group's: it overrides rollback protection. */
	bool root;
	/* Authorised by the key's policy, in the handler: no group needed. */
	bool by_key;
	/* Takes a payload (proto.h); authorised by the key's grants. */
	bool payload;
} ops[] = {
	{ "create", true, op_create, make_key_pair, false, false, false },
	{ "import", true, op_import, read_input, false, false, false },
	{ "list", false, op_list, NULL, false, false, false },
	{ "status", false, op_status, NULL, false, false, false },
	{ "load", true, op_load, NULL, false, false, false },
	{ "revoke", true, op_revoke, NULL, false, false, false },
	{ "token", true, op_token, NULL, false, false, false },
	{ "disable", true, op_disable, NULL, false, false, false },
	{ "enable", true, op_enable, NULL, false, false, false },
	{ "policy", true, op_policy, NULL, false, false, false },
	{ "show", false, op_show, NULL, false, false, false },
	{ "audit-verify", false, op_audit_verify, NULL, false, false, false },
	{ "dm-open", true, op_dm_open, open_device, false, false, false },
	{ "dm-close", true, op_dm_close, NULL, false, false, false },
	{ "rotate", true, op_rotate, read_input, false, false, false },
	{ "schedule-deletion", true, op_schedule_deletion, NULL, false, false, false },
	{ "cancel-deletion", true, op_cancel_deletion, NULL, false, false, false },
	{ "import-key", false, op_import_key, NULL, false, false, false },
	{ "import-key-renew", true, op_import_key_renew, NULL, false, false, false },
	{ "backup", true, op_backup, NULL, false, false, false },
	{ "restore", true, op_restore, NULL, true, false, false },
	{ "csr", true, op_csr, NULL, false, false, false },
	{ "tls-handshake", false, op_tls_handshake, take_socket, false, true, false },
	{ "encrypt", false, op_encrypt, NULL, false, true, true },
	{ "decrypt", false, op_decrypt, NULL, false, true, true },
	{ "sign", false, op_sign, NULL, false, true, true },
	{ "verify", false, op_verify, NULL, false, true, true },
	{ "public-key", false, op_public_key, NULL, false, false, false },
	{ "data-key", false, op_data_key, NULL, false, true, true },
	{ "unwrap-to-kernel", false, op_unwrap_to_kernel, NULL, false, true, true },
	{ "re-encrypt", false, op_re_encrypt, NULL, false, true, true },
	{ "generate-mac", false, op_generate_mac, NULL, false, true, true },
	{ "verify-mac", false, op_verify_mac, NULL, false, true, true },
	{ "random", false, op_random, NULL, false, false, false },
};

int control_audit(struct daemon *d, const char *op, int result, const char *detail)
{
	struct audit_who me = { .uid = getuid(), .pid = getpid(), .comm = "hsmkeyd" };
	int r;

	if (!d->audit)
		return 0;
	r = !strcmp(op, "checkpoint") ? audit_checkpoint(d->audit, detail) :
	    audit_record(d->audit, &me, op, NULL, 0, result, detail);
	if (r)
		log_error("cannot write the audit log: %s", strerror(-r));
	else
		audit_anchor(d);
	return r;
}

/* The key or volume a request names, for its audit record. */
static const char *request_subject(struct json_object *req)
{
	return proto_str(req, "name") ?: proto_str(req, "map");
}

static bool gid_listed(const gid_t *gids, size_t n, gid_t gid)
{
	for (size_t i = 0; i < n; i++)
		if (gids[i] == gid)
			return true;
	return false;
}

bool control_peer_in_gids(int cfd, const struct ucred *cred, const gid_t *gids, size_t n)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (gid_listed(gids, n, cred->gid))
		return true;
	if (!n || getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (gid_listed(gids, n, groups[i]))
			return true;
	return false;
}

/* Is the peer root, or in @group (gid @gid)?  An empty @group: root only. */
static bool peer_in(int cfd, const struct ucred *cred, const char *group, gid_t gid)
{
	return cred->uid == 0 || (*group && control_peer_in_gids(cfd, cred, &gid, 1));
}

int control_audit_failed(struct daemon *d, int r)
{
	/* audit_fail_open is read at start only: no lock. */
	log_error("cannot write the audit log: %s%s", strerror(-r),
		  d->cfg->audit_fail_open ? " (continuing: audit_fail_closed = no)" : "");
	return d->cfg->audit_fail_open ? 0 : r;
}

/*
 * Before a change: record who asks for what.  When that cannot be written
 * and the log fails closed (the default), the change is refused.
 */
static int audit_intent(struct request *rq, const char *op)
{
	struct audit_who who = request_who(rq);
	struct daemon *d = rq->d;
	struct json_object *req = rq->req;
	char what[96];
	int r;

	if (!d->audit)
		return 0;
	snprintf(what, sizeof(what), "requested: %s", op);
	r = audit_record(d->audit, &who, "request", request_subject(req), 0, 0, what);
	if (!r && audit_held(d->audit))
		r = -ENOSPC;	/* held in memory until the log has space again */
	if (r == -ENOSPC && !strcmp(op, "revoke"))
		return 0;	/* never refused for want of audit space: hsmkeyd(8) */
	if (r)
		return control_audit_failed(d, r);
	/*
	 * Both copies cover the intent before the change is made, so no
	 * change can lose its record; the outcome moves only the kernel's
	 * (one durable write a request), the sealed one with the next.
	 */
	audit_anchor(d);
	return 0;
}

bool control_peer_admin(struct daemon *d, int cfd, const struct ucred *cred)
{
	bool admin;

	pthread_rwlock_rdlock(&d->cfg_lock);
	admin = peer_in(cfd, cred, d->cfg->admin_group, d->cfg->admin_gid);
	pthread_rwlock_unlock(&d->cfg_lock);
	return admin;
}

int control_peer(struct daemon *d, int cfd, struct ucred *cred, bool *admin)
{
	socklen_t len = sizeof(*cred);

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return -errno;
	*admin = control_peer_admin(d, cfd, cred);
	return 0;
}

/* Is the peer allowed @o?  The message, when not, names the group needed. */
static int authorise(struct request *rq, int cfd, const struct ucred *cred, const struct op *o)
{
	struct daemon *d = rq->d;
	char admin_group[64], reader_group[64];
	bool admin, reader;

	/* Who the peer is, by the configuration of this moment (SIGHUP). */
	pthread_rwlock_rdlock(&d->cfg_lock);
	admin = peer_in(cfd, cred, d->cfg->admin_group, d->cfg->admin_gid);
	reader = admin || !*d->cfg->reader_group ||
		 peer_in(cfd, cred, d->cfg->reader_group, d->cfg->reader_gid);
	memcpy(admin_group, d->cfg->admin_group, sizeof(admin_group));
	memcpy(reader_group, d->cfg->reader_group, sizeof(reader_group));
	pthread_rwlock_unlock(&d->cfg_lock);
	if (o->root && cred->uid != 0)
		return fail(rq, EPERM, "'%s' needs root: it takes the state directory as it is, as hsmkeyd --accept-keystore does",
			    o->op);
	if (o->admin && !admin)
		return fail(rq, EPERM, "'%s' needs root%s%s", o->op,
			    *admin_group ? " or membership of group " : "", admin_group);
	/*
	 * By the key's policy: only with a key (a keyless client is a
	 * reader's); the KMS calls always name one, by name or in a blob.
	 */
	if (!o->admin && !reader && !(o->by_key && (o->payload || proto_str(rq->req, "key"))))
		return fail(rq, EPERM, "'%s' needs membership of group %s (or %s)", o->op,
			    reader_group, *admin_group ? admin_group : "root");
	if (rq->fd >= 0 && !o->prepare)
		return fail(rq, EINVAL, "'%s' takes no descriptor", o->op);
	if (rq->payload && !o->payload)
		return fail(rq, EINVAL, "'%s' takes no payload", o->op);
	return 0;
}

/*
 * The type of every field a request may carry, checked before any handler
 * reads one: a handler may then take a field's value as it is.
 */
static int check_fields(struct request *rq)
{
	static const struct { const char *name; enum json_type type; } fields[] = {
		{ "name", json_type_string }, { "type", json_type_string },
		{ "device", json_type_string }, { "map", json_type_string },
		{ "key", json_type_string }, { "wrapped", json_type_boolean },
		{ "load_at_start", json_type_boolean }, { "users", json_type_array },
		{ "groups", json_type_array }, { "algorithms", json_type_array },
		{ "not_before", json_type_int }, { "not_after", json_type_int },
		{ "max_bytes", json_type_int }, { "max_requests", json_type_int },
		{ "max_bindings", json_type_int }, { "wait", json_type_int },
		{ "version", json_type_int }, { "subject", json_type_string },
		{ "dns", json_type_array }, { "role", json_type_string },
		{ "cert", json_type_string }, { "ca", json_type_string },
		{ "server_name", json_type_string }, { "alpn", json_type_array },
		{ "timeout_ms", json_type_int }, { "context", json_type_object },
		{ "grants", json_type_array }, { "digest", json_type_boolean },
		{ "signature", json_type_string }, { "plaintext", json_type_boolean },
		{ "kernel", json_type_boolean }, { "ttl", json_type_int },
		{ "to_context", json_type_object }, { "items", json_type_array },
		{ "mac", json_type_string }, { "bytes", json_type_int },
		{ "padding", json_type_string }, { "max_signature", json_type_int },
	};
	/* Fields of a few operations alone: elsewhere they would be ignored. */
	static const struct { const char *name, *ops, *say; } only[] = {
		{ "items", " encrypt decrypt data-key ", "encrypt, decrypt and data-key" },
		{ "to_context", " re-encrypt ", "re-encrypt" },
		{ "padding", " sign verify ", "sign and verify" },
		{ "max_signature", " sign ", "sign" },
	};
	const char *op = proto_str(rq->req, "op") ?: "";
	struct json_object *v;
	char padded[40];

	snprintf(padded, sizeof(padded), " %s ", op);
	for (size_t i = 0; i < ARRAY_SIZE(only); i++)
		if (json_object_object_get_ex(rq->req, only[i].name, NULL) &&
		    !strstr(only[i].ops, padded))
			return fail(rq, EINVAL, "'%s' is for %s", only[i].name, only[i].say);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (json_object_object_get_ex(rq->req, fields[i].name, &v) &&
		    !json_object_is_type(v, fields[i].type))
			return fail(rq, EINVAL, "'%s' must be %s", fields[i].name,
				    fields[i].type == json_type_string ? "a string" :
				    fields[i].type == json_type_boolean ? "true or false" :
				    fields[i].type == json_type_array ? "a list" :
				    fields[i].type == json_type_object ? "a map" : "a number");
	return 0;
}

static const struct op *find_op(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(ops[i].op, name))
			return &ops[i];
	return NULL;
}

/*
 * After a change, or a refused one: who asked for what, and how it ended
 * (a refused request's name, unchecked, by its start: audit_record()).
 */
static void audit_outcome(struct request *rq, const struct op *o, int r)
{
	struct audit_who who = request_who(rq);
	int a;

	if (!rq->d->audit)
		return;
	a = audit_record(rq->d->audit, &who, o->op, request_subject(rq->req), 0, r,
			 r ? rq->err : NULL);
	if (a)
		log_error("cannot write the audit record of a %s: %s", o->op, strerror(-a));
	else
		audit_anchor_kernel(rq->d);
}

/*
 * Run an authorised request.  Changes one at a time, each between its two
 * audit records; what the client supplies is read before the lock.
 */
static int dispatch(struct request *rq, const struct op *o)
{
	struct daemon *d = rq->d;
	int r = o->prepare ? o->prepare(rq) : 0;
	if (rq->fd >= 0) {
		close(rq->fd);
		rq->fd = -1;
	}
	if (r || !o->admin)
		return r ?: o->fn(rq);
	pthread_mutex_lock(&d->mutate);
	if (audit_intent(rq, o->op))
		r = fail(rq, EIO, "the audit log cannot be written, so changes are refused (audit_fail_closed); see the daemon's log");
	else
		r = o->fn(rq);
	if (rq->detached)
		abort();	/* its request is another thread's now: request.h */
	audit_outcome(rq, o, r);
	pthread_mutex_unlock(&d->mutate);
	return r;
}

/* A request received (@r: how that went), to its answer: 0 or -errno and rq->err. */
static int handle(struct request *rq, int cfd, const struct ucred *cred, int r)
{
	const struct op *o;
	const char *op;

	if (r)
		return fail(rq, r, "malformed request: %s", strerror(-r));
	if (proto_request_op(rq->req, &op))
		return fail(rq, EPROTO, "unsupported request: this daemon speaks protocol version %d",
			    PROTO_VERSION);
	o = find_op(op);
	if (!o)
		return fail(rq, EOPNOTSUPP, "unknown operation '%s'", op);
	r = check_fields(rq);
	if (!r)
		r = authorise(rq, cfd, cred, o);
	if (!r)
		return dispatch(rq, o);
	if (o->admin)
		audit_outcome(rq, o, r);	/* refused changes are recorded too */
	return r;
}

/*
 * The deadline runs from the first chunk for the whole stream: a client
 * taking each chunk just in time must not hold a worker for chunks x
 * SEND_MS.
 */
int reply_more(struct request *rq, const char *text, size_t len, bool wait)
{
	int r;

	if (!rq->send_by)
		rq->send_by = proto_deadline(STREAM_MS);
	while (send(rq->cfd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		r = errno == EINTR ? 0 : -errno;
		if (r == -EAGAIN && wait)
			r = proto_wait(rq->cfd, POLLOUT, rq->send_by);
		if (r)
			return r;
	}
	return 0;
}

/* @rq's resources, once it is answered or cannot be. */
static void request_free(struct request *rq)
{
	json_object_put(rq->reply);
	json_object_put(rq->req);
	if (rq->fd >= 0)
		close(rq->fd);
	if (rq->sock >= 0)
		close(rq->sock);
	if (rq->input && rq->ninput > 0)
		wipe(rq->input, (size_t)rq->ninput);
	free(rq->input);
	rq->input = NULL;
	wipe(rq->pair, sizeof(rq->pair));
	if (rq->payload)
		wipe(rq->payload, rq->npayload);
	if (rq->out)
		wipe(rq->out, rq->nout);
	free(rq->payload);
	free(rq->out);
	rq->payload = rq->out = NULL;
}

int control_reply(struct request *rq, int r)
{
	_cleanup_json_ struct json_object *out = NULL;

	if (r) {
		log_info("uid %u pid %d: %s: %s", rq->cred.uid, rq->cred.pid,
			 rq->req ? (proto_str(rq->req, "op") ?: "?") : "?", rq->err);
		out = proto_reply_err(r, "%s", rq->err);
	} else {
		out = json_object_get(rq->reply);
	}
	r = proto_send_payload(rq->cfd, out, -1, r ? NULL : rq->out, r ? 0 : rq->nout,
			       rq->send_by ?: proto_deadline(SEND_MS));
	request_free(rq);
	return r;
}

/* @peer's credentials and name, read once for the requests of a row: 0 or -errno. */
static int know_peer(int cfd, struct control_peer *peer)
{
	socklen_t len = sizeof(peer->cred);

	if (peer->known)
		return 0;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &peer->cred, &len) < 0)
		return -errno;
	audit_comm_of(peer->cred.pid, peer->comm, sizeof(peer->comm));
	peer->known = true;
	return 0;
}

int control_serve(struct daemon *d, int cfd, struct control_peer *peer)
{
	struct request rq = { .d = d, .cfd = cfd, .fd = -1, .sock = -1, .ninput = -1 };
	int r, e;

	r = proto_recv_payload(cfd, &rq.req, &rq.fd, &rq.payload, &rq.npayload);
	if (r == -EAGAIN)
		return 0;	/* woken for nothing: stays connected */
	if (r == -ECONNRESET)
		return r;
	e = know_peer(cfd, peer);
	if (e) {
		request_free(&rq);
		return e;
	}
	rq.cred = peer->cred;
	memcpy(rq.comm, peer->comm, sizeof(rq.comm));
	rq.reply = proto_reply_ok();
	r = handle(&rq, cfd, &rq.cred, r);
	if (rq.detached)
		return CONTROL_DETACHED;	/* all of it is the handshake's */
	return control_reply(&rq, r);
}

int control_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_errno(ENAMETOOLONG, "socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return log_errno(errno, "cannot create %s: %m", dir);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return log_errno(errno, "cannot create the control socket: %m");
	unlink(path);
	/* Anyone may connect; each request is authorised by SO_PEERCRED. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return log_errno(errno, "cannot listen on %s: %m", path);
	}
	return fd;
}
