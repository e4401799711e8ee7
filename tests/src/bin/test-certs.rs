//! `test-certs DIR`: writes a new test CA and its server and client certificates into DIR
//! (`ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`), for the interop runs and
//! the peers in other languages. Fresh keys every time; nothing to check in.

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: test-certs DIR");
        return std::process::ExitCode::from(64);
    };
    tern_tests::pki::TestPki::new("Tern test CA").write_standard_set(std::path::Path::new(&dir));
    std::process::ExitCode::SUCCESS
}
