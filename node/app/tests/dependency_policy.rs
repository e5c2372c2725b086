//! The dependency policy a bank's security office asks for, checked on every
//! `cargo test` from the resolved graph (`cargo metadata`, offline and locked;
//! no extra tools): no duplicated cryptography or TLS crates without a written
//! reason, every licence in the tree cleared, and the supply chain only from
//! the crates.io registry (no git dependencies, no paths outside the workspace).
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

/// Crates where two versions mean two audits, two sets of advisories, and two
/// implementations that may disagree.
const SECURITY_CRITICAL: &[&str] = &[
    "rustls",
    "ring",
    "ed25519-dalek",
    "ed25519-zebra",
    "curve25519-dalek",
    "secp256k1",
    "k256",
    "sha2",
    "tokio-rustls",
    "rustls-webpki",
    "x509-parser",
    "tendermint",
    "ibc-proto",
    "prost",
];

/// `(crate, version, why)`: an extra version of a security-critical crate the
/// tree carries knowingly. At most one version of each crate may be unlisted.
const SECOND_VERSIONS: &[(&str, &str, &str)] = &[
    (
        "rustls",
        "0.21.12",
        "reqwest 0.11 (hyper-rustls 0.24), the HTTP client tendermint-rpc 0.40's http-client is built on; \
         kawase-tls hands that same reqwest our CA and client identity. \
         Goes when tendermint-rpc moves to reqwest 0.12.",
    ),
    ("tokio-rustls", "0.24.1", "the reqwest 0.11 / hyper-rustls 0.24 chain under tendermint-rpc, as rustls 0.21."),
    ("rustls-webpki", "0.101.7", "rustls 0.21's certificate verifier (the reqwest 0.11 chain under tendermint-rpc)."),
    (
        "rustls",
        "0.22.4",
        "tendermint-rpc's websocket-client (async-tungstenite 0.24, tungstenite 0.21), enabled only by \
         kawase-rpc's dev-dependency for its tests; no shipped binary links it.",
    ),
    ("tokio-rustls", "0.25.0", "async-tungstenite 0.24 under tendermint-rpc's websocket-client, as rustls 0.22."),
    ("rustls-webpki", "0.102.8", "rustls 0.22's certificate verifier (kawase-rpc's tests only, as rustls 0.22)."),
    (
        "secp256k1",
        "0.27.0",
        "never compiled: bip32 0.5's `alloc` feature names `secp256k1-ffi?/alloc` and cargo's lock resolver \
         keeps weak optional dependencies (rust-lang/cargo#10801); \
         `cargo tree -e all --target all -i secp256k1@0.27.0` prints nothing.",
    ),
    (
        "sha2",
        "0.9.9",
        "ed25519-consensus 2.1 (tendermint 0.40's Ed25519 verifier, also used directly by kawase-consensus, \
         kawase-node, the test harness and kawase-app's tests) is still on digest 0.9; it uses only SHA-512.",
    ),
];

/// Licences (SPDX identifiers, `WITH` exceptions spelled out) the security
/// office has cleared. Never add GPL, LGPL or AGPL here.
const ALLOWED_LICENSES: &[&str] = &[
    "MIT",
    "Apache-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "CC0-1.0",
    "MPL-2.0",
    "0BSD",
    "BSL-1.0",
];

/// `(crate, why)`: crates with no SPDX `license`, only a `license-file`, read
/// and cleared by hand.
const LICENSE_FILE_ONLY: &[(&str, &str)] = &[];

const CRATES_IO: &[&str] =
    &["registry+https://github.com/rust-lang/crates.io-index", "sparse+https://index.crates.io/"];

/// `cargo metadata` with the resolved graph, run once for all the tests.
fn metadata() -> &'static serde_json::Value {
    static META: OnceLock<serde_json::Value> = OnceLock::new();
    META.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--offline", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("metadata is JSON")
    })
}

/// The packages in the resolved graph (`resolve.nodes`), workspace members included.
fn resolved_packages() -> Vec<&'static serde_json::Value> {
    let meta = metadata();
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve.nodes (metadata without --no-deps)");
    let ids: HashSet<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    let packages = meta["packages"].as_array().expect("packages");
    packages.iter().filter(|p| p["id"].as_str().is_some_and(|id| ids.contains(id))).collect()
}

