# The settings of `ledgerd` and `ledger-agent` as data: TOML key, type, default and
# description. This one list is the source of both the NixOS options (modules/*.nix turn
# each entry into a typed, documented `lib.mkOption`) and the configuration file
# (render.nix), so the two cannot drift apart, and nix/tests/check-config.sh can render
# and check the files without nixpkgs.
#
# Option names are the TOML keys themselves (`services.evidence-ledger.settings.origin`
# is `origin` in the file). `default = null` leaves the key out of the file, so the
# program's own default applies; the description names that default. Sources of truth:
# the table in api/src/config/settings.rs (ledgerd) and contract B (ledger-agent).
#
# Types: "str", "id" (1..128 of [A-Za-z0-9._:-]), "absPath", "listen" (ADDRESS:PORT),
# "url" (http:// or https://), "urlList", "int" (with min/max), "float" (with min/max),
# "bool", "enum" (with values). `secret = true` marks files that must not be in the Nix
# store. `pending` marks keys another work stream adds to the program (see below).
let
  int = min: max: { type = "int"; inherit min max; };
in
{
  ledgerd = [
    { key = "data_dir"; type = "absPath"; default = "/var/lib/evidence-ledger";
      description = "Data directory: RocksDB log (db/), log key (log.key), operator key (operator.key), credentials (ledgerd.sqlite), query index (index.sqlite). The module makes it the service's StateDirectory when it is under /var/lib."; }
    { key = "origin"; type = "str"; default = null; required = true;
      description = "Checkpoint origin line and log key name, e.g. `ledger.example.org/log/2026`; no spaces or `+`. Fixed for the life of a log: a new origin is a new log (docs/OPERATIONS.md)."; }
    { key = "http_listen"; type = "listen"; default = null;
      description = "HTTP listen address. Default (null): 127.0.0.1:8080."; }
    { key = "grpc_listen"; type = "listen"; default = null;
      description = "gRPC listen address, a different port from HTTP. Default (null): 127.0.0.1:8081."; }
    ({ key = "max_future_skew_secs"; default = null;
      description = "Largest lead of a record's appliance time over the server clock, in seconds; records further ahead are refused. Default (null): 300."; } // int 0 604800)
    ({ key = "enrolment_token_ttl_secs"; default = null;
      description = "Lifetime of enrolment tokens when the request names none, in seconds. Default (null): 86400."; } // int 1 31536000)
    ({ key = "max_batch_records"; default = null;
      description = "Most records in one append request (HTTP batch or gRPC message). Default (null): 4096."; } // int 1 65536)
    ({ key = "max_request_bytes"; default = null;
      description = "Largest HTTP request body in bytes. Default (null): 16777216."; } // int 65536 1073741824)
    ({ key = "retry_after_secs"; default = null;
      description = "Seconds sent in Retry-After when the append queue is full. Default (null): 1."; } // int 1 3600)
    { key = "operator_site_id"; type = "id"; default = null;
      description = "Site id of the operator's own chain (enrolments, revocations); no appliance may use it. Default (null): operator."; }
    { key = "operator_appliance_id"; type = "id"; default = null;
      description = "Appliance id of the operator's own chain. Default (null): ledger-operator."; }
    ({ key = "sequencer_max_batch"; default = null;
      description = "A group commit closes at this many entries. Default (null): 1024."; } // int 1 1048576)
    ({ key = "sequencer_max_delay_ms"; default = null;
      description = "... or this many milliseconds after its first entry. Default (null): 5."; } // int 0 10000)
    ({ key = "sequencer_queue_capacity"; default = null;
      description = "Append requests that may wait; beyond this appends get 503 / UNAVAILABLE. Default (null): 4096."; } // int 1 1048576)
    ({ key = "min_free_disk_mb"; default = null;
      description = "Free space (MiB) the data directory must keep; below it appends get 507 / RESOURCE_EXHAUSTED and resume once space is freed. 0 disables the check. Default (null): 256."; } // int 0 1073741824)
    { key = "public_entry_bundles"; type = "bool"; default = null;
      description = "Serve entry bundles (/tile/entries/..., record contents of every site) without the admin credential. Default (null): false."; }

    # Contract C, anchoring (added to ledgerd by the lead in parallel with this module).
    { key = "anchor_enabled"; type = "bool"; default = null; pending = "anchoring";
      description = "Stamp checkpoints with OpenTimestamps. Default (null): true."; }
    { key = "anchor_calendars"; type = "urlList"; default = null; pending = "anchoring";
      description = "OpenTimestamps calendar URLs. Default (null): the four public calendars (a.pool.opentimestamps.org, b.pool.opentimestamps.org, a.pool.eternitywall.com, ots.btc.catallaxy.com)."; }
    ({ key = "anchor_min_calendars"; default = null; pending = "anchoring";
      description = "Calendars that must answer for a stamp to count. Default (null): 2."; } // int 1 null)
    ({ key = "anchor_interval_secs"; default = null; pending = "anchoring";
      description = "Stamp the latest checkpoint at least this often, in seconds. Default (null): 3600."; } // int 1 null)
    ({ key = "anchor_every_entries"; default = null; pending = "anchoring";
      description = "... or after this many new entries. Default (null): 100000."; } // int 1 null)
    ({ key = "anchor_upgrade_interval_secs"; default = null; pending = "anchoring";
      description = "How often pending stamps are upgraded from the calendars, in seconds. Default (null): 600."; } // int 1 null)
    ({ key = "anchor_pending_alarm_secs"; default = null; pending = "anchoring";
      description = "Alarm when a stamp stays pending longer than this, in seconds. Default (null): 86400."; } // int 1 null)
    ({ key = "anchor_timeout_secs"; default = null; pending = "anchoring";
      description = "Timeout of one calendar request, in seconds. Default (null): 10."; } // int 1 null)
    { key = "anchor_bitcoin_api"; type = "url"; default = null; pending = "anchoring";
      description = "Esplora-compatible Bitcoin API (e.g. https://blockstream.info/api) whose block headers must match a stamp's Bitcoin attestation before ledgerd calls it complete. Default (null): no header check."; }
    # Witnesses (C2SP tlog-witness): the policy file names the witnesses and the quorum.
    { key = "witness_policy"; type = "absPath"; default = null;
      description = "C2SP tlog-policy file naming the witnesses (with submission URLs) that cosign checkpoints and the quorum; receipts, /checkpoint and anchors then use the latest checkpoint meeting it. Default (null): no witnesses."; }
    { key = "witness_fail_closed"; type = "bool"; default = null;
      description = "Answer appends only once a cosigned checkpoint covers them (503 after witness_max_wait_ms); false answers at once, over the latest cosigned checkpoint if it covers the records, else over the log's own. Default (null): false."; }
    ({ key = "witness_timeout_ms"; default = null;
      description = "Timeout of each add-checkpoint request, in milliseconds. Default (null): 1000."; } // int 10 60000)
    ({ key = "witness_requests_per_day"; default = null;
      description = "Most add-checkpoint requests per witness per day. Default (null): 8640000 (100 a second, for witnesses run for this log; public witnesses ask for far fewer)."; } // int 1 86400000)
    ({ key = "witness_max_wait_ms"; default = null;
      description = "Fail-closed: how long an append waits for a covering cosigned checkpoint before the 503, in milliseconds. Default (null): 5000."; } // int 0 600000)
    # Publisher: the public read side copied to an S3-compatible bucket (docs/SCALE_OUT.md).
    { key = "publish_bucket"; type = "str"; default = null;
      description = "S3 bucket the C2SP tlog-tiles tiles, the checkpoint, complete stamps and (with publish_entry_bundles) entry bundles are copied to. Default (null): nothing is published."; }
    { key = "publish_endpoint"; type = "url"; default = null;
      description = "S3 endpoint, e.g. http://127.0.0.1:7480 for Ceph RGW or MinIO. Default (null): AWS_ENDPOINT_URL, else AWS S3 of the region."; }
    { key = "publish_region"; type = "str"; default = null;
      description = "The bucket's region. Default (null): AWS_REGION, else us-east-1."; }
    { key = "publish_credentials_file"; type = "absPath"; default = null; secret = true;
      description = "File (mode 0600) with AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines. A secret: give a path outside the Nix store. Default (null): the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables."; }
    { key = "publish_allow_http"; type = "bool"; default = null;
      description = "Accept a plain http:// publish_endpoint. Default (null): false."; }
    { key = "publish_prefix"; type = "str"; default = null;
      description = "Key prefix inside the bucket, e.g. log/2026. Default (null): the bucket's root."; }
    { key = "publish_entry_bundles"; type = "bool"; default = null;
      description = "Also publish entry bundles (record contents of every site). Default (null): false."; }
    ({ key = "publish_interval_ms"; default = null;
      description = "How often the publisher looks for a newer checkpoint, in milliseconds; also the first retry delay (doubled up to 30 s). Default (null): 200."; } // int 10 60000)
    # Contract C, fleet (issue 7, another work stream).
    ({ key = "checkin_interval_secs"; default = null; pending = "fleet";
      description = "Check-in period the appliances are expected to keep, in seconds. Default (null): 60."; } // int 1 null)
    ({ key = "stale_after_missed_checkins"; default = null; pending = "fleet";
      description = "An appliance is stale after this many missed check-ins. Default (null): 3."; } // int 1 null)
    ({ key = "promotion_min_occurrences"; default = null; pending = "fleet";
      description = "Healing pattern promotion: fewest occurrences. Default (null): 5."; } // int 1 null)
    { key = "promotion_min_success_rate"; type = "float"; min = 0.0; max = 1.0; default = null; pending = "fleet";
      description = "Healing pattern promotion: lowest success rate, 0 to 1. Default (null): 0.9."; }
  ];

  # Contract B.
  agent = [
    { key = "data_dir"; type = "absPath"; default = "/var/lib/ledger-agent";
      description = "Outbox (SQLite), appliance key file, credential and saved evidence. The module makes it the service's StateDirectory when it is under /var/lib."; }
    { key = "server_url"; type = "url"; default = null; required = true;
      description = "ledgerd's HTTP base URL, e.g. https://ledger.example.org."; }
    { key = "grpc_url"; type = "url"; default = null;
      description = "ledgerd's gRPC URL; required when transport is grpc."; }
    { key = "transport"; type = "enum"; values = [ "grpc" "http" ]; default = null;
      description = "Upload transport; HTTP is the fallback. Default (null): grpc."; }
    { key = "log_key_file"; type = "absPath"; default = null; required = true;
      description = "File holding the log's C2SP verifier key string (name+hex+base64), pinned: receipts are checked against it."; }
    { key = "site_id"; type = "id"; default = null; required = true;
      description = "This appliance's site."; }
    { key = "appliance_id"; type = "id"; default = null; required = true;
      description = "This appliance's id."; }
    ({ key = "batch_size"; default = null;
      description = "Records per upload request. Default (null): 256."; } // int 1 4096)
    ({ key = "max_backoff_secs"; default = null;
      description = "Cap of the exponential retry backoff (with jitter), in seconds. Default (null): 300."; } // int 1 null)
    ({ key = "checkin_interval_secs"; default = null;
      description = "Heartbeat (check-in) period, in seconds. Default (null): 60."; } // int 1 null)
    ({ key = "retention_days"; default = null;
      description = "Delivered records older than this are pruned from the outbox. Default (null): 30."; } // int 1 null)
    { key = "enrolment_token_file"; type = "absPath"; default = null; secret = true;
      description = "File with the one-time enrolment token used by `ledger-agent enrol` when --token is not given. A secret: give a path outside the Nix store (e.g. provisioned by agenix/sops-nix or by hand, mode 0400)."; }
    { key = "witness_policy"; type = "absPath"; default = null;
      description = "C2SP tlog-policy file: a receipt is accepted only once its checkpoint is cosigned by the policy's witness quorum (docs/WITNESSES.md). Default (null): no witnesses required."; }
  ];
}
