//! Load check for the simulator: 64 concurrent reqwest callers POST distinct cards at an
//! in-process simulator with zero latency and report calls per second.
//! `cargo run --release --example simulator_load [CALLS] [CONCURRENCY]`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cardscreen::simulator::{start, SimulatorConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let calls: u64 = args.next().map_or(Ok(40_000), |arg| arg.parse())?;
    let concurrency: u64 = args.next().map_or(Ok(64), |arg| arg.parse())?;

    let sim = start(SimulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..SimulatorConfig::default()
    })
    .await?;
    let endpoint = sim.endpoint();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));

    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, endpoint) = (client.clone(), endpoint.clone());
            let (next, failures) = (Arc::clone(&next), Arc::clone(&failures));
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= calls {
                        break;
                    }
                    let card = format!("622202{index:010}");
                    let answered = client
                        .post(&endpoint)
                        .form(&[("key", "demo-key"), ("bankcard", card.as_str())])
                        .send()
                        .await;
                    let ok = match answered {
                        Ok(response) => response
                            .text()
                            .await
                            .is_ok_and(|body| body.contains(r#""error_code":0"#)),
                        Err(_) => false,
                    };
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed();

    let stats = sim.stats();
    println!(
        "{calls} calls, {concurrency} concurrent: {:.2} s, {:.0} calls/s; failures {}, \
         server saw {} calls ({} ok, {} cards), peak in flight {}, busiest second {}",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        failures.load(Ordering::Relaxed),
        stats.calls,
        stats.ok_calls,
        stats.per_card.len(),
        stats.peak_in_flight,
        stats.max_calls_in_1s,
    );
    sim.shutdown().await;
    Ok(())
}
