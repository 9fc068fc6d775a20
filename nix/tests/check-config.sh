#!/usr/bin/env bash
# Checks that the configuration files the NixOS modules write are accepted by the
# programs, without nixpkgs and without network:
#   1. render both files from nix/tests/samples.nix (every key of nix/lib/settings.nix,
#      via nix/lib/render.nix, the same functions the modules call) with
#      `nix-instantiate --eval --strict`;
#   2. `ledgerd check-config --config F` must exit 0 on them and 2 on a bad value; the
#      admin hash is passed the way the module's start script passes it;
#   3. every key ledgerd's parser knows (the table in api/src/config/settings.rs) must be
#      a module setting (the crate's own tests also compare kinds and bounds);
#   4. the same for `ledger-agent check-config` (contract B);
#   5. the Nix-side checks refuse bad values, unknown keys and secrets in the store;
#   6. both modules evaluate against a stand-in for nixpkgs' lib (nix/tests/modules.nix)
#      and produce the expected options, command lines, sandbox and secret handling.
# Contract C keys (anchoring, fleet) are rendered too and must be accepted.
#
# Binaries: $LEDGERD / $LEDGER_AGENT, else built with `cargo test --workspace --no-run`
# in $CARGO_TARGET_DIR: the same feature resolution as `scripts/test`, so it reuses that
# build (`cargo build` resolves dev-dependency features differently and would compile
# RocksDB's C++ a second time, 12+ minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "FAIL: $*" >&2; exit 1; }

if [ -z "${LEDGERD:-}" ]; then
  target="${CARGO_TARGET_DIR:-$HOME/.cache/evidence-ledger-target}"
  cargo test --workspace --no-run --quiet
  LEDGERD="$target/debug/ledgerd"
  LEDGER_AGENT="${LEDGER_AGENT:-$target/debug/ledger-agent}"
