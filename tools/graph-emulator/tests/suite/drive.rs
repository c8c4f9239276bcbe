//! Drives: delta paging, incremental delta, deletes, 410 resync, ranged downloads, seeding.

use graph_emulator::{Emulator, EmulatorConfig, DEMO_DRIVE_ID};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

/// Follows `@odata.nextLink` to the end; returns every page's items and the final deltaLink.
async fn delta_all(token: &str, first: &str) -> (Vec<Vec<Value>>, String) {
    let mut url = first.to_string();
    let mut pages = Vec::new();
    loop {
        let response = client().get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        pages.push(body["value"].as_array().unwrap().clone());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(body.get("@odata.deltaLink").is_none());
            url = next.to_string();
        } else {
            return (pages, body["@odata.deltaLink"].as_str().unwrap().to_string());
        }
    }
}

fn names(pages: &[Vec<Value>]) -> Vec<String> {
    pages
        .iter()
        .flatten()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

fn delta_url(emu: &Emulator) -> String {
    format!("{}/drives/{DEMO_DRIVE_ID}/root/delta", emu.graph_base_url())
}

#[tokio::test]
async fn delta_pages_then_returns_only_changes_and_deletions() {
    let emu = start(EmulatorConfig {
        delta_page_size: 2,
        ..Default::default()
    })
    .await;
    for name in ["a.txt", "b.txt", "c.txt"] {
        emu.add_file(DEMO_DRIVE_ID, "/Docs", name, name.as_bytes())
            .await
            .unwrap();
    }
    emu.add_file(DEMO_DRIVE_ID, "/", "photo.jpg", vec![0xFF, 0xD8, 0xFF])
        .await
        .unwrap();
    let token = access_token(&emu).await;

    let (pages, delta_link) = delta_all(&token, &delta_url(&emu)).await;
    assert_eq!(pages.len(), 3, "6 items in pages of 2");
    assert!(pages.iter().all(|p| p.len() <= 2));
    let mut all = names(&pages);
    all.sort();
    assert_eq!(all, ["Docs", "a.txt", "b.txt", "c.txt", "photo.jpg", "root"]);
    let items: Vec<&Value> = pages.iter().flatten().collect();
    let root = items.iter().find(|i| i["name"] == "root").unwrap();
    assert!(root["root"].is_object() && root["folder"].is_object());
    let docs = items.iter().find(|i| i["name"] == "Docs").unwrap();
    assert_eq!(docs["folder"]["childCount"], 3);
    let a = items.iter().find(|i| i["name"] == "a.txt").unwrap();
    assert_eq!(a["file"]["mimeType"], "text/plain");
    assert_eq!(a["size"], 5);
    assert_eq!(a["parentReference"]["driveId"], DEMO_DRIVE_ID);
    assert_eq!(a["parentReference"]["path"], "/drive/root:/Docs");
    for field in ["id", "cTag", "eTag", "lastModifiedDateTime"] {
        assert!(a[field].is_string(), "{field}");
    }
    let photo = items.iter().find(|i| i["name"] == "photo.jpg").unwrap();
    assert_eq!(photo["file"]["mimeType"], "image/jpeg");
    assert_eq!(photo["parentReference"]["path"], "/drive/root:");

    // Nothing changed: an empty delta.
    let (pages, delta_link) = delta_all(&token, &delta_link).await;
    assert!(names(&pages).is_empty());

    // Replace b, delete c: only those (and their ancestors) come back.
    let old_ctag = items.iter().find(|i| i["name"] == "b.txt").unwrap()["cTag"].clone();
    emu.add_file(DEMO_DRIVE_ID, "/Docs", "b.txt", "changed!").await.unwrap();
    let c = emu.item_id(DEMO_DRIVE_ID, "/Docs/c.txt").unwrap();
    emu.delete_item(DEMO_DRIVE_ID, &c).await.unwrap();
    let (pages, _) = delta_all(&token, &delta_link).await;
    let changed: Vec<&Value> = pages.iter().flatten().collect();
    let b = changed.iter().rev().find(|i| i["name"] == "b.txt").unwrap();
    assert_ne!(b["cTag"], old_ctag);
    assert_eq!(b["size"], 8);
    let deleted = changed.iter().find(|i| i["id"] == c.as_str()).unwrap();
    assert_eq!(deleted["deleted"], json!({"state": "deleted"}));
    assert!(changed.iter().all(|i| i["name"] != "a.txt" && i["name"] != "photo.jpg"));
}

#[tokio::test]
async fn items_changed_during_paging_repeat_on_a_later_page() {
    let emu = start(EmulatorConfig {
        delta_page_size: 2,
        ..Default::default()
    })
    .await;
    for name in ["1.txt", "2.txt", "3.txt"] {
        emu.add_file(DEMO_DRIVE_ID, "/", name, "x").await.unwrap();
    }
    let token = access_token(&emu).await;
    let first: Value = client()
        .get(delta_url(&emu))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_names: Vec<_> = first["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(first_names, [json!("1.txt"), json!("2.txt")]);
    emu.add_file(DEMO_DRIVE_ID, "/", "1.txt", "xy").await.unwrap();
    let (rest, _) = delta_all(&token, first["@odata.nextLink"].as_str().unwrap()).await;
    let rest = names(&rest);
    assert!(rest.contains(&"1.txt".to_string()), "{rest:?}");
}

#[tokio::test]
async fn latest_token_and_invalidated_tokens() {
    let emu = start(EmulatorConfig::default()).await;
    emu.add_file(DEMO_DRIVE_ID, "/", "old.txt", "x").await.unwrap();
    let token = access_token(&emu).await;
    let latest: Value = client()
        .get(format!("{}?token=latest", delta_url(&emu)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["value"], json!([]));
    let link = latest["@odata.deltaLink"].as_str().unwrap().to_string();
    emu.add_file(DEMO_DRIVE_ID, "/", "new.txt", "y").await.unwrap();
    let (pages, _) = delta_all(&token, &link).await;
    let changed = names(&pages);
    assert!(changed.contains(&"new.txt".to_string()) && !changed.contains(&"old.txt".to_string()));

    emu.invalidate_delta_tokens(DEMO_DRIVE_ID).await.unwrap();
    let response = client().get(&link).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert_eq!(location, delta_url(&emu));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resyncRequired");
    let (pages, _) = delta_all(&token, &location).await;
    assert_eq!(names(&pages).len(), 3, "root, old.txt, new.txt");
}

#[tokio::test]
async fn content_redirects_to_a_preauthenticated_url_that_honours_ranges() {
    let emu = start(EmulatorConfig::default()).await;
    let bytes: Vec<u8> = (0..=255u8).collect();
    let change = emu
        .add_file(DEMO_DRIVE_ID, "/Photos", "p.jpg", bytes.clone())
        .await
        .unwrap();
    let id = change.item.unwrap()["id"].as_str().unwrap().to_string();
    let token = access_token(&emu).await;
    let (status, headers, _) = graph(
        &emu,
        Method::GET,
        &format!("/drives/{DEMO_DRIVE_ID}/items/{id}/content"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    let url = headers[header::LOCATION].to_str().unwrap().to_string();

    // No Authorization header needed.
    let ranged = client()
        .get(&url)
        .header(header::RANGE, "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.headers()[header::CONTENT_RANGE], "bytes 0-9/256");
    assert_eq!(ranged.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &bytes[0..10]);

    let tail = client()
        .get(&url)
        .header(header::RANGE, "bytes=250-")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.headers()[header::CONTENT_RANGE], "bytes 250-255/256");
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &bytes[250..]);

    let full = client().get(&url).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.bytes().await.unwrap().len(), 256);

    let beyond = client()
        .get(&url)
        .header(header::RANGE, "bytes=300-400")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.headers()[header::CONTENT_RANGE], "bytes */256");

    let stats = emu.stats();
    assert_eq!(stats.content_bytes_served, 10 + 6 + 256);
    assert_eq!(stats.count("GET /_layouts/15/download.aspx", 206), 2);

    // Short-lived: an hour later the URL no longer works.
    emu.advance_clock(3601);
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn control_api_adds_finds_and_deletes_items_over_http() {
    let emu = start(EmulatorConfig::default()).await;
    let base = emu.base_url();
    let response = client()
        .post(format!("{base}/_emulator/drives/{DEMO_DRIVE_ID}/items"))
        .json(&json!({"name": "notes.txt", "path": "/Work", "content_base64": "aGVsbG8="}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let change: Value = response.json().await.unwrap();
    assert_eq!(change["item"]["size"], 5);
    let found: Value = client()
        .get(format!(
            "{base}/_emulator/drives/{DEMO_DRIVE_ID}/items?path=/Work/notes.txt"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["id"], change["item"]["id"]);
    let deleted = client()
        .delete(format!(
            "{base}/_emulator/drives/{DEMO_DRIVE_ID}/items/{}",
            found["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(emu.item_id(DEMO_DRIVE_ID, "/Work/notes.txt"), None);
    let unknown = client()
        .post(format!("{base}/_emulator/drives/nope/items"))
        .json(&json!({"name": "x", "content_base64": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn seed_folder_is_loaded_into_the_demo_drive() {
    let dir = std::env::temp_dir().join(format!("graph-emulator-seed-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("Photos")).unwrap();
    std::fs::write(dir.join("Photos/cat.png"), [0x89, b'P', b'N', b'G']).unwrap();
    std::fs::write(dir.join("report.pdf"), b"%PDF-1.7").unwrap();
    let emu = start(EmulatorConfig {
        seed_drive: Some(dir.clone()),
        ..Default::default()
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
    let token = access_token(&emu).await;
    let (pages, _) = delta_all(&token, &delta_url(&emu)).await;
    let items: Vec<&Value> = pages.iter().flatten().collect();
    let cat = items.iter().find(|i| i["name"] == "cat.png").unwrap();
    assert_eq!(cat["file"]["mimeType"], "image/png");
    assert_eq!(cat["parentReference"]["path"], "/drive/root:/Photos");
    let pdf = items.iter().find(|i| i["name"] == "report.pdf").unwrap();
    assert_eq!(pdf["file"]["mimeType"], "application/pdf");
}
