// SPDX-License-Identifier: GPL-2.0
/*
 * Control socket requests (see proto.h): one handler per operation, each
 * returning 0 or -errno with a message that says what to do.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <stdarg.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "audit.h"
#include "control.h"
#include "kernel.h"
#include "proto.h"
#include "util.h"
#include "volume.h"
#include "wrapkey.h"

struct request {
	struct daemon *d;
	struct json_object *req;
	struct json_object *reply;
	int fd;
	/* Read or opened before the mutation lock (client I/O never under it). */
	uint8_t input[1024];		/* the key file passed as a descriptor */
	int ninput;			/* -1: none passed */
	dev_t device;			/* dm-open's block device */
	uint64_t device_bytes;
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

static int unreachable(struct request *rq, int r)
{
	return fail(rq, r, "hsmkey.ko is loaded but cannot be reached: %s (is hsmkeyd in another network namespace, or denied netlink?)",
		    strerror(-r));
}

/* For a request that needs the kernel: the module must be there. */
static int open_kernel(struct request *rq, struct kernel **k)
{
	int r = kernel_open(k);

	if (r == -ENOENT)
		return fail(rq, r, "hsmkey.ko is not loaded: load it with 'modprobe hsmkey' (or insmod hsmkey.ko)");
	return r ? unreachable(rq, r) : 0;
}

/*
 * For a change the kernel must follow if it holds the key: 0 and *@k, or
 * 0 and NULL when the module is absent (nothing to follow), or the
 * request fails.
 */
static int reach_kernel(struct request *rq, struct kernel **k)
{
	int r = kernel_open(k);

	*k = r ? NULL : *k;
	return r && r != -ENOENT ? unreachable(rq, r) : 0;
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

/* SIGHUP may change it meanwhile. */
static int64_t deletion_wait(struct daemon *d)
{
	int64_t w;

	pthread_rwlock_rdlock(&d->cfg_lock);
	w = d->cfg->deletion_wait;
	pthread_rwlock_unlock(&d->cfg_lock);
	return w;
}

static const uint8_t *instance(struct daemon *d)
{
	return d->be->ops->instance(d->be);
}

/* Version @version (0: the current one) of key @name. */
static int get_version(struct request *rq, const char *name, uint32_t version, bool unseal,
		       struct ks_key *key)
{
	int r = rq->d->be->ops->get(rq->d->be, name, version, unseal, key);

	if (r == -ENOENT && version)
		return fail(rq, ENOKEY, "key '%s' has no version %u (see 'hsmkeyctl show %s')",
			    name, version, name);
	if (r == -ENOENT)
		return fail(rq, ENOKEY, "no key named '%s' (see 'hsmkeyctl list')", name);
	if (r)
		return fail(rq, r, "key '%s' cannot be read: %s; see the daemon's log",
			    name, strerror(-r));
	return 0;
}

static int get_key(struct request *rq, const char *name, bool unseal, struct ks_key *key)
{
	return get_version(rq, name, 0, unseal, key);
}

/* Make sure the kernel holds @key (unsealed); EEXIST is success. */
static int provision(struct request *rq, struct kernel *k, const struct ks_key *key)
{
	int r = kernel_add(k, key, instance(rq->d));

	if (r == -EEXIST)
		return 0;
	if (r)
		return fail(rq, r, "the kernel refused key '%s': %s%s%s", key->name,
			    strerror(-r), *kernel_errmsg(k) ? ": " : "",
			    kernel_errmsg(k));
	log_info("provisioned key %s version %u", key->name, key->version);
	return 0;
}

/*
 * Provision every version of @meta's key: older versions stay loaded so
 * that data written under them (a volume whose header pins a version's
 * token) stays readable.
 */
static int provision_versions(struct request *rq, struct kernel *k, const struct ks_key *meta)
{
	struct ks_key key;
	int r = 0;

	for (uint32_t v = 1; !r && v <= meta->current; v++) {
		r = rq->d->be->ops->get(rq->d->be, meta->name, v, true, &key);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r)
			r = fail(rq, r, "key '%s' version %u cannot be read: %s", meta->name, v,
				 strerror(-r));
		else
			r = provision(rq, k, &key);
		ks_key_wipe(&key);
	}
	return r;
}

/*
 * Keep what the kernel has spent of a version of ours (@kk), so that a
 * limit (GCM's 2^32 invocations) survives the kernel forgetting it.
 */
static void save_usage(struct daemon *d, const char *name, const struct kernel_key *kk)
{
	int r;

	if (!kk->bytes && !kk->requests)
		return;
	r = d->be->ops->set_usage(d->be, name, kk->version, kk->bytes, kk->requests);
	if (r < 0)
		log_warn("cannot store the usage of key %s version %u: %s", name, kk->version,
			 strerror(-r));
}

/* Revoke (or with @remove, remove) every version of @key in the kernel. */
static int kernel_revoke_all(struct request *rq, struct kernel *k, const struct ks_key *key,
			     bool remove)
{
	for (uint32_t v = 1; v <= key->current; v++) {
		struct kernel_key kk;
		int r;

		if (!kernel_get(k, key->id, v, &kk))
			save_usage(rq->d, key->name, &kk);
		r = remove ? kernel_remove(k, key->id, v) : kernel_revoke(k, key->id, v);

		if (r && r != -ENOKEY)
			return fail(rq, r, "the kernel did not revoke '%s' version %u: %s",
				    key->name, v, strerror(-r));
	}
	return 0;
}

