//! The layout table (docs/layout.md) must match sea-build's tree: every top-level module of the
//! library (a file or a folder under `sea-build/src`) is named in the first column of a row,
//! and every path named there exists. A row names paths relative to `sea-build/src`; the
//! first one may spell the prefix out: `` `sea-build/src/config.rs`, `build_script.rs` ``.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use camino::Utf8Path;

/// The file holding the layout table, under the workspace root.
pub(crate) const FILE: &str = "docs/layout.md";

/// What is wrong with the layout table in `readme` (docs/layout.md's text) for the sources in `src`, one line each.
pub(crate) fn problems(readme: &str, src: &Utf8Path) -> Result<Vec<String>> {
    let named = named_paths(readme);
    let mut problems = Vec::new();
    if named.is_empty() {
        problems.push("docs/layout.md has no `## Layout` table naming sea-build/src paths".to_owned());
    }
    for path in &named {
        if !src.join(path.trim_end_matches('/')).exists() {
            problems.push(format!("docs/layout.md's layout table names sea-build/src/{path}, which does not exist: drop or rename it"));
        }
    }
    for module in top_level_modules(src)? {
        let (file, folder) = (format!("{module}.rs"), format!("{module}/"));
        if !named.contains(&file) && !named.contains(&folder) {
            problems.push(format!("docs/layout.md's layout table does not name sea-build/src/{module}: add it to a row saying what it is for"));
        }
    }
    Ok(problems)
}

/// The paths, relative to `sea-build/src`, named in the first column of the `## Layout`
/// table's rows about sea-build's sources.
fn named_paths(readme: &str) -> BTreeSet<String> {
    let section = readme.split("\n## Layout\n").nth(1).unwrap_or_default();
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut named = BTreeSet::new();
    for row in section.lines().filter(|line| line.starts_with("| `sea-build/src/")) {
        let first_cell = row.trim_start_matches('|').split('|').next().unwrap_or_default();
        for (index, part) in first_cell.split('`').enumerate() {
            // Odd parts lie between backticks.
            if index % 2 == 1 {
                named.insert(part.trim_start_matches("sea-build/src/").to_owned());
            }
        }
    }
    named
}

/// The library's top-level modules: the files and folders under `src`, but `lib.rs`.
fn top_level_modules(src: &Utf8Path) -> Result<BTreeSet<String>> {
    let mut modules = BTreeSet::new();
    for entry in src.read_dir_utf8().with_context(|| format!("could not list {src}"))? {
        let entry = entry.with_context(|| format!("could not list {src}"))?;
        let name = entry.file_name();
        if entry.path().is_dir() {
            modules.insert(name.to_owned());
        } else if let Some(module) = name.strip_suffix(".rs")
            && module != "lib"
        {
            modules.insert(module.to_owned());
        }
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_stale_rows_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let src = Utf8Path::from_path(dir.path()).unwrap();
        for file in ["lib.rs", "pipeline.rs", "sign.rs", "node/mod.rs", "digest.rs"] {
            std::fs::create_dir_all(src.join(file).parent().unwrap()).unwrap();
            std::fs::write(src.join(file), "").unwrap();
        }
        let readme = "# x\n\n## Layout\n\n| path | what |\n|---|---|\n| `sea-build/` | the library |\n| `sea-build/src/node/` | acquisition |\n| `sea-build/src/pipeline.rs`, `sign.rs`, `gone.rs` | order; signing |\n\n## Next\n| `sea-build/src/digest.rs` | not in the table |\n";
        let problems = problems(readme, src).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("sea-build/src/gone.rs, which does not exist"), "{problems:?}");
        assert!(problems[1].contains("does not name sea-build/src/digest"), "{problems:?}");
    }
}
