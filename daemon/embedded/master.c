// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore's master key: STATE/master.key, or derived from a
 * passphrase (scrypt, salt in STATE/master.kdf); which master key sealed a
 * file (its id); AES-256-GCM under it; and the two steps of replacing it
 * that touch the master key files (store.c re-seals in between).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include "internal.h"
#include "fetched.h"
#include "util.h"

#define KS_MASTER	"master.key"
#define KS_MASTER_NEW	"master.key.new"
#define KS_KDF		"master.kdf"
#define KS_KDF_NEW	"master.kdf.new"

/* A master key's public name: which one sealed a file. */
static void ks_mkid(const uint8_t *master, uint8_t *out)
{
	static const char label[] = "hsmkey master key id v1";
	uint8_t mac[32];
	unsigned int len = sizeof(mac);

	HMAC(EVP_sha256(), master, KS_MASTER_LEN, (const uint8_t *)label,
	     sizeof(label) - 1, mac, &len);
	memcpy(out, mac, KS_MKID_LEN);
}

/*
 * Passphrase mode: the master key is scrypt(passphrase, salt) with a cost
 * of 2^17 x 8 (128 MiB, memory-hard), salt and cost in STATE/master.kdf
 * with a check value (an HMAC under the derived key) that tells a wrong
 * passphrase from a damaged keystore.  No key is ever written to disk.
 * A master key replacement picks a new salt (master.kdf.new).
 */
#define KS_KDF_N	(1u << 17)
#define KS_KDF_R	8u
#define KS_KDF_P	1u
#define KS_SALT_LEN	16

static int ks_kdf(const char *pass, size_t passlen, const uint8_t *salt,
		  uint64_t n, uint32_t r, uint32_t p, uint8_t *out)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_SCRYPT, NULL);
	size_t outlen = KS_MASTER_LEN;
	int ok;

	ok = pctx && EVP_PKEY_derive_init(pctx) > 0 &&
	     EVP_PKEY_CTX_set1_pbe_pass(pctx, pass, (int)passlen) > 0 &&
	     EVP_PKEY_CTX_set1_scrypt_salt(pctx, salt, KS_SALT_LEN) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_N(pctx, n) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_r(pctx, r) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_p(pctx, p) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_maxmem_bytes(pctx, 1ull << 30) > 0 &&
	     EVP_PKEY_derive(pctx, out, &outlen) > 0 && outlen == KS_MASTER_LEN;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -EIO;
}

static void ks_kdf_check(const uint8_t *master, uint8_t *out)
{
	static const char label[] = "hsmkey master key check v1";
	unsigned int len = 32;

	HMAC(EVP_sha256(), master, KS_MASTER_LEN, (const uint8_t *)label,
	     sizeof(label) - 1, out, &len);
}

static int ks_read_pass(const char *path, char *pass, size_t size, size_t *passlen)
{
	struct stat st;
	int fd, len;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(errno, "cannot open the passphrase file %s: %m", path);
	if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
		close(fd);
		return log_errno(EPERM, "the passphrase file %s must not be readable by others (mode 0600 or 0400)",
				 path);
	}
	len = read_full(fd, pass, size);
	close(fd);
	while (len > 0 && (pass[len - 1] == '\n' || pass[len - 1] == '\r'))
		len--;
	if (len <= 0 || len >= (int)size) {
		wipe(pass, size);
		return log_errno(EINVAL, "the passphrase in %s must be 1 to 1024 bytes", path);
	}
	*passlen = (size_t)len;
	return 0;
}

/*
 * The master key from the passphrase and kdf file @kdf: made (new salt)
 * when @create or when a new keystore has none, else checked.
 */