/* Disable or enable every version the kernel holds. */
static int kernel_state_all(struct request *rq, struct kernel *k, const struct ks_key *key,
			    bool enable)
{
	for (uint32_t v = 1; v <= key->current; v++) {
		int r = kernel_set_state(k, key->id, v, enable);

		if (r == -ENOKEY || (r == -EKEYREVOKED && !enable))
			continue;	/* not loaded (or gone for good): nothing to do */
		if (r)
			return fail(rq, r, "the kernel did not %s '%s' version %u: %s%s%s",
				    enable ? "enable" : "disable", key->name, v, strerror(-r),
				    *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
	}
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
	json_object_object_add(o, "versions", json_object_new_int64(key->current));
	json_object_object_add(o, "state", json_object_new_string(ks_state_name(key->state)));
	json_object_object_add(o, "created", json_object_new_int64(key->created));
	if (key->state == KS_PENDING_DELETION)
		json_object_object_add(o, "delete_at", json_object_new_int64(key->delete_at));
	if (key->has_policy)
		json_object_object_add(o, "policy", ks_policy_to_json(&key->policy));
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

/* Reply with a new key version and provision it if the module is there. */
static int reply_and_provision(struct request *rq, const struct ks_key *key)
{
	struct kernel *k;
	int r = 0;

	add_key_fields(rq->reply, key);
	r = reach_kernel(rq, &k);
	if (!r && k)
		r = provision(rq, k, key);
	kernel_close(k);
	return r;
}

/* Store a new key (random material when @material is NULL) and provision it. */
static int create_common(struct request *rq, int type, const uint8_t *material)
{
	unsigned int half = key_type_len(type) / 2;
	struct ks_key key;
	const char *name;
	int r;

	r = get_name(rq, "name", &name);
	if (r)
		return r;
	if (material && is_xts(type) && !memcmp(material, material + half, half))
		return fail(rq, EINVAL, "the two halves of this XTS key are equal, which XTS forbids");
	r = rq->d->be->ops->create(rq->d->be, name, type, material, &key);
	if (r == -EEXIST)
		return fail(rq, r, "a key named '%s' exists already", name);
	if (r)
		return fail(rq, r, "cannot store key '%s': %s", name, strerror(-r));
	log_info("%s key %s (%s)", material ? "imported" : "created", name, key_type_name(type));
	r = reply_and_provision(rq, &key);
	ks_key_wipe(&key);
	return r;
}

static int op_create(struct request *rq)
{
	const char *tname = proto_str(rq->req, "type");
	int type = key_type_from_name(tname);

	return type < 0 ? bad_type(rq, tname) : create_common(rq, type, NULL);
}

static int get_wrapkey(struct request *rq, bool renew)
{
	int r;

	if (rq->d->wrapkey && !renew)
		return 0;
	wrapkey_close(rq->d->wrapkey);
	rq->d->wrapkey = NULL;
	r = wrapkey_open(rq->d->be, rq->d->statefd, renew, &rq->d->wrapkey);
	return r ? fail(rq, r, "the import wrapping key is unusable: %s; see the daemon's log",
			strerror(-r)) : 0;
}

/* The public half of the import wrapping key. */
static int import_key_reply(struct request *rq, bool renew)
{
	char pem[2048], fp[65];
	int r;

	pthread_mutex_lock(&rq->d->wrap_lock);
	r = get_wrapkey(rq, renew);
	if (!r && wrapkey_public(rq->d->wrapkey, pem, sizeof(pem), fp))
		r = fail(rq, EIO, "cannot encode the import wrapping key");
	pthread_mutex_unlock(&rq->d->wrap_lock);
	if (r)
		return r;
	json_object_object_add(rq->reply, "public_key", json_object_new_string(pem));
	json_object_object_add(rq->reply, "algorithm", json_object_new_string(WRAPKEY_ALGORITHM));
	json_object_object_add(rq->reply, "fingerprint", json_object_new_string(fp));
	if (renew)
		log_info("new import wrapping key %s", fp);
	return 0;
}

static int op_import_key(struct request *rq)
{
	return import_key_reply(rq, false);
}

/* A new pair: material wrapped to the old public key no longer imports. */
static int op_import_key_renew(struct request *rq)
{
	return import_key_reply(rq, true);
}

/*
 * The material comes from a descriptor the client opened: never in a
 * message.  Raw, or ("wrapped") RSA-OAEP-encrypted to the import key.
 */
static int op_import(struct request *rq)
{
	uint8_t buf[1024], material[HSMKEY_MATERIAL_MAX + 1];
	const char *tname = proto_str(rq->req, "type");
	struct json_object *w = json_object_object_get(rq->req, "wrapped");	/* a boolean */
	int type = key_type_from_name(tname), len, n, r;

	if (type < 0)
		return bad_type(rq, tname);
	if (rq->ninput < 0)
		return fail(rq, EINVAL, "import needs the key file passed as a descriptor");
	len = (int)key_type_len(type);
	n = rq->ninput;
	memcpy(buf, rq->input, (size_t)n);
	if (n >= 0 && w && json_object_get_boolean(w)) {
		size_t mlen = sizeof(material);

		pthread_mutex_lock(&rq->d->wrap_lock);
		r = get_wrapkey(rq, false);
		if (!r && wrapkey_unwrap(rq->d->wrapkey, buf, (size_t)n, material, &mlen))
			r = -EBADMSG;
		pthread_mutex_unlock(&rq->d->wrap_lock);
		if (r && r != -EBADMSG) {
			wipe(buf, sizeof(buf));
			return r;
		}
		if (r) {
			wipe(buf, sizeof(buf));
			return fail(rq, EBADMSG, "the wrapped key does not decrypt with the import key (%s): wrap it to the key 'hsmkeyctl import-key' prints",
				    WRAPKEY_ALGORITHM);
		}
		memcpy(buf, material, mlen);
		wipe(material, sizeof(material));
		n = (int)mlen;
	}
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
static void audit_anchor(struct daemon *d);
static void note_deletion(struct daemon *d, int64_t at);

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
		kstate = !kk ? "absent" : kk->state == HSMKEY_STATE_ACTIVE ? "loaded" :
			 kk->state == HSMKEY_STATE_DISABLED ? "disabled" : "revoked";
		json_object_object_add(o, "bindings", json_object_new_int64(kk ? kk->bindings : 0));
		if (kk) {
			json_object_object_add(o, "bytes", json_object_new_int64((int64_t)kk->bytes));
			json_object_object_add(o, "requests",
					       json_object_new_int64((int64_t)kk->requests));
		}
	}
	json_object_object_add(o, "kernel", json_object_new_string(kstate));
	json_object_array_add(l->keys, o);
	return 0;
}

/*
 * Kernel keys this keystore does not own: provisioned by a daemon on
 * another state directory (or by hand).  Reported, never touched.
 */
static void add_foreign(struct request *rq, const struct list_ctx *l)
{
	struct json_object *a = json_object_new_array();
	char id[2 * HSMKEY_ID_LEN + 1];

	for (size_t i = 0; i < l->nheld; i++) {
		const struct kernel_key *kk = &l->held[i];
		struct json_object *o;

		if (kk->has_owner && !memcmp(kk->owner, instance(rq->d), HSMKEY_OWNER_LEN))
			continue;
		o = json_object_new_object();
		hex_encode(kk->id, HSMKEY_ID_LEN, id);
		json_object_object_add(o, "name", json_object_new_string(kk->name));
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "version", json_object_new_int64(kk->version));
		json_object_array_add(a, o);
	}
	json_object_object_add(rq->reply, "foreign", a);
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
		add_foreign(rq, &l);
	}
	r = rq->d->be->ops->list(rq->d->be, NULL, list_one, &l);
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
	json_object_object_add(rq->reply, "keystore", json_object_new_string(rq->d->be->ops->name));
	json_object_object_add(rq->reply, "destruction",
			       json_object_new_string(rq->d->be->ops->destruction));
	json_object_object_add(rq->reply, "deletion_wait",
			       json_object_new_int64(deletion_wait(rq->d)));
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
	if (key.state == KS_DISABLED)
		r = fail(rq, EPERM, "key '%s' is disabled: 'hsmkeyctl enable %s' loads it", name, name);
	else if (key.state == KS_PENDING_DELETION)
		r = fail(rq, EPERM, "key '%s' is scheduled for deletion: 'hsmkeyctl cancel-deletion %s' keeps it",
			 name, name);
	else if (key.state != KS_ACTIVE)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked and cannot be loaded", name);
	else if (!(r = open_kernel(rq, &k))) {
		r = provision_versions(rq, k, &key);
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
	r = rq->d->be->ops->set_state(rq->d->be, name, KS_REVOKED, 0);
	if (r)
		return fail(rq, r, "cannot record the revocation of '%s': %s", name, strerror(-r));
	r = reach_kernel(rq, &k);
	if (!r && k)
		r = kernel_revoke_all(rq, k, &key, false);
	kernel_close(k);
	if (r) {
		char why[sizeof(rq->err)];

		memcpy(why, rq->err, sizeof(why));
		return fail(rq, r, "'%s' is revoked in the keystore (never provisioned again), but not yet in the kernel: %s",
			    name, why);
	}
	log_info("revoked key %s (%u versions)", name, key.current);
	key.state = KS_REVOKED;
	add_key_fields(rq->reply, &key);
	return 0;
}

