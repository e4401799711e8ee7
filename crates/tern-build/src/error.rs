//! Why code generation failed: [`Error`], with each problem in a `.proto` file located at its
//! file, line and column (from the spans protox reports through miette's `Diagnostic`).

use std::fmt;
use std::path::Path;

/// Why code generation failed.
///
/// Its `Display` has one line per problem; a problem in a `.proto` file starts with
/// `file:line:column:` (1-based), as compilers print them:
///
/// ```text
/// api.proto:7:3: name 'Reply' is not defined
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    problems: Vec<Problem>,
}

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `.proto` file is invalid: a syntax error, an unknown type, a missing import, a name
    /// defined twice...
    Proto,
    /// A file or directory could not be read or written.
    Io,
    /// A setting of the [`Builder`](crate::Builder) is invalid (an extern path that is not
    /// fully qualified, say) or `OUT_DIR` is missing.
    Config,
    /// The code generator failed on valid input: a bug in tern-build or prost-build.
    Codegen,
}

/// One problem: where it is, when it is in a `.proto` file, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, as named in imports (relative to its include directory).
    pub file: Option<String>,
    /// The 1-based line and column of the offending text.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.position) {
            (Some(file), Some((line, column))) => write!(f, "{file}:{line}:{column}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Every problem found, the first one first (protox reports several syntax errors of a file
    /// at once).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            problems: vec![Problem {
                file: None,
                position: None,
                message: message.into(),
            }],
        }
    }

    pub(crate) fn many(kind: ErrorKind, messages: impl IntoIterator<Item = String>) -> Error {
        Error {
            kind,
            problems: messages
                .into_iter()
                .map(|message| Problem {
                    file: None,
                    position: None,
                    message,
                })
                .collect(),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn codegen(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Codegen, message)
    }

    pub(crate) fn io(what: &str, path: &Path, error: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Io,
            format!("cannot {what} {}: {error}", path.display()),
        )
    }

    /// A protox failure, each of its diagnostics located in its file.
    pub(crate) fn from_protox(error: &protox::Error) -> Error {
        let kind = if error.is_io() {
            ErrorKind::Io
        } else {
            ErrorKind::Proto
        };
        let mut problems = Vec::new();
        collect(error, None, error.file(), &mut problems);
        Error { kind, problems }
    }
}

/// Adds `diagnostic` and the diagnostics related to it, reading positions from their own
/// source or, for related ones that have none, from their parent's.
/// One label of a diagnostic: its text, whether it is the primary one, and where it points
/// (file name, line and column, 1-based).
type Label = (
    Option<String>,
    bool,
    Option<(Option<String>, (usize, usize))>,
);

fn collect(
    diagnostic: &dyn miette::Diagnostic,
    parent_source: Option<&dyn miette::SourceCode>,
    file: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    let source = diagnostic.source_code().or(parent_source);
    let mut message = diagnostic.to_string();
    // Each label with its position: the main one places the problem ("defined here"), the
    // others are context ("first defined here") and are named in the message.
    let mut labels: Vec<Label> = Vec::new();
    if let (Some(source), Some(found)) = (source, diagnostic.labels()) {
        for label in found {
            let at = source.read_span(label.inner(), 0, 0).ok().map(|contents| {
                (
                    contents.name().map(str::to_owned),
                    (contents.line() + 1, contents.column() + 1),
                )
            });
            labels.push((label.label().map(str::to_owned), label.primary(), at));
        }
    }
    let main = labels
        .iter()
        .position(|(_, primary, _)| *primary)
        .or_else(|| {
            labels
                .iter()
                .position(|(text, _, _)| !text.as_deref().unwrap_or("").starts_with("first"))
        })
        .unwrap_or(0);
    let mut located = None;
    for (i, (text, _, at)) in labels.into_iter().enumerate() {
        if i == main {
            located = at;
            // "defined here", "imported here" add nothing once the position is given.
            if let Some(text) = text {
                if !text.ends_with(" here") && !message.contains(&text) {
                    message = format!("{message} ({text})");
                }
            }
        } else if let (Some(text), Some((_, (line, column)))) = (text, at) {
            message = format!("{message} ({text}: {line}:{column})");
        }
    }
    if let Some(help) = diagnostic.help() {
        message = format!("{message}; help: {help}");
    }
    let (name, position) = match located {
        Some((name, position)) => (name, Some(position)),
        None => (None, None),
    };
    problems.push(Problem {
        file: name.or_else(|| file.map(str::to_owned)),
        position,
        message,
    });
    if let Some(related) = diagnostic.related() {
        for diagnostic in related {
            collect(diagnostic, source, file, problems);
        }
    }
}
