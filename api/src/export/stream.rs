//! The export's walk over the query index and the log: which chains take part (one
//! aggregate query per site), then every record of their ranges in log order — a
//! merge of one keyset-paged scan per site — read from the log in runs of consecutive
//! indexes. Holds one page per site and one run of entries at a time.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use ledger::Log;
use ledger_index::{ExportChain, QueryIndex, SiteRecord};
use ledger_record::Id;
use verifier::package::{PackageSink, StreamWriter};

use super::{ExportError, Sources};

/// Rows fetched per page of a site's records.
const PAGE: usize = 8_192;

/// Which chains take part: per (site, appliance), the sequence range to export.
pub struct Plan {
    sites: Vec<String>,
    ranges: BTreeMap<(String, String), RangeInclusive<u64>>,
    highest: Option<u64>,
}

impl Plan {
    /// The highest log index of a selected record; `None` when nothing is selected.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    fn wants(&self, site: &str, r: &SiteRecord) -> bool {
        self.ranges
            .get(&(site.to_owned(), r.appliance.clone()))
            .is_some_and(|range| range.contains(&r.sequence))
    }
}

/// A chain (site, appliance) takes part when one of its records below `size` has an
/// appliance time inside the period; the package then holds every record of that chain
/// from the lowest to the highest in-period sequence — including records between them
/// whose clock was off — so the verifier can check the chain without holes.
pub fn plan(
    index: &QueryIndex,
    sites: &[Id],
    size: u64,
    period: &RangeInclusive<u64>,
) -> Result<Plan, ExportError> {
    let mut ranges = BTreeMap::new();
    let mut highest: Option<u64> = None;
    for site in sites {
        for chain in index.export_chains(site.as_str(), size, *period.start(), *period.end())? {
            let top = index.export_highest(&chain, size)?;
            highest = Some(highest.map_or(top, |h| h.max(top)));
            let ExportChain {
                site,
                appliance,
                first_sequence,
                last_sequence,
            } = chain;
            ranges.insert((site, appliance), first_sequence..=last_sequence);
        }
    }
    Ok(Plan {
        sites: sites.iter().map(|s| s.as_str().to_owned()).collect(),
        ranges,
        highest,
    })
}

/// Writes every key record below `size` (they go before the records).
pub fn write_keys<S: PackageSink>(
    src: &Sources<'_>,
    size: u64,
    writer: &mut StreamWriter<S>,
) -> Result<(), ExportError> {
    let mut keys = Vec::new();
    for index in src.index.key_record_indexes(size)? {
        keys.push((index, src.log.entry(index)?));
    }
    writer.keys(&keys, src.log.store())?;
    Ok(())
}

/// One site's records in log order, a page at a time.
struct SiteCursor<'a> {
    index: &'a QueryIndex,
    site: &'a str,
    below: u64,
    page: std::collections::VecDeque<SiteRecord>,
    after: Option<u64>,
    done: bool,
}

impl SiteCursor<'_> {
    fn peek(&mut self) -> Result<Option<&SiteRecord>, ExportError> {
        if self.page.is_empty() && !self.done {
            let rows = self
                .index
                .site_records_page(self.site, self.after, self.below, PAGE)?;
            self.done = rows.len() < PAGE;
            self.after = rows.last().map(|r| r.index).or(self.after);
            self.page.extend(rows);
        }
        Ok(self.page.front())
    }
}

/// Writes the selected records in log order: the sites' scans merged by log index,
/// the entries read in runs of consecutive indexes.
pub fn write_records<S: PackageSink>(
    src: &Sources<'_>,
    plan: &Plan,
    size: u64,
    writer: &mut StreamWriter<S>,
) -> Result<(), ExportError> {
    let mut cursors: Vec<SiteCursor<'_>> = plan
        .sites
        .iter()
        .map(|site| SiteCursor {
            index: src.index,
            site,
            below: size,
            page: Default::default(),
            after: None,
            done: false,
        })
        .collect();
    let mut run: Vec<u64> = Vec::with_capacity(Log::MAX_ENTRIES_PER_READ as usize);
    loop {
        let mut next: Option<(usize, u64)> = None;
        for (k, cursor) in cursors.iter_mut().enumerate() {
            if let Some(r) = cursor.peek()? {
                if next.is_none_or(|(_, i)| r.index < i) {
                    next = Some((k, r.index));
                }
            }
        }
        let Some((k, _)) = next else { break };
        let cursor = &mut cursors[k];
        let Some(record) = cursor.page.pop_front() else {
            break;
        };
        if !plan.wants(cursor.site, &record) {
            continue;
        }
        let contiguous = run.last().is_none_or(|last| last + 1 == record.index);
        if !contiguous || run.len() as u64 >= Log::MAX_ENTRIES_PER_READ {
            write_run(src, &run, writer)?;
            run.clear();
        }
        run.push(record.index);
    }
    write_run(src, &run, writer)
}

/// Reads the consecutive indexes `run` with one log read and hands them to the writer.
fn write_run<S: PackageSink>(
    src: &Sources<'_>,
    run: &[u64],
    writer: &mut StreamWriter<S>,
) -> Result<(), ExportError> {
    let (Some(&first), Some(&last)) = (run.first(), run.last()) else {
        return Ok(());
    };
    let entries = src.log.entries(first, last + 1)?;
    for (index, bytes) in (first..).zip(entries) {
        writer.add_record(index, bytes, src.log.store())?;
    }
    Ok(())
}
