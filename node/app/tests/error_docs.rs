//! Every registered module's error codes are documented in docs/errors.md,
//! under a section named by the module's codespace: a module cannot be
//! registered with codes integrators cannot look up.
use kawase_app::modules;

#[test]
fn every_registered_error_code_has_a_row_in_the_error_docs() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md")).expect("docs");
    for m in modules::standard().modules() {
        let heading = format!("## `{}`", m.name());
        let start = docs.find(&heading).unwrap_or_else(|| panic!("docs/errors.md has no section {heading}"));
        let section = &docs[start + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        for e in m.error_codes() {
            // Code 1 of a module whose code 1 is storage is documented once,
            // in the introduction (it halts the node; it is never a result).
            if e.code == 1 && e.name.starts_with("storage") {
                continue;
            }
            let row = format!("\n| {} |", e.code);
            assert!(section.contains(&row), "{heading}: no row for code {} ({})", e.code, e.name);
        }
    }
}
