//! HTTP load generator: places bids on many lots over keep-alive
//! connections and reports bids/s and latency percentiles.
//!
//! ```text
//! cargo run --release -p hammerfall-hosts --example loadgen -- \
//!     --url http://127.0.0.1:8080 --lots 256 --connections 64 --bidders 4000 --secs 10
//! ```
//!
//! The server must run with `--dev-auth` (bids are sent as
//! `X-Participant`/`X-Roles`). Each connection owns its lots (lots ≥
//! connections), so bids on one lot arrive in order and every bid outbids
//! the last (amounts rise by 100 per bid): all should be accepted. Bidders
//! rotate over `--bidders` ids so the per-participant rate limit (50/s by
//! default) is not what is measured. `--bare` skips lot creation, for the
//! `bare_axum` baseline. `--write-lots FILE` only creates the lots and
//! lists their ids, for `wrk -s hosts/load/bids.lua`.

// A measuring tool: it prints its report and computes rates in floating point.
#![allow(clippy::print_stdout, clippy::float_arithmetic)]

use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    url: String,
    lots: usize,
    connections: usize,
    bidders: usize,
    secs: u64,
    bare: bool,
    write_lots: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        url: "http://127.0.0.1:8080".into(),
        lots: 256,
        connections: 64,
        bidders: 4000,
        secs: 10,
        bare: false,
        write_lots: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => o.url = value()?,
            "--lots" => o.lots = usize::try_from(number(value()?)?).map_err(|e| e.to_string())?,
            "--connections" => {
                o.connections = usize::try_from(number(value()?)?).map_err(|e| e.to_string())?;
            }
            "--bidders" => {
                o.bidders = usize::try_from(number(value()?)?).map_err(|e| e.to_string())?;
            }
            "--secs" => o.secs = number(value()?)?,
            "--bare" => o.bare = true,
            "--write-lots" => o.write_lots = Some(value()?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.lots < o.connections || o.connections == 0 || o.bidders < 2 {
        return Err("need lots ≥ connections ≥ 1 and at least 2 bidders".into());
    }
    Ok(o)
}

#[derive(Default)]
struct Tally {
    created: u64,
    rejected: u64,
    errors: u64,
    latency: Option<Histogram<u64>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = Arc::new(options()?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(o.connections)
        .tcp_nodelay(true)
        .build()?;
    let lots = if o.bare {
        (0..o.lots).map(|i| format!("lot{i}")).collect()
    } else {
        create_lots(&http, &o).await?
    };
    if let Some(path) = &o.write_lots {
        // For wrk (hosts/load/bids.lua): create the lots, list them, stop.
        std::fs::write(path, lots.join("\n") + "\n")?;
        println!("wrote {} lot ids to {path}", lots.len());
        return Ok(());
    }
    let lots = Arc::new(lots);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.secs);
    let mut tasks = Vec::new();
    for worker in 0..o.connections {
        let (http, o, lots) = (http.clone(), o.clone(), lots.clone());
        tasks.push(tokio::spawn(async move {
            run_worker(&http, &o, &lots, worker, deadline).await
        }));
    }
    let mut total = Tally {
        latency: Some(Histogram::new(3)?),
        ..Tally::default()
    };
    for task in tasks {
        let t = task.await?;
        total.created += t.created;
        total.rejected += t.rejected;
        total.errors += t.errors;
        if let (Some(sum), Some(part)) = (total.latency.as_mut(), t.latency.as_ref()) {
            sum.add(part)?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let h = total.latency.ok_or("no histogram")?;
    let requests = total.created + total.rejected + total.errors;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "requests {requests} in {elapsed:.1}s: {:.0} req/s; accepted (201) {} = {:.0} bids/s; rejected {}; errors {}",
        requests as f64 / elapsed,
        total.created,
        total.created as f64 / elapsed,
        total.rejected,
        total.errors
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0
    );
    Ok(())
}

async fn create_lots(
    http: &reqwest::Client,
    o: &Options,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let ends = chrono::Utc::now() + chrono::Duration::days(1);
    let mut lots = Vec::with_capacity(o.lots);
    for i in 0..o.lots {
        let reply = http
            .post(format!("{}/lots", o.url))
            .header("X-Participant", format!("load-seller-{}", i % 16))
            .header("X-Roles", "seller")
            .json(&json!({
                "title": format!("load lot {i}"), "format": "english", "currency": "USD",
                "startingPrice": "10.00", "endsAt": ends.to_rfc3339(),
            }))
            .send()
            .await?;
        if reply.status().as_u16() != 201 {
            return Err(
                format!("creating a lot: {} {}", reply.status(), reply.text().await?).into(),
            );
        }
        let body: serde_json::Value = reply.json().await?;
        lots.push(body["lotId"].as_str().ok_or("no lotId")?.to_owned());
    }
    Ok(lots)
}

async fn run_worker(
    http: &reqwest::Client,
    o: &Options,
    lots: &[String],
    worker: usize,
    deadline: Instant,
) -> Tally {
    let mine: Vec<&String> = lots.iter().skip(worker).step_by(o.connections).collect();
    let mut next_amount = vec![0_u64; mine.len()];
    let mut tally = Tally {
        latency: Histogram::new(3).ok(),
        ..Tally::default()
    };
    let mut n = 0_usize;
    while Instant::now() < deadline {
        let slot = n % mine.len();
        let bidder = (worker * 7919 + n) % o.bidders;
        let amount = 10 + next_amount[slot] * 100;
        next_amount[slot] += 1;
        n += 1;
        let sent = Instant::now();
        let reply = http
            .post(format!("{}/lots/{}/bids", o.url, mine[slot]))
            .header("X-Participant", format!("bidder-{bidder}"))
            .header("X-Roles", "bidder")
            .json(&json!({ "amount": format!("{amount}.00") }))
            .send()
            .await;
        let status = match reply {
            Ok(r) => {
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                Some(status)
            }
            Err(_) => None,
        };
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(h) = tally.latency.as_mut() {
            let _ = h.record(micros);
        }
        match status {
            Some(201) => tally.created += 1,
            Some(_) => tally.rejected += 1,
            None => tally.errors += 1,
        }
    }
    tally
}
