//! Finds the Python interpreter that has grpcio, for tests that run real Python peers.
//! Shared by the tests of several packages through `#[path]`.

/// The Python interpreter with grpcio: `TERN_PYTHON`, or the repository's `.venv` that
/// `scripts/test.sh` creates.
#[allow(unreachable_pub)] // public in tern-tests, private in the tests that include it
pub fn python() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("TERN_PYTHON") {
        return path.into();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root
        .ancestors()
        .map(|dir| dir.join(".venv/bin/python"))
        .find(|path| path.exists());
    venv.expect("no Python with grpcio: run scripts/test.sh (it creates .venv) or set TERN_PYTHON")
}
