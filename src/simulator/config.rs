//! How the simulator behaves: one struct that is both the flags of `cardscreen simulate` and
//! the configuration `start` takes, so the defaults of one are those of the other.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::faults::{parse_duration, parse_probability, Faults};

/// How the simulator behaves: the flags of `cardscreen simulate`, and what `start` takes.
#[derive(Clone, PartialEq, clap::Args)]
pub struct SimulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// The one accepted key; any other key, or none, answers 10001.
    #[arg(long, value_name = "KEY", default_value = "demo-key")]
    pub key: String,
    /// Mean service time; each call waits a uniform 0.5x to 1.5x of it.
    #[arg(long, value_name = "DUR", default_value = "0ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// Chance that a call answers 271901 (data source timeout).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub timeout_rate: f64,
    /// Calls beyond N accepted ones in any sliding 1 s window answer 10011; 0 = off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub qps_limit: u32,
    /// After N successful calls, calls answer 10012 until POST /reset; 0 = off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub quota: u64,
    /// The day whose blacklists answer; POST /next-day moves on a day (about 1% of cards change).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub day: u32,
    /// Seeds every random decision, so that the same calls meet the same faults.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Network faults, for testing how a client copes with them.
    #[command(flatten)]
    pub faults: Faults,
    /// Serve HTTPS with this PEM certificate (chain), for testing a client's trust; needs
    /// --tls-key. Plain HTTP without it.
    #[arg(long, value_name = "PEM", value_hint = clap::ValueHint::FilePath, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", value_hint = clap::ValueHint::FilePath, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The defaults of the flags above, for callers that build a config in code; a test holds the
/// two together.
impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            key: "demo-key".to_owned(),
            latency: Duration::ZERO,
            timeout_rate: 0.0,
            qps_limit: 0,
            quota: 0,
            day: 0,
            seed: 1,
            faults: Faults::default(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

// Hand-written so that a key passed on the command line never reaches a log line.
impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("listen", &self.listen)
            .field("key", &"<redacted>")
            .field("latency", &self.latency)
            .field("timeout_rate", &self.timeout_rate)
            .field("qps_limit", &self.qps_limit)
            .field("quota", &self.quota)
            .field("day", &self.day)
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;

    fn parse(flags: &[&str]) -> Result<SimulatorConfig, clap::Error> {
        let command = SimulatorConfig::augment_args(clap::Command::new("simulate"));
        let matches = command
            .try_get_matches_from(std::iter::once("simulate").chain(flags.iter().copied()))?;
        SimulatorConfig::from_arg_matches(&matches)
    }

    #[test]
    fn the_flags_default_to_the_default_config() {
        assert_eq!(parse(&[]).unwrap(), SimulatorConfig::default());
    }

    #[test]
    fn flags_set_the_config() {
        let config = parse(&[
            "--listen=127.0.0.1:0",
            "--latency=20ms",
            "--qps-limit=50",
            "--reset-rate=0.25",
            "--slow-delay=2s",
            "--day=3",
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.latency, Duration::from_millis(20));
        assert_eq!(config.qps_limit, 50);
        assert_eq!(config.faults.reset_rate, 0.25);
        assert_eq!(config.faults.slow_delay, Duration::from_secs(2));
        assert_eq!(config.day, 3);
    }

    #[test]
    fn a_tls_certificate_needs_its_key() {
        assert!(parse(&["--tls-cert=cert.pem"]).is_err());
        assert!(parse(&["--tls-key=key.pem"]).is_err());
        let config = parse(&["--tls-cert=cert.pem", "--tls-key=key.pem"]).unwrap();
        assert_eq!(config.tls_cert, Some(PathBuf::from("cert.pem")));
    }

    #[test]
    fn rates_are_probabilities() {
        assert!(parse(&["--timeout-rate=1.5"]).is_err());
        assert!(parse(&["--http-502-rate=-0.1"]).is_err());
        assert!(parse(&["--slow-rate=NaN"]).is_err());
    }

    #[test]
    fn config_debug_hides_the_key() {
        let config = SimulatorConfig {
            key: "secret-key-123".to_owned(),
            ..SimulatorConfig::default()
        };
        assert!(!format!("{config:?}").contains("secret-key-123"));
    }
}
