//! Progress reporting for long work (downloads, extraction), drawn by whoever calls sea-build.

/// One thing worth telling the user while sea-build works.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A step begins; the message is a complete sentence fragment such as
    /// `resolving node 22 for linux-x64 from the npm registry`.
    Step(&'a str),
    /// A download begins; `total` is the announced length when the server gave one.
    DownloadStarted {
        /// What is being downloaded, for display.
        what: &'a str,
        /// The announced size in bytes.
        total: Option<u64>,
    },
    /// `done` bytes of the current download have arrived.
    DownloadProgress {
        /// Bytes received so far.
        done: u64,
    },
    /// The current download has ended (successfully or not).
    DownloadFinished,
    /// Something the user should know but that does not stop the work.
    Warning(&'a str),
}

/// Receives [`Event`]s. Implementations must be cheap: downloads report often.
///
/// ```
/// use sea_build::progress::{Event, Reporter};
/// struct Log;
/// impl Reporter for Log {
///     fn report(&self, event: Event<'_>) {
///         if let Event::Step(step) = event { eprintln!("{step}") }
///     }
/// }
/// Log.report(Event::Step("resolving node 24"));
/// ```
pub trait Reporter: Send + Sync {
    /// Called for each event, from the thread doing the work.
    fn report(&self, event: Event<'_>);
}

/// A reporter that ignores everything (the default: build-script output is hidden anyway).
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: Event<'_>) {}
}

/// A reporter for build scripts: warnings become `cargo::warning=` lines, the rest is dropped.
///
/// ```
/// use sea_build::progress::{CargoWarnings, Event, Reporter};
/// CargoWarnings::default().report(Event::Warning("built without a code cache")); // prints cargo::warning=…
/// ```
#[derive(Clone, Debug, Default)]
pub struct CargoWarnings {
    output: crate::env::CargoOutput,
}

impl CargoWarnings {
    /// Warnings go to `output`.
    pub(crate) fn to(output: crate::env::CargoOutput) -> Self {
        Self { output }
    }
}

impl Reporter for CargoWarnings {
    fn report(&self, event: Event<'_>) {
        if let Event::Warning(message) = event {
            for line in message.lines() {
                self.output.line(&format!("cargo::warning={line}"));
            }
        }
    }
}
