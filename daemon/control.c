// SPDX-License-Identifier: GPL-2.0
/*
 * Control socket requests (see proto.h): one handler per operation, each
 * returning 0 or -errno with a message that says what to do.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "control.h"
#include "kernel.h"
#include "proto.h"
#include "util.h"
#include "volume.h"

struct request {
	struct daemon *d;
	struct json_object *req;
	struct json_object *reply;
	int fd;
	char err[400];
};

static int fail(struct request *rq, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct request *rq, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rq->err, sizeof(rq->err), fmt, ap);
	va_end(ap);
	return -abs(err);
}

static int open_kernel(struct request *rq, struct kernel **k)
{
	int r = kernel_open(k);

	if (r)
		return fail(rq, r, "hsmkey.ko is not loaded: load it with 'modprobe hsmkey' (or insmod hsmkey.ko)");
	return 0;
}

static int get_name(struct request *rq, const char *field, const char **out)
{
	*out = proto_str(rq->req, field);
	if (!*out)
		return fail(rq, EINVAL, "the request has no '%s'", field);
	if (!valid_name(*out))
		return fail(rq, EINVAL, "invalid %s '%s': use 1 to 63 of A-Z a-z 0-9 . _ -, not starting with . or -",
			    field, *out);
	return 0;
}

static int get_key(struct request *rq, const char *name, bool unseal,
		   struct ks_key *key)
{
	int r = ks_get(rq->d->ks, name, unseal, key);

	if (r == -ENOENT)
		return fail(rq, ENOKEY, "no key named '%s' (see 'hsmkeyctl list')", name);
	if (r)
		return fail(rq, r, "key '%s' cannot be read: %s; see the daemon's log",
			    name, strerror(-r));
	return 0;
}

/* Make sure the kernel holds @key (unsealed); EEXIST is success. */
static int provision(struct request *rq, struct kernel *k, const struct ks_key *key)
{
	int r = kernel_add(k, key);

	if (r == -EEXIST)
		return 0;
	if (r)
		return fail(rq, r, "the kernel refused key '%s': %s%s%s", key->name,
			    strerror(-r), *kernel_errmsg(k) ? ": " : "",
			    kernel_errmsg(k));
	log_info("provisioned key %s version %u", key->name, key->version);
	return 0;
}

static void add_key_fields(struct json_object *o, const struct ks_key *key)
{
	char id[2 * HSMKEY_ID_LEN + 1];

	hex_encode(key->id, HSMKEY_ID_LEN, id);
	json_object_object_add(o, "name", json_object_new_string(key->name));
	json_object_object_add(o, "type", json_object_new_string(key_type_name(key->type)));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "version", json_object_new_int64(key->version));
	json_object_object_add(o, "state", json_object_new_string(ks_state_name(key->state)));
	json_object_object_add(o, "created", json_object_new_int64(key->created));
}

static int bad_type(struct request *rq, const char *tname)
{
	return fail(rq, EINVAL, "unknown key type '%s': use aes-128-xts, aes-256-xts, aes-128-cbc, aes-256-cbc, aes-128-gcm or aes-256-gcm",
		    tname ? tname : "");
}

static bool is_xts(int type)
{
	return type == HSMKEY_TYPE_AES_128_XTS || type == HSMKEY_TYPE_AES_256_XTS;
}

/* Store a new key (random material when @material is NULL) and provision it. */
static int create_common(struct request *rq, int type, const uint8_t *material)
{
	unsigned int half = key_type_len(type) / 2;
	struct kernel *k = NULL;
	struct ks_key key;
	const char *name;
	int r;

	r = get_name(rq, "name", &name);
	if (r)
		return r;
	if (material && is_xts(type) && !memcmp(material, material + half, half))
		return fail(rq, EINVAL, "the two halves of this XTS key are equal, which XTS forbids");
	r = ks_create(rq->d->ks, name, type, material, &key);
	if (r == -EEXIST)
		return fail(rq, r, "a key named '%s' exists already", name);
	if (r)
		return fail(rq, r, "cannot store key '%s': %s", name, strerror(-r));
	log_info("%s key %s (%s)", material ? "imported" : "created", name, key_type_name(type));
	add_key_fields(rq->reply, &key);
	if (!kernel_open(&k)) {
		r = provision(rq, k, &key);
		kernel_close(k);
	}
	ks_key_wipe(&key);
	return r;
}

