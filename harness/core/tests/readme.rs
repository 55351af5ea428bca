//! The book's table of checks (`docs/src/checks.md`) and the code agree on
//! every check and on when each runs
//! ([`clusterlab_core::check::gate::GATES`]), and every check a scenario can
//! name ([`clusterlab_scenario::checks::KINDS`]) is in the table.

use std::collections::BTreeMap;

use clusterlab_core::check::gate::GATES;

/// `check -> "runs with"` from the book's table of checks.
fn table() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/src/checks.md"
    ))
    .expect("docs/src/checks.md");
    let start = text
        .find("| check | kind | what it asserts | runs with | worlds |")
        .expect("the table of checks in docs/src/checks.md");
    text[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            (cols[1].trim_matches('`').to_string(), cols[4].to_string())
        })
        .collect()
}

#[test]
fn the_readme_and_the_code_agree_on_every_gate() {
    let table = table();
    let gates: BTreeMap<String, String> = GATES
        .iter()
        .map(|(n, g)| (n.to_string(), g.to_string()))
        .collect();
    assert_eq!(
        table, gates,
        "docs/src/checks.md's table of checks (left) against GATES (right)"
    );
    for check in clusterlab_scenario::checks::names() {
        assert!(
            table.contains_key(check),
            "{check} is not in docs/src/checks.md's table"
        );
    }
}
