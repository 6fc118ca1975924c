// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyctl: the operator's CLI.  Each subcommand builds one request for
 * hsmkeyd (see tools/lib/proto.h) and prints the reply, as text or --json.
 * This file is the table of commands; each command group is in its own
 * file with its own argument parsing, client.c talks to the daemon.
 *
 * Exit codes: 0 success; 1 the daemon refused or the operation failed;
 * 2 usage error; 3 the daemon cannot be reached.
 */
#include <getopt.h>
#include <string.h>
#include "ctl.h"
#include "util.h"

const char *socket_path = "/run/hsmkey/hsmkeyd.sock";
bool json_out;

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
} commands[] = {
	{ "create", cmd_create, "create NAME --type TYPE", "create a key with random material" },
	{ "csr", cmd_csr, "csr NAME --subject /CN=HOST... [--dns HOST]...",
	  "a certificate request signed by an identity key, as PEM" },
	{ "import", cmd_import, "import NAME --type TYPE --key-file FILE|- | --wrapped-file FILE|- | --from URI",
	  "import key material, raw or wrapped to the import key; adopt an HSM's key (--from)" },
	{ "import-key", cmd_import_key, "import-key [--renew]",
	  "print the RSA public key that wrapped imports are encrypted to" },
	{ "list", cmd_list, "list", "list keys, their state and kernel bindings" },
	{ "load", cmd_load, "load NAME", "provision a key into the kernel" },
	{ "revoke", cmd_revoke, "revoke NAME", "revoke a key everywhere; its volumes fail closed" },
	{ "show", cmd_show, "show NAME", "a key's metadata, policy and kernel counters (never material)" },
	{ "disable", cmd_disable, "disable NAME", "refuse new bindings of a key; open volumes keep working" },
	{ "enable", cmd_enable, "enable NAME", "allow a disabled key again and provision it" },
	{ "policy", cmd_policy, "policy NAME [--users ...] [--expires ...] ...",
	  "set who may bind a key, for what, until when, how much (see --help)" },
	{ "audit", cmd_audit, "audit verify",
	  "check the audit log: every record's MAC, the chain, signatures, the kernel's anchor" },
	{ "token", cmd_token, "token NAME [--version N]",
	  "print a key's token (hex) for an AF_ALG application of an allowed user" },
	{ "luks", cmd_luks, "luks format DEVICE --key NAME | open DEVICE MAPNAME | close MAPNAME | crypttab DEVICE MAPNAME",
	  "LUKS2 volumes whose volume key is a token (passphrase and key both needed)" },
	{ "dm", cmd_dm, "dm open DEVICE MAPNAME --key NAME | dm close MAPNAME | dm status",
	  "open or close a dm-crypt volume; list the volumes keyed through hsmkey" },
	{ "status", cmd_status, "status", "show the daemon, the kernel module and the keys" },
	{ "rotate", cmd_rotate, "rotate NAME [--key-file FILE|-]",
	  "add a new current version; older versions keep reading existing data" },
	{ "schedule-deletion", cmd_schedule_deletion, "schedule-deletion NAME [--wait DURATION]",
	  "disable a key now and destroy it after the waiting period" },
	{ "cancel-deletion", cmd_cancel_deletion, "cancel-deletion NAME",
	  "keep a key scheduled for deletion (it stays disabled)" },
	{ "tls", cmd_tls, "tls serve PORT --key NAME --cert FILE | tls connect HOST:PORT",
	  "TLS over kernel TLS, the handshake by hsmkeyd with an identity key" },
	{ "encrypt", cmd_encrypt, "encrypt NAME [--context K=V]... < DATA > BLOB",
	  "encrypt up to 4096 bytes with a KMS key, bound to a context" },
	{ "decrypt", cmd_decrypt, "decrypt [--context K=V]... < BLOB > DATA",
	  "decrypt a blob of encrypt with the context it was made with" },
	{ "re-encrypt", cmd_re_encrypt,
	  "re-encrypt [--context K=V]... [--to NAME] [--to-context K=V]... [--to-no-context] [--type T] < BLOB > BLOB",
	  "seal a blob again under a key's current version, the plaintext staying in hsmkeyd" },
	{ "sign", cmd_sign, "sign NAME [--digest] < DATA > SIGNATURE",
	  "sign with an identity key (DER, as openssl dgst -sign writes)" },
	{ "verify", cmd_verify, "verify NAME SIGNATURE-FILE [--digest] < DATA",
	  "verify a signature with an identity key" },
	{ "public-key", cmd_public_key, "public-key NAME", "an identity key's public key (PEM)" },
	{ "mac", cmd_mac, "mac NAME < DATA > MAC",
	  "a MAC (HMAC-SHA256, 32 bytes) of up to 32768 bytes with a MAC key" },
	{ "verify-mac", cmd_verify_mac, "verify-mac NAME MAC-FILE [--version N] < DATA",
	  "check a MAC with a MAC key (its current version unless N is named)" },
	{ "random", cmd_random, "random N > OUT", "N random bytes (1 to 1024) from hsmkeyd" },
	{ "data-key", cmd_data_key,
	  "data-key NAME [--type T] [--context K=V]... [--plaintext F | --kernel F] > WRAPPED",
	  "a new data key wrapped under a KMS key, its plaintext to a file or into the kernel" },
	{ "encrypt-batch", cmd_encrypt_batch,
	  "encrypt-batch NAME [--context K=V]... < PLAINTEXTS > BLOBS",
	  "encrypt lines of base64 in batches; a line of base64 out for each, in order" },
	{ "decrypt-batch", cmd_decrypt_batch, "decrypt-batch [--context K=V]... < BLOBS > PLAINTEXTS",
	  "decrypt lines of base64 blobs in batches; a line of base64 out for each, in order" },
	{ "data-key-batch", cmd_data_key_batch,
	  "data-key-batch NAME --count N [--type T] [--context K=V]... [--plaintext F] > WRAPPED",
	  "N data keys in batches, a line of base64 each; their plaintexts to a new file" },
	{ "encrypt-file", cmd_encrypt_file, "encrypt-file NAME [--context K=V]... IN OUT",
	  "encrypt a file of any size under a new data key wrapped under a KMS key" },
	{ "decrypt-file", cmd_decrypt_file, "decrypt-file [--context K=V]... IN OUT",
	  "decrypt a file of encrypt-file; OUT appears only if all of it verifies" },
	{ "unwrap-to-kernel", cmd_unwrap_to_kernel,
	  "unwrap-to-kernel [--type T] [--ttl S] [--context K=V]... < WRAPPED > TOKEN",
	  "a wrapped data key into the kernel for your uid; its token for setkey()" },
	{ "backup", cmd_backup, "backup",
	  "bring the backup token (pkcs11_backup_token) up to date: keys copied to it wrapped, HSM to HSM" },
	{ "restore", cmd_restore, "restore",
	  "fill new, empty tokens of the key store from the backup token" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: hsmkeyctl [--socket PATH] [--json] COMMAND [ARGS]\n\nCommands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-50s %s\n", commands[i].usage, commands[i].help);
	fprintf(f, "\nKey types: aes-128-xts aes-256-xts aes-128-cbc aes-256-cbc aes-128-gcm aes-256-gcm\n"
		   "Identity key types (TLS, never in the kernel): ecdsa-p256 ecdsa-p384 ed25519\n"
		   "KMS key types (encrypt, decrypt; never in the kernel): kms-aes-128 kms-aes-256\n"
		   "MAC key types (mac, verify-mac; never in the kernel): hmac-sha256\n"
		   "Exit codes: 0 success, 1 operation failed, 2 usage error, 3 daemon unreachable\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "+S:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': socket_path = optarg; break;
		case 'j': json_out = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("hsmkeyctl %s\n", HSMKEY_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[optind], commands[i].name))
			return commands[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "hsmkeyctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
