//! The reference for the overhead benchmark: the least a client can do to make the same calls
//! cardscreen makes. `concurrency` reqwest callers POST `key=…&bankcard=…` as a form, one card
//! each from the list, and read the answer; no CSV, no journal, no JSON parsing.
//! `cargo run --release --example bare_loop -- ENDPOINT KEY CONCURRENCY CARDS_FILE`
//! (`CARDS_FILE`: one card number a line). Prints one line of `key=value` pairs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, key, concurrency, cards_file] = args.as_slice() else {
        return Err("usage: bare_loop ENDPOINT KEY CONCURRENCY CARDS_FILE".into());
    };
    let concurrency: usize = concurrency.parse()?;
    let cards: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(cards_file)?
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
    );
    let endpoint = reqwest::Url::parse(endpoint)?;
    // The same client settings as cardscreen's, so that only the work around the calls differs.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()?;
    let prefix = format!("key={key}&bankcard=");
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicU64::new(0));

    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, endpoint, prefix) = (client.clone(), endpoint.clone(), prefix.clone());
            let (cards, next, failures) =
                (Arc::clone(&cards), Arc::clone(&next), Arc::clone(&failures));
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(card) = cards.get(index) else { break };
                    let mut body = String::with_capacity(prefix.len() + card.len());
                    body.push_str(&prefix);
                    body.push_str(card);
                    let sent = client
                        .post(endpoint.clone())
                        .header(
                            reqwest::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .body(body)
                        .send()
                        .await;
                    let ok = match sent {
                        Ok(response) if response.status() == reqwest::StatusCode::OK => {
                            response.bytes().await.is_ok()
                        }
                        _ => false,
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
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "calls={} concurrency={concurrency} seconds={elapsed:.4} calls_per_second={:.1} failures={}",
        cards.len(),
        cards.len() as f64 / elapsed,
        failures.load(Ordering::Relaxed),
    );
    Ok(())
}
