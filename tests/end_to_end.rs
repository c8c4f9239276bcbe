//! The `make run` flow, automated: the whole local stack (`graphwatch dev`), the demo account
//! connected as a browser would, the first scan's findings, an edited file rescanned alone, a
//! removed subscription recreated with the drive resynced, and a revoked refresh token turning
//! the connection to `needs_consent`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use graph_emulator::Fault;
use graphwatch::dev::{DevOptions, Stack};
use graphwatch_shared::store::{ConnectionStatus, Risk, ScanKind, ScanRecord, ScanStatus, Store};

/// Longest wait for an asynchronous effect (a scan, a recreated subscription).
const PATIENCE: Duration = Duration::from_secs(60);

async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The completed scans of a drive, oldest first.
async fn completed_scans(store: &Store, drive_id: &str) -> Vec<ScanRecord> {
    let mut scans: Vec<_> = store
        .latest_scans(drive_id, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.status == ScanStatus::Completed)
        .collect();
    scans.sort_by_key(|s| s.started_at);
    scans
}

async fn nth_completed_scan(store: &Store, drive_id: &str, n: usize) -> ScanRecord {
    eventually(&format!("completed scan #{n}"), || async {
        completed_scans(store, drive_id).await.into_iter().nth(n - 1)
    })
    .await
}

/// File name → (risk, scan id).
async fn results(store: &Store, drive_id: &str) -> HashMap<String, (Risk, String)> {
    store
        .file_results(drive_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.name, (r.risk, r.scan_id)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_flow_end_to_end() {
    // The stack's warnings (and more with RUST_LOG) are printed when the test fails.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(filter)
        .try_init();
    let state = tempfile::tempdir().unwrap();
    let stack = Stack::start(&DevOptions {
        port: 0,
        seed: None,
        table: graphwatch_testkit::unique_name("e2e"),
        state_dir: state.path().to_owned(),
        no_timers: true,
    })
    .await
    .unwrap();
    let info = stack.info.clone();
    let store = &stack.store;
    let drive = info.drive_id.as_str();

    // Connect as `curl -L /connect` does: /connect → the emulator's sign-in → /oauth/callback.
    let page = reqwest::get(format!("{}/connect", info.api)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Connected"));

    // The first scan is full and finds what the demo drive's README promises.
    let first = nth_completed_scan(store, drive, 1).await;
    assert_eq!(first.kind, ScanKind::Full);
    let found = results(store, drive).await;
    for (file, risk) in [
        ("DSCN0010.jpg", Risk::High),
        ("DSCN0021.jpg", Risk::High),
        ("payroll-2026-11.csv", Risk::Critical),
        ("deploy.env", Risk::Critical),
        ("vendor-contact.txt", Risk::Medium),
        ("meeting-notes.md", Risk::Low),
    ] {
        assert_eq!(found.get(file).map(|r| r.0), Some(risk), "{file}: {found:?}");
    }

    // An edited file is rescanned alone, by an incremental pass woken by Graph's notification.
    stack
        .emulator
        .add_file(
            drive,
            "/Projects",
            "vendor-contact.txt",
            "Card on file for the vendor: 4111 1111 1111 1111, expiry 09/29, CVV 123.\n",
        )
        .await
        .unwrap();
    let second = nth_completed_scan(store, drive, 2).await;
    assert_eq!(second.kind, ScanKind::Incremental);
    assert_eq!(second.totals.scanned, 1, "{second:?}");
    let after = results(store, drive).await;
    assert_eq!(after["vendor-contact.txt"].1, second.scan_id);
    assert_ne!(after["vendor-contact.txt"].0, Risk::Medium);
    assert_eq!(
        after["deploy.env"].1, first.scan_id,
        "unchanged files keep their result"
    );

    // Graph drops the subscription and says so: a new one replaces it and the drive resyncs.
    let connection = |s: &Store| {
        let s = s.clone();
        let (tenant, oid) = (info.tenant_id.clone(), graph_emulator::DEMO_USER_OID.to_owned());
        async move { s.connection_items(&tenant, &oid).await.unwrap() }
    };
    let old = connection(store)
        .await
        .subscriptions
        .into_iter()
        .find(|s| s.active)
        .unwrap();
    stack
        .emulator
        .inject_fault(Fault::RemoveSubscription {
            subscription_id: old.id.clone(),
            force: true,
        })
        .await
        .unwrap();
    let new = eventually("a recreated subscription", || async {
        connection(store)
            .await
            .subscriptions
            .into_iter()
            .find(|s| s.active && s.id != old.id)
    })
    .await;
    assert_eq!(new.resource, old.resource);
    let on_graph = reqwest::get(format!("{}/_emulator/subscriptions", stack.emulator.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(on_graph.contains(&new.id) && !on_graph.contains(&old.id), "{on_graph}");
    nth_completed_scan(store, drive, 3).await;

    // The user's refresh tokens are revoked: the next renewal run finds out and says so.
    stack.emulator.revoke_refresh_tokens(&info.user).await.unwrap();
    stack
        .emulator
        .inject_fault(Fault::Lifecycle {
            subscription_id: new.id.clone(),
            event: graph_emulator::LifecycleEvent::ReauthorizationRequired,
            force: false,
        })
        .await
        .unwrap();
    eventually("the connection marked needs_consent", || async {
        let c = store
            .get_connection(&info.tenant_id, graph_emulator::DEMO_USER_OID)
            .await
            .unwrap()?;
        (c.status == ConnectionStatus::NeedsConsent).then_some(())
    })
    .await;

    stack.stop().await;
}