static int op_create(struct request *rq)
{
	const char *tname = proto_str(rq->req, "type");
	int type = key_type_from_name(tname);

	return type < 0 ? bad_type(rq, tname) : create_common(rq, type, NULL);
}

/* The material comes from a descriptor the client opened: never in a message. */
static int op_import(struct request *rq)
{
	uint8_t buf[HSMKEY_MATERIAL_MAX + 1];
	const char *tname = proto_str(rq->req, "type");
	int type = key_type_from_name(tname), len, n, r;

	if (type < 0)
		return bad_type(rq, tname);
	if (rq->fd < 0)
		return fail(rq, EINVAL, "import needs the key file passed as a descriptor");
	len = (int)key_type_len(type);
	n = read_full(rq->fd, buf, sizeof(buf));
	if (n < 0)
		r = fail(rq, n, "cannot read the key file: %s", strerror(-n));
	else if (n != len)
		r = fail(rq, EINVAL, "a %s key file must hold exactly %d bytes; this one holds %s",
			 key_type_name(type), len, n > len ? "more" : "fewer");
	else
		r = create_common(rq, type, buf);
	wipe(buf, sizeof(buf));
	return r;
}

/* What the kernel holds, from one dump, sorted by id and version. */
struct list_ctx {
	struct json_object *keys;
	struct kernel_key *held;
	size_t nheld;
	bool have_kernel;
};

static int cmp_kid(const void *a, const void *b)
{
	const struct kernel_key *x = a, *y = b;
	int c = memcmp(x->id, y->id, HSMKEY_ID_LEN);

	return c ? c : (x->version > y->version) - (x->version < y->version);
}

static int collect_held(const struct kernel_key *key, void *arg)
{
	struct list_ctx *l = arg;
	struct kernel_key *tmp = realloc(l->held, (l->nheld + 1) * sizeof(*tmp));

	if (!tmp)
		return -ENOMEM;
	l->held = tmp;
	l->held[l->nheld++] = *key;
	return 0;
}

static int list_one(const struct ks_key *key, void *arg)
{
	struct list_ctx *l = arg;
	struct json_object *o = json_object_new_object();
	struct kernel_key want = { .version = key->version }, *kk;
	const char *kstate = "unknown";

	add_key_fields(o, key);
	if (l->have_kernel) {
		memcpy(want.id, key->id, HSMKEY_ID_LEN);
		kk = l->nheld ? bsearch(&want, l->held, l->nheld, sizeof(*kk), cmp_kid) : NULL;
		kstate = !kk ? "absent" : kk->state == HSMKEY_STATE_ACTIVE ? "loaded" : "revoked";
		json_object_object_add(o, "bindings", json_object_new_int64(kk ? kk->bindings : 0));
	}
	json_object_object_add(o, "kernel", json_object_new_string(kstate));
	json_object_array_add(l->keys, o);
	return 0;
}

static int list_keys(struct request *rq, struct kernel *k)
{
	struct list_ctx l = { .keys = json_object_new_array() };
	int r;

	json_object_object_add(rq->reply, "keys", l.keys);
	if (k && !kernel_list(k, collect_held, &l)) {
		l.have_kernel = true;
		if (l.nheld)
			qsort(l.held, l.nheld, sizeof(*l.held), cmp_kid);
	}
	r = ks_list(rq->d->ks, list_one, &l);
	free(l.held);
	return r ? fail(rq, r, "cannot list the keystore: %s", strerror(-r)) : 0;
}

