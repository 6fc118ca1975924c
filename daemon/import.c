// SPDX-License-Identifier: GPL-2.0
/*
 * Importing a key: the import wrapping key (import-key) and material
 * passed as a descriptor, raw or wrapped to it (import).
 */
#include <pthread.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto.h"
#include "provision.h"
#include "identity.h"
#include "key_use.h"
#include "request.h"
#include "util.h"
#include "wrapkey.h"

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

/*
 * The backend's own import key (a token's hsmkey:import): its public half
 * into @pem and @fp, its algorithm into *@alg.
 */
static int backend_import_key(struct request *rq, bool renew, char *pem, size_t size,
			      char *fp, const char **alg)
{
	struct backend *be = rq->d->be;
	struct ks_import_key k;
	struct wrapkey *w = NULL;
	int r = be->ops->import_key(be, renew, &k);

	if (r)
		return fail(rq, r, "the import wrapping key is unusable: %s; see the daemon's log",
			    strerror(-r));
	r = wrapkey_from_public(k.n, k.nlen, k.e, k.elen, &w);
	if (!r)
		r = wrapkey_public(w, pem, size, fp);
	wrapkey_close(w);
	if (r)
		return fail(rq, EIO, "cannot encode the import wrapping key");
	*alg = k.algorithm;
	return 0;
}

/* The public half of the import wrapping key. */
static int import_key_reply(struct request *rq, bool renew)
{
	const char *alg = WRAPKEY_ALGORITHM;
	char pem[2048], fp[65];
	int r;

	pthread_mutex_lock(&rq->d->wrap_lock);
	if (rq->d->be->ops->import_key) {
		r = backend_import_key(rq, renew, pem, sizeof(pem), fp, &alg);
	} else {
		r = get_wrapkey(rq, renew);
		if (!r && wrapkey_public(rq->d->wrapkey, pem, sizeof(pem), fp))
			r = fail(rq, EIO, "cannot encode the import wrapping key");
	}
	pthread_mutex_unlock(&rq->d->wrap_lock);
	if (r)
		return r;
	json_object_object_add(rq->reply, "public_key", json_object_new_string(pem));
	json_object_object_add(rq->reply, "algorithm", json_object_new_string(alg));
	json_object_object_add(rq->reply, "fingerprint", json_object_new_string(fp));
	if (renew)
		log_info("new import wrapping key %s (%s)", fp, alg);
	return 0;
}

int op_import_key(struct request *rq)
{
	return import_key_reply(rq, false);
}

/* A new pair: material wrapped to the old public key no longer imports. */
int op_import_key_renew(struct request *rq)
{
	return import_key_reply(rq, true);
}

/*
 * --from URI: a key the backend holds already (made by the HSM's own
 * tools) becomes key NAME, version 1; no material passes the daemon
 * (but from a KMIP server, which it fetches from for every use).  An
 * identity key: the key pair, in a backend that keeps identity keys
 * inside (key_use_inside()); or, on the KMIP server, the private key,
 * which the daemon then fetches for each use like the others there.
 */