/*
 * Disable: new bindings are refused (EPERM) in the kernel, and the key is
 * not provisioned again; existing bindings (open volumes) keep working.
 * Enable undoes it, provisioning the key if the kernel lacks it.
 */
static int set_enabled(struct request *rq, bool enable)
{
	struct kernel *k = NULL;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, true, &key)))
		return r;
	if (key.state == KS_REVOKED) {
		ks_key_wipe(&key);
		return fail(rq, EKEYREVOKED, "key '%s' is revoked; revocation is final", name);
	}
	if (key.state == KS_PENDING_DELETION) {
		ks_key_wipe(&key);
		return fail(rq, EPERM, "key '%s' is scheduled for deletion: 'hsmkeyctl cancel-deletion %s' first",
			    name, name);
	}
	r = rq->d->be->ops->set_state(rq->d->be, name, enable ? KS_ACTIVE : KS_DISABLED, 0);
	if (r == -EPERM) {
		ks_key_wipe(&key);
		return fail(rq, EKEYREVOKED, "key '%s' is revoked; revocation is final", name);
	}
	if (r) {
		ks_key_wipe(&key);
		return fail(rq, r, "cannot record the new state of '%s': %s", name, strerror(-r));
	}
	key.state = enable ? KS_ACTIVE : KS_DISABLED;
	r = reach_kernel(rq, &k);
	if (!r && k && enable)
		r = provision_versions(rq, k, &key);
	if (!r && k)
		r = kernel_state_all(rq, k, &key, enable);
	kernel_close(k);
	if (!r) {
		log_info("%s key %s", enable ? "enabled" : "disabled", name);
		add_key_fields(rq->reply, &key);
	}
	ks_key_wipe(&key);
	return r;
}

static int op_disable(struct request *rq)
{
	return set_enabled(rq, false);
}

static int op_enable(struct request *rq)
{
	return set_enabled(rq, true);
}

/* Resolve a JSON array of user or group names (or numbers) to ids. */
static int resolve_ids(struct request *rq, const char *field, bool groups,
		       uint32_t *ids, uint32_t *n)
{
	struct json_object *a = json_object_object_get(rq->req, field);
	size_t i, len;

	*n = 0;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return fail(rq, EINVAL, "'%s' must be a list of names", field);
	len = json_object_array_length(a);
	if (len > HSMKEY_POLICY_IDS_MAX)
		return fail(rq, E2BIG, "at most %d %s", HSMKEY_POLICY_IDS_MAX, field);
	for (i = 0; i < len; i++) {
		struct json_object *e_o = json_object_array_get_idx(a, i);
		const char *name = json_object_get_string(e_o);
		char buf[4096], *end = NULL;
		unsigned long num = 0;
		int e;

		if (!json_object_is_type(e_o, json_type_string))
			return fail(rq, EINVAL, "'%s' must be a list of names (strings)", field);
		if (!*name)
			return fail(rq, EINVAL, "an empty name in '%s'", field);
		/* A number is digits only: no sign, no blanks. */
		if (strspn(name, "0123456789") == strlen(name) && strlen(name) <= 10)
			num = strtoul(name, &end, 10);
		if (end && !*end && num < UINT32_MAX) {
			ids[i] = (uint32_t)num;
		} else if (groups) {
			struct group gr, *res = NULL;

			e = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
			if (e || !res)
				return fail(rq, ENOENT, "unknown group '%s'", name);
			ids[i] = (uint32_t)gr.gr_gid;
		} else {
			struct passwd pw, *res = NULL;

			e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
			if (e || !res)
				return fail(rq, ENOENT, "unknown user '%s'", name);
			ids[i] = (uint32_t)pw.pw_uid;
		}
	}
	*n = (uint32_t)len;
	return 0;
}

static int req_num(struct request *rq, const char *field, int64_t *out)
{
	struct json_object *v = json_object_object_get(rq->req, field);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return fail(rq, EINVAL, "'%s' must be a number of 0 or more", field);
	*out = json_object_get_int64(v);
	return 0;
}

/*
 * Set a key's policy: fields given replace the stored ones, the rest stay.
 * Stored (sealed with the key) and pushed to the kernel when it holds it.
 */
