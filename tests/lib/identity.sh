# Shared by the identity key tests (sourced after daemon.sh).

# pubkey_of NAME: the public key PEM hsmkeyd shows for key NAME.
pubkey_of() {
	ctl --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"], end="")'
}
# same_pubkey A B: two PEM public keys are the same key (DER compared).
same_pubkey() {
	cmp -s <(openssl pkey -pubin -in "$1" -outform DER) <(openssl pkey -pubin -in "$2" -outform DER)
}
# openssl_verifies MD PUB MSG SIG: OpenSSL accepts SIG of MSG under the public key PUB,
# over digest MD (sha256, sha384), or for an Ed25519 key (MD empty) over the message itself.
openssl_verifies() {
	if [[ -n $1 ]]; then
		openssl dgst "-$1" -verify "$2" -signature "$4" "$3" > /dev/null 2>&1
	else
		openssl pkeyutl -verify -pubin -inkey "$2" -rawin -in "$3" -sigfile "$4" > /dev/null 2>&1
	fi
}