fn field<'a>(p: &'a serde_json::Value, key: &str) -> &'a str {
    p[key].as_str().unwrap_or_else(|| panic!("package without a string `{key}`: {p}"))
}

fn is_workspace_member(p: &serde_json::Value) -> bool {
    let members = metadata()["workspace_members"].as_array().expect("workspace_members");
    members.iter().any(|m| m == &p["id"])
}

#[test]
fn security_critical_crates_have_one_version_each_or_a_written_reason() {
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in resolved_packages() {
        if SECURITY_CRITICAL.contains(&field(p, "name")) {
            versions.entry(field(p, "name")).or_default().insert(field(p, "version"));
        }
    }
    let mut problems = Vec::new();
    for (name, found) in &versions {
        let unlisted: Vec<&&str> =
            found.iter().filter(|v| !SECOND_VERSIONS.iter().any(|(n, sv, _)| n == name && sv == *v)).collect();
        if unlisted.len() > 1 {
            problems.push(format!(
                "{name} has versions {unlisted:?} without a reason: make them one \
                 (`cargo tree --offline -i {name}@<version>` shows who pulls each in), or add \
                 (\"{name}\", \"<version>\", \"<who pulls it in and why>\") to SECOND_VERSIONS"
            ));
        }
    }
    for (name, version, why) in SECOND_VERSIONS {
        assert!(SECURITY_CRITICAL.contains(name), "SECOND_VERSIONS names {name}, which is not in SECURITY_CRITICAL");
        assert!(!why.trim().is_empty(), "SECOND_VERSIONS entry {name} {version} needs a reason");
        if !versions.get(name).is_some_and(|v| v.contains(version)) {
            problems.push(format!("{name} {version} is no longer in the tree: delete its SECOND_VERSIONS entry"));
        }
    }
    assert!(problems.is_empty(), "duplicated security-critical crates:\n{}", problems.join("\n"));
}

#[test]
fn every_dependency_has_a_license_from_the_allowed_list() {
    let mut problems = Vec::new();
    for p in resolved_packages().into_iter().filter(|p| !is_workspace_member(p)) {
        let (name, version) = (field(p, "name"), field(p, "version"));
        match p["license"].as_str() {
            Some(expr) => match satisfiable(expr) {
                Ok(true) => {}
                Ok(false) => problems.push(format!(
                    "{name} {version}: `{expr}` is not satisfiable from ALLOWED_LICENSES: replace the crate, or have \
                     the security office clear the licence and add it to ALLOWED_LICENSES (never GPL, LGPL or AGPL)"
                )),
                Err(e) => problems.push(format!("{name} {version}: licence `{expr}` does not parse ({e})")),
            },
            None if LICENSE_FILE_ONLY.iter().any(|(n, _)| *n == name) => {}
            None => problems.push(format!(
                "{name} {version} has no SPDX licence (license-file: {}): read it and add (\"{name}\", \"<what it is \
                 and who cleared it>\") to LICENSE_FILE_ONLY, or replace the crate",
                p["license_file"]
            )),
        }
    }
    assert!(problems.is_empty(), "licences not cleared:\n{}", problems.join("\n"));
}

#[test]
fn no_dependency_comes_from_git_or_from_a_path_outside_the_workspace() {
    let root = field(metadata(), "workspace_root");
    let root = std::path::Path::new(root);
    let mut problems = Vec::new();
    for p in resolved_packages() {
        let (name, version) = (field(p, "name"), field(p, "version"));
        match p["source"].as_str() {
            None if std::path::Path::new(field(p, "manifest_path")).starts_with(root) => {}
            None => problems
                .push(format!("{name} {version} is a path dependency outside the workspace ({})", p["manifest_path"])),
            Some(s) if CRATES_IO.iter().any(|r| s.starts_with(r)) => {}
            Some(s) => problems.push(format!("{name} {version} comes from `{s}`")),
        }
    }
    assert!(
        problems.is_empty(),
        "dependencies from outside crates.io (publish them, or use a released crates.io version):\n{}",
        problems.join("\n")
    );
}

