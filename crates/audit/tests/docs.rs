//! docs/audit.md documents every check, with the catalog's severity.
#![allow(clippy::unwrap_used)]

#[test]
fn the_user_guide_lists_every_check_with_its_severity() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/audit.md");
    let doc = std::fs::read_to_string(path).unwrap();
    for c in proofkey_audit::catalog::ALL {
        let row = format!("| `{}` | {} |", c.id, c.severity.as_str());
        assert!(
            doc.contains(&row),
            "docs/audit.md lacks the row for {}",
            c.id
        );
    }
}
