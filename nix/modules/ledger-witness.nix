# NixOS module `services.ledger-witness`: runs `ledger-witness serve`, a C2SP
# tlog-witness that cosigns the checkpoints of the logs it trusts and keeps its state in
# one SQLite file in the state directory (/var/lib/ledger-witness).
#
# The witness key is a secret and never enters the Nix store. Either `keyFile` names an
# existing key file (made once with `ledger-witness keygen --name NAME --key FILE`),
# handed to the service with systemd's LoadCredential so it may be readable by root
# only; or `keyFile` is null and the service creates a key named `name` in its state
# directory on first start. The verifier key to give to log operators is printed by
# `ledger-witness vkey --key <file>` and logged at every start.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.ledger-witness;
  witness = "${cfg.package}/bin/ledger-witness";
  stateDir = "/var/lib/ledger-witness";

  logsFile =
    if cfg.logsFile != null then cfg.logsFile
    else pkgs.writeText "ledger-witness-logs.policy"
      (lib.concatMapStrings (vkey: "log ${vkey}\n") cfg.logs + "quorum none\n");

  keyPath = if cfg.keyFile != null then "$CREDENTIALS_DIRECTORY/witness-key" else "${stateDir}/witness.key";

  start = pkgs.writeShellScript "ledger-witness-start" ''
    set -eu
    ${lib.optionalString (cfg.keyFile == null) ''
      if [ ! -e ${keyPath} ]; then
        ${witness} keygen --name ${lib.escapeShellArg cfg.name} --key ${keyPath}
      fi
    ''}
    exec ${witness} serve --key "${keyPath}" --state ${stateDir}/state.sqlite \
      --logs ${logsFile} --listen ${lib.escapeShellArg cfg.listen}
  '';
in
{
  options.services.ledger-witness = {
    enable = lib.mkEnableOption "the Evidence Ledger tlog-witness (ledger-witness)";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "Package providing `ledger-witness`.";
    };

    name = lib.mkOption {
      type = lib.types.str;
      default = "";
      example = "witness.example.org";
      description = "Name of the key the service creates when `keyFile` is null (no spaces, no `+`).";
    };

    keyFile = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "/.*");
      default = null;
      example = "/run/secrets/ledger-witness.key";
      description = ''
        An existing witness key file (from `ledger-witness keygen`), passed with systemd
        LoadCredential. A path string, never a Nix path: it must not be copied into the
        Nix store. When null, a key named `name` is created in ${stateDir} on first start.
      '';
    };

    logs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "example.org/log+1234abcd+AQ..." ];
      description = "Verifier keys of the trusted logs (`log <vkey>` lines of the policy file written for the service).";
    };

    logsFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      description = "A tlog-policy file of trusted logs, used instead of `logs` when set.";
    };

    listen = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1:7380";
      description = "Address and port `serve` listens on (plain HTTP; put TLS in front).";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the listen port in the firewall.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.logsFile != null || cfg.logs != [ ];
        message = "services.ledger-witness: set `logs` or `logsFile`; a witness needs at least one trusted log.";
      }
      {
        assertion = cfg.keyFile != null || builtins.match "[^+[:space:]]+" cfg.name != null;
        message = "services.ledger-witness: set `name` (no spaces, no `+`), or `keyFile`.";
      }
    ];

    environment.systemPackages = [ cfg.package ];

    networking.firewall.allowedTCPPorts =
      lib.optional cfg.openFirewall (lib.toInt (lib.last (lib.splitString ":" cfg.listen)));

    systemd.services.ledger-witness = {
      description = "Evidence Ledger tlog-witness";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      serviceConfig = (import ./hardening.nix) // {
        Type = "simple";
        DynamicUser = true;
        StateDirectory = "ledger-witness";
        StateDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        ExecStart = start;
        # SIGTERM lets the server finish the requests in flight; SQLite commits are
        # atomic, so a stop at any moment leaves a consistent state.
        TimeoutStopSec = 30;
      } // lib.optionalAttrs (cfg.keyFile != null) {
        LoadCredential = [ "witness-key:${cfg.keyFile}" ];
      };
    };
  };
}
