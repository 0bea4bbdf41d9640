#!/bin/sh
# gen-signatures.sh regenerates signatures.json: for every payload under
# payloads/<provider>/, the signature header its provider would send, computed
# by openssl (not by hooklane) over the file's exact bytes. The Go tests check
# the provider package against these values.
#
# Usage: sh testdata/gen-signatures.sh   (from any directory)
set -eu
cd "$(dirname "$0")"

# The Meta test vector published in the specs (protocols.md, section 2).
vector_file=meta/vector.json
vector_secret=app_secret_123
vector_want=sha256=02fe0c96d28c59ddb7cf81eff0ca05809b360ba73b63c28210b5906a0a107d1f

# hmac_hex SECRET FILE prints the lowercase hex HMAC-SHA256 of FILE's bytes.
hmac_hex() {
	openssl dgst -sha256 -hmac "$1" -hex <"$2" | awk '{print $NF}'
}

out=signatures.json.tmp
trap 'rm -f "$out"' EXIT
sep=''
printf '[\n' >"$out"
for path in payloads/*/*.json; do
	file=${path#payloads/}
	provider=${file%%/*}
	case $provider in
	platica) header=X-Webhook-Signature prefix=sha256= secret=platica-test-secret ;;
	meta) header=X-Hub-Signature-256 prefix=sha256= secret=meta-test-app-secret ;;
	whatzmeapi) header=X-Signature prefix=sha256= secret=whatzmeapi-test-secret ;;
	whapi) header=X-Whapi-Signature prefix= secret=whapi-test-secret ;;
	*) echo "gen-signatures: unknown provider directory $provider" >&2; exit 1 ;;
	esac
	if [ "$file" = "$vector_file" ]; then
		secret=$vector_secret
	fi
	signature=$prefix$(hmac_hex "$secret" "$path")
	if [ "$file" = "$vector_file" ] && [ "$signature" != "$vector_want" ]; then
		echo "gen-signatures: $file signs to $signature, want $vector_want" >&2
		exit 1
	fi
	printf '%s  {"file": "%s", "provider": "%s", "header": "%s", "secret": "%s", "signature": "%s"}' \
		"$sep" "$file" "$provider" "$header" "$secret" "$signature" >>"$out"
	sep=',
'
done
printf '\n]\n' >>"$out"
mv "$out" signatures.json
trap - EXIT