static int op_list(struct request *rq)
{
	struct kernel *k = NULL;
	int r;

	kernel_open(&k);
	r = list_keys(rq, k);
	kernel_close(k);
	return r;
}

static int op_status(struct request *rq)
{
	struct json_object *ko = json_object_new_object();
	struct kernel_info info;
	struct kernel *k = NULL;
	int r;

	json_object_object_add(rq->reply, "daemon_version", json_object_new_string(HSMKEY_VERSION));
	json_object_object_add(rq->reply, "pid", json_object_new_int(getpid()));
	json_object_object_add(rq->reply, "state_dir", json_object_new_string(rq->d->state_dir));
	json_object_object_add(rq->reply, "keystore", json_object_new_string("embedded"));
	json_object_object_add(rq->reply, "kernel", ko);
	if (!kernel_open(&k) && !kernel_info(k, &info)) {
		json_object_object_add(ko, "loaded", json_object_new_boolean(1));
		json_object_object_add(ko, "version", json_object_new_string(info.version));
		json_object_object_add(ko, "keys", json_object_new_int64(info.nkeys));
		json_object_object_add(ko, "xts_driver", json_object_new_string(info.inner_xts));
	} else {
		json_object_object_add(ko, "loaded", json_object_new_boolean(0));
	}
	r = list_keys(rq, k);
	kernel_close(k);
	return r;
}

static int op_load(struct request *rq)
{
	struct kernel *k;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, true, &key)))
		return r;
	if (key.state != KS_ACTIVE)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked and cannot be loaded", name);
	else if (!(r = open_kernel(rq, &k))) {
		r = provision(rq, k, &key);
		kernel_close(k);
	}
	if (!r)
		add_key_fields(rq->reply, &key);
	ks_key_wipe(&key);
	return r;
}

static int op_revoke(struct request *rq)
{
	struct kernel *k = NULL;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, false, &key)))
		return r;
	/* The keystore first: a key revoked there is never provisioned again. */
	r = ks_set_state(rq->d->ks, name, KS_REVOKED);
	if (r)
		return fail(rq, r, "cannot record the revocation of '%s': %s", name, strerror(-r));
	if (!kernel_open(&k)) {
		r = kernel_revoke(k, key.id, key.version);
		kernel_close(k);
		if (r && r != -ENOKEY)
			return fail(rq, r, "the kernel did not revoke '%s': %s", name, strerror(-r));
	}
	log_info("revoked key %s version %u", name, key.version);
	key.state = KS_REVOKED;
	add_key_fields(rq->reply, &key);
	return 0;
}

/*
 * A key's token, in hex, for administrators: what an AF_ALG application
 * of an allowed user passes to setkey().  A secret: it is never logged.
 */
static int op_token(struct request *rq)
{
	char hex[2 * HSMKEY_TOKEN_LEN + 1];
	struct hsmkey_token tok;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, true, &key)))
		return r;
	if (key.state != KS_ACTIVE)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked: its token binds nothing", name);
	if (!r) {
		ks_token(&key, &tok);
		hex_encode((const uint8_t *)&tok, sizeof(tok), hex);
		json_object_object_add(rq->reply, "token", json_object_new_string(hex));
		add_key_fields(rq->reply, &key);
		wipe(hex, sizeof(hex));
		wipe(&tok, sizeof(tok));
	}
	ks_key_wipe(&key);
	return r;
}

static int op_dm_open(struct request *rq)
{
	const char *device = proto_str(rq->req, "device"), *map, *name;
	struct kernel *k;
	struct ks_key key;
	int r;

	if (!device || device[0] != '/')
		return fail(rq, EINVAL, "dm open needs the absolute path of a block device");
	if ((r = get_name(rq, "map", &map)) || (r = get_name(rq, "key", &name)) ||
	    (r = open_kernel(rq, &k)))
		return r;
	r = get_key(rq, name, true, &key);
	if (!r && key.state != KS_ACTIVE)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked", name);
	if (!r && !is_xts(key.type))
		r = fail(rq, EKEYREJECTED, "key '%s' is %s; dm-crypt volumes need an aes-128-xts or aes-256-xts key",
			 name, key_type_name(key.type));
	if (!r)
		r = provision(rq, k, &key);
	if (!r) {
		r = volume_open(device, map, &key, rq->err, sizeof(rq->err));
		if (!r)
			log_info("opened volume %s on %s with key %s", map, device, name);
	}
	ks_key_wipe(&key);
	kernel_close(k);
	if (!r) {
		char path[128];

		snprintf(path, sizeof(path), "/dev/mapper/%s", map);
		json_object_object_add(rq->reply, "path", json_object_new_string(path));
	}
	return r;
}

