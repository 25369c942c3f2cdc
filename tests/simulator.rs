//! The simulator answers like the vendor over real loopback HTTP, driven by reqwest: flags,
//! error codes, quota, the QPS limit, transport faults that repeat by seed, and `/stats`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cardscreen::simulator::{
    flags_for, flags_on, start, Faults, RunningSimulator, SimulatorConfig, Stats,
};
use serde_json::Value;

use crate::common::{ADDED, FLAGS};

const KEY: &str = "demo-key";

fn loopback() -> SimulatorConfig {
    SimulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..SimulatorConfig::default()
    }
}

async fn launch(config: SimulatorConfig) -> RunningSimulator {
    start(config).await.expect("simulator starts on loopback")
}

fn card(index: u64) -> String {
    format!("622202{index:010}")
}

fn first_card(wanted: impl Fn(&[bool; 6]) -> bool) -> String {
    (0..)
        .map(card)
        .find(|candidate| wanted(&flags_for(candidate)))
        .expect("some synthetic card matches")
}

async fn post_raw(
    client: &reqwest::Client,
    sim: &RunningSimulator,
    key: &str,
    bankcard: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(sim.endpoint())
        .form(&[("key", key), ("bankcard", bankcard)])
        .send()
        .await
}

async fn post(
    client: &reqwest::Client,
    sim: &RunningSimulator,
    key: &str,
    bankcard: &str,
) -> Value {
    let response = post_raw(client, sim, key, bankcard).await.expect("answer");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

fn flags_of(answer: &Value) -> [bool; 6] {
    let data = answer["result"]["data"].as_object().expect("result.data");
    assert_eq!(data.len(), 6, "{answer}");
    let names = &ADDED[FLAGS];
    std::array::from_fn(|flag| match data[names[flag]].as_str() {
        Some("0") => false,
        Some("1") => true,
        other => panic!("{} is {other:?}", names[flag]),
    })
}

async fn http_stats(client: &reqwest::Client, sim: &RunningSimulator) -> Stats {
    let body = client
        .get(format!("http://{}/stats", sim.addr()))
        .send()
        .await
        .expect("stats answer")
        .text()
        .await
        .expect("stats body");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

#[tokio::test]
async fn success_has_the_vendor_shape_and_the_card_flags() {
    let sim = launch(loopback()).await;
    let client = reqwest::Client::new();
    let hit = first_card(|flags| flags.contains(&true));
    let clean = first_card(|flags| !flags.contains(&true));
    for bankcard in [&hit, &clean] {
        let answer = post(&client, &sim, KEY, bankcard).await;
        assert_eq!(answer["error_code"], 0, "{answer}");
        assert_eq!(answer["reason"], "查询成功");
        assert_eq!(answer.as_object().map(|fields| fields.len()), Some(3));
        assert_eq!(flags_of(&answer), flags_for(bankcard));
        let orderid = answer["result"]["orderid"].as_str().expect("orderid");
        assert!(orderid.starts_with("JH"), "{orderid}");
    }
}

#[tokio::test]
async fn orderids_are_unique_per_successful_call() {
    let sim = launch(loopback()).await;
    let client = reqwest::Client::new();
    let mut orderids = HashSet::new();
    for index in 0..50 {
        // Half the calls repeat one card: a repeat is a new order too.
        let bankcard = card(index % 2 * index);
        let answer = post(&client, &sim, KEY, &bankcard).await;
        let orderid = answer["result"]["orderid"].as_str().expect("orderid");
        assert!(orderids.insert(orderid.to_owned()), "{orderid} repeated");
    }
}

#[tokio::test]
async fn malformed_cards_answer_271902() {
    let sim = launch(loopback()).await;
    let client = reqwest::Client::new();
    for bankcard in [
        "622202020011",
        "62220202001122a3",
        "62220202001122334455",
        "",
    ] {
        let answer = post(&client, &sim, KEY, bankcard).await;
        assert_eq!(answer["error_code"], 271902, "{bankcard}: {answer}");
        assert_eq!(answer["reason"], "银行卡号错误");
    }
    let without_card = client
        .post(sim.endpoint())
        .form(&[("key", KEY)])
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("body");
    assert!(
        without_card.contains(r#""error_code":271902"#),
        "{without_card}"
    );
}

#[tokio::test]
async fn a_wrong_missing_or_json_key_answers_10001() {
    let sim = launch(loopback()).await;
    let client = reqwest::Client::new();
    let bankcard = card(1);

    let wrong = post(&client, &sim, "not-the-key", &bankcard).await;
    assert_eq!(wrong["error_code"], 10001, "{wrong}");
    assert_eq!(wrong["resultcode"], "101");
    assert_eq!(wrong["result"], Value::Null);

    let missing = client
        .post(sim.endpoint())
        .form(&[("bankcard", bankcard.as_str())])
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("body");
    assert!(missing.contains(r#""error_code":10001"#), "{missing}");

    let json = client
        .post(sim.endpoint())
        .header("content-type", "application/json")
        .body(format!(r#"{{"key":"{KEY}","bankcard":"{bankcard}"}}"#))
        .send()
        .await
        .expect("answer");
    assert_eq!(json.status(), 200);
    let json: Value = serde_json::from_str(&json.text().await.expect("body")).expect("JSON");
    assert_eq!(json["error_code"], 10001, "{json}");

    // The JSON call did not break the keep-alive connection for the next one.
    let after = post(&client, &sim, KEY, &bankcard).await;
    assert_eq!(after["error_code"], 0, "{after}");
}

#[tokio::test]
async fn get_answers_like_post() {
    let sim = launch(loopback()).await;
    let client = reqwest::Client::new();
    let hit = first_card(|flags| flags.contains(&true));
    let response = client
        .get(sim.endpoint())
        .query(&[("key", KEY), ("bankcard", hit.as_str())])
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let answer: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    assert_eq!(answer["error_code"], 0, "{answer}");
    assert_eq!(flags_of(&answer), flags_for(&hit));

    let bad = client
        .get(sim.endpoint())
        .query(&[("key", KEY), ("bankcard", "123")])
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("body");
    assert!(bad.contains(r#""error_code":271902"#), "{bad}");
}

#[tokio::test]
async fn next_day_moves_the_blacklists_on_and_day_starts_elsewhere() {
    let sim = launch(loopback()).await;
    let client = reqwest::Client::new();
    let gains = (0..)
        .map(card)
        .find(|c| !flags_for(c).contains(&true) && flags_on(c, 1).contains(&true))
        .expect("a card that becomes a hit on day 1");
    let clears = (0..)
        .map(card)
        .find(|c| flags_for(c).contains(&true) && !flags_on(c, 1).contains(&true))
        .expect("a card whose hit clears on day 1");
    for bankcard in [&gains, &clears] {
        assert_eq!(
            flags_of(&post(&client, &sim, KEY, bankcard).await),
            flags_for(bankcard)
        );
    }
    let next = client
        .post(format!("http://{}/next-day", sim.addr()))
        .send()
        .await
        .expect("next-day answer")
        .text()
        .await
        .expect("next-day body");
    assert_eq!(next, r#"{"day":1}"#);
    for bankcard in [&gains, &clears] {
        assert_eq!(
            flags_of(&post(&client, &sim, KEY, bankcard).await),
            flags_on(bankcard, 1)
        );
    }
    assert_eq!(http_stats(&client, &sim).await.day, 1);

    let later = launch(SimulatorConfig {
        day: 7,
        ..loopback()
    })
    .await;
    let answer = post(&client, &later, KEY, &clears).await;
    assert_eq!(flags_of(&answer), flags_on(&clears, 7));
    assert_eq!(later.stats().day, 7);
}

#[tokio::test]
async fn quota_runs_out_after_n_successes_and_reset_restores_it() {
    let sim = launch(SimulatorConfig {
        quota: 3,
        ..loopback()
    })
    .await;
    let client = reqwest::Client::new();
    // Failed calls are not billed, so they do not use the quota up.
    assert_eq!(post(&client, &sim, KEY, "123").await["error_code"], 271902);
    for index in 0..3 {
        assert_eq!(
            post(&client, &sim, KEY, &card(index)).await["error_code"],
            0
        );
    }
    let refused = post(&client, &sim, KEY, &card(3)).await;
    assert_eq!(refused["error_code"], 10012, "{refused}");
    assert_eq!(refused["resultcode"], "112");
    // The quota is checked before the card.
    assert_eq!(post(&client, &sim, KEY, "123").await["error_code"], 10012);
    assert_eq!(sim.stats().quota_used, 3);

    let reset = client
        .post(format!("http://{}/reset", sim.addr()))
        .send()
        .await
        .expect("reset answer")
        .text()
        .await
        .expect("reset body");
    assert_eq!(reset, r#"{"ok":true}"#);
    assert_eq!(post(&client, &sim, KEY, &card(3)).await["error_code"], 0);

    let stats = sim.stats();
    assert_eq!(stats.quota_used, 1);
    assert_eq!(stats.ok_calls, 4);
    assert_eq!(stats.resets, 1);
    assert_eq!(stats.by_code.get("10012"), Some(&2));
}

#[tokio::test]
async fn calls_beyond_the_qps_limit_answer_10011() {
    let sim = launch(SimulatorConfig {
        qps_limit: 5,
        ..loopback()
    })
    .await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let calls = (0..20).map(|index| {
        let client = client.clone();
        let endpoint = sim.endpoint();
        async move {
            let body = client
                .post(endpoint)
                .form(&[("key", KEY), ("bankcard", card(index).as_str())])
                .send()
                .await
                .expect("answer")
                .text()
                .await
                .expect("body");
            serde_json::from_str::<Value>(&body).expect("JSON")["error_code"].clone()
        }
    });
    let codes = spawn_all(calls).await;
    // The limit is per second: a machine too busy to send 20 calls within one may admit more.
    let seconds_taken = started.elapsed().as_secs() + 1;
    let admitted = codes.iter().filter(|&code| code == 0).count() as u64;
    let limited = codes.iter().filter(|&code| code == 10011).count() as u64;
    assert_eq!(admitted + limited, 20, "{codes:?}");
    assert!(admitted >= 5, "{codes:?}");
    assert!(admitted <= 5 * seconds_taken, "{codes:?}");
    let stats = sim.stats();
    assert_eq!(stats.by_code.get("10011").copied().unwrap_or(0), limited);
    assert_eq!(stats.calls, 20);
}

#[tokio::test]
async fn timeout_rate_one_answers_271901_to_every_call() {
    let sim = launch(SimulatorConfig {
        timeout_rate: 1.0,
        ..loopback()
    })
    .await;
    let client = reqwest::Client::new();
    for index in 0..10 {
        let answer = post(&client, &sim, KEY, &card(index)).await;
        assert_eq!(answer["error_code"], 271901, "{answer}");
        assert_eq!(answer["reason"], "数据源超时");
    }
    assert_eq!(sim.stats().ok_calls, 0);
}

fn faulty(faults: Faults) -> SimulatorConfig {
    SimulatorConfig {
        faults,
        ..loopback()
    }
}

#[tokio::test]
async fn http_502_fault_answers_an_html_page() {
    let sim = launch(faulty(Faults {
        http_502_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let client = reqwest::Client::new();
    let response = post_raw(&client, &sim, KEY, &card(1))
        .await
        .expect("answer");
    assert_eq!(response.status(), 502);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = response.text().await.expect("body");
    assert!(
        body.contains("<html>") && body.contains("502 Bad Gateway"),
        "{body}"
    );
    let stats = sim.stats();
    assert_eq!(stats.transport_faults["http_502"], 1);
    assert!(stats.by_code.is_empty(), "{:?}", stats.by_code);
}

#[tokio::test]
async fn truncated_fault_answers_200_with_broken_json() {
    let sim = launch(faulty(Faults {
        truncated_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let client = reqwest::Client::new();
    for index in 0..5 {
        let response = post_raw(&client, &sim, KEY, &card(index))
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        let body = response.bytes().await.expect("body");
        assert!(!body.is_empty());
        assert!(body.starts_with(b"{\"reason\""), "{body:?}");
        assert!(serde_json::from_slice::<Value>(&body).is_err(), "{body:?}");
    }
    let stats = sim.stats();
    assert_eq!(stats.transport_faults["truncated"], 5);
    assert_eq!(stats.ok_calls, 0);
}

#[tokio::test]
async fn reset_fault_gives_the_client_a_transport_error() {
    let sim = launch(faulty(Faults {
        reset_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let client = reqwest::Client::new();
    for index in 0..3 {
        let outcome = post_raw(&client, &sim, KEY, &card(index)).await;
        let error = outcome.expect_err("no HTTP answer on a reset connection");
        assert!(!error.is_timeout(), "{error:?}");
    }
    assert_eq!(sim.stats().transport_faults["reset"], 3);
    assert_eq!(sim.stats().calls, 3);
}

#[tokio::test]
async fn slow_fault_outlasts_the_client_timeout() {
    let sim = launch(faulty(Faults {
        slow_rate: 1.0,
        slow_delay: Duration::from_secs(5),
        ..Faults::default()
    }))
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let error = post_raw(&client, &sim, KEY, &card(1))
        .await
        .expect_err("the answer comes after the client gave up");
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(sim.stats().transport_faults["slow"], 1);
}

#[tokio::test]
async fn slow_fault_answers_eventually() {
    let sim = launch(faulty(Faults {
        slow_rate: 1.0,
        slow_delay: Duration::from_millis(50),
        ..Faults::default()
    }))
    .await;
    let client = reqwest::Client::new();
    let bankcard = card(2);
    let answer = post(&client, &sim, KEY, &bankcard).await;
    assert_eq!(flags_of(&answer), flags_for(&bankcard));
    // A late answer is not billed.
    assert_eq!(sim.stats().ok_calls, 0);
}

#[tokio::test]
async fn the_same_seed_meets_the_same_faults() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sim = launch(SimulatorConfig {
            seed,
            ..faulty(Faults {
                http_502_rate: 0.5,
                ..Faults::default()
            })
        })
        .await;
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for index in 0..40 {
            let response = post_raw(&client, &sim, KEY, &card(index))
                .await
                .expect("answer");
            statuses.push(response.status().as_u16());
        }
        statuses
    }
    let first = statuses(11).await;
    assert!(first.contains(&502) && first.contains(&200), "{first:?}");
    assert_eq!(first, statuses(11).await);
    assert_ne!(first, statuses(12).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_in_flight_counts_concurrent_calls() {
    let sim = launch(SimulatorConfig {
        latency: Duration::from_millis(200),
        ..loopback()
    })
    .await;
    let client = reqwest::Client::new();
    let calls = (0..8).map(|index| {
        let client = client.clone();
        let endpoint = sim.endpoint();
        async move {
            client
                .post(endpoint)
                .form(&[("key", KEY), ("bankcard", card(index).as_str())])
                .send()
                .await
                .expect("answer")
                .status()
        }
    });
    let statuses = spawn_all(calls).await;
    assert!(statuses.iter().all(|status| *status == 200));
    let stats = sim.stats();
    assert_eq!(stats.peak_in_flight, 8);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn stats_count_every_call() {
    let sim = launch(loopback()).await;
    let client = reqwest::Client::new();
    assert_eq!(sim.stats().first_call_unix_ms, None);
    let before_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let repeated = card(7);
    for _ in 0..3 {
        post(&client, &sim, KEY, &repeated).await;
    }
    post(&client, &sim, KEY, &card(8)).await;
    post(&client, &sim, KEY, "12345").await;
    post(&client, &sim, "wrong", &card(9)).await;
    // Neither an unknown path nor the stats themselves count as calls.
    let missing = client
        .get(format!("http://{}/nowhere", sim.addr()))
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status(), 404);

    let stats = http_stats(&client, &sim).await;
    assert_eq!(stats, sim.stats());
    assert_eq!(stats.calls, 6);
    assert_eq!(stats.ok_calls, 4);
    let by_code: BTreeMap<String, u64> = [("0", 4), ("271902", 1), ("10001", 1)]
        .into_iter()
        .map(|(code, count)| (code.to_owned(), count))
        .collect();
    assert_eq!(stats.by_code, by_code);
    assert_eq!(stats.per_card.len(), 4);
    assert_eq!(stats.per_card[&repeated], 3);
    assert_eq!(stats.per_card["12345"], 1);
    assert_eq!(stats.per_card[&card(9)], 1);
    assert_eq!(stats.per_card_ok.len(), 2);
    assert_eq!(stats.per_card_ok[&repeated], 3);
    assert_eq!(stats.per_card_ok[&card(8)], 1);
    assert_eq!(stats.peak_in_flight, 1);
    assert_eq!(stats.max_calls_in_1s, 6);
    let first = stats.first_call_unix_ms.expect("first call time");
    let last = stats.last_call_unix_ms.expect("last call time");
    assert!(
        before_ms <= first && first <= last,
        "{before_ms} {first} {last}"
    );
    assert_eq!(stats.quota_used, 4);
    assert!(stats.transport_faults.values().all(|&count| count == 0));
    assert_eq!(stats.transport_faults.len(), 4);
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let sim = launch(loopback()).await;
    let addr = sim.addr();
    let client = reqwest::Client::new();
    assert_eq!(post(&client, &sim, KEY, &card(1)).await["error_code"], 0);
    sim.shutdown().await;
    let fresh = reqwest::Client::new();
    let outcome = fresh
        .post(format!("http://{addr}/bankcardblack/query"))
        .form(&[("key", KEY), ("bankcard", card(1).as_str())])
        .send()
        .await;
    assert!(outcome.is_err(), "{outcome:?}");
}

/// Runs the futures as tasks, all at once, and returns their outputs in order.
async fn spawn_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("call task"));
    }
    outputs
}
