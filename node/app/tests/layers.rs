//! The crates as built keep the layers ARCHITECTURE.md lists: every normal
//! (non-dev) dependency between workspace crates points to a lower layer,
//! modules never depend on a node crate, and the app never on the wallet.
use std::collections::BTreeMap;

/// Layers from the bottom, as ARCHITECTURE.md ("Dependencies point down")
/// lists them; a crate may depend only on crates of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["kawase-primitives", "kawase-tls", "kawase-audit"],
    &["kawase-accounts", "kawase-state", "kawase-rpc"],
    &["kawase-token", "kawase-ibc"],
    &["kawase-settlement"],
    &["kawase-client", "kawase-app"],
    &["kawase-devkit", "kawase-consensus"],
    &["kawase-node", "kawase-relayer"],
    &["kawase-testkit"],
];

/// Each workspace crate's manifest path and its normal workspace dependencies.
fn workspace() -> BTreeMap<String, (String, Vec<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<String> = packages.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.iter().any(|n| n == d))
                .map(str::to_owned)
                .collect();
            let path = p["manifest_path"].as_str().expect("manifest path").to_owned();
            (p["name"].as_str().expect("name").to_owned(), (path, deps))
        })
        .collect()
}

fn layer(name: &str) -> usize {
    LAYERS.iter().position(|l| l.contains(&name)).unwrap_or_else(|| panic!("{name} is in no layer: add it"))
}

#[test]
fn every_dependency_between_workspace_crates_points_to_a_lower_layer() {
    let crates = workspace();
    assert_eq!(crates.len(), LAYERS.iter().map(|l| l.len()).sum::<usize>(), "every crate has one layer");
    for (name, (_, deps)) in &crates {
        for d in deps {
            assert!(layer(d) < layer(name), "{name} (layer {}) depends on {d} (layer {})", layer(name), layer(d));
        }
    }
}

#[test]
fn modules_never_depend_on_node_crates_and_the_app_not_on_the_wallet() {
    let crates = workspace();
    for (name, (path, deps)) in &crates {
        if path.contains("/modules/") {
            for d in deps {
                let (dep_path, _) = &crates[d];
                assert!(dep_path.contains("/modules/"), "module {name} depends on {d} ({dep_path})");
            }
        }
    }
    let (_, app) = &crates["kawase-app"];
    assert!(!app.iter().any(|d| d == "kawase-client"), "the app depends on the wallet crate: {app:?}");
}