static int op_policy(struct request *rq)
{
	static const struct { const char *name; uint32_t bit; } algs[] = {
		{ "xts", HSMKEY_ALG_XTS }, { "cbc", HSMKEY_ALG_CBC }, { "gcm", HSMKEY_ALG_GCM },
	};
	struct json_object *a, *v;
	int64_t nb, na, bytes, reqs, bindings;
	struct kernel *k = NULL;
	struct ks_policy p;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, false, &key)))
		return r;
	memset(&p, 0, sizeof(p));
	if (key.has_policy)
		p = key.policy;
	if (json_object_object_get(rq->req, "users") &&
	    (r = resolve_ids(rq, "users", false, p.uids, &p.nuids)))
		return r;
	if (json_object_object_get(rq->req, "groups") &&
	    (r = resolve_ids(rq, "groups", true, p.gids, &p.ngids)))
		return r;
	a = json_object_object_get(rq->req, "algorithms");
	if (a) {
		if (!json_object_is_type(a, json_type_array))
			return fail(rq, EINVAL, "'algorithms' must be a list");
		p.algs = 0;
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			struct json_object *ao = json_object_array_get_idx(a, i);
			const char *an = json_object_is_type(ao, json_type_string) ?
					 json_object_get_string(ao) : NULL;
			size_t j;

			for (j = 0; j < ARRAY_SIZE(algs); j++)
				if (an && !strcmp(an, algs[j].name))
					break;
			if (j == ARRAY_SIZE(algs))
				return fail(rq, EINVAL, "unknown algorithm '%s': use xts, cbc or gcm",
					    an ? an : "");
			p.algs |= algs[j].bit;
		}
	}
	nb = p.not_before, na = p.not_after, bytes = (int64_t)p.max_bytes;
	reqs = (int64_t)p.max_requests, bindings = p.max_bindings;
	if ((r = req_num(rq, "not_before", &nb)) || (r = req_num(rq, "not_after", &na)) ||
	    (r = req_num(rq, "max_bytes", &bytes)) || (r = req_num(rq, "max_requests", &reqs)) ||
	    (r = req_num(rq, "max_bindings", &bindings)))
		return r;
	if (bindings > UINT32_MAX)
		return fail(rq, EINVAL, "'max_bindings' is too large");
	if ((uint64_t)nb > HSMKEY_TIME_MAX || (uint64_t)na > HSMKEY_TIME_MAX)
		return fail(rq, EINVAL, "'not_before' and 'not_after' go up to %llu (9999-12-31)",
			    HSMKEY_TIME_MAX);
	if (nb && na && nb > na)
		return fail(rq, EINVAL, "the key would expire before it becomes valid");
	if ((key.type == HSMKEY_TYPE_AES_128_GCM || key.type == HSMKEY_TYPE_AES_256_GCM) &&
	    (uint64_t)reqs > HSMKEY_GCM_MAX_REQUESTS)
		return fail(rq, EINVAL, "a GCM key allows at most 2^32 requests");
	p.not_before = nb, p.not_after = na, p.max_bytes = (uint64_t)bytes;
	p.max_requests = (uint64_t)reqs, p.max_bindings = (uint32_t)bindings;
	v = json_object_object_get(rq->req, "load_at_start");
	if (v)	/* its type is checked with the request's (check_fields()) */
		p.no_load_at_start = !json_object_get_boolean(v);

	r = rq->d->be->ops->set_policy(rq->d->be, name, &p);
	if (r)
		return fail(rq, r, "cannot store the policy of '%s': %s", name, strerror(-r));
	key.policy = p;
	key.has_policy = true;
	r = reach_kernel(rq, &k);
	if (!r && k) {
		struct ks_key v = key;

		for (v.version = 1; !r && v.version <= key.current; v.version++) {
			r = kernel_set_policy(k, &v);
			if (r == -ENOKEY)
				r = 0;	/* not loaded: it goes with the key when it is */
			else if (r)
				r = fail(rq, r, "stored, but the kernel refused the policy of '%s' version %u: %s%s%s",
					 name, v.version, strerror(-r),
					 *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
		}
	}
	kernel_close(k);
	if (!r) {
		log_info("policy of key %s set", name);
		add_key_fields(rq->reply, &key);
	}
	return r;
}

static const char *kernel_state(int r, const struct kernel_key *kk)
{
	return r ? "absent" : kk->state == HSMKEY_STATE_ACTIVE ? "loaded" :
	       kk->state == HSMKEY_STATE_DISABLED ? "disabled" : "revoked";
}

/*
 * One key's metadata and policy, each version, and what the kernel counts
 * for each (the current version's figures also at the top level).
 */
static int op_show(struct request *rq)
{
	struct json_object *versions;
	struct kernel_key kk;
	struct kernel *k = NULL;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, false, &key)))
		return r;
	add_key_fields(rq->reply, &key);
	kernel_open(&k);
	versions = json_object_new_array();
	json_object_object_add(rq->reply, "version_list", versions);
	for (uint32_t v = 1; v <= key.current; v++) {
		struct json_object *o;
		struct ks_key vk;

		if (rq->d->be->ops->get(rq->d->be, name, v, false, &vk))
			continue;
		o = json_object_new_object();
		json_object_array_add(versions, o);
		json_object_object_add(o, "version", json_object_new_int64(v));
		json_object_object_add(o, "created", json_object_new_int64(vk.version_created));
		if (!k)
			continue;
		r = kernel_get(k, key.id, v, &kk);
		json_object_object_add(o, "kernel", json_object_new_string(kernel_state(r, &kk)));
		if (!r) {
			json_object_object_add(o, "bindings", json_object_new_int64(kk.bindings));
			json_object_object_add(o, "bytes", json_object_new_int64((int64_t)kk.bytes));
			json_object_object_add(o, "requests",
					       json_object_new_int64((int64_t)kk.requests));
		}
		if (v != key.current)
			continue;
		/* The current version's figures at the top, as before versions. */
		json_object_object_add(rq->reply, "kernel",
				       json_object_new_string(kernel_state(r, &kk)));
		if (!r) {
			json_object_object_add(rq->reply, "bindings", json_object_new_int64(kk.bindings));
			json_object_object_add(rq->reply, "bytes", json_object_new_int64((int64_t)kk.bytes));
			json_object_object_add(rq->reply, "requests",
					       json_object_new_int64((int64_t)kk.requests));
		}
	}
	kernel_close(k);
	return 0;
}

/* Check the audit log against itself and the kernel's anchor. */
static int op_audit_verify(struct request *rq)
{
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t anchor = 0, records, checkpoints;
	struct kernel *k;
	char msg[256];
	int r;

	if (!rq->d->audit)
		return fail(rq, ENOENT, "this daemon keeps no audit log");
	if (!kernel_open(&k)) {
		if (kernel_audit_get(k, instance(rq->d), &anchor, head))
			anchor = 0;
		kernel_close(k);
	}
	r = audit_verify(rq->d->audit, anchor, head, msg, sizeof(msg), &records, &checkpoints);
	if (r)
		return fail(rq, EBADMSG, "the audit log does not verify: %s", msg);
	json_object_object_add(rq->reply, "result", json_object_new_string(msg));
	json_object_object_add(rq->reply, "records", json_object_new_int64((int64_t)records));
	json_object_object_add(rq->reply, "checkpoints", json_object_new_int64((int64_t)checkpoints));
	json_object_object_add(rq->reply, "anchor", json_object_new_int64((int64_t)anchor));
	json_object_object_add(rq->reply, "public_key",
			       json_object_new_string(audit_public_key(rq->d->audit)));
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

	struct json_object *vo = json_object_object_get(rq->req, "version");
	int64_t version = vo ? json_object_get_int64(vo) : 0;

	if (vo && (!json_object_is_type(vo, json_type_int) || version < 1 || version > UINT32_MAX))
		return fail(rq, EINVAL, "'version' must be a version number (1 or more)");
	if ((r = get_name(rq, "name", &name)) ||
	    (r = get_version(rq, name, (uint32_t)version, true, &key)))
		return r;
	if (key.state == KS_REVOKED)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked: its token binds nothing", name);
	else if (key.state != KS_ACTIVE)
		r = fail(rq, EPERM, "key '%s' is %s: its token binds nothing until it is enabled",
			 name, ks_state_name(key.state));
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

/*
 * Before the mutation lock: open the device without waiting (a FIFO or a
 * device that blocks on open holds up no change) and keep its number.
 */
static int open_device(struct request *rq)
{
	const char *device = proto_str(rq->req, "device");
	uint64_t bytes = 0;
	struct stat st;
	int fd, r = 0;

	if (!device || device[0] != '/')
		return fail(rq, EINVAL, "dm open needs the absolute path of a block device");
	fd = open(device, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) ||
	    ioctl(fd, BLKGETSIZE64, &bytes) < 0)
		r = fd < 0 ? -errno : -ENOTBLK;
	if (fd >= 0)
		close(fd);
	if (r)
		return fail(rq, r, "%s is not a block device that can be opened: %s", device,
			    strerror(-r));
	if (bytes < 512)
		return fail(rq, EINVAL, "%s is empty", device);
	rq->device = st.st_rdev;
	rq->device_bytes = bytes;
	return 0;
}

