//! The demo's closing summary: what ledger-verify said, where every file is, and the
//! commands that repeat each step by hand.

use std::fmt::Write as _;

use crate::ledgerd::ORIGIN;
use crate::steps::{Agent, Demo, Outcome, Steps};

/// The summary printed after a successful run; `serving` says whether ledgerd keeps
/// running after it (`--serve`).
pub fn summary(demo: &Demo, steps: &Steps, outcome: &Outcome, serving: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "=== Evidence Ledger demo: all {} steps succeeded in {:.1} s ===",
        steps.done,
        steps.started.elapsed().as_secs_f64()
    );
    let _ = writeln!(s, "\nledger-verify said:\n{}", outcome.verdict.trim_end());
    write_console(&mut s, demo, outcome, serving);
    write_locations(&mut s, demo, outcome, serving);
    write_repeat_by_hand(&mut s, demo, outcome);
    s
}

fn write_console(s: &mut String, demo: &Demo, outcome: &Outcome, serving: bool) {
    let _ = writeln!(
        s,
        "\nWeb console (checks every proof it shows in your browser, docs/CONSOLE.md):"
    );
    let _ = writeln!(s, "  URL         {}/", demo.http);
    let _ = writeln!(
        s,
        "  read token  {}  (site {}; paste it at sign-in)",
        outcome.console_token, outcome.site
    );
    let _ = writeln!(s, "  log key     {}  (pin it under Settings)", demo.vkey);
    if !serving {
        let _ = writeln!(
            s,
            "  run with --serve to keep ledgerd running for the console after this summary, \
             or start it again with the first command under \"Repeat the steps by hand\""
        );
    }
}

fn write_locations(s: &mut String, demo: &Demo, outcome: &Outcome, serving: bool) {
    let state = if serving {
        "ledgerd and the calendar run until Ctrl-C"
    } else {
        "ledgerd and the calendar have stopped"
    };
    let _ = writeln!(s, "\nWhere everything is ({state}):");
    let _ = writeln!(s, "  files             {}", demo.root.display());
    let _ = writeln!(
        s,
        "  log data          {}",
        demo.root.join("ledgerd-data").display()
    );
    let _ = writeln!(s, "  log verifier key  {}", demo.vkey);
    let _ = writeln!(s, "  evidence package  {}", outcome.package.display());
    let _ = writeln!(s, "  block headers     {}", outcome.headers_file.display());
    let _ = writeln!(s, "  audit report      {}", outcome.report.display());
}

fn write_repeat_by_hand(s: &mut String, demo: &Demo, outcome: &Outcome) {
    let ledgerd = demo.binaries.ledgerd.display();
    let agent_bin = demo.binaries.agent.display();
    let data = demo.root.join("ledgerd-data");
    let _ = writeln!(s, "\nRepeat the steps by hand:");
    let _ = writeln!(
        s,
        "  {ledgerd} serve --data-dir {} --origin {ORIGIN} --anchor-enabled false --http-listen {} --grpc-listen {}",
        data.display(),
        demo.http.trim_start_matches("http://"),
        demo.grpc.trim_start_matches("http://")
    );
    let _ = writeln!(
        s,
        "    (the same ports as this run, which the agents' configuration files name)"
    );
    let Agent {
        appliance, config, ..
    } = &outcome.agents[0];
    let _ = writeln!(
        s,
        "  {agent_bin} --config {} record evidence {}",
        config.display(),
        config
            .parent()
            .unwrap_or(&demo.root)
            .join(format!("{appliance}-0-evidence.json"))
            .display()
    );
    let _ = writeln!(s, "  {agent_bin} --config {} run", config.display());
    let _ = writeln!(s, "  {agent_bin} --config {} status", config.display());
    let _ = writeln!(
        s,
        "  curl {http}/checkpoint   curl {http}/v1/anchors   (while ledgerd runs; ports change per run)",
        http = demo.http
    );
    let _ = writeln!(
        s,
        "  {ledgerd} export --data-dir {} --origin {ORIGIN} --sites {} --out /tmp/my-package",
        data.display(),
        outcome.site
    );
    let _ = writeln!(
        s,
        "  {} package {} --key '{}' --block-headers {}",
        demo.binaries.verify.display(),
        outcome.package.display(),
        demo.vkey,
        outcome.headers_file.display()
    );
    let _ = writeln!(
        s,
        "  {} report {} --key '{}' --block-headers {} --out /tmp/my-report.html",
        demo.binaries.verify.display(),
        outcome.package.display(),
        demo.vkey,
        outcome.headers_file.display()
    );
}
