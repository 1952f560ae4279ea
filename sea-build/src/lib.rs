//! sea-build turns a JavaScript program into a Node.js single executable application (SEA), as
//! part of a Cargo build: it fetches and verifies Node, generates the SEA blob with a V8 code
//! cache, injects it into the node binary, and writes reproducible artifacts.
//!
//! The modules follow the pipeline: [`node`] (acquisition) → [`bundle`] (main and what it
//! requires, as one file) and [`vfs`] (files node mounts) → [`generate`] and [`blob`] →
//! [`inject`] → [`pipeline`] (the per-target order); [`run`] is the process edge.

#![warn(missing_docs)]

pub mod blob;
mod build_script;
pub mod bundle;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod digest;
mod env;
mod fsutil;
pub mod generate;
pub mod inject;
pub mod macho;
pub mod node;
pub mod pe;
pub mod pipeline;
pub mod progress;
pub mod qemu;
pub mod run;
pub mod runtime;
pub mod sign;
pub mod verify;
pub mod vfs;
pub mod windows;
pub mod wine;

pub use build_script::Build;
pub use config::{Sea, SeaMetadata};
pub use env::Env;