fi
LEDGER_AGENT="${LEDGER_AGENT:-$(dirname "$LEDGERD")/ledger-agent}"
[ -x "$LEDGERD" ] || fail "ledgerd not found at $LEDGERD"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Evaluation touches no store: `--store dummy://` keeps Nix from opening /nix (works as
# any user, offline), and --json + python prints the rendered string verbatim.
nix_eval() {
  nix-instantiate --store dummy:// --eval --strict --json \
    --argstr dir "$tmp" nix/tests/samples.nix -A "$1"
}
render() {
  nix_eval "$1" | python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' > "$2"
}
# Runs a command, capturing its exit code in $code and its output in $out.
run() {
  set +e
  out="$("$@" 2>&1)"
  code=$?
  set -e
}
unset LEDGERD_CONFIG LEDGERD_DATA_DIR LEDGERD_ORIGIN LEDGERD_HTTP_LISTEN LEDGERD_GRPC_LISTEN \
  LEDGERD_ADMIN_TOKEN_SHA256 LEDGER_AGENT_CONFIG || true

echo "== nix: render the ledgerd configuration (every key ledgerd accepts today)"
render ledgerdCore "$tmp/ledgerd.toml"
run "$LEDGERD" check-config --config "$tmp/ledgerd.toml"
[ "$code" = 0 ] || fail "ledgerd check-config (exit $code): $out"
[ "$out" = "configuration is valid" ] || fail "unexpected output: $out"
echo "ok: ledgerd accepts $(wc -l < "$tmp/ledgerd.toml") rendered settings"

echo "== nix: the admin hash as the module's start script passes it"
printf 'adm_example' | sha256sum | cut -d' ' -f1 > "$tmp/admin.sha256"
LEDGERD_ADMIN_TOKEN_SHA256="$(tr -d ' \n' < "$tmp/admin.sha256")" \
  run "$LEDGERD" check-config --config "$tmp/ledgerd.toml"
[ "$code" = 0 ] || fail "ledgerd check-config with the admin hash (exit $code): $out"
LEDGERD_ADMIN_TOKEN_SHA256="not-a-hash" run "$LEDGERD" check-config --config "$tmp/ledgerd.toml"
[ "$code" = 2 ] || fail "a bad admin hash must exit 2, got $code: $out"
echo "ok"

echo "== nix: a bad ledgerd value exits 2"
render ledgerdBad "$tmp/ledgerd-bad.toml"
run "$LEDGERD" check-config --config "$tmp/ledgerd-bad.toml"
[ "$code" = 2 ] || fail "ledgerd check-config on sequencer_max_batch = 0 must exit 2, got $code: $out"
grep -q 'sequencer_max_batch' <<<"$out" || fail "the problem is not named: $out"
echo "ok"

echo "== nix: every key of ledgerd's parser is a module setting"
parser_keys="$(grep -oE '^    [a-z0-9_]+: [A-Za-z0-9<>]+ \{$' api/src/config/settings.rs | cut -d: -f1 | tr -d ' ' | sort -u)"
[ -n "$parser_keys" ] || fail "found no keys in api/src/config/settings.rs"
module_keys="$(nix-instantiate --store dummy:// --eval --strict --json \
  -E 'map (e: e.key) (import ./nix/lib/settings.nix).ledgerd' | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')"
for key in $parser_keys; do
  # The admin hash is deliberately not a setting: the module reads it from
  # adminTokenSha256File at start (LEDGERD_ADMIN_TOKEN_SHA256).
  [ "$key" = admin_token_sha256 ] && continue
  grep -qx "$key" <<<"$module_keys" || fail "ledgerd key \`$key\` has no module setting in nix/lib/settings.nix"
done
echo "ok: $(wc -w <<<"$parser_keys") parser keys"

echo "== nix: contract C keys"
pending="$(nix_eval pending | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))')"
render ledgerdFull "$tmp/ledgerd-full.toml"
run "$LEDGERD" check-config --config "$tmp/ledgerd-full.toml"
[ "$code" = 0 ] || fail "ledgerd check-config refuses the rendered anchoring/fleet keys (exit $code): $out"
echo "ok: ledgerd accepts the contract C keys too ($pending)"

echo "== nix: render the ledger-agent configuration (contract B)"
render agent "$tmp/agent.toml"
render agentBad "$tmp/agent-bad.toml"
if [ -x "$LEDGER_AGENT" ]; then
  "$LEDGERD" key --data-dir "$tmp/ledgerd-data" > "$tmp/log-key"
  echo "et-0001.$(printf %064d 0)" > "$tmp/enrolment-token"
  chmod 600 "$tmp/enrolment-token"
  run "$LEDGER_AGENT" check-config --config "$tmp/agent.toml"
  [ "$code" = 0 ] || fail "ledger-agent check-config (exit $code): $out"
  grep -qx 'configuration is valid' <<<"$out" || fail "unexpected output: $out"
  run "$LEDGER_AGENT" check-config --config "$tmp/agent-bad.toml"
  [ "$code" = 2 ] || fail "ledger-agent check-config on batch_size = 0 must exit 2, got $code: $out"
  grep -q 'batch_size' <<<"$out" || fail "the problem is not named: $out"
  echo "ok: ledger-agent accepts the rendered file and refuses batch_size = 0"
else
  fail "ledger-agent is not built ($LEDGER_AGENT missing); build the workspace (cargo test --workspace --no-run)"
fi

echo "== nix: the Nix-side checks refuse bad values"
for attr in nixRefusesLedgerd nixRefusesAgent nixRefusesSecretInStore nixRefusesUnknown; do
  run nix_eval "$attr"
  [ "$code" != 0 ] || fail "$attr evaluated: $out"
done
echo "ok"

echo "== nix: the modules evaluate (options, command lines, sandbox) against a stand-in lib"
nix-instantiate --store dummy:// --eval --strict nix/tests/modules.nix >/dev/null
echo "ok"
