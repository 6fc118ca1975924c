#!/bin/bash
# test_kms_mac.sh on backend = pkcs11: every check of it with the MAC keys
# in a SoftHSM2 token (tests/lib/daemon.sh, HSMKEY_TEST_BACKEND).
HSMKEY_TEST_BACKEND=pkcs11 exec "$(dirname "$0")/test_kms_mac.sh"
