//! The store key: 32 random bytes in a file of their own (`<store>.key` or `--store-key-file`),
//! the keyed hash every card is stored under, and the fingerprint by which a store knows its key.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use ring::hmac;

use crate::card::Card;
use crate::outcome::{CardKey, CARD_KEY_LEN};
use crate::util::files;

/// Bytes of the key.
const KEY_LEN: usize = 32;

/// What the fingerprint hashes: no card number is made of these bytes, so a fingerprint is
/// never the hash of a card.
const FINGERPRINT_MESSAGE: &[u8] = b"cardscreen store key fingerprint";

/// The key of a store, ready to hash card numbers. It is never shown: `Debug` prints its
/// fingerprint only.
pub(crate) struct StoreKey {
    hmac: hmac::Key,
    fingerprint: String,
}

/// What can be wrong with a key file.
#[derive(Debug)]
pub(crate) enum KeyFileProblem {
    Missing,
    Malformed,
    Unreadable(io::Error),
}

impl StoreKey {
    fn from_bytes(bytes: &[u8; KEY_LEN]) -> StoreKey {
        let hmac = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let tag = hmac::sign(&hmac, FINGERPRINT_MESSAGE);
        let fingerprint = tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        StoreKey { hmac, fingerprint }
    }

    /// The card's key in the store.
    pub(crate) fn card(&self, card: &Card) -> CardKey {
        let tag = hmac::sign(&self.hmac, card.as_str().as_bytes());
        let mut key = [0u8; CARD_KEY_LEN];
        key.copy_from_slice(&tag.as_ref()[..CARD_KEY_LEN]);
        key
    }

    /// Names the key without revealing it; the store keeps it to refuse any other key.
    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Reads a key file: 64 hexadecimal digits.
    pub(crate) fn read(path: &Path) -> Result<StoreKey, KeyFileProblem> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeyFileProblem::Missing),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(KeyFileProblem::Malformed)
            }
            Err(e) => return Err(KeyFileProblem::Unreadable(e)),
        };
        let digits = text.trim().as_bytes();
        if digits.len() != 2 * KEY_LEN {
            return Err(KeyFileProblem::Malformed);
        }
        let mut bytes = [0u8; KEY_LEN];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| KeyFileProblem::Malformed)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| KeyFileProblem::Malformed)?;
        }
        let key = StoreKey::from_bytes(&bytes);
        bytes.fill(0);
        Ok(key)
    }

    /// A new key from the operating system's random source, written to `path` (mode 0600)
    /// unless a key file is there already: then that one is read, so that two runs creating
    /// one store at once agree on its key.
    pub(crate) fn create(path: &Path) -> Result<StoreKey, KeyFileProblem> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes)
            .map_err(|e| KeyFileProblem::Unreadable(io::Error::other(e.to_string())))?;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text: Vec<u8> = bytes
            .iter()
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
            .chain([b'\n'])
            .collect();
        let created = files::write_new_atomically(path, |file| file.write_all(&text))
            .map_err(KeyFileProblem::Unreadable);
        // The text is the key: it does not outlive this function.
        text.fill(0);
        let key = StoreKey::from_bytes(&bytes);
        bytes.fill(0);
        if created? {
            Ok(key)
        } else {
            StoreKey::read(path)
        }
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_reads_back_and_hashes_cards_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.key");
        let key = StoreKey::create(&path).unwrap();
        let again = StoreKey::read(&path).unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        let card = crate::card::clean("6222024332181964").unwrap();
        let other = crate::card::clean("6222024332181972").unwrap();
        assert_eq!(key.card(&card), again.card(&card));
        assert_ne!(key.card(&card), key.card(&other));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert!(!format!("{key:?}").contains(text.trim()));
    }

    #[test]
    fn an_existing_key_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.key");
        let first = StoreKey::create(&path).unwrap();
        let second = StoreKey::create(&path).unwrap();
        assert_eq!(first.fingerprint(), second.fingerprint());
    }

    #[test]
    fn a_damaged_or_missing_key_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.key");
        assert!(matches!(
            StoreKey::read(&path),
            Err(KeyFileProblem::Missing)
        ));
        std::fs::write(&path, "not hex\n").unwrap();
        assert!(matches!(
            StoreKey::read(&path),
            Err(KeyFileProblem::Malformed)
        ));
        std::fs::write(&path, format!("{}\n", "zz".repeat(32))).unwrap();
        assert!(matches!(
            StoreKey::read(&path),
            Err(KeyFileProblem::Malformed)
        ));
    }

    #[test]
    fn the_fingerprint_is_pinned() {
        // A store made by one version must accept its key in the next.
        let key = StoreKey::from_bytes(&[7u8; KEY_LEN]);
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &[7u8; KEY_LEN]),
            FINGERPRINT_MESSAGE,
        );
        assert_eq!(key.fingerprint().len(), 32);
        assert!(key
            .fingerprint()
            .starts_with(&format!("{:02x}", tag.as_ref()[0])));
    }
}