static int adopt(struct request *rq, int type, const char *from)
{
	struct backend *be = rq->d->be;
	bool identity = ks_type_identity(type);
	struct ks_key key;
	const char *name;
	int r = get_name(rq, "name", &name);

	if (r)
		return r;
	if (!be->ops->adopt)
		return fail(rq, EOPNOTSUPP, "the %s backend cannot adopt keys (--from is for backend = pkcs11 or kmip)",
			    be->ops->name);
	r = be->ops->adopt(be, name, type, from, &key);
	if (r == -EEXIST)
		return fail(rq, r, "a key named '%s' exists already", name);
	if (r == -EINVAL)
		return fail(rq, r, "cannot adopt '%s': expected the form '%s'", from,
			    be->ops->adopt_form);
	if (r == -ENOENT)
		return fail(rq, r, "%s holds no %s %s names (or more than one)",
			    be->ops->storage, identity ? "private key" : "secret key", from);
	if (r == -EHOSTDOWN)
		return fail(rq, r, "cannot adopt %s: %s cannot be reached (hsmkeyctl status says why)",
			    from, be->ops->storage);
	if (r == -EKEYREVOKED)
		return fail(rq, r, "cannot adopt %s: it is revoked or deactivated there", from);
	if (r == -EMEDIUMTYPE && ks_type_daemon(type) && !(identity && key_use_inside(be)))
		return fail(rq, r, "the key %s names is not of type %s: another kind of object, algorithm or length, or material that does not read as such a key (the daemon's log says which)",
			    from, key_type_name(type));
	if (r == -EMEDIUMTYPE && identity)
		return fail(rq, r, "the key pair %s names is not taken: not of type %s, more than one, a private key usable without login or asking for one at each use, one the token will not make sensitive and not extractable, or a public key object that is not its pair's (the daemon's log says which)",
			    from, key_type_name(type));
	if (r == -EMEDIUMTYPE)
		return fail(rq, r, "the key %s names is not of type %s, or cannot be wrapped (not extractable, or trusted wrapping only): it could never reach the kernel",
			    from, key_type_name(type));
	if (r == -EXDEV)
		return fail(rq, EOPNOTSUPP, "an identity key's private key never leaves its token, and this key store has several tokens or a backup token");
	if (r == -ENXIO)
		return fail(rq, r, "%s holds no public key object beside the private key %s names (one with its CKA_ID, or its label): hsmkeyd needs both",
			    be->ops->storage, from);
	if (r == -EPERM)
		return fail(rq, r, "cannot adopt %s: it is one of hsmkeyd's own objects", from);
	if (r == -EUCLEAN)
		return fail(rq, r, "cannot adopt %s: its spent count on %s does not read (the daemon's log says more)",
			    from, be->ops->storage);
	if (r == -EBUSY)
		return fail(rq, r, "cannot adopt %s: a key of this key storage is it already (the daemon's log says which)",
			    from);
	if (r == -EINPROGRESS) {
		char what[HSMKEY_NAME_MAX + 32];

		snprintf(what, sizeof(what), "the adoption of key '%s'", name);
		return store_failed(rq, r, what);
	}
	if (r)
		return fail(rq, r, "cannot adopt %s: %s", from, strerror(-r));
	log_info("adopted key %s (%s) from %s", name, key_type_name(type), from);
	r = reply_and_provision(rq, &key);
	ks_key_wipe(&key);
	return r;
}

static int length_error(struct request *rq, int type, bool more)
{
	return fail(rq, EINVAL, "a %s key file must hold exactly %u bytes; this one holds %s",
		    key_type_name(type), key_type_len(type), more ? "more" : "fewer");
}

/*
 * Wrapped, into a backend that unwraps itself (->import_wrapped): only
 * the blob passes the daemon.  The XTS rule that the halves differ cannot
 * be checked here: the daemon never sees the material.
 */
static int import_wrapped(struct request *rq, int type, const uint8_t *blob, size_t len)
{
	struct backend *be = rq->d->be;
	const char *name, *alg = "RSA-OAEP";
	char what[HSMKEY_NAME_MAX + 8];
	struct ks_import_key k;
	struct ks_key key;
	int r = get_name(rq, "name", &name);

	if (r)
		return r;
	pthread_mutex_lock(&rq->d->wrap_lock);
	r = be->ops->import_wrapped(be, name, type, blob, len, &key);
	pthread_mutex_unlock(&rq->d->wrap_lock);
	if (r == -EKEYREJECTED) {
		/* The algorithm, for the message (the storage makes a pair if none). */
		if (!be->ops->import_key(be, false, &k))
			alg = k.algorithm;
		return fail(rq, EBADMSG, "the wrapped key does not decrypt with the import key (%s): wrap it to the key 'hsmkeyctl import-key' prints",
			    alg);
	}
	if (r == -EMSGSIZE || r == -ENODATA)
		return length_error(rq, type, r == -EMSGSIZE);
	if (r == -EEXIST)
		return fail(rq, r, "a key named '%s' exists already", name);
	if (r) {
		snprintf(what, sizeof(what), "key '%s'", name);
		return store_failed(rq, r, what);
	}
	log_info("imported key %s (%s), unwrapped by the key storage", name, key_type_name(type));
	r = reply_and_provision(rq, &key);
	ks_key_wipe(&key);
	return r;
}

