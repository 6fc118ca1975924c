/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of nl_fuzz share: the message and key bookkeeping types
 * and the functions each file offers the others (main.c describes the
 * fuzzer).
 */
#ifndef NL_FUZZ_H
#define NL_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <openssl/evp.h>
#include <linux/hsmkey.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLMSGERR_ATTR_MSG
#define NLMSGERR_ATTR_MSG 1
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* The TAP lines, in order; the plan is their number. */
enum tap_line {
	T_SETUP,
	T_ERRNO,	/* 1: every reply is an ACK with 0 or a known errno */
	T_NOBODY,	/* 2: unprivileged: never 0, table unchanged */
	T_OTHER,	/* 3: unregistered root: no change succeeds */
	T_ANCHOR,	/* 4: audit anchors never go backwards */
	T_REVOKE,	/* 5: revocation is final */
	T_COVERAGE,	/* 6: every handler answered 0 at least once */
	T_FINAL,	/* 7: INFO and a dump still work; enough messages */
	T_CLEANUP,
	T_NLINES
};

enum role { R_HOLDER, R_OTHER, R_NOBODY, R_INHERIT, R_NROLES };

#define NERR 160	/* errno buckets; the last one is "anything else" */

/* Big enough for a batch of 300 entries; attribute lengths are 16 bits. */
#define MSG_MAX		(160 * 1024)
#define NEST_MAX	8

struct msg {
	size_t len;
	int depth;
	size_t nest[NEST_MAX];
	bool valid;		/* built by the valid generator, unmutated */
	uint8_t buf[MSG_MAX] __attribute__((aligned(8)));
};

struct reply {
	int err;		/* 0 or -errno, from the ACK, error or DONE */
	int ndata;		/* data messages before it */
	bool bad_type;		/* a message of an unexpected type came */
	char ext[160];		/* extack message, if any */
};

/* Walk the attributes of [p, p + len). */
#define for_each_attr(a, p, len)					\
	for (a = (const struct nlattr *)(p);				\
	     (const uint8_t *)(a) + NLA_HDRLEN <= (const uint8_t *)(p) + (len) && \
	     a->nla_len >= NLA_HDRLEN &&					\
	     (const uint8_t *)(a) + a->nla_len <= (const uint8_t *)(p) + (len); \
	     a = (const struct nlattr *)((const uint8_t *)(a) + NLA_ALIGN(a->nla_len)))

/*
 * Key ids the fuzzer makes: "nlfz", a run tag from the seed, a kind byte
 * and a counter.  The magic finds leftovers of a crashed run and every key
 * a mutated (but still accepted) ADD created.
 */
#define ID_MAGIC	"nlfz"
#define KIND_PINNED	0x50	/* carries a pool owner: keeps its anchor */
#define KIND_NORMAL	0x4e
#define KEYS_MAX	200	/* keys of ours alive at once, about */
#define TRACK_MAX	1024
#define OWNERS		4

struct tkey {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	uint32_t type;
	uint32_t state;
};

struct kent {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version, type, state;
	uint64_t not_after;
	size_t len;
	uint8_t *attrs;		/* the reply's attribute bytes, as sent */
};

struct snap {
	struct kent *e;
	size_t n, cap;
	bool bad;		/* an entry without id or version */
};

/* What a valid message asks for, so the holder can follow its effect. */
enum vop {
	V_NONE,		/* random or mutated: effect unknown */
	V_ADD,
	V_ADD_BATCH,
	V_ADD_XTS_EQUAL,	/* well-formed, but equal XTS halves */
	V_REVOKE,
	V_REMOVE,
	V_DISABLE,
	V_ENABLE,
	V_ENABLE_REVOKED,	/* must fail with -EKEYREVOKED */
	V_SET_POLICY,
	V_GET,
	V_DUMP,
	V_INFO,
	V_AUDIT_GET,
	V_AUDIT_SET,
	V_NOPS
};

#define BATCH_VALID_MAX 8

struct intent {
	enum vop op;
	int n;				/* keys of an add, or 1: the target */
	struct tkey k[BATCH_VALID_MAX];
};

/* Fixed times, so that a seed replays; none of them passes during a run. */
#define T_PAST		1000000000ULL	/* 2001 */
#define T_FUTURE	4102444800ULL	/* 2100 */

/* The attribute space of a command, as the module parses it. */
enum space { SP_KEY, SP_INFO, SP_AUDIT, SP_NSPACES };

/* Handlers, for coverage (invariant 6). */
enum cov {
	C_ADD, C_REVOKE, C_REMOVE, C_DISABLE, C_ENABLE, C_SET_POLICY,
	C_GET, C_DUMP, C_INFO, C_AUDIT_GET, C_AUDIT_SET, C_NCOV
};

/* Audit anchors of the fuzzer's keystores (owners). */
struct owner {
	uint8_t id[HSMKEY_OWNER_LEN];
	uint64_t seen;			/* highest sequence number seen */
	uint8_t head[HSMKEY_AUDIT_HEAD_LEN];	/* of the last accepted set */
	bool have_head;
};

