//! `--dry-run`: the whole file read and checked, its rows counted and the calls a run would
//! need estimated, without a call and without writing a file. `report::DryRun` says it.

use std::sync::Arc;

use csv::ByteRecord;

use super::RunError;
use crate::cli::Settings;
use crate::dedup::{CardIndex, Claim};
use crate::input::planner::{Checked, LuhnMode, Planner};
use crate::input::InputReader;
use crate::report::{DryRun, Pace};
use crate::store::{Store, StoreReader};
use crate::util::clock::unix_now;

/// Counts the input, prints the estimate and returns the exit code.
pub(super) fn dry_run(settings: &Settings, input: &mut InputReader) -> Result<i32, RunError> {
    let store = dry_run_store(settings)?;
    let counts = count(input, settings.luhn, store)?;
    let pace = Pace {
        rate: settings.pacer.rate,
        concurrency: settings.pool.concurrency,
        price_per_call: settings.price_per_call,
    };
    print!(
        "{}",
        counts.render(&settings.input.source.to_string(), pace)
    );
    Ok(0)
}

/// The store a dry run looks cards up in: only an existing one, opened with its key, and only
/// when `--max-age` lets it answer. A dry run creates nothing.
fn dry_run_store(settings: &Settings) -> Result<Option<StoreReader>, RunError> {
    let Some(options) = &settings.store else {
        return Ok(None);
    };
    match Store::open_existing(options)? {
        Some(store) => {
            let reader = store.reader(unix_now())?;
            Ok(reader.reuses().then_some(reader))
        }
        None => Ok(None),
    }
}

/// Every row planned as a run would plan it: invalid by reason, duplicates, distinct cards, and
/// those the store would answer.
fn count(
    input: &mut InputReader,
    luhn: LuhnMode,
    mut store: Option<StoreReader>,
) -> Result<DryRun, RunError> {
    let distinct = Arc::new(CardIndex::new());
    let mut planner = Planner::new(&input.header, luhn, Arc::clone(&distinct), None);
    let mut record = ByteRecord::new();
    let mut counts = DryRun {
        from_store: store.as_ref().map(|_| 0),
        ..DryRun::default()
    };
    while input.next_row(&mut record)? {
        counts.rows += 1;
        match planner.check(&record, input.card_cell()) {
            Checked::Settled(outcome) => {
                let reason = outcome.reason.map_or("other", |r| r.as_str());
                *counts.invalid_by_reason.entry(reason).or_default() += 1;
            }
            Checked::Card(card) if distinct.claim(card.code()) != Claim::Call => {
                counts.duplicates += 1;
            }
            Checked::Card(card) => {
                if let (Some(store), Some(from_store)) = (&mut store, &mut counts.from_store) {
                    let key = store.key(&card);
                    if store.latest(&key)?.is_some_and(|l| store.is_fresh(&l)) {
                        *from_store += 1;
                    }
                }
            }
        }
    }
    counts.distinct_cards = distinct.len() as u64;
    counts.luhn_warnings = planner.luhn_warnings();
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use super::*;
    use crate::input::{EncodingChoice, InputOptions, InputSource};
    use crate::outcome::{Flags, StoredResult};
    use crate::store::{StoreOptions, StoreWriter, Update};

    const CARDS: &str = "id,card\n\
        1,6222024332181964\n\
        2,6228480402564890018\n\
        3,6222024332181964\n\
        4,\n\
        5,not a card\n\
        6,4111111111111112\n";

    fn input() -> InputReader {
        let options = InputOptions {
            source: InputSource::Stdin,
            column: None,
            no_header: false,
            delimiter: b',',
            encoding: EncodingChoice::Auto,
            sheet: None,
        };
        let source = std::io::Cursor::new(CARDS.as_bytes().to_vec());
        InputReader::from_stream(source, &options, Arc::new(AtomicU64::new(0))).unwrap()
    }

    #[test]
    fn every_row_is_counted_as_a_run_would_plan_it() {
        let counts = count(&mut input(), LuhnMode::Warn, None).unwrap();
        assert_eq!(counts.rows, 6);
        assert_eq!(counts.invalid(), 2, "{:?}", counts.invalid_by_reason);
        assert_eq!(counts.duplicates, 1);
        // The card failing the Luhn check is still sent under --luhn warn.
        assert_eq!(counts.distinct_cards, 3);
        assert_eq!(counts.luhn_warnings, 1);
        assert_eq!(counts.from_store, None);
        assert_eq!(counts.calls_needed(), 3);
        let rejected = count(&mut input(), LuhnMode::Reject, None).unwrap();
        assert_eq!((rejected.invalid(), rejected.calls_needed()), (3, 2));
    }

    #[tokio::test]
    async fn a_card_the_store_answers_needs_no_call() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::new(dir.path().join("s.db"), None, Duration::from_secs(3600));
        let store = Store::open(&options).unwrap();
        let now = unix_now();
        let writer = StoreWriter::start(&store, now).unwrap();
        let mut feed = writer.feed();
        let card = crate::card::clean("6228480402564890018").unwrap();
        feed.push(Update::Result {
            key: store.reader(now).unwrap().key(&card),
            result: StoredResult::Ok(Flags(0)),
            called: now,
            orderid: "JH1".into(),
        });
        feed.send().await.unwrap();
        drop(feed);
        writer.finish().await.unwrap();
        let reader = store.reader(now).unwrap();
        assert!(reader.reuses());
        let counts = count(&mut input(), LuhnMode::Warn, Some(reader)).unwrap();
        assert_eq!(counts.from_store, Some(1));
        assert_eq!(counts.calls_needed(), 2);
    }
}
