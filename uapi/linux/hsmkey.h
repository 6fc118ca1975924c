/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * hsmkey: kernel crypto algorithms whose keys are references to keys held
 * by the hsmkey module, provisioned by hsmkeyd over generic netlink:
 * xts(hsmaes) for AES-XTS keys (dm-crypt), cbc(hsmaes) for AES-CBC keys
 * and the AEAD gcm(hsmaes) for AES-GCM keys (AF_ALG).
 *
 * This header is the one definition of the protocol between hsmkey.ko,
 * hsmkeyd, hsmkeyctl and the tests.  Protocol version 2 renumbered
 * everything; from it on, enums are append-only.
 *
 * Tokens
 * ------
 * A crypto API user (dm-crypt, AF_ALG) binds a tfm of an hsmkey algorithm
 * to a key by passing a token to setkey().  A token is exactly
 * HSMKEY_TOKEN_LEN bytes, laid out as struct hsmkey_token.  It names one
 * version of one key by its 128-bit identifier (random, never reused) and
 * carries that version's random 256-bit verifier, whose SHA-256 hash the
 * module compares in constant time; it holds no key material.  The layout
 * is the same as in version 0.1.0, so tokens pinned in LUKS2 headers keep
 * working: only the way the verifier reaches the module changed.  Tokens stay valid across
 * reboots and module reloads as long as the key version is provisioned
 * again with the same identifier and verifier.
 *
 * setkey() with bytes of the right length that are not a token (wrong
 * magic, format or non-zero reserved bytes) returns 0 and leaves the tfm
 * unbound: every request on it then fails with -ENOKEY, and the bytes are
 * never used as a key.  This keeps cryptsetup's cipher probe and dm-crypt's
 * key wipe working without ever confusing a key with a token.
 *
 * Binding: what setkey() with a well-formed token returns
 * --------------------------------------------------------
 *   0              bound
 *   -EINVAL        wrong length
 *   -ENOKEY        no such key version, the verifier does not match, or the
 *                  token's type byte is not the key's type
 *   -EKEYREVOKED   the key version has been revoked (by command, by expiry
 *                  or by removal)
 *   -EPERM         the key version is disabled
 *   -EKEYREJECTED  the key's type does not fit the algorithm, the
 *                  algorithm is not in the key's allowed set, or (GCM) the
 *                  tfm's tag size is below the key's minimum (this one
 *                  is checked last, after -EDQUOT)
 *   -EKEYEXPIRED   before the key's not-before or after its not-after time
 *   -EACCES        the caller's effective uid and groups match none of the
 *                  key's allowed uids and gids
 *   -EUSERS        the key already has its maximum number of bindings
 *   -EDQUOT        the key's usage limit is used up
 * Checked in this order; each refusal of a token naming a key version in
 * the table emits a DENY event carrying the errno (rate-limited per uid).
 * Credentials are those of the task calling setkey(): the process that
 * loads a dm-crypt table, or the AF_ALG user.
 *
 * Requests on a tfm fail with -ENOKEY while it is unbound, -EKEYREVOKED
 * once its key has been revoked and -EDQUOT once a usage limit is used up.
 *
 * States: ACTIVE keys bind.  DISABLED keys refuse new bindings with -EPERM;
 * tfms already bound keep working (disable is reversible: ENABLE).  Revoke
 * is the way to stop existing users.  REVOKED is final: the material and
 * every expanded key schedule are gone.
 *
 * Policy (HSMKEY_KEY_A_POLICY, nested enum hsmkey_policy_attr)
 * -------------------------------------------------------------
 *   HSMKEY_POLICY_A_UIDS, HSMKEY_POLICY_A_GIDS  arrays of __u32 (initial
 *       user namespace), 1 to HSMKEY_POLICY_IDS_MAX entries each (an empty
 *       list is refused: it would read as "no restriction").  When either
 *       is present, the caller must have one of the uids as effective uid
 *       or one of the gids as effective or supplementary group.  Absent:
 *       anyone holding the token may bind.
 *   HSMKEY_POLICY_A_ALGS  __u32 mask of HSMKEY_ALG_* the key may be used
 *       with; absent or 0: every algorithm that fits its type.
 *   HSMKEY_POLICY_A_NOT_BEFORE, HSMKEY_POLICY_A_NOT_AFTER  __u64 seconds
 *       since the epoch (CLOCK_REALTIME), at most HSMKEY_TIME_MAX; 0 or
 *       absent: no bound.  When not-after passes, the module revokes the
 *       key from a workqueue and emits an EXPIRE event: within 1 second
 *       (plus scheduling delay) of the time passing, within 60 seconds if
 *       the realtime clock is set forward.  Binds after not-after fail.
 *   HSMKEY_POLICY_A_MAX_BYTES, HSMKEY_POLICY_A_MAX_REQUESTS  __u64 usage
 *       limits over the key version's life (encrypt and decrypt count
 *       alike; bytes are the request's cryptlen); 0 or absent: none.  A
 *       GCM key always has a request limit of at most 2^32 (the default),
 *       since random 96-bit nonces allow no more; KEY_ADD's
 *       HSMKEY_KEY_A_USED_* carry what earlier lives of the key spent.
 *       Usage is charged before the request runs, from per-CPU credit taken
 *       in batches from the key's pool, so it never exceeds the limit;
 *       requests fail with -EDQUOT once it is used up, and one LIMIT event
 *       is emitted.
 *   HSMKEY_POLICY_A_MAX_BINDINGS __u32 cap on concurrent bindings; 0: none.
 *   HSMKEY_POLICY_A_MIN_TAGLEN  __u32, GCM keys only: the shortest tag a
 *       binding may use, 4 to 16; absent: 16.  Short tags make forgeries
 *       practical and, once one succeeds, reveal the GHASH key shared by
 *       every binding of the key, so they need an explicit policy.
 *       setauthsize() below it fails with -EINVAL; binding a tfm whose tag
 *       size is below it fails with -EKEYREJECTED.
 *
 * Transport wrapping and /dev/hsmkey: who may change keys
 * --------------------------------------------------------
 * Key material and verifiers never cross netlink in the clear (generic
 * netlink traffic reaches nlmon taps).  The daemon opens /dev/hsmkey
 * (CAP_SYS_ADMIN; one open file at a time, a second open fails with -EBUSY)
 * and registers with HSMKEY_IOC_REGISTER, naming its generic netlink
 * socket.  The reply carries a random 256-bit transport key, given out once
 * per open file and wiped from the module's memory when given.  Each key
 * version's verifier and material travel in HSMKEY_KEY_A_WRAPPED as
 *     nonce[12] || AES-256-GCM(verifier[32] || material) || tag[16]
 * under that key, with struct hsmkey_wrap_aad (id, version, type) as
 * associated data.  The module keeps only a SHA-256 hash of the verifier.
 *
 * Authority belongs to the registered socket, not to a process: messages
 * that change key state are accepted from that socket only (a forked child
 * that keeps it keeps the authority; a process handed the device file
 * gets neither the transport key nor the authority).  While no live socket
 * is registered (before the daemon registers, after it closes the device
 * or its socket), CAP_SYS_ADMIN may still take the fail-safe direction:
 * REVOKE, REMOVE and DISABLE.  Everything else that changes state (ADD,
 * ENABLE, SET_POLICY, AUDIT_SET, SESSION_ADD) needs the registered daemon:
 * -EBUSY from another socket while one is registered, -EPERM while none
 * is.  (Root that can ptrace the daemon or take its descriptors with
 * pidfd_getfd() can act as the daemon: the boundary holds against everyone
 * else.)
 *
 * Generic netlink family "hsmkey" (HSMKEY_GENL_NAME), version 2
 * ----------------------------------------------------------------
 * The family exists in the initial network namespace only.  Every command
 * needs CAP_SYS_ADMIN in the initial user namespace (netlink_capable(): of
 * the sender, and of the socket's opener unless the message names its
 * destination); CAP_NET_ADMIN is not enough: key metadata and usage
 * counters are not for other users.  (A tap on an nlmon device, which
 * CAP_NET_ADMIN and CAP_NET_RAW allow, does see requests, replies and
 * events: none of them carries a secret.)  While the module is still
 * loading, every command fails with -EAGAIN.  Each command has its own
 * attribute set, validated strictly (unknown attributes, and attributes
 * only the kernel sends, are refused); errors carry an extack message
 * naming the bad or missing attribute.
 *
 * HSMKEY_CMD_KEY_ADD (registered daemon): provision key versions, one
 *   given by top-level enum hsmkey_key_attr attributes, or a batch of up
 *   to HSMKEY_BATCH_MAX in HSMKEY_KEY_A_BATCH (each entry nested, with the
 *   same attributes).  A batch is all or nothing.
 *     HSMKEY_KEY_A_ID        binary[16], required
 *     HSMKEY_KEY_A_VERSION   u32, required, >= 1
 *     HSMKEY_KEY_A_NAME      NUL-terminated string < HSMKEY_NAME_MAX, required
 *     HSMKEY_KEY_A_TYPE      u32 enum hsmkey_key_type, required
 *     HSMKEY_KEY_A_WRAPPED   binary, HSMKEY_WRAP_LEN(key length), required
 *                            (HSMKEY_WRAP_LEN(0) with HSMKEY_KEY_A_E2E)
 *     HSMKEY_KEY_A_POLICY    nested, optional
 *     HSMKEY_KEY_A_OWNER     binary[16], optional: the keystore instance
 *     HSMKEY_KEY_A_USED_BYTES, HSMKEY_KEY_A_USED_REQUESTS  u64, optional:
 *                            usage spent by earlier lives of this version
 *     HSMKEY_KEY_A_E2E       nested enum hsmkey_e2e_attr, optional: the
 *                            material comes end to end from an HSM (see
 *                            End-to-end delivery); WRAPPED is then
 *                            HSMKEY_WRAP_LEN(0) bytes, the verifier only
 *   -EEXIST if an id and version is already present; -EKEYREJECTED for an
 *   XTS key with equal halves; -EBADMSG if unwrapping fails; -EAGAIN while
 *   a hibernation is being prepared; -ESTALE, -EINVAL or -EBADMSG from an
 *   E2E nest (below).  Checked for the whole batch before any key of it
 *   becomes visible.
 *
 * HSMKEY_CMD_KEY_REVOKE (fail-safe): revoke one key version.
 *     HSMKEY_KEY_A_ID, HSMKEY_KEY_A_VERSION, both required
 *   When it returns, binds of the key fail, requests on every tfm bound to
 *   it fail with -EKEYREVOKED, in-flight requests have completed, and the
 *   material and the inner expanded key schedules have been wiped.  The key
 *   stays listed, in state HSMKEY_STATE_REVOKED.
 *
 * HSMKEY_CMD_KEY_REMOVE (fail-safe): revoke one key version, as above, and
 *   take it out of the table.  Tfms still bound to it keep failing with
 *   -EKEYREVOKED; the id and version can be added again afterwards.
 *
 * HSMKEY_CMD_KEY_DISABLE (fail-safe), HSMKEY_CMD_KEY_ENABLE (registered
 *   daemon): see States.  -EKEYREVOKED for a revoked key.
 *
 * HSMKEY_CMD_KEY_SET_POLICY (registered daemon): replace a key version's
 *   policy with HSMKEY_KEY_A_POLICY (required).  Usage already counted
 *   stays counted.
 *
 * HSMKEY_CMD_KEY_GET: metadata of one key version (doit, with
 *   HSMKEY_KEY_A_ID and HSMKEY_KEY_A_VERSION) or of all (dump).  Each reply
 *   carries HSMKEY_KEY_A_ID, _VERSION, _NAME, _TYPE, _STATE, _BINDINGS,
 *   _POLICY, _OWNER (if set), the u64 counters _BYTES, _REQUESTS,
 *   _BINDS, _DENIES, and _DELIVERY (u32 enum hsmkey_delivery: the path
 *   the material came by); never material, verifier or its hash.
 *
 * HSMKEY_CMD_INFO: module information and statistics (enum
 *   hsmkey_info_attr): version, key versions in the table, the driver
 *   behind each algorithm, the pid that registered on /dev/hsmkey (0:
 *   none), and u64 totals since load: binds, denies (of known key
 *   versions), denies naming unknown key versions (no event each),
 *   revokes, expiries, limits, events sent (the last sequence number) and
 *   events suppressed by the rate limit; HSMKEY_INFO_A_E2E (u32) is 1 when
 *   end-to-end delivery is available (the kernel has ecdh-nist-p256 and
 *   kw(aes)), 0 when not.  A module without the attribute has none.
 *   HSMKEY_INFO_A_KTLS (u32) is 1 when gcm-aes-hsmkey is registered
 *   (ktls=1) and is what a gcm(aes) user gets at the time of the call, and
 *   HSMKEY_INFO_A_SESSIONS (u32) counts the session keys waiting in the
 *   table, HSMKEY_INFO_A_SESSIONS_BOUND (u32) the spent ones, each bound
 *   to the gcm(aes) tfm (a kTLS socket's direction) that took it.
 *
 * HSMKEY_CMD_AUDIT_GET, HSMKEY_CMD_AUDIT_SET (SET: registered daemon): the
 *   audit log's anchor outside the log file, the latest record's sequence
 *   number and chain head, kept in module memory (lost when the module
 *   unloads), one per keystore instance (HSMKEY_AUDIT_A_OWNER; absent: all
 *   zeroes), up to HSMKEY_AUDIT_ANCHORS instances.  SET needs
 *   HSMKEY_AUDIT_A_SEQ (u64, >= 1) and HSMKEY_AUDIT_A_HEAD (binary[32]);
 *   the sequence number must grow (-ESTALE otherwise; setting the same
 *   number and head again is accepted and changes nothing).  With every
 *   slot taken, SET reuses the least recently set slot of an owner that
 *   has no key in the table, else fails with -ENOSPC.  Both reply with all
 *   three attributes (sequence 0: never set).
 *
 * End-to-end delivery (HSMKEY_IOC_EPHEMERAL, HSMKEY_KEY_A_E2E)
 * -----------------------------------------------------------------
 * With an HSM backend the daemon never holds the material.  It asks the
 * module for an ephemeral ECDH P-256 key with HSMKEY_IOC_EPHEMERAL on its
 * registered /dev/hsmkey file (CAP_SYS_ADMIN and a registered file, -EPERM
 * otherwise; -ENOPKG when the kernel lacks ecdh-nist-p256 or kw(aes)).
 * The reply names it by a handle (never reused while the module is loaded;
 * not a secret) and gives its public point Qk.  The HSM computes
 * Z = X(d_h * Qk) (32 bytes, big endian: PKCS#11 CKD_NULL) with its own
 * key, whose public point is Qh, and wraps each key version's material
 * under a KEK bound to both points and to the version:
 *     ctx  = "hsmkey e2e kek v1" NUL || Qk || Qh || id[16]
 *            || be32(version) || be32(type)              (172 bytes)
 *     H    = SHA-256(ctx)
 *     KEK  = AES-256-Enc_Z(H[0..15]) || AES-256-Enc_Z(H[16..31])
 *     blob = AES-KW_KEK(material)     (RFC 3394, default IV, 8 + keylen)
 * Points are 0x04 || X || Y, 65 bytes, big endian (as PKCS#11's
 * CKA_EC_POINT without its DER header).  KEY_ADD then carries, per key
 * version, HSMKEY_KEY_A_E2E:
 *     HSMKEY_E2E_A_HANDLE    u64, required: the ephemeral key
 *     HSMKEY_E2E_A_POINT     binary[65], required: Qh
 *     HSMKEY_E2E_A_WRAPPED   binary, HSMKEY_E2E_KW_LEN(key length), required
 * and HSMKEY_KEY_A_WRAPPED carries only the verifier (HSMKEY_WRAP_LEN(0)
 * bytes, under the transport key as before).  Errors, with an extack
 * message each: -ESTALE the ephemeral key expired, was used up or replaced
 * (ask for a new one); -EINVAL Qh is not a point on the curve; -EBADMSG
 * the blob does not unwrap under the KEK of this id, version and type.  A
 * batch may name at most HSMKEY_E2E_SLOTS ephemeral keys; it is checked
 * whole (every unwrap, and enough uses left on each handle) before any key
 * becomes visible, and uses are charged only when it is.
 * Each ephemeral key may unwrap @uses key versions (1..HSMKEY_BATCH_MAX)
 * and lives @ttl seconds (0: HSMKEY_E2E_TTL, at most that).  At most
 * HSMKEY_E2E_SLOTS are live; a new one replaces the oldest.  Its private
 * key is wiped when its uses are spent, when it expires, is replaced, or
 * when the file is closed: a recorded blob cannot be unwrapped later.
 * Each key version records the path its material came by, reported as
 * HSMKEY_KEY_A_DELIVERY: HSMKEY_DELIVERY_TRANSPORT (the daemon held the
 * material) or HSMKEY_DELIVERY_E2E (it never did).
 *
 * kTLS session tokens (module parameter ktls=1; HSMKEY_CMD_SESSION_*)
 * ---------------------------------------------------------------------
 * kTLS (6.1 and 6.12) allocates "gcm(aes)" by name, calls setkey() with
 * the 16- or 32-byte key of setsockopt(SOL_TLS, TLS_TX or TLS_RX), and
 * getsockopt() gives those bytes back.  With ktls=1 the module registers
 * a "gcm(aes)" (driver gcm-aes-hsmkey) 100 above the highest-priority
 * gcm(aes) at load, and refuses to load unless a user asking for
 * gcm(aes) then gets it.  Its setkey() takes a session token the daemon
 * obtained in place of the key, and passes every other key unchanged to
 * the best gcm(aes) that is neither a fallback user nor allocates memory
 * per request: IPsec, MACsec and the rest keep working with their raw
 * keys, at the cost of one forwarded request per operation.  Users that
 * ask for a synchronous gcm(aes) (mask CRYPTO_ALG_ASYNC) or for one
 * without fallbacks do not get it.  While ktls=1, every tfm of it holds
 * the module (rmmod fails until they are gone).
 *
 * HSMKEY_CMD_SESSION_ADD (registered daemon) gives the module a session
 * key and returns its token:
 *     HSMKEY_SESSION_A_WRAPPED  binary, HSMKEY_WRAP_LEN(16 or 32), required:
 *         the key, wrapped under the transport key as a key version is,
 *         with id HSMKEY_SESSION_WRAP_ID, version 0 and type AES_128_GCM or
 *         AES_256_GCM (so no key version's blob passes for one); the
 *         verifier part is 32 zero bytes
 *     HSMKEY_SESSION_A_TTL      u32 seconds, 1..HSMKEY_SESSION_TTL_MAX,
 *         optional (HSMKEY_SESSION_TTL_DEFAULT); -ERANGE outside
 *   reply: HSMKEY_SESSION_A_TOKEN (as long as the key) and
 *   HSMKEY_SESSION_A_HANDLE.  Errors: -EOPNOTSUPP without ktls=1; -EINVAL
 *   for a missing attribute, a wrong length or a non-zero verifier part;
 *   -EBADMSG if it does not unwrap; -ENOSPC with HSMKEY_SESSION_MAX keys in
 *   the table (waiting, or spent or expired and not yet pruned, which
 *   takes up to a second after the lifetime), or when 2^32 - 1 handles
 *   have been given out in this load; -ENOMEM;
 *   -EAGAIN while a hibernation is being prepared; -EBUSY or -EPERM from
 *   another socket, as for KEY_ADD.
 *   With HSMKEY_SESSION_A_WRAPPED_2 (optional, as WRAPPED) a second
 *   session key is added in the same call, both or neither (the first is
 *   withdrawn if the second fails; both if the reply cannot be sent),
 *   under the same lifetime, each 16 or 32 bytes: the reply then also has
 *   HSMKEY_SESSION_A_TOKEN_2 and HSMKEY_SESSION_A_HANDLE_2 (a kTLS
 *   socket's two directions in one round trip).
 * HSMKEY_CMD_SESSION_GET (CAP_SYS_ADMIN) with HSMKEY_SESSION_A_HANDLE:
 *   reply HSMKEY_SESSION_A_STATE (WAITING, SPENT or REVOKED) and
 *   HSMKEY_SESSION_A_RECORDS (u64: the requests of the tfm that took it,
 *   refused ones included; for kTLS its records, where a TLS 1.3 record
 *   that is not data may count twice); -ENOENT once the key is out
 *   of the table: a waiting one pruned, expired, withdrawn or revoked, a
 *   spent one once its tfm is freed (the socket closed) or keyed again.
 *   With HSMKEY_SESSION_A_HANDLE_2 as well, the reply also has
 *   HSMKEY_SESSION_A_HANDLE_2, _STATE_2 and _RECORDS_2 for that one;
 *   -ENOENT if either is out of the table (the extended ack points at
 *   the handle).  SESSION_REVOKE takes one handle: -EINVAL with HANDLE_2.
 *   The daemon asks after its setsockopt(): WAITING
 *   (or -ENOENT: unknown) means some other gcm(aes) got the token as a key
 *   (tls_device's TX offload, whose software fallback asks for a
 *   synchronous gcm(aes); a gcm(aes) loaded later above this one), and the
 *   socket must be dropped.  SPENT is not enough alone: for RX, 6.1's
 *   tls_device sets up the software path (which takes the token) and then
 *   hands the same bytes to the NIC as its key.  So the daemon also asks
 *   sock_diag for the socket's TLS_INFO_TXCONF and TLS_INFO_RXCONF and
 *   drops it unless both are TLS_CONF_SW.
 * HSMKEY_CMD_SESSION_REVOKE (registered daemon; while none is,
 *   CAP_SYS_ADMIN: the fail-safe direction) with HSMKEY_SESSION_A_HANDLE:
 *   a waiting session key is withdrawn (wiped; its token is refused from
 *   then on, -EKEYREVOKED), a spent one is REVOKED: every later request of
 *   its tfm fails with -EKEYREVOKED, which fails the kTLS socket: a read
 *   that meets a record returns EKEYREVOKED (6.1 keeps the record and
 *   tries it again; EBADMSG once the socket is failed), a write may still
 *   count the bytes it took, and the writes after it return EBADMSG; the
 *   connection is over.  Requests already under way complete.  Revoking a
 *   revoked one again succeeds; -ENOENT if the handle is not in the table.
 * A spent session key also stops at HSMKEY_SESSION_RECORDS_MAX requests,
 * the limit RFC 8446 (5.5) sets for AES-GCM records under one TLS 1.3
 * key: the next fails with -EKEYEXPIRED (on the socket as above, with
 * EKEYEXPIRED for EKEYREVOKED).  6.1 cannot give a kTLS socket a new key (KeyUpdate), so the
 * connection ends there (about 370 GiB in full 16 KiB records, sooner
 * in small ones: the count is of records, not bytes).
 * A token is the key's length:
 *     magic[4] "HSMS" || be32 handle || mac[len - 8]
 * mac is HMAC-SHA256, under a random secret the module draws at load and
 * never gives out, of "hsmkey session v1" NUL || handle || length byte,
 * truncated: 192 bits in the 32-byte form, 64 in the 16-byte form.
 * Handles never repeat while the module is loaded, so the handle is the
 * key's generation; its expiry and owner (the thread group that sent
 * SESSION_ADD, with its effective uid then) are kept in the module's table
 * and checked there.  setkey() on gcm-aes-hsmkey with such bytes:
 *   - the mac does not verify: the bytes are a raw key, set on the
 *     fallback as they are (a raw key that begins with the magic is no
 *     token without the secret; tokens of an earlier load are raw keys);
 *   - -EACCES: the caller is not the owner, or has another euid (the token
 *     stays usable by the owner);
 *   - -EKEYEXPIRED: its lifetime is over (the key is wiped then);
 *   - -EKEYREVOKED: it was used already, or is out of the table (spent or
 *     expired and pruned, or withdrawn when the daemon closed /dev/hsmkey);
 *   - otherwise the session key is set and wiped from the table, and the
 *     entry bound to that tfm: what getsockopt() returns afterwards is a
 *     spent token.
 * gcm-aes-hsmkey never uses a token of the current load as a key (other
 * gcm(aes) drivers, and a NIC, would: see SESSION_GET).  The 16-byte
 * form's 64 bits only tell a token from a raw AES-128 key (a random key
 * passes for a token with probability 2^-96); the token gives nothing
 * without its entry, its owner and its seconds.  An error computing the
 * MAC fails setkey() with it.  Session keys left when the daemon closes
 * /dev/hsmkey waiting are wiped (one that a SESSION_ADD racing the close
 * adds after it stays until its lifetime is over, usable by nobody once
 * its owner is gone); spent ones stay bound, and their connections go
 * on, as loaded keys do.  Hibernation is refused while session keys wait
 * in the table, and SESSION_ADD fails with -EAGAIN while one is prepared;
 * a session key already set on a socket lives in that socket's gcm(aes),
 * as a raw kTLS key does, and is wiped when the socket is freed.
 *
 * Multicast group "events" (HSMKEY_GENL_MCGRP_EVENTS), initial network
 * namespace only; joining it needs CAP_SYS_ADMIN.  Each event is an
 * HSMKEY_CMD_EVENT message (enum hsmkey_event_attr), and never carries
 * material or verifier:
 *     HSMKEY_EVENT_A_TYPE    u32 enum hsmkey_event_type
 *     HSMKEY_EVENT_A_SEQ     u64, one more than the previous event's: a gap
 *                            means events were lost (the socket overran)
 *     HSMKEY_EVENT_A_SUPPRESSED  u64, events held back by the rate limit
 *                            since load; they take no sequence number
 *     HSMKEY_EVENT_A_KEY_ID, HSMKEY_EVENT_A_KEY_VERSION
 *     HSMKEY_EVENT_A_UID, HSMKEY_EVENT_A_PID, HSMKEY_EVENT_A_COMM
 *                            who caused it (initial namespaces; a kernel
 *                            worker for EXPIRE and LIMIT)
 *     HSMKEY_EVENT_A_ERRNO   u32, positive errno, on DENY
 *   DENY events are limited to HSMKEY_EVENT_DENY_RATE a second and BIND
 *   events to HSMKEY_EVENT_BIND_RATE a second for each uid, so one user's
 *   flood does not hide another's.  A token naming a key version that is
 *   not in the table is counted (INFO) but emits no event.
 */
#ifndef _UAPI_LINUX_HSMKEY_H
#define _UAPI_LINUX_HSMKEY_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define HSMKEY_GENL_NAME		"hsmkey"
#define HSMKEY_GENL_VERSION		2
#define HSMKEY_GENL_MCGRP_EVENTS	"events"

#define HSMKEY_NAME_MAX		64	/* including the terminating NUL */
#define HSMKEY_ID_LEN		16
#define HSMKEY_VERIFIER_LEN	32
#define HSMKEY_MATERIAL_MAX	64
#define HSMKEY_OWNER_LEN	16
#define HSMKEY_BATCH_MAX	256
#define HSMKEY_POLICY_IDS_MAX	16
#define HSMKEY_TRANSPORT_KEY_LEN 32
#define HSMKEY_WRAP_NONCE_LEN	12
#define HSMKEY_WRAP_TAG_LEN	16
#define HSMKEY_WRAP_OVERHEAD	(HSMKEY_WRAP_NONCE_LEN + HSMKEY_WRAP_TAG_LEN)
/* HSMKEY_KEY_A_WRAPPED's length for @keylen bytes of material. */
#define HSMKEY_WRAP_LEN(keylen)	\
	(HSMKEY_WRAP_OVERHEAD + HSMKEY_VERIFIER_LEN + (keylen))
#define HSMKEY_AUDIT_HEAD_LEN	32
#define HSMKEY_AUDIT_ANCHORS	16
#define HSMKEY_GCM_MAX_REQUESTS	0x100000000ULL	/* 2^32 */
#define HSMKEY_GCM_MIN_TAGLEN	16	/* the default minimum tag size */
#define HSMKEY_TIME_MAX		253402300799ULL	/* 9999-12-31T23:59:59Z */
#define HSMKEY_EVENT_DENY_RATE	10	/* per uid per second */
#define HSMKEY_EVENT_BIND_RATE	100	/* per uid per second */
#define HSMKEY_SESSION_MAGIC	"HSMS"
#define HSMKEY_SESSION_WRAP_ID	"hsmkey session\0"	/* 16 bytes with its NUL */
#define HSMKEY_SESSION_TTL_DEFAULT 10
#define HSMKEY_SESSION_TTL_MAX	60
#define HSMKEY_SESSION_MAX	1024	/* waiting */
#define HSMKEY_SESSION_RECORDS_MAX 23726566ULL	/* floor(2^24.5) */

enum hsmkey_key_type {
	HSMKEY_TYPE_UNSPEC,
	HSMKEY_TYPE_AES_128_XTS,	/* 32 bytes of material */
	HSMKEY_TYPE_AES_256_XTS,	/* 64 */
	HSMKEY_TYPE_AES_128_CBC,	/* 16 */
	HSMKEY_TYPE_AES_256_CBC,	/* 32 */
	HSMKEY_TYPE_AES_128_GCM,	/* 16 */
	HSMKEY_TYPE_AES_256_GCM,	/* 32 */
	__HSMKEY_TYPE_MAX
};

#define HSMKEY_TYPE_MAX (__HSMKEY_TYPE_MAX - 1)

enum hsmkey_key_state {
	HSMKEY_STATE_UNSPEC,
	HSMKEY_STATE_ACTIVE,
	HSMKEY_STATE_REVOKED,
	HSMKEY_STATE_DISABLED,
	__HSMKEY_STATE_MAX
};

/*
 * struct hsmkey_token - what setkey() takes instead of key bytes
 * @magic:	HSMKEY_TOKEN_MAGIC
 * @format:	HSMKEY_TOKEN_FORMAT
 * @key_type:	enum hsmkey_key_type of the named key
 * @reserved:	zero
 * @key_id:	identifier of the key, never reused
 * @key_version: version of the key, big endian
 * @reserved2:	zero
 * @verifier:	random secret of this key version
 */
struct hsmkey_token {
	__u8	magic[4];
	__u8	format;
	__u8	key_type;
	__u8	reserved[2];
	__u8	key_id[HSMKEY_ID_LEN];
	__be32	key_version;
	__u8	reserved2[4];
	__u8	verifier[HSMKEY_VERIFIER_LEN];
};

#define HSMKEY_TOKEN_LEN	64
#define HSMKEY_TOKEN_MAGIC	"HSMK"
#define HSMKEY_TOKEN_FORMAT	1

enum hsmkey_event_type {
	HSMKEY_EVENT_UNSPEC,
	HSMKEY_EVENT_BIND,	/* a tfm was bound to the key */
	HSMKEY_EVENT_DENY,	/* a token naming the key was refused */
	HSMKEY_EVENT_REVOKE,
	HSMKEY_EVENT_REMOVE,
	HSMKEY_EVENT_EXPIRE,	/* not-after passed: the key was revoked */
	HSMKEY_EVENT_LIMIT,	/* a usage limit was reached */
	HSMKEY_EVENT_ADD,
	HSMKEY_EVENT_DISABLE,
	HSMKEY_EVENT_ENABLE,
	HSMKEY_EVENT_POLICY,	/* the policy was replaced */
	__HSMKEY_EVENT_MAX
};

enum hsmkey_cmd {
	HSMKEY_CMD_UNSPEC,
	HSMKEY_CMD_KEY_ADD,
	HSMKEY_CMD_KEY_REVOKE,
	HSMKEY_CMD_KEY_REMOVE,
	HSMKEY_CMD_KEY_DISABLE,
	HSMKEY_CMD_KEY_ENABLE,
	HSMKEY_CMD_KEY_SET_POLICY,
	HSMKEY_CMD_KEY_GET,
	HSMKEY_CMD_INFO,
	HSMKEY_CMD_AUDIT_GET,
	HSMKEY_CMD_AUDIT_SET,
	HSMKEY_CMD_EVENT,	/* multicast only */
	HSMKEY_CMD_SESSION_ADD,
	HSMKEY_CMD_SESSION_GET,
	HSMKEY_CMD_SESSION_REVOKE,
	__HSMKEY_CMD_MAX
};

#define HSMKEY_CMD_MAX (__HSMKEY_CMD_MAX - 1)

/* A key version: the KEY_* commands' attributes, and their replies'. */
enum hsmkey_key_attr {
	HSMKEY_KEY_A_UNSPEC,
	HSMKEY_KEY_A_PAD,
	HSMKEY_KEY_A_ID,		/* binary[16] */
	HSMKEY_KEY_A_VERSION,		/* u32 */
	HSMKEY_KEY_A_NAME,		/* string */
	HSMKEY_KEY_A_TYPE,		/* u32 enum hsmkey_key_type */
	HSMKEY_KEY_A_WRAPPED,		/* binary, ADD only */
	HSMKEY_KEY_A_POLICY,		/* nested enum hsmkey_policy_attr */
	HSMKEY_KEY_A_OWNER,		/* binary[16] */
	HSMKEY_KEY_A_USED_BYTES,	/* u64, ADD only */
	HSMKEY_KEY_A_USED_REQUESTS,	/* u64, ADD only */
	HSMKEY_KEY_A_BATCH,		/* nested array of keys, ADD only */
	HSMKEY_KEY_A_STATE,		/* u32 enum hsmkey_key_state, reply */
	HSMKEY_KEY_A_BINDINGS,		/* u32, reply */
	HSMKEY_KEY_A_BYTES,		/* u64, reply */
	HSMKEY_KEY_A_REQUESTS,		/* u64, reply */
	HSMKEY_KEY_A_BINDS,		/* u64, reply */
	HSMKEY_KEY_A_DENIES,		/* u64, reply */
	HSMKEY_KEY_A_E2E,		/* nested enum hsmkey_e2e_attr, ADD only */
	HSMKEY_KEY_A_DELIVERY,		/* u32 enum hsmkey_delivery, reply */
	__HSMKEY_KEY_A_MAX
};

#define HSMKEY_KEY_A_MAX (__HSMKEY_KEY_A_MAX - 1)

/* Nested in HSMKEY_KEY_A_POLICY. */
enum hsmkey_policy_attr {
	HSMKEY_POLICY_A_UNSPEC,
	HSMKEY_POLICY_A_PAD,
	HSMKEY_POLICY_A_UIDS,		/* __u32[] */
	HSMKEY_POLICY_A_GIDS,		/* __u32[] */
	HSMKEY_POLICY_A_ALGS,		/* u32 HSMKEY_ALG_* mask */
	HSMKEY_POLICY_A_NOT_BEFORE,	/* u64 */
	HSMKEY_POLICY_A_NOT_AFTER,	/* u64 */
	HSMKEY_POLICY_A_MAX_BYTES,	/* u64 */
	HSMKEY_POLICY_A_MAX_REQUESTS,	/* u64 */
	HSMKEY_POLICY_A_MAX_BINDINGS,	/* u32 */
	HSMKEY_POLICY_A_MIN_TAGLEN,	/* u32 */
	__HSMKEY_POLICY_A_MAX
};

#define HSMKEY_POLICY_A_MAX (__HSMKEY_POLICY_A_MAX - 1)

/* Algorithms, for HSMKEY_POLICY_A_ALGS. */
#define HSMKEY_ALG_XTS	0x1U	/* xts(hsmaes) */
#define HSMKEY_ALG_CBC	0x2U	/* cbc(hsmaes) */
#define HSMKEY_ALG_GCM	0x4U	/* gcm(hsmaes) */

/* HSMKEY_CMD_INFO's reply. */
enum hsmkey_info_attr {
	HSMKEY_INFO_A_UNSPEC,
	HSMKEY_INFO_A_PAD,
	HSMKEY_INFO_A_VERSION,		/* string */
	HSMKEY_INFO_A_NKEYS,		/* u32 */
	HSMKEY_INFO_A_INNER_XTS,	/* string */
	HSMKEY_INFO_A_INNER_CBC,	/* string */
	HSMKEY_INFO_A_INNER_GCM,	/* string */
	HSMKEY_INFO_A_HOLDER,		/* u32 pid */
	HSMKEY_INFO_A_BINDS,		/* u64 ... */
	HSMKEY_INFO_A_DENIES,
	HSMKEY_INFO_A_DENIES_UNKNOWN,
	HSMKEY_INFO_A_REVOKES,
	HSMKEY_INFO_A_EXPIRIES,
	HSMKEY_INFO_A_LIMITS,
	HSMKEY_INFO_A_EVENTS,
	HSMKEY_INFO_A_SUPPRESSED,
	HSMKEY_INFO_A_E2E,		/* u32: 1 if end-to-end delivery works */
	HSMKEY_INFO_A_KTLS,		/* u32: 1 if gcm-aes-hsmkey is first */
	HSMKEY_INFO_A_SESSIONS,		/* u32: session keys waiting */
	HSMKEY_INFO_A_SESSIONS_BOUND,	/* u32: session keys spent, bound */
	__HSMKEY_INFO_A_MAX
};

#define HSMKEY_INFO_A_MAX (__HSMKEY_INFO_A_MAX - 1)

/* HSMKEY_CMD_SESSION_ADD, _GET and _REVOKE, and their replies. */
enum hsmkey_session_attr {
	HSMKEY_SESSION_A_UNSPEC,
	HSMKEY_SESSION_A_PAD,
	HSMKEY_SESSION_A_WRAPPED,	/* binary, request */
	HSMKEY_SESSION_A_TTL,		/* u32 seconds, request */
	HSMKEY_SESSION_A_TOKEN,		/* binary, reply */
	HSMKEY_SESSION_A_HANDLE,	/* u32: ADD's reply, GET's, REVOKE's */
	HSMKEY_SESSION_A_STATE,		/* u32 enum hsmkey_session_state, reply */
	HSMKEY_SESSION_A_RECORDS,	/* u64, GET's reply */
	/* A second session key in the same call (a kTLS socket's other way). */
	HSMKEY_SESSION_A_WRAPPED_2,	/* binary, ADD's request */
	HSMKEY_SESSION_A_TOKEN_2,	/* binary, ADD's reply */
	HSMKEY_SESSION_A_HANDLE_2,	/* u32: ADD's reply, GET's both ways */
	HSMKEY_SESSION_A_STATE_2,	/* u32, GET's reply */
	HSMKEY_SESSION_A_RECORDS_2,	/* u64, GET's reply */
	__HSMKEY_SESSION_A_MAX
};

enum hsmkey_session_state {
	HSMKEY_SESSION_UNSPEC,
	HSMKEY_SESSION_WAITING,		/* added, not taken */
	HSMKEY_SESSION_SPENT,		/* taken by gcm-aes-hsmkey's setkey(), bound */
	HSMKEY_SESSION_REVOKED,		/* spent, then revoked */
	__HSMKEY_SESSION_MAX
};

#define HSMKEY_SESSION_A_MAX (__HSMKEY_SESSION_A_MAX - 1)

/* HSMKEY_CMD_AUDIT_GET and _SET, and their replies. */
enum hsmkey_audit_attr {
	HSMKEY_AUDIT_A_UNSPEC,
	HSMKEY_AUDIT_A_PAD,
	HSMKEY_AUDIT_A_OWNER,		/* binary[16] */
	HSMKEY_AUDIT_A_SEQ,		/* u64 */
	HSMKEY_AUDIT_A_HEAD,		/* binary[32] */
	__HSMKEY_AUDIT_A_MAX
};

#define HSMKEY_AUDIT_A_MAX (__HSMKEY_AUDIT_A_MAX - 1)

/* HSMKEY_CMD_EVENT, multicast on the events group. */
enum hsmkey_event_attr {
	HSMKEY_EVENT_A_UNSPEC,
	HSMKEY_EVENT_A_PAD,
	HSMKEY_EVENT_A_TYPE,		/* u32 enum hsmkey_event_type */
	HSMKEY_EVENT_A_SEQ,		/* u64 */
	HSMKEY_EVENT_A_SUPPRESSED,	/* u64 */
	HSMKEY_EVENT_A_KEY_ID,		/* binary[16] */
	HSMKEY_EVENT_A_KEY_VERSION,	/* u32 */
	HSMKEY_EVENT_A_UID,		/* u32 */
	HSMKEY_EVENT_A_PID,		/* u32 */
	HSMKEY_EVENT_A_COMM,		/* string */
	HSMKEY_EVENT_A_ERRNO,		/* u32 */
	__HSMKEY_EVENT_A_MAX
};

#define HSMKEY_EVENT_A_MAX (__HSMKEY_EVENT_A_MAX - 1)

/* Associated data of a wrapped key: binds it to its id, version and type. */
struct hsmkey_wrap_aad {
	__u8	key_id[HSMKEY_ID_LEN];
	__be32	key_version;
	__be32	key_type;
};

/* /dev/hsmkey */
#define HSMKEY_DEVICE_NAME	"hsmkey"

/*
 * struct hsmkey_register - HSMKEY_IOC_REGISTER's argument
 * @nl_fd:	in: the caller's NETLINK_GENERIC socket (initial namespace)
 * @flags:	in: zero
 * @transport_key: out: the key wrapping material for this open file
 */
struct hsmkey_register {
	__s32	nl_fd;
	__u32	flags;
	__u8	transport_key[HSMKEY_TRANSPORT_KEY_LEN];
};

/* _IOR('H', 1) was 0.1.0's transport key read: retired. */
#define HSMKEY_IOC_REGISTER	_IOWR('H', 2, struct hsmkey_register)

/* End-to-end delivery: see the prose above. */
#define HSMKEY_E2E_POINT_LEN	65	/* 0x04 || X || Y, big endian */
#define HSMKEY_E2E_KW_LEN(keylen)	((keylen) + 8)	/* RFC 3394 */
#define HSMKEY_E2E_SLOTS	4	/* live ephemeral keys at most */
#define HSMKEY_E2E_TTL		60	/* seconds an ephemeral key lives at most */

/*
 * struct hsmkey_ephemeral - HSMKEY_IOC_EPHEMERAL's argument
 * @flags:	in: zero
 * @uses:	in: key versions it may unwrap, 1..HSMKEY_BATCH_MAX
 * @handle:	out: names it in HSMKEY_E2E_A_HANDLE
 * @ttl:	in: seconds it lives, 0: HSMKEY_E2E_TTL, at most that
 * @point:	out: its public key Qk
 * @pad:	zero
 */
struct hsmkey_ephemeral {
	__u32	flags;
	__u32	uses;
	__u64	handle;
	__u32	ttl;
	__u8	point[HSMKEY_E2E_POINT_LEN];
	__u8	pad[3];
};

#define HSMKEY_IOC_EPHEMERAL	_IOWR('H', 3, struct hsmkey_ephemeral)

enum hsmkey_delivery {
	HSMKEY_DELIVERY_UNSPEC,
	HSMKEY_DELIVERY_TRANSPORT,	/* under the transport key: the daemon held it */
	HSMKEY_DELIVERY_E2E,		/* AES-KW from an HSM: the daemon never held it */
	__HSMKEY_DELIVERY_MAX
};

/* Nested in HSMKEY_KEY_A_E2E. */
enum hsmkey_e2e_attr {
	HSMKEY_E2E_A_UNSPEC,
	HSMKEY_E2E_A_PAD,
	HSMKEY_E2E_A_HANDLE,		/* u64: the ephemeral key */
	HSMKEY_E2E_A_POINT,		/* binary[65]: the HSM's public key */
	HSMKEY_E2E_A_WRAPPED,		/* binary: HSMKEY_E2E_KW_LEN(key length) */
	__HSMKEY_E2E_A_MAX
};

#define HSMKEY_E2E_A_MAX (__HSMKEY_E2E_A_MAX - 1)

#endif /* _UAPI_LINUX_HSMKEY_H */