/* report.c */
extern const char *const tap_name[T_NLINES];
extern unsigned long fails[T_NLINES];
void __attribute__((format(printf, 2, 3)))
fail(enum tap_line line, const char *fmt, ...);
void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...);
extern const char *const role_name[R_NROLES];
extern uint64_t hist[R_NROLES][NERR];
extern uint64_t sent[R_NROLES];
extern uint64_t timeouts[R_NROLES];
bool errno_known(int e);
bool errno_from_handler(int e);
bool errno_validation(int e);
const char *errno_name(int e);
void hist_add(uint64_t *h, int e);
void hist_print(const char *who, const uint64_t *h, uint64_t n);

/* rng.c */
extern uint64_t rng_state;
uint64_t rnd64(void);
uint32_t rnd(uint32_t n);
bool pct(unsigned int p);
void rnd_bytes(void *buf, size_t n);

/* msg.c */
struct nlmsghdr *msg_nlh(struct msg *m);
struct genlmsghdr *msg_genl(struct msg *m);
void msg_init(struct msg *m, uint16_t family, uint8_t cmd,
	      uint16_t flags);
void msg_raw(struct msg *m, const void *data, size_t len);
void msg_put(struct msg *m, uint16_t type, const void *data, size_t len);
void msg_u32(struct msg *m, uint16_t type, uint32_t v);
void msg_u64(struct msg *m, uint16_t type, uint64_t v);
void msg_str(struct msg *m, uint16_t type, const char *s);
void msg_num(struct msg *m, uint16_t type, uint64_t v, size_t len);
void nest_start(struct msg *m, uint16_t type);
void nest_start_fuzz(struct msg *m, uint16_t type);
void nest_end(struct msg *m);
size_t nest_used(const struct msg *m);

/* netlink.c */
/* Called for each data message of a reply. */
typedef void (*data_cb)(const struct nlmsghdr *nlh, void *ctx);
extern uint16_t family_id;
extern uint32_t next_seq;
int nl_open(void);
int nl_transact(int fd, struct msg *m, data_cb cb, void *ctx,
		struct reply *r);
const void *attr_data(const struct nlattr *a);
size_t attr_len(const struct nlattr *a);
uint64_t attr_num(const struct nlattr *a);
const uint8_t *genl_attrs(const struct nlmsghdr *nlh, size_t *len);
extern struct msg mbuf;
uint16_t resolve_family(int fd);

/* keys.c */
extern uint8_t run_tag[4];
extern struct tkey keys[TRACK_MAX];
extern size_t nkeys;
extern struct tkey revoked[4 * TRACK_MAX];
extern size_t nrevoked;
extern struct owner owners[OWNERS];
extern uint8_t transport_key[HSMKEY_TRANSPORT_KEY_LEN];
bool id_ours(const uint8_t *id);
bool id_pinned(const uint8_t *id);
void new_id(uint8_t *id, uint8_t kind);
unsigned int type_keylen(uint32_t type);
bool type_gcm(uint32_t type);
uint32_t type_alg(uint32_t type);
int kid_cmp(const uint8_t *ida, uint32_t va, const uint8_t *idb,
	    uint32_t vb);
struct tkey *key_find(const uint8_t *id, uint32_t version);
void key_track(const uint8_t *id, uint32_t version, uint32_t type,
	       uint32_t state);
void key_untrack(const uint8_t *id, uint32_t version);
bool revoked_has(const uint8_t *id, uint32_t version);
void revoked_add(const uint8_t *id, uint32_t version);
struct tkey *key_pick(bool want_revoked);
int wrap_key(const uint8_t *id, uint32_t version, uint32_t type,
	     const uint8_t *plain, size_t plen, uint8_t *out);

/* snapshot.c */
void snap_free(struct snap *s);
int kent_cmp(const void *a, const void *b);
bool snapshot(struct snap *s);
bool snap_same(const struct snap *a, const struct snap *b);
void hex(char *out, const uint8_t *p, size_t n);

/* valid.c */
extern const char *const vop_name[V_NOPS];
void put_new_key(struct msg *m, struct tkey *k, uint8_t kind,
		 uint32_t type, bool equal, int owner);
size_t keys_unpinned(void);
enum vop pick_vop(void);
void build_valid(struct msg *m, struct intent *in, enum vop op,
		 struct tkey *target);

/* random.c */
enum space cmd_space(uint8_t cmd);
uint16_t pick_type(unsigned int max);
void gen_random(struct msg *m, enum role role);

/* mutate.c */
void mutate(struct msg *m);

/* check.c */
extern const char *const cov_name[C_NCOV];
extern uint64_t cov[C_NCOV];
extern int hfd;
extern int ofd;
extern uint64_t fuzz_sent;
void key_reply(const uint8_t *p, size_t len);
void check_reply(enum role role, struct msg *m, const struct intent *in,
		 int rc, const struct reply *r);
int send_checked(enum role role, int fd, struct msg *m,
		 const struct intent *in, struct reply *r);
void gen_one(struct msg *m, struct intent *in, enum role role);
int holder_do(struct msg *m, enum vop op, struct tkey *target);

/* phases.c */
extern struct msg sbuf;
void resync(void);
void sweep(void);
void holder_phase(unsigned long count);
void other_phase(unsigned long count);

/* nobody.c */
void nobody_phase(int devfd, unsigned long count);

/* setup.c */
extern bool registered;
int setup(int *devfd);
void final_checks(unsigned long want);
void cleanup(int devfd);

#endif
