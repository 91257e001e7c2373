//! The architecture invariants of ARCHITECTURE.md that a machine can check, read off the
//! source tree: which module may use which crate, no clock in the domain, no import
//! circles between the crate's top-level modules, and no oversized file without a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `src/`, with its path relative to `src/`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(SRC), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(SRC)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The code of a file without its comments (line comments and doc comments), so a
/// sentence about SQL or JSON does not count as using it.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // keep `//` inside string literals such as "http://…"
            Some(i) if l[..i].matches('"').count() % 2 == 0 => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Files outside `allowed` (a path prefix) whose code mentions any of `needles`.
fn offenders(allowed: &[&str], needles: &[&str]) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(rel, _)| !allowed.iter().any(|a| rel.starts_with(a)))
        .filter(|(_, text)| {
            let c = code(text);
            needles.iter().any(|n| c.contains(n))
        })
        .map(|(rel, _)| rel)
        .collect()
}

#[test]
fn only_the_store_knows_sql() {
    let bad = offenders(&["store/"], &["rusqlite"]);
    assert!(bad.is_empty(), "rusqlite used outside src/store/: {bad:?}");
}

#[test]
fn only_the_api_knows_json() {
    // The technician webhook's body is the one other JSON the box sends.
    let bad = offenders(&["api/", "oncall/webhook.rs"], &["serde_json", "json!"]);
    assert!(bad.is_empty(), "JSON built outside src/api/: {bad:?}");
}

#[test]
fn only_the_api_knows_tiny_http() {
    let bad = offenders(&["api/"], &["tiny_http::", "use tiny_http"]);
    assert!(bad.is_empty(), "tiny_http used outside src/api/: {bad:?}");
}

#[test]
fn the_domain_takes_the_time_as_an_argument() {
    for (rel, text) in sources() {
        if rel == "show.rs" || rel.starts_with("show/") {
            let c = code(&text);
            for clock in ["Utc::now", "Local::now", "SystemTime::now", "Instant::now"] {
                assert!(!c.contains(clock), "{rel} reads the clock ({clock})");
            }
        }
    }
}

/// The top-level module a file belongs to (`store/guests.rs` → `store`).
fn module_of(rel: &str) -> Option<String> {
    let first = rel.split('/').next()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

#[test]
fn no_import_circles_between_top_level_modules() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = sources();
    let modules: BTreeSet<String> = files.iter().filter_map(|(r, _)| module_of(r)).collect();
    for (rel, text) in &files {
        let Some(from) = module_of(rel) else { continue };
        let c = code(text);
        for to in &modules {
            if *to != from
                && (c.contains(&format!("crate::{to}::"))
                    || c.contains(&format!("crate::{to};"))
                    || c.contains(&format!("crate::{to},"))
                    || c.contains(&format!("crate::{{{to}")))
            {
                edges.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    // Tarjan-free check: a module is in a circle when it can reach itself.
    let mut circles = Vec::new();
    for start in &modules {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((m, path)) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if next == start {
                    let mut c = path.clone();
                    c.push(start.clone());
                    circles.push(c.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_file_over_600_lines_without_a_reason_at_its_top() {
    let mut bad = Vec::new();
    for (rel, text) in sources() {
        let lines = text.lines().count();
        let head: String = text.lines().take(15).collect::<Vec<_>>().join("\n");
        if lines > 600 && !head.contains("Over 600 lines:") {
            bad.push(format!("{rel}: {lines} lines"));
        }
    }
    assert!(
        bad.is_empty(),
        "files over 600 lines without an `Over 600 lines:` reason in their opening comment: {bad:?}"
    );
}
