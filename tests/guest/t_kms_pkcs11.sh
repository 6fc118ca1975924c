#!/bin/bash
# t_kms on backend = pkcs11: the data keys of a KMS key a SoftHSM2 token
# holds, into the kernel and through AF_ALG, with every check of t_kms.
HSMKEY_TEST_BACKEND=pkcs11 exec "$(dirname "$0")/t_kms.sh"
