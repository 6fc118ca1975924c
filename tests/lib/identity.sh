# Shared by the identity key tests (sourced after daemon.sh).

# pubkey_of NAME: the public key PEM hsmkeyd shows for key NAME.
pubkey_of() {
	ctl --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"], end="")'
}
# same_pubkey A B: two PEM public keys are the same key (DER compared).
same_pubkey() {
	cmp -s <(openssl pkey -pubin -in "$1" -outform DER) <(openssl pkey -pubin -in "$2" -outform DER)
}
