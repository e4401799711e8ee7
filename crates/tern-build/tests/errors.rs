//! Broken `.proto` files: tern-build returns an error naming the file, line and column and what
//! is wrong, and never panics. Also the files that used to make prost-build panic.

use std::path::{Path, PathBuf};

/// A fresh directory holding `files` (name, text).
fn dir(test: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-build-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn compile(dir: &Path, protos: &[&str]) -> Result<(), tern_build::Error> {
    let protos: Vec<PathBuf> = protos.iter().map(|p| dir.join(p)).collect();
    tern_build::configure()
        .out_dir(dir.join("out"))
        .emit_rerun_if_changed(false)
        .compile(&protos, &[dir])
}

fn error(test: &str, files: &[(&str, &str)], protos: &[&str]) -> tern_build::Error {
    let dir = dir(test, files);
    let error = compile(&dir, protos).expect_err("a broken file compiled");
    let _ = std::fs::remove_dir_all(&dir);
    error
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let e = error(
        "syntax",
        &[(
            "api.proto",
            "syntax = \"proto3\";\npackage api;\n\nmessage Req {\n  string name = 1\n}\n",
        )],
        &["api.proto"],
    );
    assert_eq!(e.kind(), tern_build::ErrorKind::Proto);
    let text = e.to_string();
    assert!(text.starts_with("api.proto:6:1: expected ';'"), "{text}");
}

#[test]
fn an_unknown_type_names_where_it_is_used() {
    let e = error(
        "unknown",
        &[(
            "svc/api.proto",
            "syntax = \"proto3\";\npackage api;\n\nservice S {\n  rpc Get(Req) returns (Reply);\n}\nmessage Req {}\n",
        )],
        &["svc/api.proto"],
    );
    let text = e.to_string();
    assert!(
        text.starts_with("svc/api.proto:5:25: ") && text.contains("'Reply' is not defined"),
        "{text}"
    );
    let problem = &e.problems()[0];
    assert_eq!(problem.file.as_deref(), Some("svc/api.proto"));
    assert_eq!(problem.position, Some((5, 25)));
}

#[test]
fn a_missing_import_names_the_import_line() {
    let e = error(
        "import",
        &[(
            "api.proto",
            "syntax = \"proto3\";\n\nimport \"common/money.proto\";\n\nmessage Req {}\n",
        )],
        &["api.proto"],
    );
    let text = e.to_string();
    assert!(
        text.starts_with("api.proto:3:1: import 'common/money.proto' not found"),
        "{text}"
    );
}

#[test]
fn a_name_defined_twice_names_the_second_definition() {
    let e = error(
        "duplicate",
        &[(
            "api.proto",
            "syntax = \"proto3\";\npackage api;\nmessage Req {}\nenum Kind { KIND_A = 0; }\nmessage Req {}\n",
        )],
        &["api.proto"],
    );
    let text = e.to_string();
    assert!(
        text.starts_with("api.proto:5:9: name 'api.Req' is defined twice")
            && text.contains("(first defined here: 3:9)"),
        "{text}"
    );
}

#[test]
fn several_syntax_errors_are_all_reported() {
    let e = error(
        "several",
        &[(
            "api.proto",
            "syntax = \"proto3\";\nmessage A { int32 x = ; }\nmessage B { int32 y = ; }\n",
        )],
        &["api.proto"],
    );
    let lines: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(lines[0].starts_with("api.proto:2:"), "{lines:?}");
    assert!(lines[1].starts_with("api.proto:3:"), "{lines:?}");
}

#[test]
fn a_file_outside_the_includes_is_an_error() {
    let dir = dir("outside", &[]);
    std::fs::create_dir_all(&dir).unwrap();
    let e = tern_build::configure()
        .out_dir(dir.join("out"))
        .emit_rerun_if_changed(false)
        .compile(&[dir.join("nowhere.proto")], &[&dir])
        .unwrap_err();
    assert!(e.to_string().contains("nowhere.proto"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn methods_that_collide_in_rust_are_an_error_not_broken_code() {
    let e = error(
        "collide",
        &[(
            "api.proto",
            "syntax = \"proto3\";\npackage api;\nmessage M {}\nservice S {\n  rpc GetThing(M) returns (M);\n  rpc get_thing(M) returns (M);\n}\n",
        )],
        &["api.proto"],
    );
    let text = e.to_string();
    assert!(
        text.contains("service api.S: methods GetThing and get_thing both become `get_thing`"),
        "{text}"
    );
}

#[test]
fn an_invalid_extern_path_is_a_config_error() {
    let dir = dir(
        "extern",
        &[("api.proto", "syntax = \"proto3\";\nmessage M {}\n")],
    );
    let e = tern_build::configure()
        .extern_path("no.leading.dot", "::x")
        .out_dir(dir.join("out"))
        .emit_rerun_if_changed(false)
        .compile(&[dir.join("api.proto")], &[&dir])
        .unwrap_err();
    assert_eq!(e.kind(), tern_build::ErrorKind::Config);
    assert!(e.to_string().contains("no.leading.dot"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bug that opened issue 10: prost maps Empty to `()`, and the service generator wrote
/// `super::()`, on which prost-build panicked.
#[test]
fn a_method_returning_empty_compiles() {
    let dir = dir(
        "empty",
        &[(
            "api.proto",
            "syntax = \"proto3\";\npackage api;\nimport \"google/protobuf/empty.proto\";\n\
             import \"google/protobuf/wrappers.proto\";\n\
             service S {\n  rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty);\n\
             rpc Name(google.protobuf.Empty) returns (google.protobuf.StringValue);\n}\n",
        )],
    );
    compile(&dir, &["api.proto"]).unwrap();
    let code = std::fs::read_to_string(dir.join("out/api.rs")).unwrap();
    assert!(
        code.contains("request: ::tern::Request<()>")
            && code.contains("::tern::Response<::tern::codegen::prost::alloc::string::String>"),
        "{code}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Packages named with keywords get files named as the .proto spells them, and the include tree
/// nests them with raw identifiers.
#[test]
fn keyword_packages_are_files_by_their_proto_name() {
    let dir = dir(
        "keywords",
        &[(
            "t.proto",
            "syntax = \"proto3\";\npackage google.logging.type;\nmessage M { string type = 1; }\n",
        )],
    );
    compile(&dir, &["t.proto"]).unwrap();
    assert!(dir.join("out/google.logging.type.rs").exists());
    let tree = std::fs::read_to_string(dir.join("out").join(tern_build::INCLUDE_FILE)).unwrap();
    assert!(
        tree.contains("pub mod r#type {") && tree.contains("include!(\"google.logging.type.rs\");"),
        "{tree}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The descriptor set keeps the comments, for reflection and `tern describe`.
#[test]
fn the_descriptor_set_keeps_source_info() {
    use prost::Message as _;
    let dir = dir(
        "source-info",
        &[(
            "api.proto",
            "syntax = \"proto3\";\npackage api;\n// The request.\nmessage Req {}\n",
        )],
    );
    compile(&dir, &["api.proto"]).unwrap();
    let bytes = std::fs::read(dir.join("out").join(tern_build::DESCRIPTOR_SET_FILE)).unwrap();
    let set = prost_types::FileDescriptorSet::decode(&bytes[..]).unwrap();
    let file = set.file.iter().find(|f| f.name() == "api.proto").unwrap();
    let info = file.source_code_info.as_ref().expect("source_code_info");
    assert!(info
        .location
        .iter()
        .any(|l| l.leading_comments() == " The request.\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
