//! Which cards this run has seen and where their result is kept, so that every card is paid
//! for once: a map from the card packed into a u64 to the journal offset of its result
//! (about 36 bytes a distinct card at a million cards, the hash table's slack included).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// The card's call is queued or in flight; its result is not in the journal yet.
const PENDING: u64 = u64::MAX;
/// A row of this run has taken the journaled result as its own (the others are duplicates).
const CLAIMED: u64 = 1 << 63;

/// What a row should do about its card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// First sight of the card: call the API.
    Call,
    /// An earlier row of this run has (or will have) the answer: copy it, attempts 0.
    Duplicate,
    /// An earlier, interrupted run already paid for it: take its result with its attempts.
    Journaled,
}

/// The map is split in this many shards, each growing on its own. A single table doubles by
/// allocating the new one while the old is still full: at a million cards that held 53 MB for
/// a moment instead of 36. Split, the moment costs one shard's worth.
const SHARDS: usize = 64;

type Shard = HashMap<u64, u64, BuildHasherDefault<CardHasher>>;

pub(crate) struct CardIndex {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for CardIndex {
    fn default() -> CardIndex {
        CardIndex {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl CardIndex {
    pub(crate) fn new() -> CardIndex {
        CardIndex::default()
    }

    pub(crate) fn claim(&self, code: u64) -> Claim {
        let mut map = self.lock(code);
        match map.entry(code) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(PENDING);
                Claim::Call
            }
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                let value = *slot.get();
                if value == PENDING || value & CLAIMED != 0 {
                    Claim::Duplicate
                } else {
                    slot.insert(value | CLAIMED);
                    Claim::Journaled
                }
            }
        }
    }

    /// This run's call for `code` got its result, kept at `offset`.
    pub(crate) fn record(&self, code: u64, offset: u64) {
        self.lock(code).insert(code, offset | CLAIMED);
    }

    /// A result from an earlier run of the same job, not yet taken by a row of this run.
    pub(crate) fn preload(&self, code: u64, offset: u64) {
        self.lock(code).insert(code, offset);
    }

    /// Where the result for `code` is kept, once there is one.
    pub(crate) fn location(&self, code: u64) -> Option<u64> {
        match self.lock(code).get(&code) {
            Some(&PENDING) | None => None,
            Some(&value) => Some(value & !CLAIMED),
        }
    }

    /// Distinct cards seen.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    fn lock(&self, code: u64) -> std::sync::MutexGuard<'_, Shard> {
        // A multiplier unrelated to the table's own hash, so that the cards of one shard still
        // spread over all of its buckets.
        let shard = (code.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 58) as usize % SHARDS;
        lock(&self.shards[shard])
    }
}

fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|p| p.into_inner())
}

/// The keys are already well-spread numbers; one multiply-and-fold is enough, and far cheaper
/// than SipHash on the per-row path.
#[derive(Default)]
pub(crate) struct CardHasher(u64);

impl Hasher for CardHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, value: u64) {
        let product = u128::from(value ^ self.0) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sight_calls_then_duplicates() {
        let index = CardIndex::new();
        assert_eq!(index.claim(7), Claim::Call);
        assert_eq!(index.claim(7), Claim::Duplicate);
        assert_eq!(index.location(7), None);
        index.record(7, 42);
        assert_eq!(index.location(7), Some(42));
        assert_eq!(index.claim(7), Claim::Duplicate);
    }

    #[test]
    fn cards_spread_over_the_shards() {
        let index = CardIndex::new();
        for code in 0..64_000u64 {
            assert_eq!(index.claim(code * 10 + 7), Claim::Call);
        }
        assert_eq!(index.len(), 64_000);
        let sizes: Vec<usize> = index.shards.iter().map(|s| lock(s).len()).collect();
        assert!(
            sizes.iter().all(|&n| (800..1_200).contains(&n)),
            "{sizes:?}"
        );
        assert_eq!(index.claim(7), Claim::Duplicate);
    }

    #[test]
    fn journaled_results_are_taken_once_then_duplicated() {
        let index = CardIndex::new();
        index.preload(9, 100);
        assert_eq!(index.claim(9), Claim::Journaled);
        assert_eq!(index.claim(9), Claim::Duplicate);
        assert_eq!(index.location(9), Some(100));
    }
}
