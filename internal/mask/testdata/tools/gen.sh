#!/bin/sh
# Regenerates the outputs of real tools that TestToolOutputs masks: run it
# from anywhere, with GNU coreutils, openssl and python3 on the PATH, and
# commit what changes.
#
# base64-wW-N.txt is printf '%0Nd%s' 0 "$SECRET" | base64 -wW: the secret at
# byte offset N (45, 46 and 47 are the three alignments), wrapped at W
# columns (76 is base64's default); openssl-N.txt is openssl base64 (64
# columns); *-crlf-* has Windows line ends. python.txt has one line per
# urllib.parse and html escaper: "name: output".
set -eu
cd "$(dirname "$0")"
SECRET='Tr0ub4dor&3 "horse"/<staple>'\''s+%é~'
printf '%s' "$SECRET" >secret.txt
for n in 45 46 47; do
	for w in 76 16 17; do
		printf "%0${n}d%s" 0 "$SECRET" | base64 -w"$w" >"base64-w$w-$n.txt"
	done
	printf "%0${n}d%s" 0 "$SECRET" | openssl base64 >"openssl-$n.txt"
	printf "%0${n}d%s" 0 "$SECRET" | base64 -w16 | sed 's/$/\r/' >"base64-crlf-w16-$n.txt"
done
SECRET="$SECRET" python3 - >python.txt <<'PY'
import html, os, urllib.parse
s = os.environ["SECRET"]
print("quote:", urllib.parse.quote(s))
print("quote_plus:", urllib.parse.quote_plus(s))
print("quote_safe_none:", urllib.parse.quote(s, safe=""))
print("html.escape:", html.escape(s))
print("html.escape_noquote:", html.escape(s, quote=False))
PY
