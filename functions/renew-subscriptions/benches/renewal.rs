//! Renewal throughput against DynamoDB Local and the Graph emulator: 10,000 subscriptions
//! (`RENEW_BENCH_SUBSCRIPTIONS`) in 10 tenants, all inside their renewal window, 50 ms of
//! emulator latency per Graph call, Graph's per-tenant write limit on (500 per 20 s) and
//! ours at its default (400 per 20 s). Prints the wall time, renewals per second against
//! the allowed maximum (tenants × 400 / 20 s; target ≥ 90%), lapsed subscriptions (target
//! 0) and the share of Graph calls answered 429 (target < 1%). Run with `make bench`
//! (which starts the local services); figures in docs/performance.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use graph_emulator::Fault;
use renew_subscriptions::renewal_window;
use time::{Duration, OffsetDateTime};

const TENANTS: usize = 10;
/// Creates per tenant between two advances of the emulator clock (below Graph's 500 per 20 s).
const SEED_ROUND: usize = 450;

fn main() {
    let total: usize = std::env::var("RENEW_BENCH_SUBSCRIPTIONS")
        .ok()
        .map(|v| v.parse().expect("RENEW_BENCH_SUBSCRIPTIONS is a number"))
        .unwrap_or(10_000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(bench(total));
}

async fn bench(total: usize) {
    let people = users(TENANTS, 1);
    let h = harness(people.clone(), &[]).await;
    let per_tenant = total / TENANTS;
    let seeding = Instant::now();
    let mut tokens = Vec::new();
    for user in &people {
        tokens.push(h.connect(user).await);
    }
    let expiration = OffsetDateTime::now_utc() + Duration::days(1);
    let mut seeded = 0;
    while seeded < per_tenant {
        let round = SEED_ROUND.min(per_tenant - seeded);
        futures::future::join_all(
            people
                .iter()
                .zip(&tokens)
                .map(|(user, token)| h.subscribe(user, token, round, expiration)),
        )
        .await;
        seeded += round;
        // a new write window on the emulator for the next round
        h.emulator.advance_clock(21);
    }
    let total = per_tenant * TENANTS;
    println!(
        "seeded {total} subscriptions in {TENANTS} tenants in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    h.emulator.inject_fault(Fault::Latency { ms: 50 }).await.unwrap();
    let before = h.emulator.stats();
    let started = Instant::now();
    let summary = h
        .app
        .handle(common::event("schedule-renewal.json", |_| {}), full_deadline())
        .await
        .expect("the run succeeds");
    let wall = started.elapsed().as_secs_f64();
    let after = h.emulator.stats();

    let graph_calls: u64 = after
        .requests
        .iter()
        .filter(|r| r.route.contains(" /v1.0/"))
        .map(|r| r.count)
        .sum::<u64>()
        - before
            .requests
            .iter()
            .filter(|r| r.route.contains(" /v1.0/"))
            .map(|r| r.count)
            .sum::<u64>();
    let throttled = after.throttled - before.throttled;
    let renewed = field(&summary, "renewed");
    let now = OffsetDateTime::now_utc();
    let window = renewal_window("/drives/x/root").expect("drives have a lifetime");
    let lapsed = h.store.subscriptions_expiring_before(now + window).await.unwrap().len();
    let allowed = (TENANTS as f64) * f64::from(h.config.limits.subscription_writes_per_20s) / 20.0;
    let rate = renewed as f64 / wall;
    println!("summary: {summary}");
    println!("wall time: {wall:.1} s for {renewed} renewals of {total}");
    println!(
        "renewals/s: {rate:.1} against an allowed maximum of {allowed:.0}/s: {:.0}% (target >= 90%)",
        100.0 * rate / allowed
    );
    println!("lapsed (still inside the window after the run): {lapsed} (target 0)");
    println!(
        "Graph calls answered 429: {throttled} of {graph_calls} ({:.2}%, target < 1%)",
        100.0 * throttled as f64 / graph_calls.max(1) as f64
    );
}
