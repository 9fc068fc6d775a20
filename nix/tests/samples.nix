# Sample settings for nix/tests/check-config.sh: every key of settings.nix with a value
# different from the program's default, so the check feeds every option the modules
# offer to `ledgerd check-config` / `ledger-agent check-config`. `dir` is a scratch
# directory created by the script.
{ dir }:
let
  render = import ../lib/render.nix;
  inherit (render) settings;
  keys = schema: map (e: e.key) schema;
  pending = render.pendingKeys settings.ledgerd;

  ledgerdCore = {
    data_dir = "${dir}/ledgerd-data";
    origin = "ledger.example.org/log/2026";
    http_listen = "127.0.0.1:18080";
    grpc_listen = "127.0.0.1:18081";
    max_future_skew_secs = 120;
    enrolment_token_ttl_secs = 3600;
    max_batch_records = 1000;
    max_request_bytes = 8388608;
    retry_after_secs = 2;
    operator_site_id = "hq";
    operator_appliance_id = "ledger-operator-2026";
    sequencer_max_batch = 512;
    sequencer_max_delay_ms = 10;
    sequencer_queue_capacity = 2048;
    min_free_disk_mb = 512;
    public_entry_bundles = false;
    witness_policy = "/etc/evidence-ledger/witnesses.policy";
    witness_fail_closed = true;
    witness_timeout_ms = 800;
    witness_requests_per_day = 86400;
    witness_max_wait_ms = 3000;
    publish_bucket = "ledger-tiles";
    publish_endpoint = "http://127.0.0.1:7480";
    publish_region = "eu-test-1";
    publish_credentials_file = "/run/secrets/ledger-s3.env";
    publish_allow_http = true;
    publish_prefix = "log/2026";
    publish_entry_bundles = true;
    publish_interval_ms = 500;
  };
  # Contract C keys (anchoring: the lead; fleet: issue 7).
  ledgerdPending = {
    anchor_enabled = true;
    anchor_calendars = [ "https://a.pool.opentimestamps.org" "https://b.pool.opentimestamps.org" "http://127.0.0.1:14788" ];
    anchor_min_calendars = 2;
    anchor_interval_secs = 1800;
    anchor_every_entries = 50000;
    anchor_upgrade_interval_secs = 300;
    anchor_pending_alarm_secs = 43200;
    anchor_timeout_secs = 5;
    anchor_bitcoin_api = "https://blockstream.info/api";
    checkin_interval_secs = 30;
    stale_after_missed_checkins = 4;
    promotion_min_occurrences = 3;
    promotion_min_success_rate = 0.75;
  };
  agent = {
    data_dir = "${dir}/agent-data";
    server_url = "http://127.0.0.1:18080";
    grpc_url = "http://127.0.0.1:18081";
    transport = "grpc";
    log_key_file = "${dir}/log-key";
    site_id = "clinic-1";
    appliance_id = "box-1";
    batch_size = 128;
    max_backoff_secs = 120;
    checkin_interval_secs = 30;
    retention_days = 14;
    enrolment_token_file = "${dir}/enrolment-token";
    witness_policy = "${dir}/agent-witnesses.policy";
  };

  sameKeys = what: a: b:
    let sort = builtins.sort builtins.lessThan;
    in if sort a == sort b then true
       else throw "samples.nix: the ${what} samples do not cover exactly the keys of settings.nix";
in
assert sameKeys "ledgerd" (builtins.attrNames ledgerdCore ++ builtins.attrNames ledgerdPending) (keys settings.ledgerd);
assert sameKeys "contract C" (builtins.attrNames ledgerdPending) pending;
assert sameKeys "agent" (builtins.attrNames agent) (keys settings.agent);
{
  inherit pending;
  # Every key ledgerd accepts in this branch.
  ledgerdCore = render.ledgerd ledgerdCore;
  # ... plus the contract C keys.
  ledgerdFull = render.ledgerd (ledgerdCore // ledgerdPending);
  agent = render.agent agent;
  # Deliberately bad values the programs must refuse (exit 2). Written without the Nix
  # checks, which refuse them too (see nixRefuses*).
  ledgerdBad = render.toTOML (ledgerdCore // { sequencer_max_batch = 0; });
  agentBad = render.toTOML (agent // { batch_size = 0; });
  nixRefusesLedgerd = render.ledgerd (ledgerdCore // { sequencer_max_batch = 0; });
  nixRefusesAgent = render.agent (agent // { batch_size = 0; });
  nixRefusesSecretInStore = render.agent (agent // { enrolment_token_file = "/nix/store/0000-token"; });
  nixRefusesUnknown = render.ledgerd (ledgerdCore // { colour = "red"; });
}
