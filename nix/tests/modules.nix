# Evaluates both NixOS modules against nix/tests/mock-lib.nix with sample settings and
# checks what they produce: an option for every key of settings.nix, the rendered file
# handed to the program, the command lines, the sandbox, and secrets passed as paths.
# Result: `true`, or an evaluation error listing the failed checks.
let
  mock = import ./mock-lib.nix;
  inherit (mock) lib pkgs;
  render = import ../lib/render.nix;
  settings = import ../lib/settings.nix;
  defaults = schema: builtins.listToAttrs (map (e: { name = e.key; value = e.default; }) schema);
  keys = schema: builtins.sort builtins.lessThan (map (e: e.key) schema);
  package = { outPath = "/nix/store/mock-evidence-ledger"; };

  ledgerdSettings = defaults settings.ledgerd // {
    origin = "ledger.example.org/log/2026";
    http_listen = "0.0.0.0:8080";
    grpc_listen = "0.0.0.0:8081";
  };
  server = import ../modules/evidence-ledger.nix {
    inherit lib pkgs;
    config.services.evidence-ledger = {
      enable = true; inherit package; settings = ledgerdSettings;
      adminTokenSha256File = "/run/secrets/admin-sha256";
      backupDirectory = "/var/backup/evidence-ledger";
      checkConfig = true; openFirewall = true; user = "evidence-ledger";
    };
  };
  sc = server.config.systemd.services.evidence-ledger.serviceConfig;
  checked = server.config.environment.etc."evidence-ledger/ledgerd.toml".source;

  agentSettings = defaults settings.agent // {
    server_url = "https://ledger.example.org";
    grpc_url = "https://ledger.example.org:8443";
    log_key_file = "/etc/ledger-agent/log-key";
    site_id = "clinic-1";
    appliance_id = "box-1";
    enrolment_token_file = "/run/secrets/enrolment-token";
  };
  appliance = import ../modules/ledger-agent.nix {
    inherit lib pkgs;
    config.services.ledger-agent = {
      enable = true; inherit package; settings = agentSettings; user = "ledger-agent";
    };
  };
  ac = appliance.config.systemd.services.ledger-agent.serviceConfig;
  agentFile = appliance.config.environment.etc."ledger-agent/agent.toml".source;

  contains = needle: hay: builtins.match ".*${needle}.*" hay != null;
  hardened = c:
    c.ProtectSystem == "strict" && c.ProtectHome && c.PrivateTmp && c.NoNewPrivileges
    && c.CapabilityBoundingSet == "" && c.RestrictAddressFamilies == [ "AF_INET" "AF_INET6" "AF_UNIX" ]
    && c.Restart == "on-failure";

  checks = {
    "every ledgerd key is an option" =
      builtins.sort builtins.lessThan (builtins.attrNames server.options.services.evidence-ledger.settings) == keys settings.ledgerd;
    "every agent key is an option" =
      builtins.sort builtins.lessThan (builtins.attrNames appliance.options.services.ledger-agent.settings) == keys settings.agent;
    "ledgerd options have types and descriptions" =
      builtins.all (o: o ? type && o ? description) (builtins.attrValues server.options.services.evidence-ledger.settings);
    "origin has no default (required)" = !(server.options.services.evidence-ledger.settings.origin ? default);
    "the checked file is the rendered one" = contains "check-config --config /nix/store/mock-ledgerd.toml" checked.script;
    "the rendered ledgerd file" = (pkgs.writeText "x" (render.ledgerd ledgerdSettings)).text
      == "data_dir = \"/var/lib/evidence-ledger\"\ngrpc_listen = \"0.0.0.0:8081\"\nhttp_listen = \"0.0.0.0:8080\"\norigin = \"ledger.example.org/log/2026\"\n";
    "ledgerd serve with the checked file" = contains "exec /nix/store/mock-evidence-ledger/bin/ledgerd serve --config /nix/store/mock-ledgerd-checked.toml" sc.ExecStart.text;
    "admin hash via LoadCredential" = sc.LoadCredential == [ "admin-token-sha256:/run/secrets/admin-sha256" ]
      && contains "CREDENTIALS_DIRECTORY/admin-token-sha256" sc.ExecStart.text;
    "state directory" = sc.StateDirectory == "evidence-ledger" && sc.StateDirectoryMode == "0700";
    "backup directory writable" = builtins.elem "/var/backup/evidence-ledger" sc.ReadWritePaths;
    "firewall ports" = server.config.networking.firewall.allowedTCPPorts == [ 8080 8081 ];
    "ledgerd hardened" = hardened sc && sc.User == "evidence-ledger";
    "agent run" = ac.ExecStart == "/nix/store/mock-evidence-ledger/bin/ledger-agent --config /nix/store/mock-ledger-agent.toml run";
    "agent checks its config first" = ac.ExecStartPre == "/nix/store/mock-evidence-ledger/bin/ledger-agent check-config --config /nix/store/mock-ledger-agent.toml";
    "the rendered agent file" = agentFile.text == render.agent agentSettings
      && contains "enrolment_token_file = \"/run/secrets/enrolment-token\"" agentFile.text;
    "agent hardened" = hardened ac && ac.User == "ledger-agent" && ac.StateDirectory == "ledger-agent";
    "agent grpc_url assertion holds" = builtins.all (a: a.assertion) appliance.config.assertions;
  };
  failed = builtins.filter (name: !checks.${name}) (builtins.attrNames checks);
in
if failed == [ ] then true
else throw "module checks failed:\n  - ${builtins.concatStringsSep "\n  - " failed}"
