# NixOS module `services.ledger-agent`: runs `ledger-agent --config <file> run` on an
# appliance, with the file rendered from `settings` (contract B; nix/lib/settings.nix
# lists every key, its type and default; nix/lib/render.nix writes the TOML).
#
# Secrets never enter the Nix store: the enrolment token is a file path
# (`settings.enrolment_token_file`), and the appliance's signing key and credential are
# created by the agent in its data directory. The log key file holds the log's public
# verifier key (not a secret) and is pinned.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.ledger-agent;
  render = import ../lib/render.nix;
  settingsOptions = import ../lib/options.nix lib;

  configFile = pkgs.writeText "ledger-agent.toml" (render.agent cfg.settings);

  dataDir = cfg.settings.data_dir;
  stateDirectory = lib.removePrefix "/var/lib/" dataDir;
  underVarLib = lib.hasPrefix "/var/lib/" dataDir && stateDirectory != "";
  agent = "${cfg.package}/bin/ledger-agent";
in
{
  options.services.ledger-agent = {
    enable = lib.mkEnableOption "the Evidence Ledger appliance agent (ledger-agent)";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "Package providing `ledger-agent`.";
    };

    settings = settingsOptions (import ../lib/settings.nix).agent;

    user = lib.mkOption {
      type = lib.types.str;
      default = "ledger-agent";
      description = "System user (and group) the agent runs as; created by the module. It must be able to read `log_key_file` and `enrolment_token_file`, which must not be under /home or /root (the service runs with ProtectHome).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.settings.transport == "http" || cfg.settings.grpc_url != null;
        message = "services.ledger-agent.settings.grpc_url is required unless transport = \"http\".";
      }
    ];

    users.users.${cfg.user} = {
      isSystemUser = true;
      group = cfg.user;
      home = dataDir;
      description = "Evidence Ledger appliance agent";
    };
    users.groups.${cfg.user} = { };

    # For operator commands: `ledger-agent --config /etc/ledger-agent/agent.toml enrol`.
    environment.etc."ledger-agent/agent.toml".source = configFile;
    environment.systemPackages = [ cfg.package ];

    systemd.tmpfiles.rules = lib.optionals (!underVarLib) [ "d ${dataDir} 0700 ${cfg.user} ${cfg.user} -" ];

    systemd.services.ledger-agent = {
      description = "Evidence Ledger appliance agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      environment.LEDGER_AGENT_CONFIG = "${configFile}";
      serviceConfig = (import ./hardening.nix) // {
        Type = "simple";
        User = cfg.user;
        Group = cfg.user;
        # Checked on the appliance, where the key and token files exist.
        ExecStartPre = "${agent} check-config --config ${configFile}";
        ExecStart = "${agent} --config ${configFile} run";
        WorkingDirectory = dataDir;
        ReadWritePaths = [ dataDir ];
        TimeoutStopSec = 30;
      } // lib.optionalAttrs underVarLib {
        StateDirectory = stateDirectory;
        StateDirectoryMode = "0700";
      };
    };
  };
}
