//! The wall clock, read in one place: seconds since 1970 as the store, the journal and the
//! summary keep them. Pacing uses monotonic time (`Instant`) and never this.

/// Seconds since 1970 now; 0 on a clock set before 1970.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
