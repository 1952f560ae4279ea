//! sea-build's error type: the whole explanation (what failed, on which file, what to do) and
//! a [`ErrorKind`] a caller can match instead of reading the message.
//!
//! Inside the crate, failures travel as `anyhow` errors with context added on the way up; the
//! place that knows what kind of failure it is marks it (`fail!`, `Tag::tag`).
//! The public entry points ([`crate::Build::try_build`], [`crate::pipeline::Pipeline::build`],
//! [`crate::commands`], [`crate::verify::verify`]) and the API below them ([`crate::node`],
//! [`crate::config`]) return [`Error`], whose kind is the innermost mark's (the most specific),
//! [`ErrorKind::Other`] when nothing marked it. A public body written with anyhow
//! (`?`, `bail!`, `.context()`) ends as an [`Error`] through `?` where it can; where it cannot,
//! it is wrapped whole in [`typed`], or in [`typed_as`] when its every failure is of one kind.

use std::fmt;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not a node binary sea-build can use (not an executable of a known
    /// format, or without node's SEA fuse).
    NotNode,
    /// The binary carries a SEA blob already.
    AlreadyInjected,
    /// The binary is code-signed where it must not be (sign after injecting).
    Signed,
    /// No room after the load commands or in the header table for what must be added.
    NoHeaderRoom,
    /// An archive or a binary is truncated or damaged.
    DamagedInput,
    /// A download does not match its published checksum.
    ChecksumMismatch,
    /// A node differs from what `sea.lock` pins.
    LockMismatch,
    /// Offline, and what is needed is not in the cache.
    OfflineMiss,
    /// No source publishes the node release asked for.
    NodeNotFound,
    /// A download failed.
    Network,
    /// A program sea-build runs (node generating the blob, esbuild, Wine, qemu) failed.
    ToolFailed,
    /// The built artifact did not run cleanly with its `verify-args`; nothing was published.
    ArtifactFailedToRun,
    /// This machine cannot run the target's programs as the build needs (for example a Wine
    /// too old for node 24+).
    HostCannotRun,
    /// The target needs a Cargo feature of sea-build that is off.
    FeatureMissing,
    /// `[package.metadata.sea]` or the builder asks for something invalid or unsupported by
    /// the chosen node.
    Config,
    /// A signing identity (a P12 file, a PEM key or certificate chain) cannot be read or used:
    /// a wrong password, a damaged file, an unsupported cipher, a key without its certificate.
    Identity,
    /// Anything else (reading or writing files, for instance).
    Other,
}

/// An error from sea-build: [`Error::kind`] to match on, `Display` for the full explanation.
///
/// ```
/// use sea_build::{Error, ErrorKind};
/// let error = sea_build::commands::inject_file("no-such-node".into(), "blob".into(), "out".into(), Default::default(), &sea_build::Env::from_process()).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Other);
/// assert!(error.to_string().contains("no-such-node") || error.to_string().contains("blob"));
/// ```
pub struct Error {
    /// The innermost mark; `None` when nothing marked the failure.
    mark: Option<ErrorKind>,
    error: anyhow::Error,
}

/// `Result` with sea-build's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.mark.unwrap_or(ErrorKind::Other)
    }
}

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Error {
        Error { mark: kind_of(&error), error }
    }
}

/// The kind marked on `error` or anything it wraps, the innermost mark first.
pub(crate) fn kind_of(error: &anyhow::Error) -> Option<ErrorKind> {
    // A public `Error` passed up through `?` keeps its mark too (its own chain ends there); an
    // unmarked one leaves the marks around it to decide. A reader's mark travels inside the
    // `io::Error` it fails with (`tagged_io`), which does not give it as its source.
    let mark = |cause: &(dyn std::error::Error + 'static)| {
        let inner = cause.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref).map(|inner| inner as &(dyn std::error::Error + 'static));
        let tagged = cause.downcast_ref::<Tagged>().or_else(|| inner?.downcast_ref::<Tagged>());
        tagged.map(|tagged| tagged.kind).or_else(|| cause.downcast_ref::<Error>()?.mark)
    };
    error.chain().filter_map(mark).last()
}

/// Runs the body of a public function, written with anyhow, and returns its failure as an
/// [`Error`]: for bodies whose `bail!`, `ensure!` or closing `.context()` `?` cannot convert.
pub(crate) fn typed<T>(body: impl FnOnce() -> anyhow::Result<T>) -> Result<T> {
    body().map_err(Error::from)
}

/// [`typed`], for a body whose every failure is of one kind (a configuration's, a parser's):
/// a failure nothing inside marked is `kind`.
pub(crate) fn typed_as<T>(kind: ErrorKind, body: impl FnOnce() -> anyhow::Result<T>) -> Result<T> {
    body().map_err(|error| Error { mark: Some(kind_of(&error).unwrap_or(kind)), error })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The whole chain, outermost first: "cannot build app: ...: what to do".
        write!(f, "{:#}", self.error)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} error: {:#}", self.kind(), self.error)
    }
}

