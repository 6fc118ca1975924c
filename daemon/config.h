/* SPDX-License-Identifier: GPL-2.0 */
/* hsmkeyd.conf: "key = value" lines; see hsmkeyd.conf(5). */
#ifndef HSMKEY_CONFIG_H
#define HSMKEY_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH "/etc/hsmkey/hsmkeyd.conf"
#define CONFIG_MAX_SIZE 65536
#define CONFIG_PKCS11_MODULE "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"

enum config_backend {
	CONFIG_BACKEND_EMBEDDED,
	CONFIG_BACKEND_PKCS11,
	CONFIG_BACKEND_KMIP,
};

/* KMIP servers of one key store at most (kmip_server, a list). */
#define CONFIG_KMIP_SERVERS_MAX	8

/* Tokens of one key store at most (pkcs11_token given several times). */
#define CONFIG_TOKENS_MAX	4

struct config {
	char state_dir[PATH_MAX];
	char socket[PATH_MAX];
	char admin_group[64];	/* "": root only */
	char reader_group[64];	/* "": every user may read */
	char subuid_file[PATH_MAX];	/* subuid(5) ranges charged to their owners; "": none */
	bool verbose;
	bool audit_fail_open;	/* audit_fail_closed = no */
	bool passphrase;	/* master_key = passphrase */
	char passphrase_file[PATH_MAX];
	long long deletion_wait;	/* seconds: schedule-deletion's waiting period */
	unsigned long long audit_rotate_size;	/* bytes; 0: never rotate */
	enum config_backend backend;
	/* backend = pkcs11 (the PIN itself is read only by the token's helper) */
	char pkcs11_module[PATH_MAX];
	/*
	 * RFC 7512 pkcs11: URIs, one per pkcs11_token line: the tokens of
	 * one key store (members), in the order they are preferred in.
	 */
	char pkcs11_token[CONFIG_TOKENS_MAX][1024];
	unsigned int pkcs11_ntokens;
	char pkcs11_backup_token[1024];	/* "": none (hsmkeyctl backup/restore) */
	char pin_file[PATH_MAX];	/* "": $CREDENTIALS_DIRECTORY/pkcs11-pin */
	long long pkcs11_timeout;	/* seconds per token call */
	bool pkcs11_in_process;	/* pkcs11_helper = no: tests' positive control only */
	/* backend = kmip: the servers, tried in order; mutual TLS */
	char kmip_server[CONFIG_KMIP_SERVERS_MAX][256];
	unsigned int kmip_nservers;
	char kmip_ca[PATH_MAX], kmip_cert[PATH_MAX], kmip_key[PATH_MAX];
	long long kmip_timeout;	/* seconds per connection and per call */
	long long kmip_poll_interval;	/* seconds between asking the states */
	long long offline_grace;	/* seconds the server may be away; -1: until reboot */
	/* Resolved by config_resolve(). */
	gid_t admin_gid, reader_gid;
};

void config_defaults(struct config *c);
/* Parse @text over @c; on error @c is unchanged and @err says where. */
int config_parse(const char *text, struct config *c, char *err, size_t errlen);
/* Read and parse @path; a missing file is no error when @optional. */
int config_load(const char *path, bool optional, struct config *c, char *err, size_t errlen);
/* Look the groups up: -ENOENT (with @err) for an unknown group. */
int config_resolve(struct config *c, char *err, size_t errlen);

#endif
