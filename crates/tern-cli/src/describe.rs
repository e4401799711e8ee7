//! `tern list` and `tern describe`: a server's services, methods and types, printed as `.proto`
//! source with their comments (the descriptors' `source_code_info`), as grpcurl prints them.

use std::fmt::Write as _;

use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, ServiceDescriptor,
};

use crate::{connect, schema, Failure, Target};

async fn pool(
    addr: &Target,
    symbol: &str,
    protos: &[String],
    includes: &[String],
) -> Result<DescriptorPool, Failure> {
    if !protos.is_empty() {
        return schema::from_protos(protos, includes);
    }
    let channel = connect(addr).await?;
    schema::pool_for_symbol(&channel, symbol).await
}

/// Lists services, or one service's methods.
pub(crate) async fn list(
    addr: &Target,
    service: Option<&str>,
    protos: &[String],
    includes: &[String],
) -> Result<(), Failure> {
    match service {
        None if protos.is_empty() => {
            let channel = connect(addr).await?;
            for name in schema::list_services(&channel).await? {
                println!("{name}");
            }
        }
        None => {
            let pool = schema::from_protos(protos, includes)?;
            for s in pool.services() {
                println!("{}", s.full_name());
            }
        }
        Some(name) => {
            let pool = pool(addr, name, protos, includes).await?;
            let service = schema::service(&pool, name)?;
            for m in service.methods() {
                println!("{}.{}", service.full_name(), m.name());
            }
        }
    }
    Ok(())
}

/// Describes a symbol.
pub(crate) async fn describe(
    addr: &Target,
    symbol: &str,
    protos: &[String],
    includes: &[String],
) -> Result<(), Failure> {
    // A method is asked about through its service.
    let lookup = match pool_symbol_kind(symbol) {
        Some(service) => service,
        None => symbol,
    };
    let pool = match pool(addr, lookup, protos, includes).await {
        Err(_) if lookup != symbol => pool(addr, symbol, protos, includes).await?,
        other => other?,
    };
    let text = if let Some(s) = pool.get_service_by_name(symbol) {
        format!("{symbol} is a service:\n{}", service_text(&s))
    } else if let Some(m) = pool.get_message_by_name(symbol) {
        format!("{symbol} is a message:\n{}", message_text(&m, ""))
    } else if let Some(e) = pool.get_enum_by_name(symbol) {
        format!("{symbol} is an enum:\n{}", enum_text(&e, ""))
    } else if let Some(m) = method(&pool, symbol) {
        format!(
            "{symbol} is a method:\n{}{}\n",
            comments(&m.parent_file(), m.path(), ""),
            method_text(&m)
        )
    } else {
        let known: Vec<String> = pool
            .services()
            .map(|s| s.full_name().to_owned())
            .chain(pool.all_messages().map(|m| m.full_name().to_owned()))
            .collect();
        return Err(Failure::not_found(symbol, &known));
    };
    print!("{text}");
    Ok(())
}

/// For `pkg.Service.Method`, the service part.
fn pool_symbol_kind(symbol: &str) -> Option<&str> {
    symbol.rsplit_once('.').map(|(parent, _)| parent)
}

fn method(pool: &DescriptorPool, symbol: &str) -> Option<MethodDescriptor> {
    let (service, method) = symbol.rsplit_once('.')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

/// The leading and trailing comments of the element at `path` in `file`, as `//` lines.
fn comments(file: &FileDescriptor, path: &[i32], indent: &str) -> String {
    let Some(info) = &file.file_descriptor_proto().source_code_info else {
        return String::new();
    };
    let Some(location) = info.location.iter().find(|l| l.path == path) else {
        return String::new();
    };
    let mut out = String::new();
    for block in [location.leading_comments(), location.trailing_comments()] {
        if block.is_empty() {
            continue;
        }
        for line in block.strip_suffix('\n').unwrap_or(block).lines() {
            let _ = writeln!(out, "{indent}//{}", line.trim_end());
        }
    }
    out
}

fn method_text(m: &MethodDescriptor) -> String {
    let stream = |yes: bool| if yes { "stream " } else { "" };
    format!(
        "rpc {} ( {}.{} ) returns ( {}.{} );",
        m.name(),
        stream(m.is_client_streaming()),
        m.input().full_name(),
        stream(m.is_server_streaming()),
        m.output().full_name()
    )
}

fn service_text(s: &ServiceDescriptor) -> String {
    let file = s.parent_file();
    let mut out = comments(&file, s.path(), "");
    let _ = writeln!(out, "service {} {{", s.name());
    for m in s.methods() {
        out.push_str(&comments(&file, m.path(), "  "));
        let _ = writeln!(out, "  {}", method_text(&m));
    }
    out.push_str("}\n");
    out
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => format!(".{}", m.full_name()),
        Kind::Enum(e) => format!(".{}", e.full_name()),
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
    }
}

fn field_text(f: &FieldDescriptor) -> String {
    let ty = if f.is_map() {
        match f.kind() {
            Kind::Message(entry) => format!(
                "map<{}, {}>",
                kind_name(&entry.map_entry_key_field().kind()),
                kind_name(&entry.map_entry_value_field().kind())
            ),
            other => kind_name(&other),
        }
    } else if f.is_list() {
        format!("repeated {}", kind_name(&f.kind()))
    } else if f.field_descriptor_proto().proto3_optional() {
        format!("optional {}", kind_name(&f.kind()))
    } else {
        kind_name(&f.kind())
    };
    format!("{ty} {} = {};", f.name(), f.number())
}

fn message_text(m: &MessageDescriptor, indent: &str) -> String {
    let file = m.parent_file();
    let mut out = comments(&file, m.path(), indent);
    let _ = writeln!(out, "{indent}message {} {{", m.name());
    let inner = format!("{indent}  ");
    for f in m.fields() {
        if f.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
            continue;
        }
        out.push_str(&comments(&file, f.path(), &inner));
        let _ = writeln!(out, "{inner}{}", field_text(&f));
    }
    for o in m.oneofs().filter(|o| !o.is_synthetic()) {
        out.push_str(&comments(&file, o.path(), &inner));
        let _ = writeln!(out, "{inner}oneof {} {{", o.name());
        for f in o.fields() {
            out.push_str(&comments(&file, f.path(), &format!("{inner}  ")));
            let _ = writeln!(out, "{inner}  {}", field_text(&f));
        }
        let _ = writeln!(out, "{inner}}}");
    }
    for nested in m.child_messages().filter(|n| !n.is_map_entry()) {
        out.push_str(&message_text(&nested, &inner));
    }
    for e in m.child_enums() {
        out.push_str(&enum_text(&e, &inner));
    }
    let _ = writeln!(out, "{indent}}}");
    out
}

fn enum_text(e: &EnumDescriptor, indent: &str) -> String {
    let file = e.parent_file();
    let mut out = comments(&file, e.path(), indent);
    let _ = writeln!(out, "{indent}enum {} {{", e.name());
    for v in e.values() {
        out.push_str(&comments(&file, v.path(), &format!("{indent}  ")));
        let _ = writeln!(out, "{indent}  {} = {};", v.name(), v.number());
    }
    let _ = writeln!(out, "{indent}}}");
    out
}
