// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyd.conf: one "key = value" per line; blank lines and lines whose
 * first non-blank character is '#' are ignored.  Unknown keys, lines
 * without '=', values that are too long and bad booleans are errors that
 * name the line: a typo must not silently weaken a setting.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "util.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/hsmkey");
	snprintf(c->socket, sizeof(c->socket), "/run/hsmkey/hsmkeyd.sock");
	c->deletion_wait = 7 * 86400;
	c->audit_rotate_size = 64ULL << 20;
	c->backend = CONFIG_BACKEND_EMBEDDED;
	snprintf(c->pkcs11_module, sizeof(c->pkcs11_module), "%s", CONFIG_PKCS11_MODULE);
	c->pkcs11_timeout = 10;
	c->kmip_timeout = 10;
	c->kmip_poll_interval = 10;
	c->offline_grace = -1;
	snprintf(c->subuid_file, sizeof(c->subuid_file), "/etc/subuid");
}

/* A duration, or 0, or @word for @none. */
static int parse_duration_or(const char *val, const char *word, long long none,
			     long long *out)
{
	if (!strcmp(val, "0")) {
		*out = 0;
		return 0;
	}
	if (word && !strcmp(val, word)) {
		*out = none;
		return 0;
	}
	return parse_duration(val, out);
}

