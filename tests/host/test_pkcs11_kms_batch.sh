#!/bin/bash
# test_kms_batch.sh on backend = pkcs11: every check of it with the KMS keys in a
# SoftHSM2 token (tests/lib/daemon.sh, HSMKEY_TEST_BACKEND).
HSMKEY_TEST_BACKEND=pkcs11 exec "$(dirname "$0")/test_kms_batch.sh"
