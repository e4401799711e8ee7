//! Compiles the real-world protos with tern-build into `$OUT_DIR`, as a user's `build.rs`
//! would, and checks that `tern gen` wrote the same files from them.
//!
//! From the environment (set by tests/realworld/run.sh): `TERN_REALWORLD_ROOT`, the directory
//! the protos are under (the import path); `TERN_REALWORLD_LIST`, a file naming the protos to
//! compile, one a line, relative to the root; `TERN_REALWORLD_GEN`, where `tern gen` wrote its
//! output for the same protos.

use std::path::{Path, PathBuf};

fn var(name: &str) -> Result<PathBuf, String> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var_os(name)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{name} is not set: run tests/realworld/run.sh"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = var("TERN_REALWORLD_ROOT")?;
    let list = var("TERN_REALWORLD_LIST")?;
    let gen = var("TERN_REALWORLD_GEN")?;
    println!("cargo:rerun-if-changed={}", list.display());
    let text = std::fs::read_to_string(&list)
        .map_err(|e| format!("cannot read {}: {e}", list.display()))?;
    let protos: Vec<PathBuf> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| root.join(line.trim()))
        .collect();
    tern_build::compile_protos(&protos, &[&root])?;
    same_files(&PathBuf::from(std::env::var("OUT_DIR")?), &gen)
}

/// Every file `tern gen` wrote is in `$OUT_DIR` with the same bytes, and the other way round.
fn same_files(out: &Path, gen: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let names = |dir: &Path| -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            if entry.path().is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    };
    let (ours, theirs) = (names(out)?, names(gen)?);
    if ours != theirs {
        return Err(format!(
            "build.rs wrote {ours:?} but tern gen wrote {theirs:?} into {}",
            gen.display()
        )
        .into());
    }
    let differ: Vec<&String> = ours
        .iter()
        .filter(|name| std::fs::read(out.join(name)).ok() != std::fs::read(gen.join(name)).ok())
        .collect();
    if !differ.is_empty() {
        return Err(format!(
            "tern gen and build.rs wrote different code for {differ:?} ({} against {})",
            gen.display(),
            out.display()
        )
        .into());
    }
    Ok(())
}
