//! How the simulator behaves: the options of `cardscreen simulate`, whose defaults are the
//! vendor's plain behaviour on 127.0.0.1:8787.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::faults::Faults;

/// How the simulator behaves; the defaults are those of `cardscreen simulate`.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// Port 0 picks a free port; [`RunningSimulator::addr`] tells which.
    ///
    /// [`RunningSimulator::addr`]: super::RunningSimulator::addr
    pub listen: SocketAddr,
    /// The one accepted key; any other key, or none, answers 10001.
    pub key: String,
    /// Mean service time; each call waits a uniform 0.5x..1.5x of it. Zero answers at once.
    pub latency: Duration,
    /// Chance that a call answers 271901 (data source timeout).
    pub timeout_rate: f64,
    /// Calls beyond this many accepted ones in any sliding 1 s window answer 10011; 0 = off.
    pub qps_limit: u32,
    /// After this many successful calls (until `POST /reset`) calls answer 10012; 0 = off.
    pub quota: u64,
    /// Seeds every random decision, so the same sequence of calls meets the same faults.
    pub seed: u64,
    pub faults: Faults,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            key: "demo-key".to_owned(),
            latency: Duration::ZERO,
            timeout_rate: 0.0,
            qps_limit: 0,
            quota: 0,
            seed: 1,
            faults: Faults::default(),
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
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_key() {
        let config = SimulatorConfig {
            key: "secret-key-123".to_owned(),
            ..SimulatorConfig::default()
        };
        assert!(!format!("{config:?}").contains("secret-key-123"));
    }
}
