#!/bin/bash
# t_kms on backend = kmip: the data keys of a KMS key a KMIP server
# (PyKMIP, started by the test) holds, into the kernel and through AF_ALG,
# with every check of t_kms.
HSMKEY_TEST_BACKEND=kmip exec "$(dirname "$0")/t_kms.sh"
