//! The shared crate's layers only look down (docs/architecture.md, "Layers"): each module may
//! use only the modules listed for it here, and the privacy engine stays pure. A new `use
//! crate::…` that reaches up fails this test; move the thing, not the arrow.

use std::collections::BTreeSet;
use std::path::Path;

/// The shared crate's modules, bottom layer first (the same list as the crate doc and
/// docs/architecture.md). A module may use the modules of the layers below its own, and no other.
const LAYERS: &[&[&str]] = &[
    &["config"],
    &["crypt", "http", "telemetry"],
    &["store", "secrets"],
    &["clients"],
    &["identity", "notify"],
    &["graph"],
    &["tokens", "subscriptions"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file reaches through `crate::`, outside comments; a braced group
/// (`use crate::{a, b::c}`, possibly over several lines) counts each of its heads.
fn crate_uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut uses = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // the head of each comma-separated entry at the group's own depth
            let (mut depth, mut at_head) = (0, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_head = true,
                    c if at_head && !c.is_whitespace() => {
                        uses.insert(ident(&group[i..]));
                        at_head = false;
                    }
                    _ => {}
                }
            }
        } else {
            uses.insert(ident(rest));
        }
    }
    uses.remove("");
    uses
}

#[test]
fn shared_modules_only_use_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut modules = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" {
            continue;
        }
        let Some(layer) = layer_of(&module) else {
            wrong.push(format!("{}: module `{module}` has no layer in LAYERS", file.display()));
            continue;
        };
        modules.insert(module.clone());
        for used in crate_uses(&std::fs::read_to_string(file).unwrap()) {
            match layer_of(&used) {
                _ if used == module => {}
                Some(below) if below < layer => {}
                _ => wrong.push(format!(
                    "{}: `{module}` uses `{used}`, which is not below it",
                    file.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    let listed: BTreeSet<String> = LAYERS.iter().flat_map(|l| l.iter().map(|m| m.to_string())).collect();
    assert_eq!(listed, modules, "LAYERS lists exactly the modules of shared/src");
}

/// The names in a manifest's `[dependencies]` table.
fn dependencies(manifest: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest);
    let text = std::fs::read_to_string(path).unwrap();
    let table = text
        .split("\n[dependencies]\n")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    table
        .lines()
        .filter_map(|l| l.split('=').next())
        .map(|n| n.trim().trim_end_matches(".workspace").to_owned())
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect()
}

#[test]
fn the_privacy_engine_stays_pure_and_apart() {
    let engine = dependencies("privacy/Cargo.toml");
    assert!(
        engine.contains(&"quick-xml".to_owned()),
        "the manifest was read: {engine:?}"
    );
    for name in &engine {
        for banned in ["aws", "tokio", "reqwest", "hyper", "lambda", "graphwatch-shared"] {
            assert!(!name.starts_with(banned), "graphwatch-privacy depends on {name}");
        }
    }
    let shared = dependencies("Cargo.toml");
    assert!(
        shared.contains(&"aws-sdk-dynamodb".to_owned()),
        "the manifest was read: {shared:?}"
    );
    assert!(
        !shared.contains(&"graphwatch-privacy".to_owned()),
        "only privacy-scan and the CLI compile the engine"
    );
}

#[test]
fn the_crate_uses_scanner_ignores_comments_and_finds_every_reference() {
    let text = "use crate::store::Store; // crate::graph\nlet x = crate::crypt::seal();\nuse crate::{\n    config::{Config, Limits},\n    http,\n};";
    let uses = crate_uses(text);
    assert_eq!(
        uses.into_iter().collect::<Vec<_>>(),
        ["config", "crypt", "http", "store"]
    );
}