/// Whether the SPDX expression `expr` can be met with ALLOWED_LICENSES alone:
/// `OR` (and the legacy `/`) needs one side, `AND` both; `WITH` binds an
/// exception to its licence, and the pair must be allowed as written.
fn satisfiable(expr: &str) -> Result<bool, String> {
    let spaced = expr.replace('(', " ( ").replace(')', " ) ").replace('/', " / ");
    let mut parser = Parser { tokens: spaced.split_whitespace().collect(), at: 0 };
    let ok = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(ok),
        Some(t) => Err(format!("unexpected `{t}`")),
    }
}

struct Parser<'a> {
    tokens: Vec<&'a str>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn eat(&mut self, ops: &[&str]) -> bool {
        let hit = self.tokens.get(self.at).is_some_and(|t| ops.iter().any(|o| t.eq_ignore_ascii_case(o)));
        self.at += usize::from(hit);
        hit
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut ok = self.and()?;
        while self.eat(&["OR", "/"]) {
            ok |= self.and()?;
        }
        Ok(ok)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut ok = self.atom()?;
        while self.eat(&["AND"]) {
            ok &= self.atom()?;
        }
        Ok(ok)
    }

    fn atom(&mut self) -> Result<bool, String> {
        if self.eat(&["("]) {
            let ok = self.or()?;
            return if self.eat(&[")"]) { Ok(ok) } else { Err("missing `)`".into()) };
        }
        let id = self.id()?;
        let licence = if self.eat(&["WITH"]) { format!("{id} WITH {}", self.id()?) } else { id.to_owned() };
        Ok(ALLOWED_LICENSES.contains(&licence.as_str()))
    }

    fn id(&mut self) -> Result<&'a str, String> {
        let t = self.tokens.get(self.at).copied().ok_or("expression ends early")?;
        if ["(", ")", "/"].contains(&t) || ["OR", "AND", "WITH"].iter().any(|o| t.eq_ignore_ascii_case(o)) {
            return Err(format!("expected a licence, found `{t}`"));
        }
        self.at += 1;
        Ok(t)
    }
}

#[test]
fn the_licence_evaluator_needs_one_side_of_or_and_both_sides_of_and() {
    assert_eq!(satisfiable("MIT"), Ok(true));
    assert_eq!(satisfiable("MIT OR Apache-2.0"), Ok(true));
    assert_eq!(satisfiable("MIT/Apache-2.0"), Ok(true));
    assert_eq!(satisfiable("Unlicense/MIT"), Ok(true));
    assert_eq!(satisfiable("MIT OR Apache-2.0 OR LGPL-2.1-or-later"), Ok(true));
    assert_eq!(satisfiable("(MIT OR Apache-2.0) AND Unicode-3.0"), Ok(true));
    assert_eq!(satisfiable("Apache-2.0 WITH LLVM-exception"), Ok(true));
    assert_eq!(satisfiable("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"), Ok(true));
    assert_eq!(satisfiable("GPL-3.0"), Ok(false));
    assert_eq!(satisfiable("GPL-3.0-only OR AGPL-3.0-or-later"), Ok(false));
    assert_eq!(satisfiable("MIT AND GPL-2.0-or-later"), Ok(false));
    assert_eq!(satisfiable("(MIT OR Apache-2.0) AND LGPL-3.0"), Ok(false));
    assert_eq!(satisfiable("MIT AND LGPL-3.0 OR Apache-2.0"), Ok(true), "AND binds tighter than OR");
    assert_eq!(satisfiable("GPL-2.0 WITH Classpath-exception-2.0"), Ok(false));
    assert_eq!(satisfiable("Apache-2.0 WITH Some-other-exception"), Ok(false));
    for bad in ["", "MIT OR", "(MIT", "MIT)", "MIT Apache-2.0", "WITH MIT", "AND MIT"] {
        assert!(satisfiable(bad).is_err(), "`{bad}` should not parse");
    }
}