static int op_dm_close(struct request *rq)
{
	const char *map;
	int r;

	if ((r = get_name(rq, "map", &map)))
		return r;
	r = volume_close(map, rq->err, sizeof(rq->err));
	if (!r)
		log_info("closed volume %s", map);
	return r;
}

static const struct {
	const char *op;
	bool admin;
	int (*fn)(struct request *rq);
} ops[] = {
	{ "create", true, op_create },
	{ "import", true, op_import },
	{ "list", false, op_list },
	{ "status", false, op_status },
	{ "load", true, op_load },
	{ "revoke", true, op_revoke },
	{ "token", true, op_token },
	{ "dm-open", true, op_dm_open },
	{ "dm-close", true, op_dm_close },
};

int control_serve(struct daemon *d, int cfd)
{
	struct request rq = { .d = d, .fd = -1 };
	struct json_object *out;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	const char *op;
	size_t i;
	int r;

	r = proto_recv(cfd, &rq.req, &rq.fd);
	if (r == -ECONNRESET)
		return r;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		r = -errno;
		goto out;
	}
	rq.reply = proto_reply_ok();
	if (r)
		r = fail(&rq, r, "malformed request: %s", strerror(-r));
	else if ((r = proto_request_op(rq.req, &op)))
		r = fail(&rq, r, "unsupported request: this daemon speaks protocol version %d",
			 PROTO_VERSION);
	for (i = 0; !r && i < ARRAY_SIZE(ops); i++) {
		if (strcmp(ops[i].op, op))
			continue;
		if (ops[i].admin && cred.uid != 0)
			r = fail(&rq, EPERM, "'%s' needs root", op);
		else
			r = ops[i].fn(&rq);
		break;
	}
	if (!r && i == ARRAY_SIZE(ops))
		r = fail(&rq, EOPNOTSUPP, "unknown operation '%s'", op);
	if (r) {
		log_info("uid %u pid %d: %s: %s", cred.uid, cred.pid,
			 rq.req ? (proto_str(rq.req, "op") ?: "?") : "?", rq.err);
		out = proto_reply_err(r, "%s", rq.err);
	} else {
		out = json_object_get(rq.reply);
	}
	r = proto_send(cfd, out, -1);
	json_object_put(out);
out:
	json_object_put(rq.reply);
	json_object_put(rq.req);
	if (rq.fd >= 0)
		close(rq.fd);
	return r;
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

struct load_ctx {
	struct daemon *d;
	struct kernel *k;
	int failed;
};

static int load_one(const struct ks_key *meta, void *arg)
{
	struct load_ctx *l = arg;
	struct request rq = { .d = l->d };
	struct ks_key key;

	if (meta->state != KS_ACTIVE)
		return 0;
	if (get_key(&rq, meta->name, true, &key) || provision(&rq, l->k, &key)) {
		log_error("cannot load key %s: %s", meta->name, rq.err);
		l->failed++;
	}
	ks_key_wipe(&key);
	return 0;
}

int control_load_all(struct daemon *d)
{
	struct load_ctx l = { .d = d };

	if (kernel_open(&l.k)) {
		log_warn("hsmkey.ko is not loaded; keys will be provisioned when they are used");
		return 0;
	}
	ks_list(d->ks, load_one, &l);
	kernel_close(l.k);
	return l.failed;
}
