// SPDX-License-Identifier: GPL-2.0
/*
 * The helper's module and token: dlopen the PKCS#11 module, C_Initialize
 * with OS locking, select the token by its RFC 7512 URI (p11-kit's parser,
 * not one of ours), read the PIN (never from argv, never logged; kept in a
 * locked page that core dumps leave out, for the re-logins of design §5),
 * log in once (logins belong to the process, F11), and probe the
 * mechanisms this backend needs (§4.7).  The token URI's query may name the
 * module (module-path) and the p11-kit server behind p11-kit's client
 * module (x-p11kit-server) per token; anything else there is refused.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <p11-kit/uri.h>
#include "pkcs11/helper.h"
#include "util.h"

#define PIN_PAGE	4096

static const struct {
	CK_MECHANISM_TYPE mech;
	CK_FLAGS flag;
	const char *name;
} mechs[__HM_MAX] = {
	[HM_ECDH] = { CKM_ECDH1_DERIVE, CKF_DERIVE, "CKM_ECDH1_DERIVE" },
	[HM_ECB_DATA] = { CKM_AES_ECB_ENCRYPT_DATA, CKF_DERIVE, "CKM_AES_ECB_ENCRYPT_DATA" },
	[HM_KEY_WRAP] = { CKM_AES_KEY_WRAP, CKF_WRAP, "CKM_AES_KEY_WRAP" },
	[HM_EC_GEN] = { CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, "CKM_EC_KEY_PAIR_GEN" },
	[HM_HMAC] = { CKM_SHA256_HMAC, CKF_SIGN, "CKM_SHA256_HMAC" },
	[HM_AES_GEN] = { CKM_AES_KEY_GEN, CKF_GENERATE, "CKM_AES_KEY_GEN" },
	[HM_SECRET_GEN] = { CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE,
			    "CKM_GENERIC_SECRET_KEY_GEN" },
	[HM_ED_GEN] = { CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR,
			"CKM_EC_EDWARDS_KEY_PAIR_GEN" },
	[HM_EDDSA] = { CKM_EDDSA, CKF_SIGN, "CKM_EDDSA" },
	[HM_AES_GCM] = { CKM_AES_GCM, CKF_ENCRYPT, "CKM_AES_GCM" },
	[HM_RSA_GEN] = { CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR,
			 "CKM_RSA_PKCS_KEY_PAIR_GEN" },
	[HM_ECDSA] = { CKM_ECDSA, CKF_SIGN, "CKM_ECDSA" },
	[HM_RSA_PKCS] = { CKM_RSA_PKCS, CKF_SIGN, "CKM_RSA_PKCS" },
	[HM_RSA_PSS] = { CKM_RSA_PKCS_PSS, CKF_SIGN, "CKM_RSA_PKCS_PSS" },
};

/* -EOPNOTSUPP naming the first of @need the token lacks. */
int hp_need(struct hp_session *s, unsigned long need)
{
	unsigned int i;

	for (i = 0; i < __HM_MAX; i++)
		if (need & s->srv->missing & (1UL << i))
			return hp_failf(s, -EOPNOTSUPP, "token '%s' lacks %s", s->srv->label,
					mechs[i].name);
	return 0;
}

void hp_mech_names(unsigned long mask, char *buf, size_t len)
{
	size_t n = 0;
	unsigned int i;

	if (len)
		*buf = '\0';
	for (i = 0; i < __HM_MAX && n < len; i++)
		if (mask & (1UL << i))
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "", mechs[i].name);
}

static void probe(struct hp_server *srv)
{
	CK_MECHANISM_INFO info;
	unsigned int i;

	for (i = 0; i < __HM_MAX; i++) {
		/* SoftHSM ORs flags into the caller's struct (F4). */
		memset(&info, 0, sizeof(info));
		if (srv->p->C_GetMechanismInfo(srv->slot, mechs[i].mech, &info) != CKR_OK ||
		    !(info.flags & mechs[i].flag))
			srv->missing |= 1UL << i;
	}
}

/* The query attributes this daemon acts on; a PIN in a URI is never one. */
#define SERVER_ATTR	"x-p11kit-server"
#define UNIX_PREFIX	"unix:path="

