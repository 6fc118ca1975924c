// SPDX-License-Identifier: GPL-2.0
/*
 * The csr request: a PKCS#10 certificate request for an identity key,
 * signed by that key inside the daemon, so that a CA can issue the key's
 * certificate without the key ever leaving hsmkey.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "cleanup.h"
#include "identity.h"
#include "proto.h"
#include "request.h"
#include "util.h"

#define SUBJECT_MAX	1024
#define DNS_MAX		32	/* names in one request */
/*
 * @subject as openssl req -subj writes it: "/CN=www.example.com/O=Example";
 * a backslash takes the next character as it is ("\/" a slash); the first
 * '=' of a part, escaped or not, ends its type.
 */
static int parse_subject(struct request *rq, const char *subject, X509_NAME *name)
{
	char buf[SUBJECT_MAX], *field = buf, *eq;
	size_t n = 0;

	if (subject[0] != '/' || strlen(subject) >= sizeof(buf))
		return fail(rq, EINVAL, "the subject must be written /TYPE=VALUE/..., as /CN=www.example.com/O=Example (at most %d characters)",
			    SUBJECT_MAX - 1);
	for (const char *s = subject + 1;; s++) {
		if (*s == '\\' && s[1]) {
			buf[n++] = *++s;
			continue;
		}
		if (*s && *s != '/') {
			buf[n++] = *s;
			continue;
		}
		buf[n] = '\0';
		eq = strchr(field, '=');
		if (!eq || eq == field || !eq[1])
			return fail(rq, EINVAL, "subject part '%s' is not TYPE=VALUE", field);
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
						(const unsigned char *)eq + 1, -1, -1, 0))
			return fail(rq, EINVAL, "'%s' is no attribute type of a subject (use CN, O, OU, C, ST, L, ...)",
				    field);
		if (!*s)
			return 0;
		field = buf + ++n;
	}
}

/* The subjectAltName DNS names asked for, as an extension request. */
static int add_dns(struct request *rq, X509_REQ *req)
{
	struct json_object *a = json_object_object_get(rq->req, "dns");
	STACK_OF(X509_EXTENSION) *exts;
	X509_EXTENSION *ext;
	char value[DNS_MAX * (DNS_NAME_MAX + 8)];	/* ",DNS:*." and the name */
	size_t n = 0, count = a ? json_object_array_length(a) : 0;
	int r = 0;

	if (!count)
		return 0;
	if (count > DNS_MAX)
		return fail(rq, EINVAL, "at most %d DNS names", DNS_MAX);
	value[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		const char *dns = json_object_get_string(json_object_array_get_idx(a, i));

		if (!valid_dns_name(dns))
			return fail(rq, EINVAL, "'%s' is no DNS name", dns ? dns : "");
		r = snprintf(value + n, sizeof(value) - n, "%sDNS:%s", i ? "," : "", dns);
		if (r < 0 || (size_t)r >= sizeof(value) - n)
			return fail(rq, E2BIG, "the DNS names do not fit one request");
		n += (size_t)r;
	}
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, value);
	exts = sk_X509_EXTENSION_new_null();
	r = ext && exts && sk_X509_EXTENSION_push(exts, ext) ? 0 : -ENOMEM;
	if (r)
		X509_EXTENSION_free(ext);	/* not on the stack */
	if (r || !X509_REQ_add_extensions(req, exts))
		r = fail(rq, EINVAL, "cannot make a subjectAltName of %s", value);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

static int reply_pem(struct request *rq, X509_REQ *req)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *text;
	long len;

	if (!bio || PEM_write_bio_X509_REQ(bio, req) != 1) {
		BIO_free(bio);
		return fail(rq, ENOMEM, "cannot write the request");
	}
	len = BIO_get_mem_data(bio, &text);
	json_object_object_add(rq->reply, "csr", json_object_new_string_len(text, (int)len));
	BIO_free(bio);
	return 0;
}

int op_csr(struct request *rq)
{
	_cleanup_key_ struct ks_key key = { 0 };
	const char *subject = proto_str(rq->req, "subject"), *name;
	EVP_PKEY *pkey = NULL;
	X509_REQ *req = NULL;
	int r;

	if (!subject)
		return fail(rq, EINVAL, "csr needs a subject (/CN=...)");
	r = get_named_key(rq, true, &name, &key);
	if (r)
		return r;
	if (!ks_type_identity(key.type))
		return fail(rq, EMEDIUMTYPE, "key '%s' is %s, not an identity key (ecdsa-p256, ecdsa-p384, ed25519)",
			    name, key_type_name(key.type));
	if (key.state != KS_ACTIVE)
		return fail(rq, EKEYREVOKED, "key '%s' is %s: it signs nothing", name,
			    ks_state_name(key.state));
	req = X509_REQ_new();
	if (!req || identity_pkey(&key, &pkey) || !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_pubkey(req, pkey))
		r = fail(rq, ENOMEM, "cannot make a request for key '%s'", name);
	r = r ?: parse_subject(rq, subject, X509_REQ_get_subject_name(req)) ?: add_dns(rq, req);
	if (!r && !X509_REQ_sign(req, pkey, identity_md(key.type)))
		r = fail(rq, EIO, "key '%s' did not sign the request", name);
	if (!r)
		r = reply_pem(rq, req);
	if (!r)
		log_info("signed a certificate request for key %s, subject %s", name, subject);
	EVP_PKEY_free(pkey);
	X509_REQ_free(req);
	return r;
}
