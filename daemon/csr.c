// SPDX-License-Identifier: GPL-2.0
/*
 * The csr request: a PKCS#10 certificate request for an identity key,
 * signed by that key where it lives (in the daemon, or inside the HSM:
 * key_use.h), so that a CA can issue the key's certificate without the
 * key ever leaving hsmkey.
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
#include "key_use.h"
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

/* The request's signature algorithm for @type (RSA: PKCS #1 v1.5 with SHA-256). */
static int sig_nid(int type)
{
	return type == KS_TYPE_ECDSA_P256 ? NID_ecdsa_with_SHA256 :
	       type == KS_TYPE_ECDSA_P384 ? NID_ecdsa_with_SHA384 :
	       type == KS_TYPE_ED25519 ? NID_ED25519 : NID_sha256WithRSAEncryption;
}

/* @req signed by @key inside its storage: the algorithm set, the TBS part signed there. */
static int sign_inside(struct request *rq, const struct ks_key *key, X509_REQ *req)
{
	X509_ALGOR *alg = X509_ALGOR_new();
	uint8_t sig[KEY_USE_SIG_MAX];
	ASN1_BIT_STRING *bits = NULL;
	unsigned char *tbs = NULL;
	size_t siglen = sizeof(sig);
	int tlen = -1, r;

	if (alg && X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid(key->type)),
				   ks_type_rsa(key->type) ? V_ASN1_NULL : V_ASN1_UNDEF, NULL) &&
	    X509_REQ_set1_signature_algo(req, alg) == 1)
		tlen = i2d_re_X509_REQ_tbs(req, &tbs);
	X509_ALGOR_free(alg);
	if (tlen <= 0) {
		OPENSSL_free(tbs);
		return fail(rq, ENOMEM, "cannot make a request for key '%s'", key->name);
	}
	r = key_use_sign(rq, key, 0, false, tbs, (size_t)tlen, sig, &siglen);
	OPENSSL_free(tbs);
	if (r)
		return r;
	bits = ASN1_BIT_STRING_new();
	if (!bits || ASN1_BIT_STRING_set(bits, sig, (int)siglen) != 1) {
		ASN1_BIT_STRING_free(bits);
		return fail(rq, ENOMEM, "out of memory");
	}
	/* Whole bytes: no bits left unused in the last. */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bits);
	return 0;
}

/* @key's public key: from its storage when it lives there, else from its private key. */
static int public_of(struct request *rq, const struct ks_key *key, EVP_PKEY **pkey)
{
	if (key_use_inside(rq->d->be))
		return key_use_public(rq, key, pkey);
	return identity_pkey(key, pkey) ? fail(rq, ENOMEM, "cannot make a request for key '%s'",
					       key->name) : 0;
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
	r = get_named_key(rq, !key_use_inside(rq->d->be), &name, &key);
	if (r)
		return r;
	if (!ks_type_identity(key.type))
		return fail(rq, EMEDIUMTYPE, "key '%s' is %s, not an identity key (ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072)",
			    name, key_type_name(key.type));
	if (key.state != KS_ACTIVE)
		return fail(rq, EKEYREVOKED, "key '%s' is %s: it signs nothing", name,
			    ks_state_name(key.state));
	req = X509_REQ_new();
	r = req ? public_of(rq, &key, &pkey) : fail(rq, ENOMEM, "out of memory");
	if (!r && (!X509_REQ_set_version(req, 0) || !X509_REQ_set_pubkey(req, pkey)))
		r = fail(rq, ENOMEM, "cannot make a request for key '%s'", name);
	r = r ?: parse_subject(rq, subject, X509_REQ_get_subject_name(req)) ?: add_dns(rq, req);
	if (!r && key_use_inside(rq->d->be))
		r = sign_inside(rq, &key, req);
	else if (!r && !X509_REQ_sign(req, pkey, identity_md(key.type)))
		r = fail(rq, EIO, "key '%s' did not sign the request", name);
	if (!r)
		r = reply_pem(rq, req);
	if (!r)
		log_info("signed a certificate request for key %s, subject %s", name, subject);
	EVP_PKEY_free(pkey);
	X509_REQ_free(req);
	return r;
}