static int op_dm_open(struct request *rq)
{
	const char *device = proto_str(rq->req, "device"), *map, *name;
	struct kernel *k;
	struct ks_key key;
	int r;

	if ((r = get_name(rq, "map", &map)) || (r = get_name(rq, "key", &name)) ||
	    (r = open_kernel(rq, &k)))
		return r;
	r = get_key(rq, name, true, &key);
	if (!r && (key.state == KS_DISABLED || key.state == KS_PENDING_DELETION))
		r = fail(rq, EPERM, "key '%s' is %s: it opens no new volumes", name,
			 ks_state_name(key.state));
	else if (!r && key.state != KS_ACTIVE)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked", name);
	if (!r && !is_xts(key.type))
		r = fail(rq, EKEYREJECTED, "key '%s' is %s; dm-crypt volumes need an aes-128-xts or aes-256-xts key",
			 name, key_type_name(key.type));
	if (!r)
		r = provision(rq, k, &key);
	if (!r) {
		r = volume_open(rq->device, rq->device_bytes, map, &key, rq->err,
				sizeof(rq->err));
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

/*
 * A new current version: random material, or the client's (a descriptor,
 * as for import).  Older versions stay in the keystore and in the kernel,
 * so that data under them stays readable; new volumes and tokens get the
 * new one.
 */
static int op_rotate(struct request *rq)
{
	uint8_t buf[HSMKEY_MATERIAL_MAX + 1];
	struct ks_key key, meta;
	const char *name;
	int r, n, len;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, false, &meta)))
		return r;
	if (meta.state != KS_ACTIVE)
		return fail(rq, EPERM, "key '%s' is %s: only an active key is rotated", name,
			    ks_state_name(meta.state));
	len = (int)key_type_len(meta.type);
	if (rq->ninput >= 0) {
		n = rq->ninput;
		if (n == len)
			memcpy(buf, rq->input, (size_t)n);
		if (n != len) {
			wipe(buf, sizeof(buf));
			return fail(rq, EINVAL, "a %s key file must hold exactly %d bytes",
				    key_type_name(meta.type), len);
		}
		if (is_xts(meta.type) && !memcmp(buf, buf + len / 2, (size_t)len / 2)) {
			wipe(buf, sizeof(buf));
			return fail(rq, EINVAL, "the two halves of this XTS key are equal, which XTS forbids");
		}
	}
	r = rq->d->be->ops->rotate(rq->d->be, name, rq->ninput >= 0 ? buf : NULL, &key);
	wipe(buf, sizeof(buf));
	if (r == -E2BIG)
		return fail(rq, r, "key '%s' has %d versions, the most a key keeps; create a new key",
			    name, KS_VERSIONS_MAX);
	if (r)
		return fail(rq, r, "cannot store a new version of '%s': %s", name, strerror(-r));
	log_info("rotated key %s to version %u", name, key.version);
	r = reply_and_provision(rq, &key);
	ks_key_wipe(&key);
	return r;
}

/*
 * Schedule destruction after a waiting period (deletion_wait, or longer
 * with "wait"): meanwhile the key is disabled (the kernel refuses new
 * bindings; open volumes keep working) and cancel-deletion gets it back.
 */
static int op_schedule_deletion(struct request *rq)
{
	struct json_object *w = json_object_object_get(rq->req, "wait");
	int64_t wait = deletion_wait(rq->d), at;
	struct kernel *k = NULL;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, false, &key)))
		return r;
	if (w) {
		if (!json_object_is_type(w, json_type_int) || json_object_get_int64(w) < wait ||
		    json_object_get_int64(w) > 3650LL * 86400)
			return fail(rq, EINVAL, "the waiting period must be at least %lld seconds (deletion_wait) and at most 3650 days",
				    (long long)wait);
		wait = json_object_get_int64(w);
	}
	if (key.state == KS_PENDING_DELETION)
		return fail(rq, EALREADY, "key '%s' is already scheduled for deletion", name);
	at = (int64_t)time(NULL) + wait;
	r = rq->d->be->ops->set_state(rq->d->be, name, KS_PENDING_DELETION, at);
	if (r)
		return fail(rq, r, "cannot record the deletion of '%s': %s", name, strerror(-r));
	key.state = KS_PENDING_DELETION;
	key.delete_at = at;
	r = reach_kernel(rq, &k);
	if (!r && k)
		r = kernel_state_all(rq, k, &key, false);
	kernel_close(k);
	note_deletion(rq->d, at);
	log_info("key %s scheduled for deletion at %lld", name, (long long)at);
	add_key_fields(rq->reply, &key);
	return r;
}

/*
 * Keep a key scheduled for deletion: the backend restores the state from
 * before the schedule, so a revoked key stays revoked; an active one is
 * enabled in the kernel again.
 */
static int op_cancel_deletion(struct request *rq)
{
	struct kernel *k = NULL;
	struct ks_key key;
	const char *name;
	int r;

	if ((r = get_name(rq, "name", &name)) || (r = get_key(rq, name, false, &key)))
		return r;
	if (key.state != KS_PENDING_DELETION)
		return fail(rq, EINVAL, "key '%s' is not scheduled for deletion", name);
	r = rq->d->be->ops->cancel_deletion(rq->d->be, name, &key);
	if (r)
		return fail(rq, r, "cannot record the new state of '%s': %s", name, strerror(-r));
	log_info("deletion of key %s cancelled; it is %s again", name, ks_state_name(key.state));
	if (key.state == KS_ACTIVE)
		r = reach_kernel(rq, &k);
	if (!r && k)
		r = get_key(rq, name, true, &key);
	if (!r && k)
		r = provision_versions(rq, k, &key);
	if (!r && k)
		r = kernel_state_all(rq, k, &key, true);
	kernel_close(k);
	if (!r)
		add_key_fields(rq->reply, &key);
	ks_key_wipe(&key);
	return r;
}

