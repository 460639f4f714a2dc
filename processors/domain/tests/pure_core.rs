//! The domain crate must stay a pure core: its normal dependency tree holds
//! no async runtime, broker, database, HTTP, mail or Avro crate.

use std::process::Command;

const FORBIDDEN: [&str; 9] = [
    "tokio",
    "rdkafka",
    "scylla",
    "axum",
    "reqwest",
    "lettre",
    "apache-avro",
    "hyper",
    "mio",
];

#[test]
fn the_domain_crate_depends_on_no_io_crate() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "slotstream-domain",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree could not be started");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"slotstream-domain"),
        "cargo tree printed no tree:\n{stdout}"
    );
    let found: Vec<&&str> = FORBIDDEN
        .iter()
        .filter(|bad| crates.contains(bad))
        .collect();
    assert!(
        found.is_empty(),
        "the pure core now depends on {found:?}:\n{stdout}"
    );
}
