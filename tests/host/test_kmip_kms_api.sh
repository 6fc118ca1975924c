#!/bin/bash
# test_kms.sh on backend = kmip: every check of it with the KMS and
# identity keys held by a PyKMIP server (tests/lib/daemon.sh,
# HSMKEY_TEST_BACKEND); test_kmip_kms.sh checks the server's side.
HSMKEY_TEST_BACKEND=kmip exec "$(dirname "$0")/test_kms.sh"
