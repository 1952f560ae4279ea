//! The Cargo features that decide what this build of sea-build can do, and the error a
//! caller gets when a target or a file needs one that is off.
//!
//! A build script pays for what it builds: Linux targets need nothing optional; macOS
//! targets need `macos` (Mach-O signing through apple-codesign, some 230 crates), Windows
//! targets `windows` (node's .zip archives), and a node archive that only comes as
//! `.tar.xz` needs `xz`.

use anyhow::Result;

/// An optional part of sea-build, named as in its `[features]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feature {
    /// Mach-O signing (apple-codesign): every macOS target.
    Macos,
    /// node's Windows archives (.zip): every Windows target.
    Windows,
    /// `.tar.xz` archives.
    Xz,
}

impl Feature {
    /// The feature's name in Cargo.toml.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Feature::Macos => "macos",
            Feature::Windows => "windows",
            Feature::Xz => "xz",
        }
    }

    /// Whether this build of sea-build has it.
    pub(crate) fn enabled(self) -> bool {
        match self {
            Feature::Macos => cfg!(feature = "macos"),
            Feature::Windows => cfg!(feature = "windows"),
            Feature::Xz => cfg!(feature = "xz"),
        }
    }

    /// Fails, saying how to turn the feature on, unless it is on; `needed_for` completes
    /// "… needs sea-build's `macos` feature".
    pub(crate) fn require(self, needed_for: &str) -> Result<()> {
        if self.enabled() {
            return Ok(());
        }
        crate::error::fail!(
            FeatureMissing,
            "{needed_for} needs sea-build's `{name}` feature, which this build of sea-build does not have: \
             add it where sea-build is a dependency (`sea-build = {{ version = \"…\", features = [\"{name}\"] }}`)",
            name = self.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_feature_is_named_with_the_line_that_adds_it() {
        for feature in [Feature::Macos, Feature::Windows, Feature::Xz] {
            match feature.require("building for win-x64") {
                Ok(()) => assert!(feature.enabled()),
                Err(error) => {
                    let text = error.to_string();
                    assert!(!feature.enabled());
                    assert!(text.starts_with("building for win-x64 needs") && text.contains(&format!("features = [\"{}\"]", feature.name())), "{text}");
                }
            }
        }
    }
}
