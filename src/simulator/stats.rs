//! The simulator's counters and what `GET /stats` makes of them: calls per code and per card,
//! the peak in flight, the busiest second, so that tests and load runs can prove what a client did.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::faults::TransportFault;
use super::lock;
use crate::vendor;

/// What `GET /stats` returns: counters since the server started (`POST /reset` keeps them).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Stats {
    /// GET and POST requests to the query path, transport faults included.
    pub calls: u64,
    /// Calls answered with error_code 0.
    pub ok_calls: u64,
    /// Vendor answers by error_code (as a string, "0" included); transport faults are not here.
    pub by_code: BTreeMap<String, u64>,
    /// Calls hit by a transport fault: "http_502", "truncated", "reset", "slow" (all four present).
    pub transport_faults: BTreeMap<String, u64>,
    /// Calls per `bankcard` value, whatever the answer; calls without the field are left out.
    pub per_card: BTreeMap<String, u64>,
    /// Calls answered with error_code 0, per card.
    pub per_card_ok: BTreeMap<String, u64>,
    /// Query calls being handled right now.
    pub in_flight: u64,
    /// The most query calls handled at once, latency included.
    pub peak_in_flight: u64,
    /// The most query calls received in any sliding 1 s window.
    pub max_calls_in_1s: u64,
    /// When the first query call arrived, in milliseconds since the Unix epoch; `None` before
    /// any call. With `last_call_unix_ms` it gives a run's achieved rate and its start-up time.
    pub first_call_unix_ms: Option<u64>,
    /// When the latest query call arrived, in milliseconds since the Unix epoch.
    pub last_call_unix_ms: Option<u64>,
    /// Successful calls since the start or the last `POST /reset`.
    pub quota_used: u64,
    /// `POST /reset` requests seen.
    pub resets: u64,
    /// The day whose blacklists answer (`--day`, `POST /next-day`).
    pub day: u32,
}

/// Counters since the server started. Most are atomics; the maps that need a lock are held
/// only for a few map operations, never across an await.
#[derive(Default)]
pub(super) struct Counters {
    calls: AtomicU64,
    ok_calls: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    resets: AtomicU64,
    /// Arrival of the first and latest query call, ms since the Unix epoch; 0 = none yet.
    first_call_unix_ms: AtomicU64,
    last_call_unix_ms: AtomicU64,
    tallies: Mutex<Tallies>,
}

#[derive(Default, Debug)]
struct Tallies {
    by_code: HashMap<i64, u64>,
    transport_faults: [u64; 4],
    per_card: HashMap<String, CardTally>,
}

#[derive(Default, Debug)]
struct CardTally {
    calls: u64,
    ok: u64,
}

impl Counters {
    /// Counts a query call and returns its number, from 0.
    pub(super) fn next_call(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed)
    }

    /// Notes the wall-clock time of a call's arrival, for the first and latest call.
    pub(super) fn note_arrival_time(&self) {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let _ = self.first_call_unix_ms.compare_exchange(
            0,
            unix_ms,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.last_call_unix_ms.fetch_max(unix_ms, Ordering::Relaxed);
    }

    /// Counts a call as in flight until the returned guard is dropped.
    pub(super) fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    pub(super) fn count_ok(&self) {
        self.ok_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_reset(&self) {
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn tally_answer(&self, error_code: i64, card: Option<&str>) {
        let mut tallies = lock(&self.tallies);
        *tallies.by_code.entry(error_code).or_default() += 1;
        if let Some(card) = card {
            tallies.count_card(card, error_code == vendor::SUCCESS);
        }
    }

    pub(super) fn tally_fault(&self, fault: TransportFault, card: Option<&str>) {
        let mut tallies = lock(&self.tallies);
        tallies.transport_faults[fault as usize] += 1;
        if let Some(card) = card {
            tallies.count_card(card, false);
        }
    }

    /// The counters as `/stats` shows them, with the two figures kept elsewhere.
    pub(super) fn snapshot(&self, quota_used: u64, max_calls_in_1s: u64) -> Stats {
        let tallies = lock(&self.tallies);
        let by_code = tallies
            .by_code
            .iter()
            .map(|(code, count)| (code.to_string(), *count))
            .collect();
        let transport_faults = TransportFault::ALL
            .into_iter()
            .map(|fault| {
                let count = tallies.transport_faults[fault as usize];
                (fault.name().to_owned(), count)
            })
            .collect();
        let per_card = tallies
            .per_card
            .iter()
            .map(|(card, tally)| (card.clone(), tally.calls))
            .collect();
        let per_card_ok = tallies
            .per_card
            .iter()
            .filter(|(_, tally)| tally.ok > 0)
            .map(|(card, tally)| (card.clone(), tally.ok))
            .collect();
        Stats {
            calls: self.calls.load(Ordering::Relaxed),
            ok_calls: self.ok_calls.load(Ordering::Relaxed),
            by_code,
            transport_faults,
            per_card,
            per_card_ok,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            peak_in_flight: self.peak_in_flight.load(Ordering::Relaxed),
            max_calls_in_1s,
            first_call_unix_ms: nonzero(self.first_call_unix_ms.load(Ordering::Relaxed)),
            last_call_unix_ms: nonzero(self.last_call_unix_ms.load(Ordering::Relaxed)),
            quota_used,
            resets: self.resets.load(Ordering::Relaxed),
            day: 0,
        }
    }
}

impl Tallies {
    fn count_card(&mut self, card: &str, ok: bool) {
        let ok = u64::from(ok);
        // Looked up before inserting so that a repeated card costs no allocation.
        match self.per_card.get_mut(card) {
            Some(tally) => {
                tally.calls += 1;
                tally.ok += ok;
            }
            None => {
                self.per_card
                    .insert(card.to_owned(), CardTally { calls: 1, ok });
            }
        }
    }
}

/// Keeps `in_flight` right even when hyper drops a call whose client went away.
pub(super) struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn nonzero(value: u64) -> Option<u64> {
    (value != 0).then_some(value)
}