/*
 * Destroy @key (its deletion is due): every version revoked and taken out
 * of the kernel first, so no binding outlives the material, then removed
 * from the backend.  A kernel that cannot be reached postpones it.
 */
static int destroy_key(struct daemon *d, const struct ks_key *key)
{
	struct request rq = { .d = d };
	struct kernel *k;
	int r;

	r = reach_kernel(&rq, &k);	/* no module: nothing loaded to revoke */
	if (!r && k)
		r = kernel_revoke_all(&rq, k, key, true);
	kernel_close(k);
	if (!r) {
		r = d->be->ops->destroy(d->be, key->name);
		if (r)
			snprintf(rq.err, sizeof(rq.err), "the keystore did not destroy it: %s",
				 strerror(-r));
	}
	if (d->audit) {
		struct audit_who me = { .uid = getuid(), .pid = getpid(), .comm = "hsmkeyd" };

		if (!audit_record(d->audit, &me, "destroy", key->name, key->current, r,
				  r ? rq.err : "every version destroyed"))
			audit_anchor(d);
	}
	if (r)
		log_error("cannot destroy key %s yet: %s; retrying later", key->name, rq.err);
	else
		log_info("destroyed key %s (%u versions): %s", key->name, key->current,
			 d->be->ops->destruction);
	return r;
}

struct due_ctx {
	int64_t now, next;
	struct ks_key *due;
	size_t ndue;
};