impl std::error::Error for Error {}

/// A message marked with its kind, and the error it explains; travels inside an
/// `anyhow::Error`, where `chain()` finds it at any depth.
#[derive(Debug)]
struct Tagged {
    kind: ErrorKind,
    message: String,
    source: Option<anyhow::Error>,
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Tagged {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The wrapped error itself (not anyhow's box around it), so a mark inside is found.
        self.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Returns an error of the given [`ErrorKind`] variant, formatted like `anyhow::bail!`:
/// `fail!(AlreadyInjected, "{path} carries a blob")`.
macro_rules! fail {
    ($kind:ident, $($message:tt)+) => {
        return Err($crate::error::tagged($crate::error::ErrorKind::$kind, format!($($message)+)).into())
    };
}
pub(crate) use fail;

/// A new error of `kind` saying `message`.
pub(crate) fn tagged(kind: ErrorKind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Tagged { kind, message: message.into(), source: None })
}

/// A new `io::Error` of `io_kind` saying `message`, marked `kind`: for a `Read` or `Write`
/// implementation, whose failures must be `io::Error`s.
pub(crate) fn tagged_io(io_kind: std::io::ErrorKind, kind: ErrorKind, message: String) -> std::io::Error {
    std::io::Error::new(io_kind, Tagged { kind, message, source: None })
}

/// Marks the error of a `Result` with a kind and a message, as `anyhow::Context` does with a
/// message alone.
pub(crate) trait Tag<T> {
    /// Wraps the error in `message`, marked `kind`.
    fn tag(self, kind: ErrorKind, message: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E> Tag<T> for std::result::Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn tag(self, kind: ErrorKind, message: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|error| anyhow::Error::new(Tagged { kind, message: message(), source: Some(error.into()) }))
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn the_innermost_mark_decides_and_the_message_keeps_every_layer() {
        let inner: anyhow::Result<()> = Err(tagged(ErrorKind::AlreadyInjected, "node already carries a blob"));
        let outer = inner.tag(ErrorKind::ToolFailed, || "the build failed".to_owned()).context("cannot build app");
        let error = Error::from(outer.unwrap_err());
        assert_eq!(error.kind(), ErrorKind::AlreadyInjected);
        assert_eq!(error.to_string(), "cannot build app: the build failed: node already carries a blob");
        let io: std::result::Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        assert_eq!(Error::from(io.tag(ErrorKind::DamagedInput, || "reading node.tar.gz".to_owned()).unwrap_err()).kind(), ErrorKind::DamagedInput);
        assert_eq!(Error::from(anyhow::anyhow!("plain")).kind(), ErrorKind::Other);
        let read: std::result::Result<(), std::io::Error> = Err(tagged_io(std::io::ErrorKind::UnexpectedEof, ErrorKind::DamagedInput, "node.tar.gz is truncated".to_owned()));
        let error = Error::from(read.context("while reading bin/node").unwrap_err());
        assert_eq!((error.kind(), error.to_string().as_str()), (ErrorKind::DamagedInput, "while reading bin/node: node.tar.gz is truncated"));
    }

    #[test]
    fn a_public_error_passed_back_through_anyhow_keeps_its_kind_and_message() {
        // A public function's `Error`, with context added by an internal caller, then public again.
        let public: Result<()> = typed(|| Err(tagged(ErrorKind::LockMismatch, "node differs from sea.lock")).context("checking node"));
        let outer = public.context("cannot build app").tag(ErrorKind::Network, || "fetching node".to_owned());
        let error = Error::from(outer.unwrap_err());
        assert_eq!(error.kind(), ErrorKind::LockMismatch);
        assert_eq!(error.to_string(), "fetching node: cannot build app: checking node: node differs from sea.lock");
        // A kind given to a whole body survives the trip too, and gives way to a mark inside.
        let config: Result<()> = typed_as(ErrorKind::Config, || anyhow::bail!("`targets` is empty"));
        assert_eq!(Error::from(config.context("reading Cargo.toml").unwrap_err()).kind(), ErrorKind::Config);
        let marked: Result<()> = typed_as(ErrorKind::Config, || Err(tagged(ErrorKind::NodeNotFound, "no node for this host")));
        assert_eq!(marked.unwrap_err().kind(), ErrorKind::NodeNotFound);
        // An unmarked public error leaves the marks around it to decide.
        let unmarked: Result<()> = typed(|| anyhow::bail!("disk full"));
        assert_eq!(Error::from(unmarked.tag(ErrorKind::DamagedInput, || "reading node.tar.gz".to_owned()).unwrap_err()).kind(), ErrorKind::DamagedInput);
    }
}
