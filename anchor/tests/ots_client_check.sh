#!/usr/bin/env bash
# Interop check: the official OpenTimestamps client (`ots info`, offline)
# must read the .ots files our serializer writes and print the attestations
# and operations we put in them.
#
# Usage: anchor/tests/ots_client_check.sh   (from anywhere; needs cargo and pip)
# Exits non-zero if `ots info` fails on a file or misses an expected line.
set -euo pipefail

crate_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v ots >/dev/null 2>&1; then
    echo "installing opentimestamps-client (pip)"
    pip install --quiet opentimestamps-client
fi
echo "using $(command -v ots) ($(ots --version 2>&1 | head -n1))"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

(cd "$crate_dir" && cargo run --quiet -p anchor --example write_samples -- "$out")

status=0
checked=0
files=0
declare -A info_of
while IFS=$'\t' read -r file expected; do
    [ -n "$file" ] || continue
    if [ -z "${info_of[$file]+set}" ]; then
        files=$((files + 1))
        if ! info_of[$file]="$(ots info "$out/$file" 2>&1)"; then
            echo "FAIL $file: ots info exited non-zero:"
            printf '%s\n' "${info_of[$file]}" | sed 's/^/     /'
            status=1
        fi
    fi
    checked=$((checked + 1))
    if grep -qxF -- "$expected" <(printf '%s\n' "${info_of[$file]}" | sed 's/^[ ->]*//'); then
        echo "ok   $file: $expected"
    else
        echo "FAIL $file: no line '$expected' in:"
        printf '%s\n' "${info_of[$file]}" | sed 's/^/     /'
        status=1
    fi
done < "$out/expected.tsv"

if [ "$checked" -eq 0 ]; then
    echo "FAIL: no expectations were written"
    exit 1
fi
echo "$files files, $checked expected lines, status $status"
exit "$status"