static int collect_due(const struct ks_key *key, void *arg)
{
	struct due_ctx *c = arg;
	struct ks_key *tmp;

	if (key->state != KS_PENDING_DELETION)
		return 0;
	if (key->delete_at > c->now) {
		if (!c->next || key->delete_at < c->next)
			c->next = key->delete_at;
		return 0;
	}
	tmp = realloc(c->due, (c->ndue + 1) * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	c->due = tmp;
	c->due[c->ndue] = *key;
	ks_key_wipe(&c->due[c->ndue++]);
	return 0;
}

/*
 * @next_deletion: 0 unknown (look), -1 none pending, else when the first
 * pending one is due.
 */
static void note_deletion(struct daemon *d, int64_t at)
{
	pthread_mutex_lock(&d->lock);
	if (d->next_deletion <= 0 || at < d->next_deletion)
		d->next_deletion = at;
	pthread_mutex_unlock(&d->lock);
}

int control_deletions_due(struct daemon *d)
{
	int64_t next, left;

	pthread_mutex_lock(&d->lock);
	next = d->next_deletion;
	pthread_mutex_unlock(&d->lock);
	if (next < 0)
		return -1;
	left = next - (int64_t)time(NULL);
	return left < 0 ? 0 : left > 3600 ? 3600 : (int)left;
}

void control_deletions_run(struct daemon *d)
{
	struct due_ctx c;

	pthread_mutex_lock(&d->mutate);
	c = (struct due_ctx){ .now = (int64_t)time(NULL) };
	pthread_mutex_lock(&d->lock);
	d->next_deletion = -1;	/* what the scan finds replaces it */
	pthread_mutex_unlock(&d->lock);
	d->be->ops->list(d->be, NULL, collect_due, &c);
	for (size_t i = 0; i < c.ndue; i++)
		if (destroy_key(d, &c.due[i]) && (!c.next || c.now + 60 < c.next))
			c.next = c.now + 60;	/* retry a failed one in a minute */
	free(c.due);
	if (c.next)
		note_deletion(d, c.next);
	pthread_mutex_unlock(&d->mutate);
}

void control_reconcile(struct daemon *d)
{
	pthread_mutex_lock(&d->mutate);
	control_load_all(d);
	pthread_mutex_unlock(&d->mutate);
	pthread_mutex_lock(&d->lock);
	d->reconciling = false;
	pthread_mutex_unlock(&d->lock);
}

void control_reconcile_request(struct daemon *d)
{
	d->resync = true;
}

/*
 * However many gaps the events show, one reconciliation runs at a time
 * and at most one more is pending (@resync): each re-reads every key.
 */
bool control_reconcile_due(struct daemon *d)
{
	bool due;

	if (!d->resync)
		return false;
	pthread_mutex_lock(&d->lock);
	due = !d->reconciling;
	d->reconciling = true;
	pthread_mutex_unlock(&d->lock);
	if (due)
		d->resync = false;
	return due;
}

/*
 * Before the mutation lock: the key file passed as a descriptor, a regular
 * file or a pipe (read with a deadline, so a FIFO never written holds up
 * only its own request).
 */
static int read_input(struct request *rq)
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
	rq->ninput = 0;
	while ((size_t)rq->ninput < sizeof(rq->input)) {
		n = read(rq->fd, rq->input + rq->ninput, sizeof(rq->input) - (size_t)rq->ninput);
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
	/* Client I/O before the mutation lock; only these take a descriptor. */
	int (*prepare)(struct request *rq);
} ops[] = {
	{ "create", true, op_create, NULL },
	{ "import", true, op_import, read_input },
	{ "list", false, op_list, NULL },
	{ "status", false, op_status, NULL },
	{ "load", true, op_load, NULL },
	{ "revoke", true, op_revoke, NULL },
	{ "token", true, op_token, NULL },
	{ "disable", true, op_disable, NULL },
	{ "enable", true, op_enable, NULL },
	{ "policy", true, op_policy, NULL },
	{ "show", false, op_show, NULL },
	{ "audit-verify", false, op_audit_verify, NULL },
	{ "dm-open", true, op_dm_open, open_device },
	{ "dm-close", true, op_dm_close, NULL },
	{ "rotate", true, op_rotate, read_input },
	{ "schedule-deletion", true, op_schedule_deletion, NULL },
	{ "cancel-deletion", true, op_cancel_deletion, NULL },
	{ "import-key", false, op_import_key, NULL },
	{ "import-key-renew", true, op_import_key_renew, NULL },
};

/*
 * Keep the chain head outside the file: in the kernel module.  The change
 * goes out on the socket registered on /dev/hsmkey (see kernel.h); the
 * socket it is built on is kept across records (every kernel event makes
 * a record, in the poll loop), opened again after a failure.
 */
static void audit_anchor(struct daemon *d)
{
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t seq;
	int r;

	pthread_mutex_lock(&d->lock);
	/* Under the lock: the kernel only moves forward, so in order. */
	seq = audit_head(d->audit, head);
	if (!seq || (!d->anchor && kernel_open(&d->anchor)))
		goto out;
	r = kernel_audit_set(d->anchor, instance(d), seq, head);
	if (r) {
		log_debug("cannot store the audit anchor in the kernel: %s%s%s", strerror(-r),
			  *kernel_errmsg(d->anchor) ? ": " : "", kernel_errmsg(d->anchor));
		kernel_close(d->anchor);
		d->anchor = NULL;
	}
out:
	pthread_mutex_unlock(&d->lock);
}

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

static int on_kernel_event(const struct kernel_event *e, void *arg)
{
	struct daemon *d = arg;
	char detail[96];

	if (d->last_kseq && e->seq > d->last_kseq + 1) {
		/* An overrun: record, then resync. */
		snprintf(detail, sizeof(detail), "kernel events %llu to %llu were not received",
			 (unsigned long long)d->last_kseq + 1, (unsigned long long)e->seq - 1);
		control_audit(d, "events-lost", -ENOBUFS, detail);
		d->resync = true;
	}
	/* Binds and denials the rate limit held back: no sequence number, a count. */
	if (d->last_kseq && e->suppressed > d->last_suppressed) {
		snprintf(detail, sizeof(detail),
			 "the kernel's rate limit held back %llu bind or deny events",
			 (unsigned long long)(e->suppressed - d->last_suppressed));
		control_audit(d, "events-suppressed", 0, detail);
	}
	if (e->suppressed > d->last_suppressed)
		d->last_suppressed = e->suppressed;
	d->last_kseq = e->seq;
	if (e->type == HSMKEY_EVENT_DENY) {
		/* A flood of refused tokens costs one record per interval. */
		if (!d->denials++)
			d->denials_until = (int64_t)time(NULL) + DENIALS_SECONDS;
		d->denial_last = *e;
		return 0;
	}
	control_denials_flush(d, true);	/* in order, before the next record */
	if (d->audit && !audit_kernel_event(d->audit, e->type, e->seq, e->id, e->version,
					     e->uid, e->pid, e->comm, e->err))
		audit_anchor(d);
	return 0;
}

int control_denials_flush(struct daemon *d, bool now)
{
	char detail[200], id[2 * HSMKEY_ID_LEN + 1];
	int64_t left = d->denials_until - (int64_t)time(NULL);
	const struct kernel_event *e = &d->denial_last;

	if (!d->denials)
		return -1;
	if (!now && left > 0)
		return (int)left;
	hex_encode(e->id, HSMKEY_ID_LEN, id);
	snprintf(detail, sizeof(detail),
		 "the kernel refused %llu token(s) in %d s; the last: key id %s version %u, uid %u, pid %u, errno %u (kernel events up to %llu)",
		 (unsigned long long)d->denials, DENIALS_SECONDS, id, e->version, e->uid, e->pid,
		 e->err, (unsigned long long)e->seq);
	control_audit(d, "denials", 0, detail);
	d->denials = 0;
	return -1;
}

/*
 * At start: check the log against the kernel's anchor before adding to it.
 * A mismatch (truncation, rewriting) is logged and recorded in the chain
 * itself, so that the evidence survives the anchor moving on.
 */
void control_audit_check(struct daemon *d)
{
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t anchor = 0, records, checkpoints;
	struct kernel *k;
	char msg[256];

	if (!d->audit || kernel_open(&k))
		return;
	if (kernel_audit_get(k, instance(d), &anchor, head))
		anchor = 0;
	kernel_close(k);
	if (!audit_verify(d->audit, anchor, head, msg, sizeof(msg), &records, &checkpoints))
		return;
	log_error("the audit log does not verify: %s", msg);
	control_audit(d, "audit-check", -EBADMSG, msg);
}

void control_events_open(struct daemon *d)
{
	if (d->events || kernel_events_open(&d->events))
		return;
	log_info("recording the kernel's events in the audit log");
}

void control_events_read(struct daemon *d)
{
	int r;

	if (!d->events)
		return;
	r = kernel_events_read(d->events, on_kernel_event, d);
	if (r == -ENOBUFS) {
		control_audit(d, "events-lost", r, "the event socket overran; resynchronising");
		d->resync = true;
	}
	/* Lost events: d->resync asks the event loop for a reconciliation. */
	if (r && r != -ENOBUFS) {
		log_warn("the kernel's events group failed (%s); leaving it", strerror(-r));
		kernel_close(d->events);
		d->events = NULL;
	}
}

/* The key or volume a request names, for its audit record. */
static const char *request_subject(struct json_object *req)
{
	return proto_str(req, "name") ?: proto_str(req, "map");
}

/*
 * Is the peer root, or in @group (gid @gid) as its primary group or one
 * of its supplementary groups (SO_PEERGROUPS: the credentials it had when
 * it connected)?  An empty @group name means root only.
 */
static bool peer_in(int cfd, const struct ucred *cred, const char *group, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0)
		return true;
	if (!*group)
		return false;
	if (cred->gid == gid)
		return true;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * Before a change: record who asks for what.  When that cannot be written
 * and the log fails closed (the default), the change is refused.
 */
static int audit_intent(struct daemon *d, const struct ucred *cred, const char *op,
			struct json_object *req)
{
	struct audit_who who = { .uid = cred->uid, .pid = cred->pid };
	char what[96];
	int r;

	if (!d->audit)
		return 0;
	snprintf(what, sizeof(what), "requested: %s", op);
	r = audit_record(d->audit, &who, "request", request_subject(req), 0, 0, what);
	if (r) {
		log_error("cannot write the audit log: %s%s", strerror(-r),
			  d->cfg->audit_fail_open ? " (continuing: audit_fail_closed = no)" : "");
		return d->cfg->audit_fail_open ? 0 : r;
	}
	audit_anchor(d);
	return 0;
}

int control_peer(struct daemon *d, int cfd, uid_t *uid, bool *admin)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*uid = cred.uid;
	pthread_rwlock_rdlock(&d->cfg_lock);
	*admin = peer_in(cfd, &cred, d->cfg->admin_group, d->cfg->admin_gid);
	pthread_rwlock_unlock(&d->cfg_lock);
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
	if (o->admin && !admin)
		return fail(rq, EPERM, "'%s' needs root%s%s", o->op,
			    *admin_group ? " or membership of group " : "", admin_group);
	if (!o->admin && !reader)
		return fail(rq, EPERM, "'%s' needs membership of group %s (or %s)", o->op,
			    reader_group, *admin_group ? admin_group : "root");
	if (rq->fd >= 0 && !o->prepare)
		return fail(rq, EINVAL, "'%s' takes no descriptor", o->op);
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
		{ "version", json_type_int },
	};
	struct json_object *v;

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (json_object_object_get_ex(rq->req, fields[i].name, &v) &&
		    !json_object_is_type(v, fields[i].type))
			return fail(rq, EINVAL, "'%s' must be %s", fields[i].name,
				    fields[i].type == json_type_string ? "a string" :
				    fields[i].type == json_type_boolean ? "true or false" :
				    fields[i].type == json_type_array ? "a list" : "a number");
	return 0;
}