static int ks_master_passphrase(struct keystore *ks, const char *kdf, bool create,
				uint8_t *out)
{
	char pass[1025], text[512], hex[2 * KS_SALT_LEN + 1], chk[65];
	uint8_t salt[KS_SALT_LEN], check[32], want[32];
	long long n = KS_KDF_N, r = KS_KDF_R, p = KS_KDF_P;
	struct json_object *o;
	size_t passlen = 0;
	int fd, len, err;

	err = ks_read_pass(ks->passfile, pass, sizeof(pass), &passlen);
	if (err)
		return err;
	fd = create ? -1 : openat(ks->dirfd, kdf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (create || (fd < 0 && errno == ENOENT)) {
		/* A new salt, the cost of the day. */
		if (RAND_bytes(salt, sizeof(salt)) != 1 ||
		    ks_kdf(pass, passlen, salt, n, (uint32_t)r, (uint32_t)p, out)) {
			wipe(pass, sizeof(pass));
			return log_errno(EIO, "cannot derive the master key");
		}
		wipe(pass, sizeof(pass));
		ks_kdf_check(out, check);
		hex_encode(salt, sizeof(salt), hex);
		hex_encode(check, sizeof(check), chk);
		len = snprintf(text, sizeof(text),
			       "{ \"kdf\": \"scrypt\", \"n\": %lld, \"r\": %lld, \"p\": %lld, \"salt\": \"%s\", \"check\": \"%s\" }\n",
			       n, r, p, hex, chk);
		err = write_file_atomic(ks->dirfd, kdf, text, (size_t)len, 0600);
		if (err)
			return log_errno(err, "cannot write %s: %s", kdf, strerror(-err));
		log_info("derived a new master key from the passphrase (scrypt, salt in %s)", kdf);
		return 0;
	}
	if (fd < 0) {
		wipe(pass, sizeof(pass));
		return log_errno(errno, "cannot open %s: %m", kdf);
	}
	len = read_full(fd, text, sizeof(text) - 1);
	close(fd);
	text[len > 0 ? len : 0] = '\0';
	o = json_tokener_parse(text);
	/* Numbers only: jint() reads any other type as -1, refused below. */
	n = o ? jint(o, "n") : 0;
	r = o ? jint(o, "r") : 0;
	p = o ? jint(o, "p") : 0;
	err = !o || n < 1024 || n > (1ll << 22) || (n & (n - 1)) || r < 1 || r > 32 ||
	      p < 1 || p > 16 || hex_decode(jstr(o, "salt"), salt, sizeof(salt)) ||
	      hex_decode(jstr(o, "check"), want, sizeof(want)) ||
	      strcmp(jstr(o, "kdf") ?: "", "scrypt");
	json_object_put(o);
	if (err) {
		wipe(pass, sizeof(pass));
		return log_errno(EINVAL, "%s is damaged", kdf);
	}
	err = ks_kdf(pass, passlen, salt, (uint64_t)n, (uint32_t)r, (uint32_t)p, out);
	wipe(pass, sizeof(pass));
	if (err)
		return log_errno(EIO, "cannot derive the master key");
	ks_kdf_check(out, check);
	if (CRYPTO_memcmp(check, want, sizeof(want))) {
		wipe(out, KS_MASTER_LEN);
		return log_errno(EACCES, "wrong passphrase for %s", kdf);
	}
	return 0;
}

/* Master key file @name into @out; @create makes one if there is none. */
static int ks_master_file(struct keystore *ks, const char *name, bool create, uint8_t *out)
{
	struct stat st;
	int fd, r;

	fd = openat(ks->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		if (RAND_priv_bytes(out, KS_MASTER_LEN) != 1)
			return log_errno(EIO, "cannot generate a master key");
		r = write_file_atomic(ks->dirfd, name, out, KS_MASTER_LEN, 0600);
		if (r)
			return log_errno(r, "cannot write %s: %s", name, strerror(-r));
		log_info("generated a new master key in %s", name);
		return 0;
	}
	if (fd < 0)
		return log_errno(errno, "cannot open %s: %m", name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid()) {
		close(fd);
		return log_errno(EPERM, "%s must be a regular file owned by the daemon's user with mode 0600",
				 name);
	}
	r = read_full(fd, out, KS_MASTER_LEN);
	close(fd);
	if (r != KS_MASTER_LEN)
		return log_errno(EINVAL, "%s is not %d bytes long", name, KS_MASTER_LEN);
	return 0;
}

int ks_master_load(struct keystore *ks, const char *dir)
{
	const char *other = ks->passphrase ? KS_MASTER : KS_KDF;
	const char *nxt = ks->passphrase ? KS_KDF_NEW : KS_MASTER_NEW;
	int r;

	if (!faccessat(ks->dirfd, other, F_OK, 0))
		return log_errno(EEXIST, ks->passphrase ?
				 "%s uses a master key file, not a passphrase: set master_key = file" :
				 "%s derives its master key from a passphrase: set master_key = passphrase",
				 dir);
	r = ks->passphrase ? ks_master_passphrase(ks, KS_KDF, false, ks->master) :
	     ks_master_file(ks, KS_MASTER, true, ks->master);
	if (r)
		return r;
	ks_mkid(ks->master, ks->mkid);
	/* A replacement that did not finish: both keys, then finish it. */
	if (faccessat(ks->dirfd, nxt, F_OK, 0))
		return 0;
	r = ks->passphrase ? ks_master_passphrase(ks, nxt, false, ks->next) :
	     ks_master_file(ks, nxt, false, ks->next);
	if (r)
		return r;
	ks_mkid(ks->next, ks->next_mkid);
	ks->has_next = true;
	log_warn("%s/%s: a master key replacement was interrupted; finishing it", dir, nxt);
	return 0;
}

/* The master key (and its id) that sealed @mkid's files, or NULL. */
const uint8_t *ks_master_for(const struct keystore *ks, const uint8_t *mkid)
{
	if (!CRYPTO_memcmp(mkid, ks->mkid, KS_MKID_LEN))
		return ks->master;
	if (ks->has_next && !CRYPTO_memcmp(mkid, ks->next_mkid, KS_MKID_LEN))
		return ks->next;
	return NULL;
}

/* What new seals use: the next master key while a rotation is under way. */
const uint8_t *ks_seal_master(const struct keystore *ks, const uint8_t **mkid)
{
	*mkid = ks->has_next ? ks->next_mkid : ks->mkid;
	return ks->has_next ? ks->next : ks->master;
}

/* AES-256-GCM under @master with @aad. */
int ks_gcm(const uint8_t *master, bool seal, const uint8_t *aad, int aadlen,
	   const uint8_t *nonce, uint8_t *tag, const uint8_t *in, uint8_t *out, int len)
{
	EVP_CIPHER_CTX *ctx;
	int n, ok;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(ctx, fetched_aes_gcm(256), NULL, master, nonce, seal) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &n, aad, aadlen) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, len) == 1 &&
	     (seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KS_TAG_LEN, tag) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + n, &n) == 1 &&
	     (!seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KS_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EBADMSG;
}

