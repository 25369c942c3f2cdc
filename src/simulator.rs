//! stub
use std::net::SocketAddr;
use std::time::Duration;
#[derive(Default)]
pub struct Faults {
    pub http_502_rate: f64,
    pub truncated_rate: f64,
    pub reset_rate: f64,
    pub slow_rate: f64,
    pub slow_delay: Duration,
}
pub struct SimulatorConfig {
    pub listen: SocketAddr,
    pub key: String,
    pub latency: Duration,
    pub timeout_rate: f64,
    pub qps_limit: u32,
    pub quota: u64,
    pub seed: u64,
    pub faults: Faults,
}
impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            key: "demo-key".into(),
            latency: Duration::ZERO,
            timeout_rate: 0.0,
            qps_limit: 0,
            quota: 0,
            seed: 1,
            faults: Faults::default(),
        }
    }
}
pub struct RunningSimulator {
    addr: SocketAddr,
}
impl RunningSimulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn endpoint(&self) -> String {
        format!("http://{}/bankcardblack/query", self.addr)
    }
    pub async fn shutdown(self) {}
}
pub async fn start(config: SimulatorConfig) -> std::io::Result<RunningSimulator> {
    Ok(RunningSimulator {
        addr: config.listen,
    })
}
pub async fn serve_forever(_config: SimulatorConfig) -> std::io::Result<()> {
    Ok(())
}