/* An identity key's private key file (identity.h), PEM or DER. */
static int import_identity(struct request *rq, int type)
{
	uint8_t material[KS_MATERIAL_MAX];
	int r;

	if (proto_str(rq->req, "from"))
		return adopt(rq, type, proto_str(rq->req, "from"));
	if (json_object_get_boolean(json_object_object_get(rq->req, "wrapped")))
		return fail(rq, EOPNOTSUPP, "an identity key (%s) is imported from its private key file (--key-file), unencrypted PEM or DER%s",
			    key_type_name(type), rq->d->be->ops->adopt ?
			    ", or adopted from the key pair the key storage holds (--from)" : "");
	if (rq->ninput < 0)
		return fail(rq, EINVAL, "import needs the key file passed as a descriptor");
	if (rq->ninput >= REQUEST_INPUT_MAX)
		return fail(rq, EFBIG, "the key file is larger than an %s private key file can be (%zu bytes or more)",
			    key_type_name(type), (size_t)REQUEST_INPUT_MAX);
	r = identity_parse(type, rq->input, (size_t)rq->ninput, material);
	if (r == -EMEDIUMTYPE)
		r = fail(rq, r, "the key file holds a private key of another type than %s",
			 key_type_name(type));
	else if (r == -EDOM)
		r = fail(rq, r, "the key file gives its curve as explicit parameters: only a named curve is read (openssl ec -param_enc named_curve)");
	else if (r == -EKEYREJECTED)
		r = fail(rq, r, ks_type_rsa(type) ?
			 "the key file's values do not belong together (a modulus, exponent or coefficient not the one its primes give, or a factor that is not prime): a damaged or forged file" :
			 "the key file's public key is not its private key's: a damaged or forged file");
	else if (r == -ERANGE)
		r = fail(rq, r, "the key file holds a weak RSA key (a public exponent below 65537, or primes so close that the modulus factors): make a new key");
	else if (r)
		r = fail(rq, r, "the key file holds no unencrypted %s private key (PEM \"PRIVATE KEY\", \"EC PRIVATE KEY\" or \"RSA PRIVATE KEY\", or their DER); an encrypted one: openssl pkey -in FILE -out PLAIN first",
			 key_type_name(type));
	else
		r = create_common(rq, type, material, false);
	wipe(material, sizeof(material));
	return r;
}

/*
 * The material comes from a descriptor the client opened: never in a
 * message.  Raw, or ("wrapped") RSA-OAEP-encrypted to the import key.
 */
int op_import(struct request *rq)
{
	uint8_t buf[1024], material[HSMKEY_MATERIAL_MAX + 1];
	const char *tname = proto_str(rq->req, "type");
	struct json_object *w = json_object_object_get(rq->req, "wrapped");	/* a boolean */
	int type = key_type_from_name(tname), len, n, r;

	if (type < 0)
		return bad_type(rq, tname);
	r = storage_keeps(rq, type);	/* every path below, --from and wrapped too */
	if (r)
		return r;
	if (ks_type_identity(type))
		return import_identity(rq, type);
	if (proto_str(rq->req, "from"))
		return adopt(rq, type, proto_str(rq->req, "from"));
	if (rq->ninput < 0)
		return fail(rq, EINVAL, "import needs the key file passed as a descriptor");
	len = (int)key_type_len(type);
	n = rq->ninput;
	if (w && json_object_get_boolean(w) && rq->d->be->ops->import_wrapped)
		return import_wrapped(rq, type, rq->input, (size_t)n);
	if (n > (int)sizeof(buf))	/* no key, nor one wrapped, is that long */
		return length_error(rq, type, true);
	memcpy(buf, rq->input, (size_t)n);
	if (w && json_object_get_boolean(w)) {
		size_t mlen = sizeof(material);

		pthread_mutex_lock(&rq->d->wrap_lock);
		r = get_wrapkey(rq, false);
		if (!r && wrapkey_unwrap(rq->d->wrapkey, buf, (size_t)n, material, &mlen))
			r = fail(rq, EBADMSG, "the wrapped key does not decrypt with the import key (%s): wrap it to the key 'hsmkeyctl import-key' prints",
				 WRAPKEY_ALGORITHM);
		pthread_mutex_unlock(&rq->d->wrap_lock);
		if (r) {
			wipe(buf, sizeof(buf));
			return r;
		}
		memcpy(buf, material, mlen);
		wipe(material, sizeof(material));
		n = (int)mlen;
	}
	if (n != len)
		r = length_error(rq, type, n > len);
	else
		r = create_common(rq, type, buf, false);
	wipe(buf, sizeof(buf));
	return r;
}
