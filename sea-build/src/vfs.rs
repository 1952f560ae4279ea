//! `vfs`: files of the package embedded in the blob and mounted by node (26+, `useVfs`) at a
//! reserved mount point, so `require`, `import` and `fs` reads inside the program find them.
//!
//! Node mounts every asset at its key below the mount root and puts the blob's main at that
//! root under its base name. A main in a subdirectory would then resolve its relative paths
//! from the wrong place, so the blob's main is a small loader at the root that runs the real
//! main from the mount as the program's main module (`require.main === module` holds there).

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};

/// The blob's main when `vfs` is used: the loader, at the mount root.
pub const LOADER: &str = "sea-build-vfs-main.js";

/// The loader's source, running `main` (package-relative, inside the mount).
///
/// ```
/// let source = sea_build::vfs::loader_source("bin/cli.js".into());
/// assert!(source.contains("\"bin/cli.js\""));
/// ```
pub fn loader_source(main: &Utf8Path) -> String {
    let main = serde_json::Value::from(main.as_str().replace('\\', "/"));
    format!("// Written by sea-build: runs the program's main from the mounted vfs.\nrequire(\"node:module\").runMain(require(\"node:path\").join(__dirname, {main}));\n")
}

/// Whether `path` (package-relative, `/`-separated) matches `pattern`: `*` and `?` within one
/// path segment, `**` for any number of segments, anything else literally.
///
/// ```
/// use sea_build::vfs::glob_matches;
/// assert!(glob_matches("node_modules/**", "node_modules/a/index.js"));
/// assert!(glob_matches("data/*.txt", "data/a.txt"));
/// assert!(!glob_matches("data/*.txt", "data/sub/a.txt"));
/// ```
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments_match(&pattern, &path)
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| segments_match(rest, &path[skip..])),
        Some((first, rest)) => path.split_first().is_some_and(|(segment, path_rest)| segment_matches(first.as_bytes(), segment.as_bytes()) && segments_match(rest, path_rest)),
    }
}

fn segment_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| segment_matches(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && segment_matches(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && segment_matches(rest, &name[1..]),
    }
}

/// The files `patterns` name in `package_dir`, package-relative, sorted, each once: a pattern
/// naming a directory takes everything below it. A pattern that matches nothing, or reaches
/// outside the package, is an error.
pub fn expand(package_dir: &Utf8Path, patterns: &[String]) -> Result<Vec<Utf8PathBuf>> {
    let mut files = std::collections::BTreeSet::new();
    for pattern in patterns {
        let trimmed = pattern.trim_start_matches("./").trim_end_matches('/');
        if trimmed.is_empty() || Utf8Path::new(trimmed).is_absolute() || trimmed.split('/').any(|segment| segment == "..") {
            bail!("`vfs` entry `{pattern}` must be a path or glob inside the package directory {package_dir} (relative, no `..`)");
        }
        // Walk only below the part without wildcards.
        let literal: Vec<&str> = trimmed.split('/').take_while(|segment| !segment.contains(['*', '?'])).collect();
        let base = Utf8PathBuf::from(literal.join("/"));
        let start = package_dir.join(&base);
        let mut matched = Vec::new();
        if literal.len() == trimmed.split('/').count() && start.is_file() {
            matched.push(base);
        } else if start.is_dir() {
            // No wildcard: a directory, taken whole; otherwise what the glob matches below it.
            let whole = literal.len() == trimmed.split('/').count();
            walk(package_dir, &start, &mut |relative| {
                if whole || glob_matches(trimmed, relative.as_str()) {
                    matched.push(relative);
                }
            })?;
        }
        if matched.is_empty() {
            bail!("`vfs` entry `{pattern}` matches no file in {package_dir}");
        }
        files.extend(matched);
    }
    Ok(files.into_iter().collect())
}

/// Calls `found` with the package-relative path of every file below `dir`, in name order.
/// Symbolic links to directories are not followed (npm's `.bin` links and workspace links
/// would repeat or escape the tree); links to files are taken as the file.
fn walk(package_dir: &Utf8Path, dir: &Utf8Path, found: &mut dyn FnMut(Utf8PathBuf)) -> Result<()> {
    let mut entries: Vec<_> = dir.read_dir_utf8().with_context(|| format!("could not list {dir}"))?.collect::<std::io::Result<_>>().with_context(|| format!("could not list {dir}"))?;
    entries.sort_by(|a, b| a.file_name().cmp(b.file_name()));
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().with_context(|| format!("could not read {path}"))?;
        if kind.is_dir() {
            walk(package_dir, path, found)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            let relative = path.strip_prefix(package_dir).with_context(|| format!("{path} is outside {package_dir}"))?;
            found(Utf8PathBuf::from(relative.as_str().replace('\\', "/")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_segments() {
        assert!(glob_matches("**/*.json", "package.json"));
        assert!(glob_matches("**/*.json", "node_modules/a/package.json"));
        assert!(glob_matches("lib/**/x?.js", "lib/a/b/x1.js"));
        assert!(!glob_matches("lib/*.js", "lib/a/x.js"));
        assert!(!glob_matches("*.js", "a.json"));
        assert!(glob_matches("./data/a.txt", "data/a.txt"));
    }

    #[test]
    fn expands_files_directories_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        for file in ["a.js", "data/x.txt", "data/sub/y.txt", "node_modules/m/index.js"] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), file).unwrap();
        }
        let names = |patterns: &[&str]| expand(root, &patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).map(|files| files.iter().map(|f| f.to_string()).collect::<Vec<_>>());
        assert_eq!(names(&["a.js", "data"]).unwrap(), ["a.js", "data/sub/y.txt", "data/x.txt"]);
        assert_eq!(names(&["data/*.txt", "node_modules/**", "a.js"]).unwrap(), ["a.js", "data/x.txt", "node_modules/m/index.js"]);
        assert!(names(&["missing/*.js"]).unwrap_err().to_string().contains("matches no file"));
        assert!(names(&["../x"]).unwrap_err().to_string().contains("inside the package"));
    }
}
