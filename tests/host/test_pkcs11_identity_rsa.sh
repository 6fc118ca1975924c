#!/bin/bash
# test_identity_rsa.sh on backend = pkcs11: RSA keys made in and imported
# into a SoftHSM2 token, signing (PKCS #1 v1.5 and PSS) for openssl to
# verify and verifying OpenSSL's signatures, every check the same
# (tests/lib/daemon.sh, HSMKEY_TEST_BACKEND).
HSMKEY_TEST_BACKEND=pkcs11 exec "$(dirname "$0")/test_identity_rsa.sh"
