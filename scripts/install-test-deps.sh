#!/usr/bin/env bash
# Installs what the test suite's servers need when it is missing: Dovecot (IMAP) and openssl (certificates).
# Debian/Ubuntu, as root (CI runs as root). Idempotent: does nothing when everything is there.
set -euo pipefail

missing=()
if ! command -v dovecot >/dev/null && [ ! -x /usr/sbin/dovecot ]; then missing+=(dovecot-imapd); fi
if ! command -v openssl >/dev/null; then missing+=(openssl); fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "The test suite needs ${missing[*]}. As root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

# The package would start a system-wide Dovecot on 143/993; the tests run their own on high ports.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
fi

echo "installing ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
