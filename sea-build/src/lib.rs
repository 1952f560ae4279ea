//! sea-build turns a JavaScript program into a Node.js single executable application (SEA), as
//! part of a Cargo build: it fetches and verifies Node, generates the SEA blob with a V8 code
//! cache, injects it into the node binary, and writes reproducible artifacts.
//!
//! The modules follow the pipeline: [`node`] (acquisition) → [`blob`] → [`inject`].

pub mod blob;
#[cfg(feature = "cli")]
pub mod cli;
pub mod digest;
mod env;
mod fsutil;
pub mod inject;
pub mod node;
pub mod progress;

pub use env::Env;
