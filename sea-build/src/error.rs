//! sea-build's error type: the whole explanation (what failed, on which file, what to do) and
//! a [`ErrorKind`] a caller can match instead of reading the message.
//!
//! Inside the crate, failures travel as `anyhow` errors with context added on the way up; the
//! place that knows what kind of failure it is marks it (`tagged`, `Tag::tag`).
//! The public entry points ([`crate::Build::try_build`], [`crate::pipeline::Pipeline::build`],
//! [`crate::commands`], [`crate::verify::verify`]) return [`Error`], whose kind is the
//! innermost mark's (the most specific), [`ErrorKind::Other`] when nothing marked it.

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
    kind: ErrorKind,
    error: anyhow::Error,
}

/// `Result` with sea-build's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Error {
        let kind = kind_of(&error).unwrap_or(ErrorKind::Other);
        Error { kind, error }
    }
}

/// The kind marked on `error` or anything it wraps, the innermost mark first.
pub(crate) fn kind_of(error: &anyhow::Error) -> Option<ErrorKind> {
    // A public `Error` passed up through `?` keeps its kind too (its own chain ends there).
    error.chain().filter_map(|cause| cause.downcast_ref::<Tagged>().map(|tagged| tagged.kind).or_else(|| cause.downcast_ref::<Error>().map(Error::kind))).last()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The whole chain, outermost first: "cannot build app: ...: what to do".
        write!(f, "{:#}", self.error)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} error: {:#}", self.kind, self.error)
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
    }
}
