#!/bin/bash
# Install every Debian 12 package that building, running and testing hsmkey
# need.  Safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
	# build: the module against Debian's stock kernel, and the userspace
	build-essential make gcc pkg-config kmod linux-headers-amd64
	libnl-3-dev libnl-genl-3-dev libssl-dev libjson-c-dev
	libdevmapper-dev libkeyutils-dev
	# kernel tooling: kselftest_harness.h and checkpatch.pl from the
	# kernel source, sparse, DKMS
	linux-source-6.1 xz-utils sparse perl dkms
	# the debug kernel build
	flex bison bc libelf-dev
	# the test guest: Debian's stock kernel under QEMU, root over 9p
	linux-image-amd64 qemu-system-x86 busybox-static cpio gzip
	# the newer kernel the module also builds and boots on (bookworm-security)
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	# libFuzzer targets
	clang libclang-rt-14-dev
	# what the tests drive
	cryptsetup-bin dmsetup keyutils util-linux python3 iproute2 fio
	# the PKCS#11 backend: p11-kit (URIs, the proxy and the RPC server),
	# SoftHSM2 as the token, PyKCS11 and pkcs11-tool as reference clients
	libp11-kit-dev p11-kit p11-kit-modules softhsm2 python3-pykcs11 opensc
	# python cryptography: AES-KW in the reference checks; gdb holds the
	# helper mid-import for a memory scan (test_p11_scan)
	python3-cryptography gdb
	# strace: the audit log's group commit, checked on the daemon's
	# system calls (test_audit_sync)
	strace
	# the KMIP client: PyKMIP as the key server and the reference client
	python3-pykmip
	# kTLS peers: OpenSSL's s_client/s_server (openssl) and GnuTLS's gnutls-cli
	openssl gnutls-bin
)
apt-get update
apt-get install -y --no-install-recommends "${packages[@]}"
