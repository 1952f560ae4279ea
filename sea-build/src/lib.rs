//! sea-build turns a JavaScript program into a Node.js single executable application (SEA), as
//! part of a Cargo build: it fetches and verifies Node, generates the SEA blob with a V8 code
//! cache, injects it into the node binary, and writes reproducible artifacts.
//!
//! The modules follow the pipeline: [`node`] (acquisition) → [`bundle`] (main and what it
//! requires, as one file) and [`vfs`] (files node mounts) → [`generate`] and [`blob`] →
//! [`inject`] → [`sign`] → [`pipeline`] (the per-target order) → [`artifact`] (the
//! manifest); [`commands`] are the byte-level commands on files; [`run`] is the process edge.
//!
//! Cargo features decide which targets a build of sea-build can build: Linux always,
//! macOS with `macos`, Windows with `windows`; `xz` reads `.tar.xz` node archives and `full`
//! turns all of them on. A target whose feature is off gets an error naming it.

#![warn(missing_docs)]

pub mod artifact;
pub mod blob;
mod build_script;
pub mod bundle;
#[cfg(feature = "cli")]
pub mod cli;
pub mod commands;
pub mod config;
// DER: Authenticode writes with it, the signing identity reader reads with it (without
// `windows`, most of the writing side is unused).
#[cfg(feature = "identity")]
#[cfg_attr(not(feature = "windows"), allow(dead_code))]
mod der;
pub mod digest;
pub mod elf;
mod env;
mod error;
mod features;
mod fsutil;
pub mod gather;
pub mod generate;
pub mod icu;
pub mod inject;
pub mod macho;
pub mod mount;
pub mod node;
pub mod pe;
#[cfg(feature = "windows")]
mod pe_file;
pub mod pipeline;
pub mod progress;
mod publish;
pub mod qemu;
pub mod release;
pub mod run;
pub mod runtime;
pub mod sign;
pub mod snapshot;
pub mod splice;
#[cfg(test)]
mod testing;
pub mod train;
pub mod verify;
pub mod vfs;
#[cfg(feature = "windows")]
pub mod windows;
pub mod wine;

pub use build_script::Build;
pub use config::{Sea, SeaMetadata};
pub use env::Env;
pub use error::{Error, ErrorKind, Result};