/* Owned by root or us, and (unless @sticky_ok and sticky) writable by no one else. */
static bool path_safe(const struct stat *st, bool sticky_ok)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return false;
	return !(st->st_mode & (S_IWGRP | S_IWOTH)) || (sticky_ok && (st->st_mode & S_ISVTX));
}

/*
 * hsmkeyd sends the PIN to whatever listens at the server's socket, and
 * takes its MACs and anchors as the token's: so only root (or hsmkeyd's
 * user) may be able to put a socket there.  Its directory must be
 * writable by no one else (the socket is absent while the server is down,
 * and a user could bind the path); the directories above it may be
 * sticky (/tmp: no one else can rename ours away).  The socket itself,
 * when there, must be theirs too.  Other transports than unix: are not
 * checked.
 */
static int server_safe(const char *addr, char *why, size_t len)
{
	char path[PATH_MAX], *slash;
	struct stat st;
	bool parent = true;

	if (strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)))
		return 0;
	if (snprintf(path, sizeof(path), "%s", addr + strlen(UNIX_PREFIX)) >= (int)sizeof(path) ||
	    path[0] != '/') {
		snprintf(why, len, "token URI: " SERVER_ATTR " must be an absolute unix:path=");
		return -EINVAL;
	}
	if (!lstat(path, &st) && (!S_ISSOCK(st.st_mode) || !path_safe(&st, false))) {
		snprintf(why, len, "token URI: %s is not a socket of root's (or hsmkeyd's user's)",
			 path);
		return -EPERM;
	}
	while ((slash = strrchr(path, '/'))) {
		slash[slash == path] = 0;	/* "/x" -> "/", "/a/b" -> "/a" */
		if (lstat(path, &st) || !S_ISDIR(st.st_mode) || !path_safe(&st, !parent)) {
			snprintf(why, len, "token URI: %s, on the way to the p11-kit server's socket, is not a directory only root (or hsmkeyd's user) can write to: someone else could listen there and take the PIN",
				 path);
			return -EPERM;
		}
		if (!strcmp(path, "/"))
			break;
		parent = false;
	}
	return 0;
}

/*
 * The module and p11-kit server @text's query names (empty where it does
 * not), by p11-kit's own parser (M15), and the URI without them.  What is
 * left must format without a query: otherwise the URI asks for something
 * this daemon would silently not do.  A PIN there is refused, and taken
 * out first: @q->bare and @why are logged.
 */
int hp_uri_query(const char *text, struct hp_uri_query *q, char *why, size_t len)
{
	P11KitUri *uri = p11_kit_uri_new();
	bool pin;
	char *rest = NULL, *query;
	const char *v;
	int r;

	if (!uri)
		return -ENOMEM;
	memset(q, 0, sizeof(*q));
	r = p11_kit_uri_parse(text, P11_KIT_URI_FOR_TOKEN, uri);
	if (r != P11_KIT_URI_OK) {
		snprintf(why, len, "token URI: %s", p11_kit_uri_message(r));
		r = -EINVAL;
		goto out;
	}
	r = -EINVAL;
	v = p11_kit_uri_get_module_path(uri);
	if (v && snprintf(q->module, sizeof(q->module), "%s", v) >= (int)sizeof(q->module)) {
		snprintf(why, len, "token URI: module-path is too long");
		goto out;
	}
	v = p11_kit_uri_get_vendor_query(uri, SERVER_ATTR);
	if (v && snprintf(q->server, sizeof(q->server), "%s", v) >= (int)sizeof(q->server)) {
		snprintf(why, len, "token URI: " SERVER_ATTR " is too long");
		goto out;
	}
	pin = p11_kit_uri_get_pin_value(uri) || p11_kit_uri_get_pin_source(uri);
	p11_kit_uri_set_pin_value(uri, NULL);
	p11_kit_uri_set_pin_source(uri, NULL);
	p11_kit_uri_set_module_path(uri, NULL);
	p11_kit_uri_set_vendor_query(uri, SERVER_ATTR, NULL);
	if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_ANY, &rest) != P11_KIT_URI_OK) {
		snprintf(why, len, "token URI: cannot be formatted again");
		goto out;
	}
	query = strchr(rest, '?');
	if (query)
		*query++ = 0;
	snprintf(q->bare, sizeof(q->bare), "%s", rest);
	if (pin)
		snprintf(why, len, "token URI: a PIN (pin-value, pin-source) is refused there: use pin_file");
	else if (query)
		snprintf(why, len, "token URI: unsupported query attribute in '%s' (only module-path and " SERVER_ATTR ")",
			 query);
	else
		r = q->server[0] ? server_safe(q->server, why, len) : 0;
