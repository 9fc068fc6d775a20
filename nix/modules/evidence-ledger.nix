# NixOS module `services.evidence-ledger`: runs `ledgerd serve --config <file>` with the
# file rendered from `settings` (nix/lib/settings.nix lists every key, its type and its
# default; nix/lib/render.nix writes the TOML). The configuration is checked with
# `ledgerd check-config` when the system is built.
#
# Secrets never enter the Nix store: the admin credential's SHA-256 is read at start from
# `adminTokenSha256File` (handed over with systemd's LoadCredential, so the file may be
# readable by root only); the log key and the operator key are created by ledgerd in the
# state directory on first start.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.evidence-ledger;
  render = import ../lib/render.nix;
  settingsOptions = import ../lib/options.nix lib;

  rendered = pkgs.writeText "ledgerd.toml" (render.ledgerd cfg.settings);
  configFile =
    if cfg.checkConfig then
      pkgs.runCommand "ledgerd-checked.toml" { } ''
        ${cfg.package}/bin/ledgerd check-config --config ${rendered}
        cp ${rendered} $out
      ''
    else rendered;

  dataDir = cfg.settings.data_dir;
  # /var/lib/NAME becomes the StateDirectory (created with the right owner and mode).
  stateDirectory = lib.removePrefix "/var/lib/" dataDir;
  underVarLib = lib.hasPrefix "/var/lib/" dataDir && stateDirectory != "";

  portOf = listen: lib.toInt (lib.last (lib.splitString ":" listen));
  httpListen = if cfg.settings.http_listen == null then "127.0.0.1:8080" else cfg.settings.http_listen;
  grpcListen = if cfg.settings.grpc_listen == null then "127.0.0.1:8081" else cfg.settings.grpc_listen;

  start = pkgs.writeShellScript "ledgerd-start" ''
    set -eu
    ${lib.optionalString (cfg.adminTokenSha256File != null) ''
      LEDGERD_ADMIN_TOKEN_SHA256="$(${pkgs.coreutils}/bin/tr -d ' \n' < "$CREDENTIALS_DIRECTORY/admin-token-sha256")"
      export LEDGERD_ADMIN_TOKEN_SHA256
    ''}
    exec ${cfg.package}/bin/ledgerd serve --config ${configFile}
  '';
in
{
  options.services.evidence-ledger = {
    enable = lib.mkEnableOption "the Evidence Ledger server (ledgerd)";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "Package providing `ledgerd`.";
    };

    settings = settingsOptions (import ../lib/settings.nix).ledgerd;

    adminTokenSha256File = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "/.*");
      default = null;
      example = "/run/secrets/ledgerd-admin-sha256";
      description = ''
        File holding the SHA-256 (64 hex digits) of the admin credential, read at every
        start (systemd LoadCredential, so it may be readable by root only). Generate one
        with `head -c 32 /dev/urandom | xxd -p -c 64 | sed 's/^/adm_/'` and hash it with
        `printf %s "$TOKEN" | sha256sum`. When null, ledgerd creates a credential on
        first start and leaves it in `<data_dir>/admin.token` (mode 0600) for the
        operator to collect. A path string, never a Nix path: it must not be copied into
        the Nix store.
      '';
    };

    backupDirectory = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "/.*");
      default = null;
      example = "/var/backup/evidence-ledger";
      description = ''
        Directory (owned by the service user) where `ledgerd backup --to DIR` may write
        online backups; added to the service's writable paths, since the sandbox
        (ProtectSystem=strict) allows writes nowhere else. The sandbox makes every
        writable path its own mount, across which hard links fail, so RocksDB copies
        the SST files; a directory inside the data directory (e.g.
        /var/lib/evidence-ledger/backups) gets hard links instead (instant, no extra
        space until the log compacts) and needs no entry here. See docs/OPERATIONS.md.
      '';
    };

    checkConfig = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Run `ledgerd check-config` on the rendered file when the system is built.";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the HTTP and gRPC ports in the firewall (listen on a public address too).";
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = "evidence-ledger";
      description = "System user (and group) the server runs as; created by the module.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.adminTokenSha256File == null || !(lib.hasPrefix builtins.storeDir cfg.adminTokenSha256File);
        message = "services.evidence-ledger.adminTokenSha256File must not be in the Nix store.";
      }
    ];

    users.users.${cfg.user} = {
      isSystemUser = true;
      group = cfg.user;
      home = dataDir;
      description = "Evidence Ledger server";
    };
    users.groups.${cfg.user} = { };

    # The rendered file, for operator commands on the host:
    # `ledgerd backup --config /etc/evidence-ledger/ledgerd.toml --to DIR`.
    environment.etc."evidence-ledger/ledgerd.toml".source = configFile;
    environment.systemPackages = [ cfg.package ];

    networking.firewall.allowedTCPPorts =
      lib.mkIf cfg.openFirewall [ (portOf httpListen) (portOf grpcListen) ];

    systemd.tmpfiles.rules = lib.optionals (!underVarLib) [ "d ${dataDir} 0700 ${cfg.user} ${cfg.user} -" ]
      ++ lib.optionals (cfg.backupDirectory != null) [ "d ${cfg.backupDirectory} 0700 ${cfg.user} ${cfg.user} -" ];

    systemd.services.evidence-ledger = {
      description = "Evidence Ledger server (ledgerd)";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      environment.LEDGERD_LOG = lib.mkDefault "info";
      serviceConfig = (import ./hardening.nix) // {
        Type = "simple";
        User = cfg.user;
        Group = cfg.user;
        ExecStart = start;
        WorkingDirectory = dataDir;
        ReadWritePaths = [ dataDir ] ++ lib.optional (cfg.backupDirectory != null) cfg.backupDirectory;
        LoadCredential = lib.optional (cfg.adminTokenSha256File != null)
          "admin-token-sha256:${cfg.adminTokenSha256File}";
        # RocksDB keeps many SST files open.
        LimitNOFILE = 65536;
        # SIGTERM: stop accepting, answer everything queued, close the log.
        KillSignal = "SIGTERM";
        TimeoutStopSec = 60;
      } // lib.optionalAttrs underVarLib {
        StateDirectory = stateDirectory;
        StateDirectoryMode = "0700";
      };
    };
  };
}