static const struct op *find_op(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(ops[i].op, name))
			return &ops[i];
	return NULL;
}

/* After a change, or a refused one: who asked for what, and how it ended. */
static void audit_outcome(struct request *rq, const struct ucred *cred, const struct op *o,
			  int r)
{
	struct audit_who who = { .uid = cred->uid, .pid = cred->pid };

	if (rq->d->audit && !audit_record(rq->d->audit, &who, o->op, request_subject(rq->req),
					  0, r, r ? rq->err : NULL))
		audit_anchor(rq->d);
}

/*
 * Run an authorised request.  Changes one at a time, each between its two
 * audit records; what the client supplies is read before the lock.
 */
static int dispatch(struct request *rq, const struct ucred *cred, const struct op *o)
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
	if (audit_intent(d, cred, o->op, rq->req))
		r = fail(rq, EIO, "the audit log cannot be written, so changes are refused (audit_fail_closed); see the daemon's log");
	else
		r = o->fn(rq);
	audit_outcome(rq, cred, o, r);
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
		return dispatch(rq, cred, o);
	if (o->admin)
		audit_outcome(rq, cred, o, r);	/* refused changes are recorded too */
	return r;
}

int control_serve(struct daemon *d, int cfd)
{
	struct request rq = { .d = d, .fd = -1, .ninput = -1 };
	struct json_object *out;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r;

	r = proto_recv(cfd, &rq.req, &rq.fd);
	if (r == -EAGAIN)
		return 0;	/* woken for nothing: stays connected */
	if (r == -ECONNRESET)
		return r;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		r = -errno;
		goto out;
	}
	rq.reply = proto_reply_ok();
	r = handle(&rq, cfd, &cred, r);
	if (r) {
		log_info("uid %u pid %d: %s: %s", cred.uid, cred.pid,
			 rq.req ? (proto_str(rq.req, "op") ?: "?") : "?", rq.err);
		out = proto_reply_err(r, "%s", rq.err);
	} else {
		out = json_object_get(rq.reply);
	}
	r = proto_send_by(cfd, out, -1, proto_deadline(SEND_MS));
	json_object_put(out);
out:
	json_object_put(rq.reply);
	json_object_put(rq.req);
	if (rq.fd >= 0)
		close(rq.fd);
	wipe(rq.input, sizeof(rq.input));
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

	if (meta->state == KS_PENDING_DELETION)
		note_deletion(l->d, meta->delete_at);
	if (meta->state != KS_ACTIVE ||
	    (meta->has_policy && meta->policy.no_load_at_start))
		return 0;
	if (provision_versions(&rq, l->k, meta)) {
		log_error("cannot load key %s: %s", meta->name, rq.err);
		l->failed++;
	}
	return 0;
}

/*
 * Converge one kernel key with the keystore.  Ours (our instance id as
 * owner): revoke it if the keystore no longer has it or has revoked it,
 * disable or enable it to match; a valid bound key is left undisturbed.
 * Another keystore's: report, never touch.
 */
static int reconcile_one(struct load_ctx *l, const struct kernel_key *kk)
{
	char id[2 * HSMKEY_ID_LEN + 1];
	struct ks_key key;
	int r, want;

	hex_encode(kk->id, HSMKEY_ID_LEN, id);
	if (!kk->has_owner || memcmp(kk->owner, instance(l->d), HSMKEY_OWNER_LEN)) {
		log_info("kernel key %s (id %s version %u) belongs to another keystore: left alone",
			 kk->name, id, kk->version);
		return 0;
	}
	save_usage(l->d, kk->name, kk);
	if (kk->state == HSMKEY_STATE_REVOKED)
		return 0;
	r = l->d->be->ops->get(l->d->be, kk->name, kk->version, false, &key);
	if (r == -ENOENT || (!r && (memcmp(key.id, kk->id, HSMKEY_ID_LEN) ||
				    key.state == KS_REVOKED))) {
		log_info("revoking kernel key %s version %u: %s", kk->name, kk->version,
			 r == -ENOENT ? "no longer in the keystore" : "revoked in the keystore");
		r = kernel_revoke(l->k, kk->id, kk->version);
		if (r && r != -ENOKEY)
			l->failed++;
		return 0;
	}
	if (r) {
		/* Unreadable (tampered?): ks_get said so; no guess either way. */
		return 0;
	}
	want = key.state == KS_ACTIVE ? HSMKEY_STATE_ACTIVE : HSMKEY_STATE_DISABLED;
	if (kk->state != want) {
		log_info("%s kernel key %s version %u to match the keystore",
			 want == HSMKEY_STATE_DISABLED ? "disabling" : "enabling", kk->name,
			 kk->version);
		if (kernel_set_state(l->k, kk->id, kk->version, want == HSMKEY_STATE_ACTIVE))
			l->failed++;
	}
	return 0;
}

static int save_one(const struct kernel_key *kk, void *arg)
{
	struct daemon *d = arg;

	if (kk->has_owner && !memcmp(kk->owner, instance(d), HSMKEY_OWNER_LEN))
		save_usage(d, kk->name, kk);
	return 0;
}

void control_usage_save(struct daemon *d)
{
	struct kernel *k;

	if (kernel_open(&k))
		return;
	if (kernel_list(k, save_one, d))
		log_warn("cannot read the kernel's keys to store their usage");
	kernel_close(k);
}

/*
 * At start and on SIGHUP: converge the kernel with the keystore, then
 * provision every active key that should be loaded and is not.
 */
int control_load_all(struct daemon *d)
{
	struct list_ctx held = { 0 };
	struct load_ctx l = { .d = d };
	int r;

	pthread_mutex_lock(&d->lock);
	d->next_deletion = 0;	/* unknown: the event loop has a look */
	pthread_mutex_unlock(&d->lock);
	r = kernel_open(&l.k);
	if (r == -ENOENT) {
		log_warn("hsmkey.ko is not loaded; keys will be provisioned when they are used");
		return 0;
	}
	if (r) {
		log_error("hsmkey.ko is loaded but cannot be reached: %s; no key is provisioned",
			  strerror(-r));
		return 1;
	}
	/* The whole dump first: no other request on the socket during it. */
	if (kernel_list(l.k, collect_held, &held))
		log_warn("cannot read the kernel's keys to reconcile them");
	else
		for (size_t i = 0; i < held.nheld; i++)
			reconcile_one(&l, &held.held[i]);
	free(held.held);
	pthread_mutex_lock(&d->lock);
	d->next_deletion = -1;	/* load_one() notes each pending one */
	pthread_mutex_unlock(&d->lock);
	d->be->ops->list(d->be, NULL, load_one, &l);
	kernel_close(l.k);
	return l.failed;
}
