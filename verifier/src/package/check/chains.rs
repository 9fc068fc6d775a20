//! Per-appliance completeness (docs/EVIDENCE_PACKAGE.md §6.5, §6.6): the chain checker's
//! findings in words with their evidence, each chain's records against its declared
//! sequence range, records outside the declared sites and chains, and the summary of each
//! chain the report lists.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use ledger_record::{ChainFinding, ChainId, ChainSummary};

use crate::package::report::{ApplianceSummary, Finding, FindingCode};
use crate::package::ChainBounds;

/// Where a chain's records were found in the log.
#[derive(Default)]
pub(super) struct ChainSeen {
    pub(super) first_index: Option<u64>,
    pub(super) last_index: Option<u64>,
}

/// A finding of the chain checker, with its evidence in words.
pub(super) fn chain_finding(finding: ChainFinding) -> Finding {
    match finding {
        ChainFinding::Gap {
            chain,
            missing,
            before_log_index,
            after_log_index,
        } => gap_finding(chain, missing, before_log_index, after_log_index),
        ChainFinding::Fork {
            chain,
            sequence,
            log_index,
            found_prev,
            expected_prev,
            prev_log_index,
        } => at_record(
            FindingCode::ChainFork,
            format!(
                "the record links to previous hash {found_prev}, but sequence {} ({}) hashes to {expected_prev}",
                sequence.saturating_sub(1),
                index_or_head(prev_log_index)
            ),
            chain,
            sequence,
            log_index,
        ),
        ChainFinding::Conflict {
            chain,
            sequence,
            log_index,
            hash,
            first_log_index,
            first_hash,
        } => at_record(
            FindingCode::ChainConflict,
            format!(
                "a second record {hash} with this sequence; the first, {first_hash}, is at {}",
                index_or_head(first_log_index)
            ),
            chain,
            sequence,
            log_index,
        ),
        ChainFinding::Duplicate {
            chain,
            sequence,
            log_index,
            first_log_index,
        } => at_record(
            FindingCode::ChainDuplicate,
            format!(
                "the same record is already at {}",
                index_or_head(first_log_index)
            ),
            chain,
            sequence,
            log_index,
        ),
        ChainFinding::Reordered {
            chain,
            sequence,
            log_index,
            after_sequence,
            after_log_index,
        } => at_record(
            FindingCode::ChainReordered,
            format!(
                "logged after sequence {after_sequence} ({}) of the same appliance",
                index_or_head(after_log_index)
            ),
            chain,
            sequence,
            log_index,
        ),
    }
}

/// A log index in words; none means the declared head a chain resumed from.
fn index_or_head(log_index: Option<u64>) -> String {
    log_index.map_or_else(
        || "the declared head".to_owned(),
        |index| format!("log index {index}"),
    )
}

/// A finding about one record of a chain.
fn at_record(
    code: FindingCode,
    message: String,
    chain: ChainId,
    sequence: u64,
    log_index: u64,
) -> Finding {
    Finding::new(code, message)
        .at(log_index)
        .chain(chain)
        .sequence(sequence)
}

/// Missing sequences, with the log indexes of the records around them.
fn gap_finding(
    chain: ChainId,
    missing: RangeInclusive<u64>,
    before_log_index: Option<u64>,
    after_log_index: Option<u64>,
) -> Finding {
    let (first, last) = (*missing.start(), *missing.end());
    let mut message = if first == last {
        format!("sequence {first} is missing")
    } else {
        format!("sequences {first} to {last} are missing")
    };
    match (before_log_index, after_log_index) {
        (Some(before), Some(after)) => message.push_str(&format!(
            " between log index {before} and log index {after}"
        )),
        (None, Some(after)) => message.push_str(&format!(" before log index {after}")),
        (Some(before), None) => message.push_str(&format!(" after log index {before}")),
        (None, None) => {}
    }
    let mut finding = Finding::new(FindingCode::ChainGap, message)
        .chain(chain)
        .sequence(first);
    finding.log_index = after_log_index;
    finding
}

/// A chain whose records do not end at the declared last sequence.
pub(super) fn bounds_finding(summary: &ChainSummary, declared: &ChainBounds) -> Option<Finding> {
    if summary.last_sequence < declared.last_sequence {
        Some(
            Finding::new(
                FindingCode::ChainBounds,
                format!(
                    "the manifest declares sequences {} to {}, but the package's records end at sequence {}",
                    declared.first_sequence, declared.last_sequence, summary.last_sequence
                ),
            )
            .chain(&summary.chain)
            .sequence(summary.last_sequence.saturating_add(1)),
        )
    } else if summary.last_sequence > declared.last_sequence {
        Some(
            Finding::new(
                FindingCode::ChainBounds,
                format!(
                    "records up to sequence {} go beyond the declared last sequence {}",
                    summary.last_sequence, declared.last_sequence
                ),
            )
            .chain(&summary.chain)
            .sequence(declared.last_sequence.saturating_add(1)),
        )
    } else {
        None
    }
}

/// The report's line for one chain.
pub(super) fn appliance_summary(
    summary: &ChainSummary,
    seen: Option<&ChainSeen>,
) -> ApplianceSummary {
    ApplianceSummary {
        site_id: summary.chain.site_id.to_string(),
        appliance_id: summary.chain.appliance_id.to_string(),
        first_sequence: summary.first_sequence,
        last_sequence: summary.last_sequence,
        records: summary.records,
        head_hash: summary.head_hash.to_string(),
        first_log_index: seen.and_then(|s| s.first_index),
        last_log_index: seen.and_then(|s| s.last_index),
    }
}

/// Records of sites the manifest does not list: (count, first log index) per site.
pub(super) fn out_of_scope_findings(
    out_of_scope: BTreeMap<String, (u64, u64)>,
) -> impl Iterator<Item = Finding> {
    out_of_scope.into_iter().map(|(site, (count, first))| {
        Finding::new(
            FindingCode::OutOfScope,
            format!("{count} record(s) of site {site}, which the manifest does not list"),
        )
        .at(first)
    })
}

/// Records of chains the manifest does not declare: (count, first log index) per chain.
pub(super) fn undeclared_findings(
    undeclared: BTreeMap<ChainId, (u64, u64)>,
) -> impl Iterator<Item = Finding> {
    undeclared.into_iter().map(|(chain, (count, first))| {
        Finding::new(
            FindingCode::UndeclaredChain,
            format!("{count} record(s) of an appliance chain the manifest does not declare"),
        )
        .at(first)
        .chain(chain)
    })
}