out:
	free(rest);
	p11_kit_uri_free(uri);
	return r;
}

static int load(struct hp_server *srv, const struct hp_uri_query *q, const char *module,
		char *why, size_t len)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV (*get)(CK_FUNCTION_LIST **);
	char name[48];
	CK_RV rv;

	if (q->module[0])
		module = q->module;
	/*
	 * p11-kit's client module reads P11_KIT_SERVER_ADDRESS when it is
	 * loaded; set here, before this process has other threads.
	 */
	if (q->server[0] && setenv("P11_KIT_SERVER_ADDRESS", q->server, 1))
		return -errno;
	srv->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!srv->dl) {
		snprintf(why, len, "cannot load %s: %s", module, dlerror());
		return -ENOENT;
	}
	get = (CK_RV (*)(CK_FUNCTION_LIST **))dlsym(srv->dl, "C_GetFunctionList");
	if (!get || get(&srv->p) != CKR_OK) {
		snprintf(why, len, "%s is not a PKCS#11 module", module);
		return -ENOENT;
	}
	rv = srv->p->C_Initialize(&args);
	if (rv != CKR_OK) {
		srv->p = NULL;
		snprintf(why, len, "C_Initialize: %s", hp_rv_name(rv, name, sizeof(name)));
		return -EHOSTDOWN;
	}
	return 0;
}

static int select_token(struct hp_server *srv, const char *uri_text, const char *bare,
			char *why, size_t len)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = ARRAY_SIZE(slots), i;
	CK_TOKEN_INFO info;
	P11KitUri *uri;
	int r;

	uri = p11_kit_uri_new();
	if (!uri)
		return -ENOMEM;
	r = p11_kit_uri_parse(uri_text, P11_KIT_URI_FOR_TOKEN, uri);
	if (r != P11_KIT_URI_OK) {
		snprintf(why, len, "token URI: %s", p11_kit_uri_message(r));
		p11_kit_uri_free(uri);
		return -EINVAL;
	}
	r = -EHOSTDOWN;
	if (srv->p->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		n = 0;
	snprintf(why, len, "no token matches %s (%lu slot(s) with a token)", bare,
		 (unsigned long)n);
	for (i = 0; i < n; i++) {
		memset(&info, 0, sizeof(info));
		if (srv->p->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
		    !p11_kit_uri_match_token_info(uri, &info))
			continue;
		srv->slot = slots[i];
		memcpy(srv->label, info.label, sizeof(info.label));
		srv->label[32] = 0;
		while (strlen(srv->label) && srv->label[strlen(srv->label) - 1] == ' ')
			srv->label[strlen(srv->label) - 1] = 0;
		r = 0;
		break;
	}
	p11_kit_uri_free(uri);
	return r;
}

/*
 * As ssh does with keys: a PIN file others can read or change, or one
 * owned by another user, is refused (a leaked PIN is the token's keys).
 */