/*
 * Master key replacement, crash-safe and resumable:
 *   1. the new master key is written beside the old (master.key.new, or
 *      master.kdf.new with a new salt in passphrase mode);
 *   2. the derivation root and every key file are sealed again under it
 *      (each file names the master key that sealed it, by id);
 *   3. the old master key file is overwritten and the new one renamed
 *      over it.
 * A crash before 3 leaves both master keys on disk; the next open reads
 * files sealed under either and finishes the job.  Before step 2 every
 * file must authenticate: one that does not (tampered, or restored from an
 * old backup) would be lost for good under a new master key, so the
 * replacement is refused until it is restored or removed.
 */
int ks_new_master(struct keystore *ks)
{
	int r;

	if (ks->has_next)
		return 0;	/* resuming one */
	if (ks->passphrase)
		r = ks_master_passphrase(ks, KS_KDF_NEW, true, ks->next);
	else if (RAND_priv_bytes(ks->next, KS_MASTER_LEN) != 1)
		r = -EIO;
	else
		r = write_file_atomic(ks->dirfd, KS_MASTER_NEW, ks->next, KS_MASTER_LEN, 0600);
	if (r) {
		wipe(ks->next, sizeof(ks->next));
		return log_errno(r, "cannot write a new master key: %s", strerror(-r));
	}
	ks_mkid(ks->next, ks->next_mkid);
	ks->has_next = true;
	return 0;
}

int ks_finish_master(struct keystore *ks)
{
	const char *cur = ks->passphrase ? KS_KDF : KS_MASTER;
	const char *nxt = ks->passphrase ? KS_KDF_NEW : KS_MASTER_NEW;
	uint8_t junk[KS_MASTER_LEN];
	int fd;

	/* Overwrite the old key in place first (best effort: see hsmkeyd(8)). */
	fd = openat(ks->dirfd, cur, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && !ks->passphrase && RAND_bytes(junk, sizeof(junk)) == 1 &&
	    !write_full(fd, junk, sizeof(junk)))
		fdatasync(fd);
	if (fd >= 0)
		close(fd);
	crash_point("master-overwritten");
	if (renameat(ks->dirfd, nxt, ks->dirfd, cur) < 0 || fsync(ks->dirfd) < 0)
		return log_errno(errno, "cannot put the new master key in place: %m");
	memcpy(ks->master, ks->next, KS_MASTER_LEN);
	memcpy(ks->mkid, ks->next_mkid, KS_MKID_LEN);
	wipe(ks->next, sizeof(ks->next));
	ks->has_next = false;
	return 0;
}

