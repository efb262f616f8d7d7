#!/bin/sh
# otactl external signer, protocol 1: the 32-byte release digest on
# standard input, the signature as openssl writes it on standard output.
# Use: --sign 'exec:openssl-signer.sh KEY.pem' --signer-pubkey KEY.pub
set -eu
key=$1
in=$(mktemp)
trap 'rm -f "$in"' EXIT
cat > "$in"   # openssl signs Ed25519 from a file only, not a pipe
case "$OTACTL_SIGNER_ALG" in
ecdsa-p256) openssl pkeyutl -sign -inkey "$key" -rawin -digest sha256 -in "$in" ;;
ed25519)    openssl pkeyutl -sign -inkey "$key" -rawin -in "$in" ;;
*) echo "unsupported algorithm $OTACTL_SIGNER_ALG" >&2; exit 1 ;;
esac
