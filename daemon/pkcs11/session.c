// SPDX-License-Identifier: GPL-2.0
/*
 * A PKCS#11 session per daemon connection, and the retry rules of design
 * §5: a closed or invalid session is opened again, a lost login is redone
 * (also when it shows only as an empty search), each once per request;
 * a refused PIN or a failing device ends the helper (the daemon then waits
 * for hsm_retry(), or starts a new one: a fresh C_Initialize, which is the
 * only recovery F19 found).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "pkcs11/helper.h"

static const struct {
	CK_RV rv;
	const char *name;
} names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY" },
	{ CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE" },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE" },
	{ CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
	{ CKR_SESSION_COUNT, "CKR_SESSION_COUNT" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID" },
	{ CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE" },
	{ CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID" },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE" },
	{ CKR_WRAPPING_KEY_HANDLE_INVALID, "CKR_WRAPPING_KEY_HANDLE_INVALID" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
};

void hp_clear_error(struct hp_session *s)
{
	s->rv = CKR_OK;
	s->call = NULL;
	s->why[0] = 0;
}

const char *hp_rv_name(CK_RV rv, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rv == rv)
			return names[i].name;
	snprintf(buf, len, "CKR 0x%lx", (unsigned long)rv);
	return buf;
}

static bool pin_error(CK_RV rv)
{
	return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
	       rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE;
}

static bool device_error(CK_RV rv)
{
	return rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_REMOVED || rv == CKR_DEVICE_MEMORY ||
	       rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED ||
	       rv == CKR_GENERAL_ERROR || rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

int hp_fail(struct hp_session *s, CK_RV rv, const char *call)
{
	char buf[32];

	s->rv = rv;
	s->call = call;
	snprintf(s->why, sizeof(s->why), "%s: %s", call, hp_rv_name(rv, buf, sizeof(buf)));
	if (pin_error(rv))
		return -EACCES;
	if (device_error(rv))
		return -EHOSTDOWN;
	if (rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID)
		return -EOPNOTSUPP;
	if (rv == CKR_KEY_NOT_WRAPPABLE || rv == CKR_KEY_UNEXTRACTABLE)
		return -EMEDIUMTYPE;
	return -EIO;
}

int hp_failf(struct hp_session *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return err;
}

int hp_session_open(struct hp_session *s)
{
	CK_RV rv;

	if (s->open)
		return 0;
	rv = s->srv->p->C_OpenSession(s->srv->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				      NULL, NULL, &s->h);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_OpenSession");
	s->open = true;
	return 0;
}

void hp_session_close(struct hp_session *s)
{
	if (s->open)
		s->srv->p->C_CloseSession(s->h);
	s->open = false;
}

static int dispatch(struct hp_session *s, const struct hp_request *req, struct hp_reply *rep)
{
	bool readable = false;
	int r;

	switch (req->op) {
	case HP_GENERATE:
		return hp_key_generate(s, &req->key);
	case HP_IMPORT:
		return hp_key_import(s, &req->key);
	case HP_ADOPT:
		r = hp_key_adopt(s, &req->key, &readable);
		rep->was_readable = readable;
		return r;
	case HP_DESTROY:
		return hp_key_destroy(s, &req->key);
	case HP_FIND:
		return hp_key_find(s, &req->key);
	case HP_KEY_LIST:
		return hp_key_list(s, &req->key, &rep->data);
	case HP_WRAP:
		return hp_wrap(s, &req->wrap, rep);
	case HP_MAC:
		return hp_mac(s, &req->data, &rep->data);
	case HP_DERIVE:
		return hp_derive(s, &req->data, &rep->data);
	case HP_RANDOM:
		return hp_random(s, &req->data, &rep->data);
	case HP_SIGN:
		return hp_sign(s, &req->data, rep);
	case HP_INSTANCE:
		return hp_instance(s, &rep->data);
	case HP_INSTANCE_SET:
		return hp_instance_set(s, &req->data);
	case HP_ANCHOR_LOAD:
		return hp_anchor_load(s, &rep->data);
	case HP_ANCHOR_STORE:
		return hp_anchor_store(s, &req->data);
	case HP_IMPORT_KEY:
		return hp_import_key(s, req->data.n, &rep->import_key);
	case HP_UNWRAP:
		return hp_key_unwrap(s, &req->unwrap);
	case HP_USE:
		return hp_use(s, &req->use, &rep->data);
	case HP_MEMBER: case HP_PAIR_PUB: case HP_PEER_ADD: case HP_EXPORT: case HP_IMPORT_COPY:
		return hp_copy_serve(s, req, rep);
	}
	return hp_failf(s, -EINVAL, "unknown request %u", req->op);
}

/*
 * Whether the session's login is gone: the token logged out behind our
 * back (another user of the module in this process, a token reset).  A
 * search then finds no private object and says so with CKR_OK, so any
 * failure is checked against this before it is believed.
 */
static bool logged_out(struct hp_session *s)
{
	CK_SESSION_INFO info;

	return s->open && s->srv->p->C_GetSessionInfo(s->h, &info) == CKR_OK &&
	       info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS;
}

/* One try; a lost session or login is mended and tried once more. */
void hp_serve(struct hp_session *s, const struct hp_request *req, struct hp_reply *rep)
{
	int r, m, tries;

	for (tries = 0; tries < 2; tries++) {
		memset(rep, 0, offsetof(struct hp_reply, init));
		s->rv = CKR_OK;
		s->why[0] = 0;
		r = hp_session_open(s) ?: dispatch(s, req, rep);
		if (!r || tries)
			break;
		if (s->rv == CKR_SESSION_HANDLE_INVALID || s->rv == CKR_SESSION_CLOSED) {
			s->open = false;
			m = hp_session_open(s) ?: hp_login(s);
		} else if (s->rv == CKR_USER_NOT_LOGGED_IN || logged_out(s)) {
			/* A logout ends the handles of private objects: found again. */
			m = hp_login(s) ?: hp_token_objects(s);
		} else {
			break;
		}
		if (m) {
			r = m;
			break;
		}
	}
	rep->err = r;
	if (r) {
		snprintf(rep->why, sizeof(rep->why), "%s", s->why);
		if (pin_error(s->rv))
			rep->fatal = HP_FATAL_PIN;
		else if (device_error(s->rv))
			rep->fatal = HP_FATAL_DOWN;
	}
}
