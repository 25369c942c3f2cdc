//! Which cards this run has seen and where their result is kept, so that every card is paid
//! for once: a map from the card packed into a u64 to the journal offset of its result.
//!
//! It is the one structure that grows with the file, so it is built for size: open addressing
//! in 64 shards, 13 bytes a slot (the card code, and a 40-bit value), between 64% and 85% full
//! (a shard grows by a third when full, not by doubling), so 15 to 20 bytes a distinct card
//! (18 to 22 measured, with what the allocator keeps). Each shard grows on its own, so growing
//! never holds two copies of the whole table at once.

use std::sync::{Mutex, MutexGuard};

use crate::util::hash::spread;

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

/// The value of a slot is 40 bits: a journal offset below `CLAIMED`, with `CLAIMED` set once a
/// row of this run has taken the result as its own (the other rows are duplicates), or
/// `PENDING` while the card's call is queued or in flight. Offsets up to 512 GiB fit.
const VALUE_BITS: u32 = 40;
const PENDING: u64 = (1 << VALUE_BITS) - 1;
const CLAIMED: u64 = 1 << (VALUE_BITS - 1);
const OFFSET_MASK: u64 = CLAIMED - 1;

/// Marks an empty slot: no card packs to it (codes end below 1.2 × 10^19).
const EMPTY: u64 = u64::MAX;

const SHARDS: usize = 64;
/// The first table of a shard that gets a card.
const MIN_SLOTS: usize = 16;
/// A shard grows when more than this share of its slots would be full. Linear probing stays
/// quick up to here: an insert at the fullest looks at about 20 slots, 3 cache lines of keys.
const MAX_LOAD: (usize, usize) = (17, 20);

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
        let mut shard = self.lock(code);
        let slot = shard.slot_for(code);
        if shard.keys[slot] == EMPTY {
            shard.fill(slot, code, PENDING);
            return Claim::Call;
        }
        let value = shard.value(slot);
        if value == PENDING || value & CLAIMED != 0 {
            Claim::Duplicate
        } else {
            shard.set_value(slot, value | CLAIMED);
            Claim::Journaled
        }
    }

    /// This run's call for `code` got its result, kept at `offset`.
    pub(crate) fn record(&self, code: u64, offset: u64) {
        self.insert(code, (offset & OFFSET_MASK) | CLAIMED);
    }

    /// A result from an earlier run of the same job, not yet taken by a row of this run.
    pub(crate) fn preload(&self, code: u64, offset: u64) {
        self.insert(code, offset & OFFSET_MASK);
    }

    /// Where the result for `code` is kept, once there is one.
    pub(crate) fn location(&self, code: u64) -> Option<u64> {
        let mut shard = self.lock(code);
        let slot = shard.slot_for(code);
        match shard.keys[slot] {
            EMPTY => None,
            _ => match shard.value(slot) {
                PENDING => None,
                value => Some(value & OFFSET_MASK),
            },
        }
    }

    fn insert(&self, code: u64, value: u64) {
        let mut shard = self.lock(code);
        let slot = shard.slot_for(code);
        if shard.keys[slot] == EMPTY {
            shard.fill(slot, code, value);
        } else {
            shard.set_value(slot, value);
        }
    }

    /// Distinct cards seen.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len).sum()
    }

    fn lock(&self, code: u64) -> MutexGuard<'_, Shard> {
        // A multiplier unrelated to the slot hash, so that the cards of one shard still spread
        // over all of its slots.
        let shard = (code.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 58) as usize % SHARDS;
        lock(&self.shards[shard])
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Every change to a shard is complete before its lock is released.
    shard.lock().unwrap_or_else(|p| p.into_inner())
}

/// One shard: linear probing over parallel arrays, so a slot costs 8 + 5 bytes and no padding.
#[derive(Default)]
struct Shard {
    keys: Vec<u64>,
    values: Vec<[u8; 5]>,
    len: usize,
}

impl Shard {
    /// The slot holding `code`, or the empty slot where it goes. Makes room first, so that an
    /// empty slot is always found.
    fn slot_for(&mut self, code: u64) -> usize {
        if (self.len + 1) * MAX_LOAD.1 > self.keys.len() * MAX_LOAD.0 {
            self.grow();
        }
        let mut slot = home(code, self.keys.len());
        loop {
            let key = self.keys[slot];
            if key == code || key == EMPTY {
                return slot;
            }
            slot = next(slot, self.keys.len());
        }
    }

    fn fill(&mut self, slot: usize, code: u64, value: u64) {
        self.keys[slot] = code;
        self.set_value(slot, value);
        self.len += 1;
    }

    fn value(&self, slot: usize) -> u64 {
        let mut bytes = [0u8; 8];
        bytes[..5].copy_from_slice(&self.values[slot]);
        u64::from_le_bytes(bytes)
    }

    fn set_value(&mut self, slot: usize, value: u64) {
        self.values[slot].copy_from_slice(&value.to_le_bytes()[..5]);
    }

    /// A third as many slots again: doubling left a grown table less than half full, at 29
    /// bytes a card measured; growing by half, at up to 24.
    fn grow(&mut self) {
        let slots = (self.keys.len() + self.keys.len() / 3).max(MIN_SLOTS);
        let keys = std::mem::replace(&mut self.keys, vec![EMPTY; slots]);
        let values = std::mem::replace(&mut self.values, vec![[0; 5]; slots]);
        for (code, value) in keys.into_iter().zip(values) {
            if code == EMPTY {
                continue;
            }
            let mut slot = home(code, slots);
            while self.keys[slot] != EMPTY {
                slot = next(slot, slots);
            }
            self.keys[slot] = code;
            self.values[slot] = value;
        }
    }
}

/// Where a card's search starts: its spread code scaled to the table, which needs no power of
/// two.
fn home(code: u64, slots: usize) -> usize {
    ((u128::from(spread(code)) * slots as u128) >> 64) as usize
}

fn next(slot: usize, slots: usize) -> usize {
    if slot + 1 == slots {
        0
    } else {
        slot + 1
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
    fn many_cards_keep_their_offsets_through_growth() {
        let index = CardIndex::new();
        let code = |n: u64| 6_222_020_000_000_000 + n * 7;
        for n in 0..200_000u64 {
            assert_eq!(index.claim(code(n)), Claim::Call);
            index.record(code(n), n * 100);
        }
        assert_eq!(index.len(), 200_000);
        for n in (0..200_000u64).step_by(997) {
            assert_eq!(index.location(code(n)), Some(n * 100));
            assert_eq!(index.claim(code(n)), Claim::Duplicate);
        }
        assert_eq!(index.location(code(200_000)), None);
        let sizes: Vec<usize> = index.shards.iter().map(|s| lock(s).len).collect();
        assert!(
            sizes.iter().all(|&n| (2_500..3_800).contains(&n)),
            "{sizes:?}"
        );
    }

    #[test]
    fn journaled_results_are_taken_once_then_duplicated() {
        let index = CardIndex::new();
        index.preload(9, 100);
        assert_eq!(index.claim(9), Claim::Journaled);
        assert_eq!(index.claim(9), Claim::Duplicate);
        assert_eq!(index.location(9), Some(100));
    }

    #[test]
    fn the_smallest_and_largest_codes_and_offsets_fit() {
        let index = CardIndex::new();
        let largest_code = 11_111_109_999_999_999_999;
        index.preload(0, OFFSET_MASK);
        index.record(largest_code, 0);
        assert_eq!(index.location(0), Some(OFFSET_MASK));
        assert_eq!(index.location(largest_code), Some(0));
        assert_eq!(index.claim(0), Claim::Journaled);
    }
}
