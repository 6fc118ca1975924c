# SPDX-License-Identifier: GPL-2.0
#
# make            hsmkey.ko (out of tree) and the userspace tools
# make deps       install the Debian packages that building and testing need
# make test       the whole test suite (host, stock-kernel guest)
# make test-quick host tests and one stock-kernel guest boot
# make demo       the end-to-end job in a guest of the stock kernel
# make fuzz-kernel N=...  the kernel netlink fuzzer, longer (guest)
# make install / dkms-install / style / check / clean

HSMKEY_VERSION ?= 0.1.0
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib/$(shell $(CC) -print-multiarch 2>/dev/null)
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=

# Kernels installed with both an image and a build tree; the target is
# Debian 12's stock 6.1 (the newest such), else the newest of any.  The
# 6.12 kernel the tests also build and boot is NEW_KVER.
KERNELS := $(shell for b in /lib/modules/*/build; do \
	  k=$$(basename $${b%/build}); \
	  [ -e /boot/vmlinuz-$$k ] && [ -e $$b/Makefile ] && echo $$k; \
	done | sort -V)
KVER ?= $(lastword $(or $(filter 6.1.%,$(KERNELS)),$(KERNELS)))
NEW_KVER ?= $(lastword $(filter 6.12.%,$(KERNELS)))
KDIR ?= /lib/modules/$(KVER)/build

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iuapi -Itools/lib -Itools/libhsmkey -Idaemon \
	  -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	  -DHSMKEY_VERSION='"$(HSMKEY_VERSION)"' \
	  $(shell pkg-config --cflags libnl-genl-3.0 json-c p11-kit-1 2>/dev/null)
LIBNL := $(shell pkg-config --libs libnl-genl-3.0 2>/dev/null)
LIBS_D := $(LIBNL) -lssl -lcrypto -ljson-c -ldevmapper -lkeyutils -ldl -lpthread \
	  $(shell pkg-config --libs p11-kit-1 2>/dev/null)
LIBS_C := -ljson-c -lcrypto

B := build
# The library the daemon, the CLI, the tests and the fuzzers share.
LIB := tools/lib/util.c tools/lib/proto.c tools/lib/key.c tools/lib/number.c tools/lib/fetched.c
# The embedded keystore, one concept per file (daemon/embedded/internal.h).
EMBEDDED := daemon/embedded/master.c daemon/embedded/record.c daemon/embedded/tomb.c \
	    daemon/embedded/tombfile.c daemon/embedded/root.c daemon/embedded/index.c daemon/embedded/store.c \
	    daemon/embedded/scan.c daemon/embedded/open.c daemon/embedded/keys.c daemon/embedded/kept.c \
	    daemon/embedded/backend.c
# The PKCS#11 backend (daemon/pkcs11/hsm.h): the token helper process and
# the daemon's side of it, then the backend adapter over it.
PKCS11_HELPER := daemon/pkcs11/proto.c daemon/pkcs11/helper.c daemon/pkcs11/helper_main.c \
		 daemon/pkcs11/module.c daemon/pkcs11/session.c daemon/pkcs11/objects.c \
		 daemon/pkcs11/deliver.c daemon/pkcs11/secrets.c daemon/pkcs11/handles.c \
		 daemon/pkcs11/calls.c daemon/pkcs11/importkey.c daemon/pkcs11/copy.c \
		 daemon/pkcs11/copy_client.c daemon/pkcs11/shared.c daemon/pkcs11/use.c \
		 daemon/pkcs11/identity.c daemon/pkcs11/identity_import.c daemon/pkcs11/identity_adopt.c
PKCS11_BACKEND := daemon/pkcs11/backend.c daemon/pkcs11/records.c daemon/pkcs11/adopt.c \
		  daemon/pkcs11/orphans.c daemon/pkcs11/members.c \
		  daemon/pkcs11/catchup.c daemon/pkcs11/backup.c daemon/pkcs11/verifiers.c \
		  daemon/pkcs11/unlocked.c
# KMIP: the TTLV encoding (daemon/kmip/ttlv.h) and the messages (message.h).
KMIP := daemon/kmip/ttlv.c daemon/kmip/ttlv_out.c daemon/kmip/request.c daemon/kmip/response.c \
	daemon/kmip/payload.c daemon/kmip/conn.c daemon/kmip/client.c daemon/kmip/ops.c
KMIP_BACKEND := daemon/kmip/kek.c daemon/kmip/poll.c daemon/kmip/spent.c daemon/kmip/backend.c
DAEMON := daemon/main.c $(EMBEDDED) $(PKCS11_HELPER) $(PKCS11_BACKEND) $(KMIP) $(KMIP_BACKEND) daemon/kernel.c daemon/kernel_events.c daemon/kernel_session.c daemon/clients.c daemon/subids.c daemon/passwd_list.c \
	  daemon/control.c daemon/request.c daemon/provision.c daemon/batch.c daemon/keys.c daemon/import.c daemon/backup.c \
	  daemon/identity.c daemon/identity_rsa.c daemon/identity_file.c daemon/identity_der.c daemon/csr.c daemon/handshake.c daemon/tls_context.c daemon/tls_signer.c daemon/tls_cache.c daemon/tls_bio.c \
	  daemon/listing.c daemon/states.c daemon/policy.c daemon/volumes.c daemon/verify.c \
	  daemon/deletion.c daemon/reconcile.c daemon/events.c \
	  daemon/volume.c daemon/config.c daemon/audit.c daemon/audit_keys.c daemon/audit_file.c daemon/audit_anchor.c \
	  daemon/audit_verify.c daemon/wrapkey.c daemon/worker.c daemon/storage.c \
	  daemon/ktls.c daemon/tls_diag.c daemon/kms.c daemon/kms_blob.c daemon/nonce.c daemon/kms_keys.c \
	  daemon/kms_sign.c daemon/kms_data.c daemon/kms_kernel.c daemon/kms_reencrypt.c daemon/kms_batch.c \
	  daemon/kms_mac.c daemon/kms_random.c daemon/key_use.c
CTL := tools/hsmkeyctl.c tools/client.c tools/args.c tools/keys.c tools/csr.c tools/state.c tools/backup.c \
	tools/list.c tools/show.c tools/policy.c tools/audit.c tools/dm.c tools/luks.c \
	tools/crypttab.c tools/run.c tools/luks2.c tools/tls_cmd.c tools/kms_cmd.c tools/datakey_cmd.c \
	tools/file_cmd.c tools/mac_cmd.c tools/random_cmd.c tools/batch_cmd.c
HOST_TESTS := tests/host/test_keystore tests/host/test_proto tests/host/test_events \
	tests/host/test_reconcile tests/host/test_kms_keys tests/host/test_tombstone tests/host/test_hsm tests/host/test_ttlv \
	tests/host/test_tls_signer tests/host/test_nonce tests/host/test_audit_mac tests/host/test_tls_cache \
	tests/host/test_subids
GUEST_TESTS := tests/guest/netlink_test tests/guest/afalg_test tests/guest/aead_test \
	tests/guest/e2e_test tests/guest/ktls_test tests/guest/ktls_daemon_test \
	tests/guest/policy_test tests/guest/kcore_scan tests/guest/alg_loop \
	tests/guest/boundary_test tests/guest/flood_test tests/guest/nl_fuzz tests/guest/tls_app
# The kernel's kselftest_harness.h, from Debian's linux-source (cached).
LINUX_PARTS = $(shell tests/linux-source.sh)
KSFT_INC = $(LINUX_PARTS)/tools/testing/selftests
TEST_CFLAGS = $(CFLAGS) -isystem $(KSFT_INC)

.PHONY: all fuzz fuzz-kernel bench bench-tools module module-debug module-new userspace tests print-kver print-new-kver install install-lib dkms-install deps test test-quick demo \
	style check clean
all: module userspace

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) HSMKEY_VERSION=$(HSMKEY_VERSION) modules

userspace: $(B)/hsmkeyd $(B)/hsmkeyctl $(B)/libhsmkey.so $(B)/hsmkey.pc

# The module for the debug kernel, built in copies of the sources (a tree
# builds for one kernel at a time): kmod-debug for the guest tests, and
# kmod-kunit with the KUnit suites.  DEBUG_KDIR: tests/debug-kernel/build.sh.
module-debug:
	@test -n "$(DEBUG_KDIR)" || { echo "set DEBUG_KDIR"; exit 1; }
	@for v in debug kunit; do \
		mkdir -p $(B)/kmod-$$v && cp -a Kbuild kmod uapi $(B)/kmod-$$v/ && \
		$(MAKE) -C $(DEBUG_KDIR) M=$(CURDIR)/$(B)/kmod-$$v \
			HSMKEY_VERSION=$(HSMKEY_VERSION) HSMKEY_GCOV=y \
			HSMKEY_KUNIT=$$([ $$v = kunit ] && echo y) modules || exit 1; \
	done

HDRS = $(wildcard daemon/*.h daemon/embedded/*.h daemon/pkcs11/*.h daemon/kmip/*.h tools/*.h tools/lib/*.h) \
	uapi/linux/hsmkey.h tools/libhsmkey/hsmkey/tls.h tools/libhsmkey/hsmkey/kms.h \
	tools/libhsmkey/internal.h

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The token helper's objects also depend on its folder's headers.
$(PKCS11_HELPER:%.c=$(B)/%.o): $(wildcard daemon/pkcs11/*.h)

$(B)/libcommon.a: $(LIB:%.c=$(B)/%.o)
	$(AR) rcs $@ $^

# Full RELRO and no lazy binding: the GOT read-only, and no first call of a
# library function goes through the resolver, which spills the vector
# registers (that may hold key bytes after a memcpy) below the caller's
# frame, where nothing wipes them.
NOW_LDFLAGS := -Wl,-z,relro,-z,now

$(B)/hsmkeyd: $(DAEMON:%.c=$(B)/%.o) $(B)/libcommon.a
	$(CC) $(LDFLAGS) $(NOW_LDFLAGS) -o $@ $^ $(LIBS_D)

# libFuzzer targets (clang): one per parser, with ASan and UBSan.
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -Iuapi -Itools/lib -Idaemon -Itools $(shell pkg-config --cflags json-c) \
	-DHSMKEY_VERSION='"$(HSMKEY_VERSION)"' -fsanitize=fuzzer,address,undefined
FUZZ_SRC := $(LIB) $(EMBEDDED) $(KMIP) daemon/config.c tools/luks2.c daemon/identity.c daemon/identity_rsa.c daemon/identity_file.c daemon/identity_der.c \
	    daemon/kms_blob.c daemon/nonce.c
FUZZERS := fuzz_proto fuzz_config fuzz_keyfile fuzz_luks2 fuzz_ttlv fuzz_identity fuzz_kms
fuzz: $(FUZZERS:%=$(B)/fuzz/%)

$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC) -ljson-c -lssl -lcrypto

# The daemon with crash points in its file writes (tests/host/test_crash.sh).
$(B)/crash/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DHSMKEY_CRASH_POINTS -c -o $@ $<

$(B)/tests/hsmkeyd-crash: $(DAEMON:%.c=$(B)/crash/%.o) $(LIB:%.c=$(B)/crash/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(NOW_LDFLAGS) -o $@ $^ $(LIBS_D)

# The daemon that keeps what it should wipe (tools/lib/util.c): the memory
# scans' positive control (tests/host/test_p11_scan.sh, t_pkcs11), so a
# scan finding nothing is known to look.
$(B)/nowipe/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DHSMKEY_TEST_NO_WIPE -c -o $@ $<

$(B)/tests/hsmkeyd-nowipe: $(DAEMON:%.c=$(B)/nowipe/%.o) $(LIB:%.c=$(B)/nowipe/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(NOW_LDFLAGS) -o $@ $^ $(LIBS_D)

# libhsmkey, the applications' library (tools/libhsmkey/hsmkey/{tls,kms}.h,
# hsmkey_tls_handshake(3), hsmkey_encrypt(3)): its own position-independent
# objects, only the hsmkey_* calls exported (libhsmkey.map).
LIBHSMKEY := tools/libhsmkey/tls.c tools/libhsmkey/connect.c tools/libhsmkey/handle.c \
	     tools/libhsmkey/kms.c tools/libhsmkey/sign.c tools/libhsmkey/datakey.c \
	     tools/libhsmkey/stream.c tools/libhsmkey/batch.c tools/libhsmkey/mac.c tools/libhsmkey/random.c \
	     tools/lib/proto.c
LIBHSMKEY_SONAME := libhsmkey.so.0
$(B)/pic/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<
$(B)/$(LIBHSMKEY_SONAME): $(LIBHSMKEY:%.c=$(B)/pic/%.o) tools/libhsmkey/libhsmkey.map
	$(CC) $(LDFLAGS) $(NOW_LDFLAGS) -shared -Wl,-soname,$(LIBHSMKEY_SONAME) -Wl,--no-undefined \
		-Wl,--version-script=tools/libhsmkey/libhsmkey.map -o $@ $(filter %.o,$^) -ljson-c \
		-lcrypto
$(B)/libhsmkey.so: $(B)/$(LIBHSMKEY_SONAME)
	ln -sf $(LIBHSMKEY_SONAME) $@
$(B)/hsmkey.pc: tools/libhsmkey/hsmkey.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(HSMKEY_VERSION)|' $< > $@

# hsmkeyctl uses the library as any application would (found beside it
# in the build tree, in LIBDIR once installed).
$(B)/hsmkeyctl: $(CTL:%.c=$(B)/%.o) $(B)/libcommon.a $(B)/libhsmkey.so
	$(CC) $(LDFLAGS) $(NOW_LDFLAGS) -Wl,-rpath,'$$ORIGIN' -o $@ $(filter %.o %.a,$^) \
		-L$(B) -lhsmkey $(LIBS_C)

# hsmkeyctl with test hooks (tests/host/test_cli.sh: failures injected
# between luksFormat and the header edit).
$(B)/hooks/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DHSMKEY_TEST_HOOKS -c -o $@ $<

$(B)/tests/hsmkeyctl-hooks: $(CTL:%.c=$(B)/hooks/%.o) $(B)/libcommon.a $(B)/libhsmkey.so
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,-rpath,'$$ORIGIN/..' -o $@ $(filter %.o %.a,$^) -L$(B) -lhsmkey \
		$(LIBS_C)

# One translation unit: test_keystore.c includes tests/host/keystore/*.
$(B)/tests/host/test_keystore: tests/host/test_keystore.c $(wildcard tests/host/keystore/*) \
		$(EMBEDDED:%.c=$(B)/%.o) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) -lcrypto -ljson-c -lpthread

# Tombstones (white-box: the table in daemon/embedded/internal.h).
$(B)/tests/host/test_tombstone: tests/host/test_tombstone.c tests/host/keystore/files.h \
		$(EMBEDDED:%.c=$(B)/%.o) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) -lcrypto -ljson-c -lpthread

# The keystore at 100,000 keys: open and list times (a measurement, run by hand).
$(B)/tests/scale_keystore: tests/host/scale_keystore.c $(EMBEDDED:%.c=$(B)/%.o) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ -lcrypto -ljson-c -lpthread

# The memory scanner (any process, as root) and its test subjects:
# tests/host/test_memscan.sh, and the PKCS#11 backend's scans of hsmkeyd.
$(B)/tests/memscan: tests/lib/memscan.c $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ -lcrypto

# Bound at load (-z now): the lazy binding of a first call saves the vector
# registers, which hold the key after a memcpy, below the caller's frame,
# and that copy is not the target's to wipe.
$(B)/tests/memscan_target: tests/host/memscan_target.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wl,-z,now -o $@ $< -lpthread

# The programs that call a token directly share its opening (tests/lib/p11_open.c).
P11_OPEN := tests/lib/p11_open.c tests/lib/p11_open.h $(B)/libcommon.a

$(B)/tests/p11_inproc: tests/host/p11_inproc.c $(P11_OPEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib -o $@ $(filter %.c %.a,$^) -ldl -lcrypto -lpthread

# A slow or failing token for the tests: SoftHSM with every object search
# delayed, or its ECDH answered with an error (tests/lib/p11_slow.c).
$(B)/tests/p11_slow.so: tests/lib/p11_slow.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $< -ldl

$(B)/tests/host/test_proto: tests/host/test_proto.c $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $^ -ljson-c -lcrypto

$(B)/tests/host/test_ttlv: tests/host/test_ttlv.c $(KMIP:%.c=$(B)/%.o) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $^ -lssl -lcrypto

# TTLV from files, for the cross-check with PyKMIP (tests/host/test_kmip_ttlv.sh).
$(B)/tests/ttlv_tool: tests/host/ttlv_tool.c tests/host/kmip_print.c $(KMIP:%.c=$(B)/%.o) \
		$(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/host -o $@ $^ -lssl -lcrypto

# A KMIP client over hsmkey's connection (tests/host/test_kmip_server.sh).
$(B)/tests/kmip_client: tests/host/kmip_client.c tests/host/kmip_print.c $(KMIP:%.c=$(B)/%.o) \
		$(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/host -o $@ $^ -lssl -lcrypto -lpthread

# Includes daemon/kernel.c and kernel_events.c: the events listener's sender check, white-box.
$(B)/tests/host/test_events: tests/host/test_events.c daemon/kernel.c daemon/kernel_events.c daemon/kernel.h \
		$(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(shell pkg-config --cflags libnl-genl-3.0) -o $@ $< \
		$(B)/libcommon.a $(LIBNL) -lcrypto

# Includes daemon/events.c, links the rest of the daemon: coalescing, white-box.
# The KMS API's invocation accounting against a key store of the test's own.
$(B)/tests/host/test_kms_keys: tests/host/test_kms_keys.c $(B)/daemon/kms_keys.o $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) -lcrypto -ljson-c -lpthread

# The per-thread nonce pool: no repeats across refills, threads and fork().
$(B)/tests/host/test_nonce: tests/host/test_nonce.c $(B)/daemon/nonce.o $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) -lpthread -lcrypto

# Subordinate uid ranges: whose limits a uid counts in, from good and bad files.
$(B)/tests/host/test_subids: tests/host/test_subids.c $(B)/daemon/subids.o $(B)/daemon/passwd_list.o \
		$(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) -lcrypto

# The audit log's hand-written HMAC-SHA256 against RFC 4231 and OpenSSL.
$(B)/tests/host/test_audit_mac: tests/host/test_audit_mac.c \
		$(filter-out $(B)/daemon/main.o,$(DAEMON:%.c=$(B)/%.o)) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) $(LIBS_D) -lpthread

$(B)/tests/host/test_reconcile: tests/host/test_reconcile.c daemon/events.c \
		$(filter-out $(B)/daemon/main.o $(B)/daemon/events.o,$(DAEMON:%.c=$(B)/%.o)) \
		$(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) $(LIBS_D) -lpthread

# An application of libhsmkey, and OpenSSL's own kTLS as the control
# (t_tls: which of them holds the session keys).
$(B)/tests/guest/tls_app: tests/guest/tls_app.c tools/libhsmkey/hsmkey/tls.h $(B)/libhsmkey.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -L$(B) -lhsmkey -Wl,-rpath,'$$ORIGIN/../..' \
		-lssl -lcrypto

# hsmkeyd's kTLS installer, white-box, against OpenSSL as the peer.
# It and the kTLS benchmark share the daemon's installer and a TLS pair.
KTLS_PARTS := daemon/ktls.c daemon/tls_diag.c daemon/kernel.c daemon/kernel_session.c \
	tests/lib/tls_pair.c
KTLS_DEPS := $(KTLS_PARTS) daemon/ktls.h daemon/tls_diag.h daemon/kernel.h tests/lib/tls_pair.h \
	uapi/linux/hsmkey.h $(B)/libcommon.a
$(B)/tests/guest/ktls_daemon_test: tests/guest/ktls_daemon_test.c $(KTLS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(shell pkg-config --cflags libnl-genl-3.0) -o $@ $< $(KTLS_PARTS) \
		$(B)/libcommon.a $(LIBNL) -lssl -lcrypto -lpthread

# Identity keys that sign in the key storage, in handshakes (tls_signer.c
# through tls_context.c), against OpenSSL as the client.
SIGNER_PARTS := daemon/tls_signer.c daemon/tls_context.c daemon/tls_bio.c $(KTLS_PARTS)
$(B)/tests/host/test_tls_signer: tests/host/test_tls_signer.c $(SIGNER_PARTS) daemon/tls_signer.h \
		daemon/tls_context.h $(KTLS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(shell pkg-config --cflags libnl-genl-3.0) -o $@ $< $(SIGNER_PARTS) \
		$(B)/libcommon.a $(LIBNL) -lssl -lcrypto -ljson-c -lpthread

# The kept handshake contexts (tls_cache.c) with real OpenSSL contexts.
$(B)/tests/host/test_tls_cache: tests/host/test_tls_cache.c daemon/tls_cache.c daemon/tls_cache.h \
		$(SIGNER_PARTS) daemon/tls_context.h $(KTLS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(shell pkg-config --cflags libnl-genl-3.0) -o $@ $< daemon/tls_cache.c \
		$(SIGNER_PARTS) $(B)/libcommon.a $(LIBNL) -lssl -lcrypto -ljson-c -lpthread

$(B)/tests/guest/%: tests/guest/%.c tests/guest/nltest.h tests/guest/algtest.h tests/guest/evtest.h uapi/linux/hsmkey.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(LIBNL) -lcrypto

# The kernel netlink fuzzer: one program from a file per concept.
NL_FUZZ := $(addprefix tests/guest/nl_fuzz/,report.c rng.c msg.c netlink.c keys.c snapshot.c \
	valid.c random.c mutate.c check.c phases.c nobody.c setup.c main.c)
$(B)/tests/guest/nl_fuzz: $(NL_FUZZ) tests/guest/nl_fuzz/nl_fuzz.h uapi/linux/hsmkey.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $(NL_FUZZ) $(LIBNL) -lcrypto

tests: $(HOST_TESTS:%=$(B)/%) $(GUEST_TESTS:%=$(B)/%) $(B)/tests/hsmkeyd-crash $(B)/tests/hsmkeyd-nowipe \
	$(B)/tests/hsmkeyctl-hooks $(B)/tests/scale_keystore \
	$(B)/tests/memscan $(B)/tests/memscan_target $(B)/tests/p11_inproc $(B)/tests/p11_slow.so \
	$(B)/bench/pkcs11_rate \
	$(B)/tests/ttlv_tool $(B)/tests/kmip_client $(B)/tests/kms_threads $(B)/tests/kms_batch \
	$(FUZZERS:%=$(B)/fuzz/%)

# libhsmkey's KMS calls from threads sharing a handle (tests/host/test_kms.sh).
$(B)/tests/kms_threads: tests/host/kms_threads.c tools/libhsmkey/hsmkey/kms.h $(B)/libhsmkey.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -L$(B) -lhsmkey -Wl,-rpath,'$$ORIGIN/..' -lpthread

# libhsmkey's batches from the command line (tests/host/test_kms_batch.sh).
$(B)/tests/kms_batch: tests/host/kms_batch.c tools/libhsmkey/hsmkey/kms.h $(B)/libhsmkey.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -L$(B) -lhsmkey -Wl,-rpath,'$$ORIGIN/..'

# Installs what `make` built: the module under updates/ for modprobe (and
# autoloading by algorithm name), the daemon and the CLI.
# The module for KVER: built here, or by module-new in build/kmod-KVER.
KMOD_DIR = $(if $(wildcard $(B)/kmod-$(KVER)/hsmkey.ko),$(CURDIR)/$(B)/kmod-$(KVER),$(CURDIR))

install:
	@test -f $(KMOD_DIR)/hsmkey.ko -a -f $(B)/hsmkeyd || { echo "run make first"; exit 1; }
	$(MAKE) install-lib LDCONFIG=
	$(MAKE) -C $(KDIR) M=$(KMOD_DIR) INSTALL_MOD_DIR=updates modules_install
	depmod -a $(KVER)
	install -D -m 0755 $(B)/hsmkeyd $(DESTDIR)$(SBINDIR)/hsmkeyd
	install -D -m 0755 $(B)/hsmkeyctl $(DESTDIR)$(SBINDIR)/hsmkeyctl
	install -D -m 0644 daemon/hsmkeyd.service $(DESTDIR)/lib/systemd/system/hsmkeyd.service
	install -D -m 0644 daemon/hsmkeyd.8 $(DESTDIR)$(PREFIX)/share/man/man8/hsmkeyd.8
	install -D -m 0644 tools/hsmkeyctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/hsmkeyctl.8
	install -D -m 0644 daemon/hsmkeyd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/hsmkeyd.conf.5
	-ldconfig

# The library alone (libhsmkey, its headers, pkg-config file and man pages),
# for a package of its own or a DESTDIR (tests/host/test_libhsmkey.sh).
# ldconfig after installing for this system (no DESTDIR), as root only.
LDCONFIG ?= $(if $(filter 0,$(shell id -u)),ldconfig)
install-lib:
	@test -f $(B)/libhsmkey.so -a -f $(B)/hsmkey.pc || { echo "run make first"; exit 1; }
	install -D -m 0755 $(B)/$(LIBHSMKEY_SONAME) $(DESTDIR)$(LIBDIR)/$(LIBHSMKEY_SONAME)
	ln -sf $(LIBHSMKEY_SONAME) $(DESTDIR)$(LIBDIR)/libhsmkey.so
	install -D -m 0644 tools/libhsmkey/hsmkey/tls.h $(DESTDIR)$(INCLUDEDIR)/hsmkey/tls.h
	install -D -m 0644 tools/libhsmkey/hsmkey/kms.h $(DESTDIR)$(INCLUDEDIR)/hsmkey/kms.h
	install -D -m 0644 tools/libhsmkey/hsmkey_encrypt.3 \
		$(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_encrypt.3
	for f in hsmkey_decrypt hsmkey_re_encrypt hsmkey_encrypt_batch hsmkey_decrypt_batch \
		 hsmkey_open hsmkey_close hsmkey_error; do \
		ln -sf hsmkey_encrypt.3 $(DESTDIR)$(PREFIX)/share/man/man3/$$f.3; done
	install -D -m 0644 tools/libhsmkey/hsmkey_sign.3 \
		$(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_sign.3
	for f in hsmkey_verify hsmkey_public_key; do \
		ln -sf hsmkey_sign.3 $(DESTDIR)$(PREFIX)/share/man/man3/$$f.3; done
	install -D -m 0644 tools/libhsmkey/hsmkey_generate_data_key.3 \
		$(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_generate_data_key.3
	for f in hsmkey_generate_data_keys hsmkey_data_key_to_kernel hsmkey_unwrap_to_kernel; do \
		ln -sf hsmkey_generate_data_key.3 $(DESTDIR)$(PREFIX)/share/man/man3/$$f.3; done
	install -D -m 0644 tools/libhsmkey/hsmkey_encrypt_stream.3 \
		$(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_encrypt_stream.3
	ln -sf hsmkey_encrypt_stream.3 $(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_decrypt_stream.3
	install -D -m 0644 tools/libhsmkey/hsmkey_generate_mac.3 \
		$(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_generate_mac.3
	ln -sf hsmkey_generate_mac.3 $(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_verify_mac.3
	install -D -m 0644 tools/libhsmkey/hsmkey_generate_random.3 \
		$(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_generate_random.3
	install -D -m 0644 tools/libhsmkey/hsmkey-blob.5 \
		$(DESTDIR)$(PREFIX)/share/man/man5/hsmkey-blob.5
	install -D -m 0644 $(B)/hsmkey.pc $(DESTDIR)$(LIBDIR)/pkgconfig/hsmkey.pc
	install -D -m 0644 tools/libhsmkey/hsmkey_tls_handshake.3 \
		$(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_tls_handshake.3
	ln -sf hsmkey_tls_handshake.3 $(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_tls_read.3
	ln -sf hsmkey_tls_handshake.3 $(DESTDIR)$(PREFIX)/share/man/man3/hsmkey_tls_close_notify.3
	$(if $(LDCONFIG),@[ -n "$(DESTDIR)" ] || $(LDCONFIG))

dkms-install:
	dkms add $(CURDIR)
	dkms install hsmkey/$(HSMKEY_VERSION) -k $(KVER)

deps:
	tests/deps.sh

# The build on every CPU unless -j is given (serially, with the fuzzers, it
# takes minutes); the tests then run as tests/run schedules them.  A goal
# that builds (all, tests, ...) is not to be named beside these: its build
# would run at once with theirs in the same tree.
HSMKEY_JOBS ?= $(shell nproc)
BUILD_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(or $(HSMKEY_JOBS),1))
test:
	$(MAKE) $(BUILD_JOBS) all tests
	tests/run --full

test-quick:
	$(MAKE) $(BUILD_JOBS) all tests
	tests/run --quick

demo:
	$(MAKE) $(BUILD_JOBS) all
	tests/run --demo

style:
	$(LINUX_PARTS)/scripts/checkpatch.pl --no-tree --strict --show-types \
		--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f kmod/*.c kmod/*.h uapi/linux/hsmkey.h

# sparse over every kernel source file; any warning fails.
check:
	@mkdir -p $(B)
	$(MAKE) -C $(KDIR) M=$(CURDIR) HSMKEY_VERSION=$(HSMKEY_VERSION) C=2 \
		modules 2>&1 | tee $(B)/sparse.log
	@! grep -E 'warning:|error:' $(B)/sparse.log

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean || true
	rm -rf $(B)

print-kver:
	@echo $(KVER)

bench-tools: $(B)/bench/hsmkey_bench $(B)/bench/scale_client $(B)/bench/pkcs11_rate \
	$(B)/bench/ktls_bench $(B)/bench/handshake_bench $(B)/bench/kms_file_ref \
	$(B)/bench/kms_socket

# The KMS API's rate through its socket against an echo server's (bench/kms.sh).
$(B)/bench/kms_socket: bench/kms_socket.c bench/kms_floor.c bench/kms_socket.h \
		$(B)/daemon/nonce.o $(B)/tools/lib/fetched.o tools/libhsmkey/hsmkey/kms.h \
		$(B)/libhsmkey.so $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.c %.o %.a,$^) -L$(B) -lhsmkey -Wl,-rpath,'$$ORIGIN/..' -lpthread -lcrypto -ljson-c

# encrypt-file's reference: a file streamed through OpenSSL's EVP AES-256-GCM.
$(B)/bench/kms_file_ref: bench/kms_file_ref.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lcrypto

# Handshakes through hsmkeyd (libhsmkey) against OpenSSL's in-process.
$(B)/bench/handshake_bench: bench/handshake_bench.c tools/libhsmkey/hsmkey/tls.h $(B)/libhsmkey.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -L$(B) -lhsmkey -Wl,-rpath,'$$ORIGIN/..' -lssl -lcrypto -lpthread

# kTLS sendfile() keyed by session tokens (the daemon's installer) or by OpenSSL.
$(B)/bench/ktls_bench: bench/ktls_bench.c $(KTLS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libnl-genl-3.0) -o $@ $< $(KTLS_PARTS) \
		$(B)/libcommon.a $(LIBNL) -lssl -lcrypto -lpthread

# SoftHSM's own rate for the delivery calls: the PKCS#11 provisioning baseline.
$(B)/bench/pkcs11_rate: bench/pkcs11_rate.c $(P11_OPEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib -o $@ $(filter %.c %.a,$^) -ldl -lcrypto -lpthread

$(B)/bench/scale_client: bench/scale_client.c $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ -ljson-c -lcrypto

$(B)/bench/hsmkey_bench: bench/hsmkey_bench.c tests/guest/nltest.h tests/guest/algtest.h uapi/linux/hsmkey.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(LIBNL) -lcrypto -lpthread

# The benchmark: hsmkey against the stock kernel paths in one guest boot.
bench: all bench-tools
	bench/bench.sh

# The kernel netlink fuzzer for longer than make test runs it (N messages,
# SEED to replay), in a stock-kernel guest.
N ?= 1000000
fuzz-kernel: all tests
	@mkdir -p $(B)/fuzz-kernel
	@printf 'NL_FUZZ_N=%s\nNL_FUZZ_SEED=%s\n' '$(N)' '$(SEED)' > $(B)/fuzz-kernel/fuzz.env
	tests/qemu/boot.sh $(KVER) $(CURDIR)/$(B)/fuzz-kernel 7200 $(CURDIR)/tests/guest/fuzz_kernel.sh
	@cat $(B)/fuzz-kernel/output.txt; exit $$(cat $(B)/fuzz-kernel/cmd-rc.txt)

print-new-kver:
	@echo $(NEW_KVER)

# The module for another kernel (NEW_KVER: 6.12), built in a copy of the
# sources: build/kmod-<kver>.
module-new:
	@test -n "$(NEW_KVER)" || { echo "no 6.12 kernel with headers: make deps"; exit 1; }
	mkdir -p $(B)/kmod-$(NEW_KVER) && cp -a Kbuild kmod uapi $(B)/kmod-$(NEW_KVER)/
	$(MAKE) -C /lib/modules/$(NEW_KVER)/build M=$(CURDIR)/$(B)/kmod-$(NEW_KVER) \
		HSMKEY_VERSION=$(HSMKEY_VERSION) modules

# The token helper against SoftHSM2 (tests/lib/softhsm.sh); the test binary
# is also its own helper process (/proc/self/exe --pkcs11-helper).  One
# translation unit: test_hsm.c includes tests/host/hsm/*.
$(B)/tests/host/test_hsm: tests/host/test_hsm.c $(wildcard tests/host/hsm/*) \
		$(PKCS11_HELPER:%.c=$(B)/%.o) $(B)/daemon/pkcs11/verifiers.o \
		$(B)/daemon/identity.o $(B)/daemon/identity_rsa.o $(B)/libcommon.a \
		| $(B)/tests/p11_slow.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o %.a,$^) -lcrypto -ljson-c -ldl -lpthread \
		$(shell pkg-config --libs p11-kit-1)
