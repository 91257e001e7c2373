//! The supply chain: what cosmosd is built from obeys `deny.toml` (licenses, banned
//! crates, sources), the policy really refuses what it says it refuses, and the
//! package's copyright file lists every crate built into the binary.
//!
//! `cargo deny` runs with `--offline`: the advisory database needs a network the test
//! machines do not have (README, "Supply chain"). `scripts/setup.sh --test` installs
//! cargo-deny; without it these tests fail saying so.

use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `cargo <args>` from the project root, without the test's CARGO_* variables.
fn cargo(args: &[&str]) -> Output {
    crate::common::cargo_command()
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("cargo runs")
}

fn deny(config: &Path) -> Output {
    let installed = cargo(&["deny", "--version"]);
    assert!(
        installed.status.success(),
        "cargo-deny is not installed (scripts/setup.sh --test installs it): {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    cargo(&[
        "deny",
        "--offline",
        "--config",
        config.to_str().unwrap(),
        "check",
        "licenses",
        "bans",
        "sources",
    ])
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_dependency_graph_obeys_deny_toml() {
    let out = deny(&Path::new(ROOT).join("deny.toml"));
    assert!(
        out.status.success(),
        "cargo deny check failed:\n{}",
        text(&out)
    );
}

#[test]
fn the_policy_refuses_a_copyleft_crate_it_was_not_told_about_and_an_unused_allowance() {
    let policy = std::fs::read_to_string(Path::new(ROOT).join("deny.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Without the gphoto2 exceptions, the LGPL bindings are refused by name.
    let start = policy
        .find("exceptions = [")
        .expect("deny.toml has exceptions");
    let end = start
        + policy[start..]
            .find("\n]\n")
            .expect("the exceptions list ends")
        + 3;
    let no_exceptions = format!("{}{}", &policy[..start], &policy[end..]);
    let path = dir.path().join("no-exceptions.toml");
    std::fs::write(&path, no_exceptions).unwrap();
    let out = deny(&path);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "passed without the exceptions:\n{said}"
    );
    assert!(
        said.contains("gphoto2") && said.contains("LGPL-2.1-only"),
        "the refusal names neither the crate nor its license:\n{said}"
    );

    // A license nothing uses is itself an error, so the allow list stays the real one.
    let extra = policy.replacen("allow = [\n", "allow = [\n    \"AGPL-3.0-only\",\n", 1);
    assert_ne!(extra, policy);
    let path = dir.path().join("extra.toml");
    std::fs::write(&path, extra).unwrap();
    let out = deny(&path);
    let said = text(&out);
    assert!(!out.status.success(), "an unused allowance passed:\n{said}");
    assert!(said.contains("AGPL-3.0-only"), "not named:\n{said}");
}

#[test]
fn the_package_copyright_lists_every_crate_built_in() {
    // The file cargo deb makes /usr/share/doc/cosmosd/copyright is current …
    let out = Command::new("python3")
        .arg(Path::new(ROOT).join("scripts/deb-copyright.py"))
        .arg("--check")
        .current_dir(ROOT)
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", text(&out));

    // … it is the one the package uses …
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("license-file = [\"debian/dependency-licenses\", \"0\"]"),
        "Cargo.toml's [package.metadata.deb] does not append debian/dependency-licenses"
    );

    // … and it names the crates the daemon is built on, each with a license.
    let listed =
        std::fs::read_to_string(Path::new(ROOT).join("debian/dependency-licenses")).unwrap();
    for krate in [
        "tokio",
        "rusqlite",
        "tiny_http",
        "lettre",
        "rustls",
        "gphoto2",
        "age",
    ] {
        let stanza = listed
            .split("\n\n")
            .find(|s| s.starts_with(&format!("Files: {krate} ")))
            .unwrap_or_else(|| panic!("{krate} is not listed"));
        assert!(
            stanza.contains("\nLicense: "),
            "{krate} has no license: {stanza}"
        );
    }
    // Test-only crates do not ship, so they are not listed.
    assert!(
        !listed.contains("Files: tempfile "),
        "a dev-dependency is listed as shipped"
    );
    assert!(
        listed.contains("Files: SQLite"),
        "the bundled SQLite is not listed"
    );
}
