//! Chance in the simulator: the transport faults a call may meet, at the rates `simulate` is
//! given, and the seeded draws behind every random decision, so the same calls meet the same
//! faults on every run with the same seed.

use std::time::Duration;

/// Transport failures, each a probability from 0 to 1. At most one strikes a call: they share
/// one draw, in the order below, so rates that add up to more than 1 starve the later ones.
/// A call hit by one is not billed: it never counts as a success or against the quota.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct Faults {
    /// Chance that a call answers HTTP 502 with an nginx HTML page.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub http_502_rate: f64,
    /// Chance that a call answers HTTP 200 with its JSON body cut in half.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub truncated_rate: f64,
    /// Chance that the connection is reset without an answer.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub reset_rate: f64,
    /// Chance that a call answers only after --slow-delay.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub slow_rate: f64,
    /// Delay of a slow answer.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub slow_delay: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            http_502_rate: 0.0,
            truncated_rate: 0.0,
            reset_rate: 0.0,
            slow_rate: 0.0,
            slow_delay: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TransportFault {
    Http502,
    Truncated,
    Reset,
    Slow,
}

impl TransportFault {
    pub(super) const ALL: [TransportFault; 4] = [
        TransportFault::Http502,
        TransportFault::Truncated,
        TransportFault::Reset,
        TransportFault::Slow,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            TransportFault::Http502 => "http_502",
            TransportFault::Truncated => "truncated",
            TransportFault::Reset => "reset",
            TransportFault::Slow => "slow",
        }
    }
}

impl Faults {
    /// The fault a call meets for a uniform draw in [0, 1).
    pub(super) fn pick(&self, draw: f64) -> Option<TransportFault> {
        let rates = [
            self.http_502_rate,
            self.truncated_rate,
            self.reset_rate,
            self.slow_rate,
        ];
        let mut bound = 0.0;
        for (fault, rate) in TransportFault::ALL.into_iter().zip(rates) {
            // NaN and negative rates mean "never", not a shift of the later faults.
            if rate > 0.0 {
                bound += rate;
                if draw < bound {
                    return Some(fault);
                }
            }
        }
        None
    }
}

/// What a random draw is for, so that one call's draws are independent of each other.
#[derive(Clone, Copy)]
pub(super) enum Draw {
    TransportFault = 1,
    SourceTimeout = 2,
    Latency = 3,
}

/// A uniform number in [0, 1) fixed by (seed, call number, purpose): no shared RNG to lock, and
/// the same calls meet the same faults on every run with the same seed.
pub(super) fn draw(seed: u64, call: u64, purpose: Draw) -> f64 {
    let stream = splitmix64(seed ^ (purpose as u64).wrapping_mul(0xA076_1D64_78BD_642F));
    let bits = splitmix64(stream ^ call);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A duration as the command line writes them: `500ms`, `10s`, `2m`.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| e.to_string())
}

pub(super) fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a probability between 0 and 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_repeatable_and_seeded() {
        let draws: Vec<f64> = (0..10_000)
            .map(|call| draw(7, call, Draw::TransportFault))
            .collect();
        assert!(draws.iter().all(|value| (0.0..1.0).contains(value)));
        let below_half = draws.iter().filter(|&&value| value < 0.5).count();
        assert!((4_700..=5_300).contains(&below_half), "{below_half}");
        assert_eq!(draw(7, 42, Draw::Latency), draw(7, 42, Draw::Latency));
        assert_ne!(draw(7, 42, Draw::Latency), draw(8, 42, Draw::Latency));
        assert_ne!(draw(7, 42, Draw::Latency), draw(7, 42, Draw::SourceTimeout));
    }

    #[test]
    fn faults_share_one_draw_in_order() {
        let faults = Faults {
            http_502_rate: 0.1,
            truncated_rate: 0.2,
            reset_rate: 0.0,
            slow_rate: 0.3,
            ..Faults::default()
        };
        assert_eq!(faults.pick(0.05), Some(TransportFault::Http502));
        assert_eq!(faults.pick(0.15), Some(TransportFault::Truncated));
        assert_eq!(faults.pick(0.35), Some(TransportFault::Slow));
        assert_eq!(faults.pick(0.65), None);
        assert_eq!(Faults::default().pick(0.0), None);
        let certain_reset = Faults {
            reset_rate: 1.0,
            ..Faults::default()
        };
        assert_eq!(certain_reset.pick(0.999_999), Some(TransportFault::Reset));
    }
}
