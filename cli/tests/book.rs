//! The book (`docs/`, built by mdbook) and the README link to each other and
//! into the repository. A link that leads nowhere fails CI here, as does a
//! page the table of contents names but nobody wrote, or one written but
//! left out of it (mdbook would not build it); and the README stays what a
//! newcomer reads in two minutes: at most 200 lines.

use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const BOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src");

/// The files the relative markdown links `](target)` of `text` lead to
/// (without their `#anchor`), outside fenced code blocks, by line number.
fn links(text: &str) -> Vec<(usize, String)> {
    let (mut out, mut fenced) = (Vec::new(), false);
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let mut rest = if fenced { "" } else { line };
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            let target = target.trim_matches(|c: char| c == '<' || c == '>');
            let remote = ["http://", "https://", "mailto:"]
                .iter()
                .any(|r| target.starts_with(*r));
            let file = target.split('#').next().unwrap_or("");
            if !remote && !file.is_empty() {
                out.push((i + 1, file.to_string()));
            }
            rest = &rest[end..];
        }
    }
    out
}

/// Every `.md` file under `dir`.
fn pages(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            out.extend(pages(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_page_of_the_summary_exists_and_every_page_is_in_it() {
    let book = Path::new(BOOK);
    let summary = read(&book.join("SUMMARY.md"));
    let listed: Vec<PathBuf> = links(&summary).iter().map(|(_, t)| book.join(t)).collect();
    assert!(!listed.is_empty(), "docs/src/SUMMARY.md lists no page");
    let missing: Vec<_> = listed.iter().filter(|p| !p.is_file()).collect();
    assert!(
        missing.is_empty(),
        "SUMMARY.md lists pages that do not exist: {missing:?}"
    );
    let left_out: Vec<_> = pages(book)
        .into_iter()
        .filter(|p| !p.ends_with("SUMMARY.md") && !listed.contains(p))
        .collect();
    assert!(
        left_out.is_empty(),
        "pages not in SUMMARY.md (mdbook leaves them out): {left_out:?}"
    );
}

#[test]
fn every_relative_link_leads_somewhere() {
    let book = std::fs::canonicalize(BOOK).expect("docs/src");
    let mut files = pages(&book);
    files.push(Path::new(ROOT).join("README.md"));
    let mut broken = Vec::new();
    for file in &files {
        for (line, target) in links(&read(file)) {
            let at = format!("{}:{line}: {target}", file.display());
            match std::fs::canonicalize(file.parent().expect("a folder").join(target)) {
                Err(_) => broken.push(format!("{at} does not exist")),
                // mdbook copies only docs/src: a page's link out of it is dead in the book.
                Ok(to) if file.starts_with(&book) && !to.starts_with(&book) => {
                    broken.push(format!("{at} is outside docs/src"));
                }
                Ok(_) => {}
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_stays_short() {
    let lines = read(&Path::new(ROOT).join("README.md")).lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines, at most 200: the rest goes to docs/src/"
    );
}