static char *trim(char *s, char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

static int set_str(char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return -ENAMETOOLONG;
	strcpy(dst, v);
	return 0;
}

/* kmip_server: "HOST:PORT" or a comma-separated list of them, in order. */
static int add_servers(struct config *c, const char *val)
{
	char *list = strdup(val), *s, *save = NULL;
	int r = 0;

	if (!list)
		return -ENOMEM;
	for (s = strtok_r(list, ",", &save); s && !r; s = strtok_r(NULL, ",", &save)) {
		s = trim(s, s + strlen(s));
		if (!*s || !strchr(s, ':'))
			r = -EINVAL;
		else if (c->kmip_nservers == CONFIG_KMIP_SERVERS_MAX)
			r = -E2BIG;
		else
			r = set_str(c->kmip_server[c->kmip_nservers++], sizeof(c->kmip_server[0]), s);
	}
	free(list);
	return r;
}

#define STR_(x)		#x
#define STR(x)		STR_(x)
#define TOKENS_MAX_STR	STR(CONFIG_TOKENS_MAX)
#define KMIP_SERVERS_MAX_STR	STR(CONFIG_KMIP_SERVERS_MAX)

/* One more token of the key store: a pkcs11: URI not given before. */
static int add_token(struct config *c, const char *uri)
{
	if (strncmp(uri, "pkcs11:", 7))
		return -EINVAL;
	for (unsigned int i = 0; i < c->pkcs11_ntokens; i++)
		if (!strcmp(c->pkcs11_token[i], uri))
			return -EEXIST;
	if (c->pkcs11_ntokens == CONFIG_TOKENS_MAX)
		return -E2BIG;
	if (strlen(uri) >= sizeof(c->pkcs11_token[0]))
		return -ENAMETOOLONG;
	strcpy(c->pkcs11_token[c->pkcs11_ntokens++], uri);
	return 0;
}

/* A size: digits, then K, M or G (binary) or nothing; 0 means never. */
static int parse_size(const char *v, unsigned long long *out)
{
	static const char units[] = "KMG";
	unsigned long long n = 0;
	const char *u;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	for (; isdigit((unsigned char)*v); v++) {
		if (n > (1ULL << 30))
			return -EINVAL;
		n = n * 10 + (unsigned long long)(*v - '0');
	}
	u = *v ? strchr(units, *v) : NULL;
	if (*v && (!u || v[1]))
		return -EINVAL;
	*out = u ? n << (10 * (u - units + 1)) : n;
	return 0;
}

int config_parse(const char *text, struct config *c, char *err, size_t errlen)
{
	struct config n = *c;
	char *copy, *line, *next;
	int lineno = 0, r = 0;

	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (line = copy; line && !r; line = next) {
		char *eol = strchr(line, '\n'), *eq, *key, *val;

		next = eol ? eol + 1 : NULL;
		if (!eol)
			eol = line + strlen(line);
		lineno++;
		key = trim(line, eol);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, errlen, "line %d: expected 'key = value'", lineno);
			r = -EINVAL;
			break;
		}
		val = trim(eq + 1, key + strlen(key));
		key = trim(key, eq);
		if (!strcmp(key, "state_dir"))
			r = *val == '/' ? set_str(n.state_dir, sizeof(n.state_dir), val) : -EINVAL;
		else if (!strcmp(key, "socket"))
			r = *val == '/' ? set_str(n.socket, sizeof(n.socket), val) : -EINVAL;
		else if (!strcmp(key, "admin_group"))
			r = set_str(n.admin_group, sizeof(n.admin_group), val);
		else if (!strcmp(key, "reader_group"))
			r = set_str(n.reader_group, sizeof(n.reader_group), val);
		else if (!strcmp(key, "subuid_file"))
			r = !*val || *val == '/' ?
			    set_str(n.subuid_file, sizeof(n.subuid_file), val) : -EINVAL;
		else if (!strcmp(key, "audit_fail_closed")) {
			if (!strcmp(val, "yes") || !strcmp(val, "no"))
				n.audit_fail_open = !strcmp(val, "no");
			else
				r = -EINVAL;
		} else if (!strcmp(key, "master_key")) {
			if (!strcmp(val, "file") || !strcmp(val, "passphrase"))
				n.passphrase = !strcmp(val, "passphrase");
			else
				r = -EINVAL;
		} else if (!strcmp(key, "passphrase_file"))
			r = *val == '/' ? set_str(n.passphrase_file, sizeof(n.passphrase_file), val) :
			    -EINVAL;
		else if (!strcmp(key, "deletion_wait"))
			r = parse_duration(val, &n.deletion_wait);
		else if (!strcmp(key, "audit_rotate_size"))
			r = parse_size(val, &n.audit_rotate_size);
		else if (!strcmp(key, "backend")) {
			if (!strcmp(val, "embedded"))
				n.backend = CONFIG_BACKEND_EMBEDDED;
			else if (!strcmp(val, "pkcs11"))
				n.backend = CONFIG_BACKEND_PKCS11;
			else if (!strcmp(val, "kmip"))
				n.backend = CONFIG_BACKEND_KMIP;
			else
				r = -EINVAL;
		} else if (!strcmp(key, "pkcs11_module"))
			r = *val == '/' ? set_str(n.pkcs11_module, sizeof(n.pkcs11_module), val) :
			    -EINVAL;
		else if (!strcmp(key, "pkcs11_token"))
			r = add_token(&n, val);
		else if (!strcmp(key, "pkcs11_backup_token"))
			r = !strncmp(val, "pkcs11:", 7) ?
			    set_str(n.pkcs11_backup_token, sizeof(n.pkcs11_backup_token), val) :
			    -EINVAL;
		else if (!strcmp(key, "pin_file"))
			r = *val == '/' ? set_str(n.pin_file, sizeof(n.pin_file), val) : -EINVAL;
		else if (!strcmp(key, "pkcs11_timeout"))
			r = parse_duration(val, &n.pkcs11_timeout);
		else if (!strcmp(key, "kmip_server"))
			r = add_servers(&n, val);
		else if (!strcmp(key, "kmip_ca"))
			r = *val == '/' ? set_str(n.kmip_ca, sizeof(n.kmip_ca), val) : -EINVAL;
		else if (!strcmp(key, "kmip_cert"))
			r = *val == '/' ? set_str(n.kmip_cert, sizeof(n.kmip_cert), val) : -EINVAL;
		else if (!strcmp(key, "kmip_key"))
			r = *val == '/' ? set_str(n.kmip_key, sizeof(n.kmip_key), val) : -EINVAL;
		else if (!strcmp(key, "kmip_timeout"))
			r = parse_duration(val, &n.kmip_timeout);
		else if (!strcmp(key, "kmip_poll_interval"))
			r = parse_duration(val, &n.kmip_poll_interval);
		else if (!strcmp(key, "offline_grace"))
			r = parse_duration_or(val, "reboot", -1, &n.offline_grace);
		else if (!strcmp(key, "pkcs11_helper")) {
			if (!strcmp(val, "yes") || !strcmp(val, "no"))
				n.pkcs11_in_process = !strcmp(val, "no");
			else
				r = -EINVAL;
		} else if (!strcmp(key, "verbose")) {
			if (!strcmp(val, "yes") || !strcmp(val, "no"))
				n.verbose = !strcmp(val, "yes");
			else
				r = -EINVAL;
		} else {
			snprintf(err, errlen, "line %d: unknown setting '%s'", lineno, key);
			r = -EINVAL;
			break;
		}
		if (r)
			snprintf(err, errlen, "line %d: bad value for %s%s", lineno, key,
				 r == -ENAMETOOLONG ? " (too long)" :
				 !strcmp(key, "verbose") ? " (yes or no)" :
				 !strcmp(key, "pkcs11_helper") ? " (yes or no)" :
				 !strcmp(key, "audit_fail_closed") ? " (yes or no)" :
				 !strcmp(key, "master_key") ? " (file or passphrase)" :
				 !strcmp(key, "backend") ? " (embedded, pkcs11 or kmip)" :
				 r == -E2BIG && !strcmp(key, "kmip_server") ?
				 " (" KMIP_SERVERS_MAX_STR " servers at most)" :
				 !strcmp(key, "kmip_server") ? " (HOST:PORT, or a comma-separated list of them)" :
				 !strcmp(key, "kmip_timeout") ? " (a duration such as 10s or 1m)" :
				 !strcmp(key, "kmip_poll_interval") ? " (a duration such as 10s or 1m)" :
				 !strcmp(key, "offline_grace") ? " (a duration such as 1h or 7d; 0: none; reboot: until the next reboot)" :
				 r == -E2BIG ? " (" TOKENS_MAX_STR " tokens at most)" :
				 r == -EEXIST ? " (that token is named already)" :
				 !strncmp(key, "pkcs11_", 7) && strstr(key, "token") ?
				 " (a pkcs11: URI, RFC 7512)" :
				 !strcmp(key, "pkcs11_timeout") ? " (a duration such as 10s or 1m)" :
				 !strcmp(key, "audit_rotate_size") ? " (bytes, or a number followed by K, M or G; 0: never)" :
				 !strcmp(key, "deletion_wait") ? " (a duration such as 7d, 12h, 30m or 45s, from 1s to 3650d)" :
				 !strcmp(key, "subuid_file") ? " (an absolute path, or nothing for none)" :
				 " (an absolute path)");
	}
	free(copy);
	if (!r && n.passphrase && !*n.passphrase_file) {
		snprintf(err, errlen, "master_key = passphrase needs passphrase_file");
		r = -EINVAL;
	}
	if (!r && n.backend == CONFIG_BACKEND_PKCS11 && !n.pkcs11_ntokens) {
		snprintf(err, errlen, "backend = pkcs11 needs pkcs11_token (a pkcs11: URI naming the token)");
		r = -EINVAL;
	}
	if (!r && n.backend == CONFIG_BACKEND_KMIP &&
	    (!n.kmip_nservers || !*n.kmip_ca || !*n.kmip_cert || !*n.kmip_key)) {
		snprintf(err, errlen, "backend = kmip needs kmip_server, kmip_ca, kmip_cert and kmip_key (the key server, its CA, this host's certificate and key)");
		r = -EINVAL;
	}
	if (!r && (n.kmip_timeout > 3600 || n.kmip_poll_interval > 86400)) {
		snprintf(err, errlen, "kmip_timeout is at most 1h, kmip_poll_interval at most 1d");
		r = -EINVAL;
	}
	for (unsigned int i = 0; !r && i < n.pkcs11_ntokens; i++) {
		if (strcmp(n.pkcs11_token[i], n.pkcs11_backup_token))
			continue;
		snprintf(err, errlen, "pkcs11_backup_token is one of the key store's tokens (pkcs11_token): it must be another");
		r = -EINVAL;
	}
	if (!r)
		*c = n;
	return r;
}

int config_load(const char *path, bool optional, struct config *c, char *err, size_t errlen)
{
	char *buf;
	int fd, n, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && optional)
			return 0;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	buf = malloc(CONFIG_MAX_SIZE + 1);
	n = buf ? read_full(fd, buf, CONFIG_MAX_SIZE + 1) : -ENOMEM;
	close(fd);
	if (n < 0 || n > CONFIG_MAX_SIZE) {
		snprintf(err, errlen, "cannot read %s: %s", path,
			 n < 0 ? strerror(-n) : "larger than 64 KiB");
		free(buf);
		return n < 0 ? n : -EFBIG;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n)) {
		snprintf(err, errlen, "%s: not a text file", path);
		free(buf);
		return -EINVAL;
	}
	r = config_parse(buf, c, err, errlen);
	free(buf);
	return r;
}

static int resolve(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (!*name)
		return 0;
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) || !res) {
		snprintf(err, errlen, "unknown group '%s'", name);
		return -ENOENT;
	}
	*gid = gr.gr_gid;
	return 0;
}

int config_resolve(struct config *c, char *err, size_t errlen)
{
	return resolve(c->admin_group, &c->admin_gid, err, errlen) ?:
	       resolve(c->reader_group, &c->reader_gid, err, errlen);
}
