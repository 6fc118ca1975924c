/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What hsmkeyctl's command files share: the exit codes, the global
 * options, the client calls of client.c and the argument helpers of
 * args.c.  Each command file parses its own arguments; a command returns
 * an exit code after reporting its error once.
 */
#ifndef HSMKEY_CTL_H
#define HSMKEY_CTL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

enum { EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NODAEMON };

extern const char *socket_path;	/* --socket */
extern bool json_out;		/* --json */

/* client.c */
struct json_object *request(const char *op);
void add(struct json_object *o, const char *k, const char *v);
int call(struct json_object *req, int passfd, struct json_object **reply);
/*
 * Send @req (consumed) and print its reply: the JSON with --json, else
 * print(reply, @arg).  Exit code, a failure reported.
 */
typedef void print_fn(struct json_object *reply, const char *arg);
int call_print(struct json_object *req, int passfd, print_fn *print, const char *arg);
int call_listing(struct json_object *req, print_fn *print);
int simple(struct json_object *req, int passfd, const char *done);
void print_json(struct json_object *o);

/* args.c */
int usage_error(const char *usage, const char *fmt, const char *arg);
/*
 * One option of a command, in a table ending in {}: --NAME, and -LETTER
 * unless 0.  It takes a value, kept in *value (the last one given) or
 * passed as met to handle() (0, or an exit code after reporting); or,
 * with flag, none, and sets *flag.
 */
struct arg_opt {
	const char *name;
	int letter;
	const char **value;
	bool *flag;
	int (*handle)(const struct arg_opt *o, const char *arg);
	void *ctx;			/* for handle() */
};
/*
 * Parse @argv (argv[0] the command) by @opts (NULL: none) and --help: up
 * to @npos names in @pos (NULL where not given); what follows "--" is
 * left at argv + optind.  0, HELP_SHOWN, or an exit code after reporting.
 */
int args_parse(int argc, char **argv, const char *usage, const struct arg_opt *opts,
	       const char **pos, int npos);
/* The same, with exactly @npos names. */
int args_exact(int argc, char **argv, const char *usage, const struct arg_opt *opts,
	       const char **pos, int npos);
/* The open descriptor of a key file (or stdin for "-"); reports failure. */
int open_key_file(const char *file);

/* A command's parser returns HELP_SHOWN when it printed --help. */
#define HELP_SHOWN	(-1)
#define PARSED(r)	((r) == HELP_SHOWN ? EXIT_OK : (r))

/* The commands, one group per file. */
int cmd_create(int argc, char **argv);
int cmd_csr(int argc, char **argv);
int cmd_tls(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_import_key(int argc, char **argv);
/* backup.c */
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_disable(int argc, char **argv);
int cmd_enable(int argc, char **argv);
int cmd_schedule_deletion(int argc, char **argv);
int cmd_cancel_deletion(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_dm(int argc, char **argv);
int cmd_luks(int argc, char **argv);
int luks_crypttab(int argc, char **argv);
/* kms_cmd.c */
int cmd_encrypt(int argc, char **argv);
int cmd_re_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_public_key(int argc, char **argv);
/* mac_cmd.c */
int cmd_mac(int argc, char **argv);
int cmd_verify_mac(int argc, char **argv);
/* random_cmd.c */
int cmd_random(int argc, char **argv);
/* datakey_cmd.c */
int cmd_data_key(int argc, char **argv);
int cmd_unwrap_to_kernel(int argc, char **argv);
/* batch_cmd.c */
int cmd_encrypt_batch(int argc, char **argv);
int cmd_decrypt_batch(int argc, char **argv);
int cmd_data_key_batch(int argc, char **argv);
/* file_cmd.c */
int cmd_encrypt_file(int argc, char **argv);
int cmd_decrypt_file(int argc, char **argv);

#endif
