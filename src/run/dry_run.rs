//! `--dry-run`: the whole file read and checked, its rows counted and the calls a run would
//! need estimated, without a call and without writing a file. `report::DryRun` says it.

use super::{files, survey, RunError};
use crate::cli::Settings;
use crate::input::InputReader;
use crate::report::Pace;
use crate::store::{Store, StoreReader};
use crate::util::clock::unix_now;

/// Counts the input, prints the estimate (and with `--summary`, writes it as JSON) and returns
/// the exit code.
pub(super) fn dry_run(settings: &Settings, input: &mut InputReader) -> Result<i32, RunError> {
    let mut store = dry_run_store(settings)?;
    let store = store.as_mut().map(|reader| {
        let limits = survey::limits(settings, reader);
        (reader, limits)
    });
    let counts = survey::survey(input, settings.luhn, store, Some(settings))?;
    let pace = Pace {
        rate: settings.pacer.rate,
        concurrency: settings.pool.concurrency,
        price_per_call: settings.price_per_call,
    };
    print!(
        "{}",
        counts.render(&settings.input.source.to_string(), pace)
    );
    if let Some(path) = &settings.summary {
        if let Err(e) = files::write_summary(path, &counts.summary(pace)) {
            tracing::warn!(summary = %path.display(), error = %e, "Could not write the dry run's summary.");
        }
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::input::level::Limits;
    use crate::input::LuhnMode;
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
        let counts = survey::survey(&mut input(), LuhnMode::Warn, None, None).unwrap();
        assert_eq!(counts.rows, 6);
        assert_eq!(counts.invalid(), 2, "{:?}", counts.invalid_by_reason);
        assert_eq!(counts.duplicates, 1);
        // The card failing the Luhn check is still sent under --luhn warn.
        assert_eq!(counts.distinct_cards, 3);
        assert_eq!(counts.luhn_warnings, 1);
        assert_eq!(counts.plan, None);
        assert_eq!(counts.calls_needed(), 3);
        let rejected = survey::survey(&mut input(), LuhnMode::Reject, None, None).unwrap();
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
        let mut reader = reader;
        let limits = Limits {
            max_age: 3600,
            max_stale: 3600,
            since_previous: 60,
            capacity: None,
            level: true,
        };
        let counts = survey::survey(
            &mut input(),
            LuhnMode::Warn,
            Some((&mut reader, limits)),
            None,
        )
        .unwrap();
        let plan = counts.plan.unwrap();
        // Three distinct cards, one stored a moment ago: a minute's share of an hour's level
        // refreshes none of it early.
        assert_eq!((plan.from_store, plan.new, plan.refreshed_early), (1, 2, 0));
        assert_eq!(counts.calls_needed(), 2);
    }
}
