#!/bin/bash
# test_kms_batch.sh on backend = kmip: every check of it with the KMS keys held
# by a PyKMIP server (tests/lib/daemon.sh, HSMKEY_TEST_BACKEND).
HSMKEY_TEST_BACKEND=kmip exec "$(dirname "$0")/test_kms_batch.sh"
