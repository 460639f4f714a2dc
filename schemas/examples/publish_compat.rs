//! Rewrites `schemas/compat/` from the current schemas: one fully resolved JSON
//! file per subject. Run it when releasing a new schema version and commit the
//! result; `tests/compat.rs` then guards the next change against it.
//!
//! `cargo run -p slotstream-schemas --example publish_compat`

use slotstream_schemas::{CompiledSchemas, subject_json};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat");
    std::fs::create_dir_all(&dir)?;
    for (subject, _) in CompiledSchemas::subjects() {
        let json = subject_json(subject).ok_or_else(|| format!("no JSON for {subject}"))?;
        let path = dir.join(format!("{subject}.json"));
        std::fs::write(&path, format!("{json}\n"))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