static int pin_file_safe(int fd, const char *path, char *why, size_t len)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(why, len, "PIN file %s: %s", path, strerror(errno));
		return -EACCES;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "PIN file %s is not a regular file", path);
		return -EACCES;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, len, "PIN file %s is owned by uid %u, not by root or this daemon's user (uid %u): refused",
			 path, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -EACCES;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, len, "PIN file %s is open to group or others (mode %04o): refused; chmod 0400 it",
			 path, (unsigned int)(st.st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

static int read_pin(struct hp_server *srv, const char *pin_file, char *why, size_t len)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[PATH_MAX];
	int fd, n;

	if (pin_file[0])
		snprintf(path, sizeof(path), "%s", pin_file);
	else if (dir)
		snprintf(path, sizeof(path), "%s/pkcs11-pin", dir);
	else {
		snprintf(why, len, "no pin_file and no $CREDENTIALS_DIRECTORY");
		return -EACCES;
	}
	srv->pin = mmap(NULL, PIN_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (srv->pin == MAP_FAILED) {
		srv->pin = NULL;
		return -ENOMEM;
	}
	mlock(srv->pin, PIN_PAGE);
	madvise(srv->pin, PIN_PAGE, MADV_DONTDUMP);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "PIN file %s: %s", path, strerror(errno));
		return -EACCES;
	}
	n = pin_file_safe(fd, path, why, len);
	if (n) {
		close(fd);
		return n;
	}
	n = read_full(fd, srv->pin, PIN_PAGE - 1);
	close(fd);
	if (n < 0) {
		snprintf(why, len, "PIN file %s: %s", path, strerror(-n));
		return -EACCES;
	}
	while (n > 0 && (srv->pin[n - 1] == '\n' || srv->pin[n - 1] == '\r'))
		n--;
	srv->pin[n] = 0;
	srv->pin_len = n;
	if (!n) {
		snprintf(why, len, "PIN file %s is empty", path);
		return -EACCES;
	}
	return 0;
}

/* Log in (again): once per process; a second login is not an error. */
int hp_login(struct hp_session *s)
{
	struct hp_server *srv = s->srv;
	CK_RV rv;

	pthread_mutex_lock(&srv->login);
	rv = srv->p->C_Login(s->h, CKU_USER, (CK_UTF8CHAR *)srv->pin, srv->pin_len);
	pthread_mutex_unlock(&srv->login);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	return hp_fail(s, rv, "C_Login");
}

/* While opening: a step done (proto.h, HP_BEAT); none otherwise. */
void hp_beat(const struct hp_server *srv)
{
	static const uint8_t beat = HP_BEAT;

	if (srv->beat_fd > 0)
		send(srv->beat_fd, &beat, sizeof(beat), MSG_NOSIGNAL | MSG_DONTWAIT);
}

int hp_server_open(struct hp_server *srv, const struct hp_init *init, char *why, size_t len)
{
	struct hp_session s = { .srv = srv };
	struct hp_uri_query *q = malloc(sizeof(*q));
	int r;

	pthread_mutex_init(&srv->login, NULL);
	pthread_mutex_init(&srv->handles_lock, NULL);
	pthread_mutex_init(&srv->wraps, NULL);
	if (!q)
		return -ENOMEM;
	r = hp_uri_query(init->uri, q, why, len) ?:
	    load(srv, q, init->module, why, len) ?:
	    select_token(srv, init->uri, q->bare, why, len) ?:
	    read_pin(srv, init->pin_file, why, len);
	free(q);
	if (r)
		return r;
	hp_beat(srv);	/* C_Initialize: a token's objects read */
	srv->join = init->join;
	probe(srv);
	/*
	 * This session stays open while the module is loaded: SoftHSM drops
	 * the login and every object handle when a slot's last session closes.
	 */
	r = hp_session_open(&s) ?: hp_login(&s);
	if (!r) {
		hp_beat(srv);
		r = hp_token_objects(&s) ?: hp_handles_load(&s);
		if (!r) {
			hp_beat(srv);
			r = hp_delivery_warm(&s);
		}
	}
	if (r) {
		snprintf(why, len, "%s", s.why);
		hp_session_close(&s);
	}
	srv->keep = s.h;
	return r;
}

void hp_server_close(struct hp_server *srv)
{
	hp_handles_forget(srv);
	hp_copies_forget(srv);
	if (srv->p)
		srv->p->C_Finalize(NULL);
	srv->p = NULL;
	if (srv->dl)
		dlclose(srv->dl);
	srv->dl = NULL;
	if (srv->pin) {
		wipe(srv->pin, PIN_PAGE);
		munmap(srv->pin, PIN_PAGE);
	}
	srv->pin = NULL;
}
