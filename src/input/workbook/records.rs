//! The records of an .xlsb part (`.bin`): a type, a length and a body. The reader sizes a
//! buffer by the length a record declares before it reads the body, so a few bytes that claim
//! 256 MiB would have it hold 256 MiB; no record a card file needs comes near 8 MiB.

/// The longest record body: a cell's text of 1 MiB is 2 MiB of UTF-16.
pub(super) const MAX_RECORD: u64 = 8 << 20;

/// Where the scan stands in the record stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Reading the type: one or two bytes, the high bit saying another follows.
    Type {
        read: u8,
    },
    /// Reading the length: up to four bytes of seven bits each.
    Length {
        value: u64,
        read: u8,
    },
    Body {
        left: u64,
    },
}

/// Follows the records of one part as its bytes go by.
#[derive(Debug)]
pub(super) struct Records {
    at: At,
}

impl Default for Records {
    fn default() -> Records {
        Records {
            at: At::Type { read: 0 },
        }
    }
}

impl Records {
    /// Takes the next bytes of the part; `Err(length)` for a record longer than `MAX_RECORD`.
    pub(super) fn scan(&mut self, mut bytes: &[u8]) -> Result<(), u64> {
        while let Some((&byte, rest)) = bytes.split_first() {
            match self.at {
                At::Type { read } => {
                    self.at = if byte & 0x80 != 0 && read == 0 {
                        At::Type { read: 1 }
                    } else {
                        At::Length { value: 0, read: 0 }
                    };
                    bytes = rest;
                }
                At::Length { value, read } => {
                    let value = value | (u64::from(byte & 0x7F) << (7 * read));
                    bytes = rest;
                    if byte & 0x80 != 0 && read < 3 {
                        self.at = At::Length {
                            value,
                            read: read + 1,
                        };
                    } else if value > MAX_RECORD {
                        return Err(value);
                    } else {
                        self.at = if value == 0 {
                            At::Type { read: 0 }
                        } else {
                            At::Body { left: value }
                        };
                    }
                }
                At::Body { left } => {
                    let skipped = left.min(bytes.len() as u64);
                    bytes = &bytes[skipped as usize..];
                    self.at = if skipped == left {
                        At::Type { read: 0 }
                    } else {
                        At::Body {
                            left: left - skipped,
                        }
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_claiming_more_than_eight_mebibytes_is_refused() {
        let mut records = Records::default();
        // A one-byte type, a two-byte length of 300, its body in two pieces, then a two-byte
        // type.
        let mut stream = vec![0x06, 0xAC, 0x02];
        stream.extend_from_slice(&[0; 300]);
        stream.extend_from_slice(&[0x9C, 0x01, 0x00]);
        for piece in stream.chunks(7) {
            assert_eq!(records.scan(piece), Ok(()));
        }
        // Four length bytes of 0x7F: 256 MiB less one.
        assert_eq!(
            records.scan(&[0x07, 0xFF, 0xFF, 0xFF, 0x7F]),
            Err((1 << 28) - 1)
        );
    }
}
