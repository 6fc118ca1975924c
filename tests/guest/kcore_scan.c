// SPDX-License-Identifier: GPL-2.0
/*
 * kcore_scan KEYHEX: count the places in kernel memory (/proc/kcore, RAM
 * segments) that hold the expanded AES key schedules of an XTS key.
 *
 * For each half of the key it derives the encryption schedule and the
 * decryption schedule in the form the kernel keeps them (struct
 * crypto_aes_ctx: the equivalent inverse cipher, as aesni and lib/aes
 * build it), and looks for the round keys that are not bytes of the key
 * itself (round 1 and up for AES-128, 2 and up for AES-256): userspace
 * never holds them, so a match is a kernel copy of an expanded schedule.  The scanner itself keeps only an 8-byte
 * prefix and a SHA-256 of each round key, never the round key, so it cannot
 * find its own memory.  Prints "enc N dec M" (round keys found).
 */
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/sha.h>

struct probe {
	uint64_t prefix;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	int dec;
	int half;
	int round;
};

static int cur_half;

static struct probe probes[4 * 15];
static int nprobes;

static uint8_t xtime(uint8_t x)
{
	return (uint8_t)((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
}

static uint8_t gmul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;

	while (b) {
		if (b & 1)
			r ^= a;
		a = xtime(a);
		b >>= 1;
	}
	return r;
}

static uint8_t sbox(uint8_t x)
{
	uint8_t inv = 0, s;

	for (int i = 1; i < 256 && x; i++)
		if (gmul(x, (uint8_t)i) == 1)
			inv = (uint8_t)i;
	s = inv;
	for (int i = 1; i < 5; i++)
		s ^= (uint8_t)((inv << i) | (inv >> (8 - i)));
	return s ^ 0x63;
}

/* FIPS-197 key expansion: out gets 16 * (rounds + 1) bytes. */
static int expand(const uint8_t *key, int keylen, uint8_t *out)
{
	int nk = keylen / 4, rounds = nk + 6, words = 4 * (rounds + 1);
	uint8_t rcon = 1, t[4];

	memcpy(out, key, keylen);
	for (int i = nk; i < words; i++) {
		memcpy(t, out + 4 * (i - 1), 4);
		if (i % nk == 0) {
			uint8_t t0 = t[0];

			t[0] = sbox(t[1]) ^ rcon;
			t[1] = sbox(t[2]);
			t[2] = sbox(t[3]);
			t[3] = sbox(t0);
			rcon = xtime(rcon);
		} else if (nk > 6 && i % nk == 4) {
			for (int j = 0; j < 4; j++)
				t[j] = sbox(t[j]);
		}
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = out[4 * (i - nk) + j] ^ t[j];
	}
	return rounds;
}

static void inv_mix_columns(uint8_t *b)
{
	for (int c = 0; c < 4; c++) {
		uint8_t *s = b + 4 * c, a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3];

		s[0] = gmul(a0, 14) ^ gmul(a1, 11) ^ gmul(a2, 13) ^ gmul(a3, 9);
		s[1] = gmul(a0, 9) ^ gmul(a1, 14) ^ gmul(a2, 11) ^ gmul(a3, 13);
		s[2] = gmul(a0, 13) ^ gmul(a1, 9) ^ gmul(a2, 14) ^ gmul(a3, 11);
		s[3] = gmul(a0, 11) ^ gmul(a1, 13) ^ gmul(a2, 9) ^ gmul(a3, 14);
	}
}

static void add_probe(const uint8_t *rk, int dec, int round)
{
	struct probe *p = &probes[nprobes++];

	p->half = cur_half;
	p->round = round;
	memcpy(&p->prefix, rk, 8);
	SHA256(rk, 16, p->digest);
	p->dec = dec;
}

static void add_key(const uint8_t *key, int keylen)
{
	uint8_t enc[240], rk[16];
	int rounds = expand(key, keylen, enc);

	/* Encryption round keys past the key's own bytes; decryption middle
	 * keys are InvMixColumns of the encryption ones (its first and last
	 * are the encryption schedule's last and first). */
	for (int r = keylen / 16; r <= rounds; r++)
		add_probe(enc + 16 * r, 0, r);
	for (int r = 1; r < rounds; r++) {
		memcpy(rk, enc + 16 * r, 16);
		inv_mix_columns(rk);
		add_probe(rk, 1, r);
	}
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(rk, sizeof(rk));
}

int main(int argc, char **argv)
{
	uint8_t key[64];
	size_t keylen = argc == 2 ? strlen(argv[1]) / 2 : 0;
	static uint8_t buf[1 << 20];
	long found[2] = { 0, 0 };
	Elf64_Ehdr eh;
	int fd;

	if (keylen != 32 && keylen != 64) {
		fprintf(stderr, "usage: kcore_scan XTS-KEY-HEX (32 or 64 bytes)\n");
		return 2;
	}
	for (size_t i = 0; i < keylen; i++)
		sscanf(argv[1] + 2 * i, "%2hhx", &key[i]);
	explicit_bzero(argv[1], strlen(argv[1]));
	add_key(key, (int)keylen / 2);
	cur_half = 1;
	add_key(key + keylen / 2, (int)keylen / 2);
	explicit_bzero(key, sizeof(key));

	fd = open("/proc/kcore", O_RDONLY);
	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != sizeof(eh)) {
		perror("/proc/kcore");
		return 2;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) != sizeof(ph))
			return 2;
		/* RAM and kernel text have a physical address; vmalloc and the
		 * rest do not, and mostly read as holes. */
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)-1)
			continue;
		for (uint64_t off = 0; off < ph.p_filesz; off += sizeof(buf)) {
			size_t want = ph.p_filesz - off < sizeof(buf) ? ph.p_filesz - off : sizeof(buf);
			ssize_t n = pread(fd, buf, want, (off_t)(ph.p_offset + off));

			if (n <= 0)
				break;
			for (ssize_t at = 0; at + 16 <= n; at += 16) {
				uint64_t pre;

				memcpy(&pre, buf + at, 8);
				for (int p = 0; p < nprobes; p++) {
					uint8_t d[SHA256_DIGEST_LENGTH];

					if (pre != probes[p].prefix)
						continue;
					SHA256(buf + at, 16, d);
					if (memcmp(d, probes[p].digest, sizeof(d)))
						continue;
					found[probes[p].dec]++;
					if (getenv("KCORE_SCAN_VERBOSE"))
						fprintf(stderr, "%s key %d round %d at %#llx (phys %#llx)\n",
							probes[p].dec ? "dec" : "enc", probes[p].half,
							probes[p].round,
							(unsigned long long)(ph.p_vaddr + off + (uint64_t)at),
							(unsigned long long)(ph.p_paddr + off + (uint64_t)at));
				}
			}
		}
	}
	printf("enc %ld dec %ld\n", found[0], found[1]);
	return 0;
}
