//! The endpoint a run calls: the configured one, or the built-in simulator started for the run
//! on a loopback port (`--simulate`), and shut down after it.

use super::RunError;
use crate::call::{is_cleartext_remote, ClientOptions};
use crate::cli::Settings;
#[cfg(feature = "simulator")]
use crate::simulator::{self, RunningSimulator, SimulatorConfig};

/// The endpoint the run calls, and the built-in simulator behind it when there is one.
pub(super) struct Endpoint {
    pub(super) client: ClientOptions,
    #[cfg(feature = "simulator")]
    simulator: Option<RunningSimulator>,
}

impl Endpoint {
    /// The configured endpoint, or with `--simulate` a simulator started on a loopback port
    /// (a build without the simulator refuses `--simulate` in the settings).
    pub(super) async fn open(settings: &Settings) -> Result<Endpoint, RunError> {
        #[allow(unused_mut)]
        let mut endpoint = Endpoint {
            client: settings.client.clone(),
            #[cfg(feature = "simulator")]
            simulator: None,
        };
        #[cfg(feature = "simulator")]
        if settings.simulate {
            let config = SimulatorConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Default::default()
            };
            let running = simulator::start(config)
                .await
                .map_err(RunError::Simulator)?;
            tracing::info!(endpoint = %running.endpoint(), "Screening against the built-in simulator.");
            endpoint.client.endpoint = running.endpoint();
            endpoint.client.key = secrecy::SecretString::from(SimulatorConfig::default().key);
            endpoint.simulator = Some(running);
        }
        if is_cleartext_remote(&endpoint.client.endpoint) {
            tracing::warn!("The endpoint uses plain http:// to a remote host: card numbers and the key travel in clear text. Use https://.");
        }
        Ok(endpoint)
    }

    pub(super) async fn close(self) {
        #[cfg(feature = "simulator")]
        if let Some(simulator) = self.simulator {
            simulator.shutdown().await;
        }
    }
}
