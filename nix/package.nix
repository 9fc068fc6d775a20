# The Evidence Ledger binaries: `ledgerd` (server), `ledger-load` (load generator),
# `ledger-verify` (offline verifier), `ledger-agent` (appliance agent) and `ledger-witness`
# (witness server), built from the workspace with the committed Cargo.lock.
#
# Usage: `pkgs.callPackage ./nix/package.nix { }` (the modules default to that).
{ lib, rustPlatform, protobuf }:

rustPlatform.buildRustPackage {
  pname = "evidence-ledger";
  version = "0.1.0";

  # The workspace without build outputs, VCS data and editor files.
  src = lib.cleanSourceWith {
    src = lib.cleanSource ../.;
    filter = path: type:
      let base = baseNameOf path;
      in !(type == "directory" && (base == "target" || base == "data" || base == "fuzz"));
  };

  cargoLock.lockFile = ../Cargo.lock;

  # bindgenHook points bindgen (librocksdb-sys) at libclang and the C headers; protoc
  # generates the gRPC code of `api` (tonic-build).
  nativeBuildInputs = [ rustPlatform.bindgenHook protobuf ];

  cargoBuildFlags = [ "--workspace" "--bins" ];

  # Tests are off in the package build: several start servers on 127.0.0.1 sockets, kill
  # child processes with SIGKILL, and read ../shared/vectors outside the source tree,
  # which the build sandbox does not provide. They run in CI (.ci/run: scripts/test).
  doCheck = false;

  meta = {
    description = "Verifiable append-only Merkle log for compliance evidence: ledgerd, ledger-agent, ledger-verify, ledger-witness";
    license = lib.licenses.asl20;
    mainProgram = "ledgerd";
    platforms = lib.platforms.linux;
  };
}
