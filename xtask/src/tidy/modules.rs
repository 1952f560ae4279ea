//! The module graph of sea-build's production code must have no cycle: a module that needs
//! another's internals and is needed by it is one module, or the shared part is a leaf.
//!
//! The graph is read from the sources: an edge `a → b` for every `crate::b` that top-level
//! module `a` names outside comments and tests. Test-only code (`mod tests`, the Mach-O and
//! icon fixtures behind `test-support`, the PE test images, the unit tests' shared helpers)
//! is left out, as it is not shipped.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

/// Files that are test-only as a whole.
const TEST_ONLY: &[&str] = &["macho/fixture.rs", "pe/fixture.rs", "pe/testing.rs", "testing.rs"];

/// Top-level module → the top-level modules it names.
pub(crate) type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads the graph of the crate whose sources are in `src`.
pub(crate) fn graph(src: &Utf8Path) -> Result<Graph> {
    let mut graph = Graph::new();
    let mut pending = vec![src.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in dir.read_dir_utf8().with_context(|| format!("could not list {dir}"))? {
            let path: Utf8PathBuf = entry.with_context(|| format!("could not list {dir}"))?.into_path();
            let relative = path.strip_prefix(src).expect("listed under src").as_str().to_owned();
            if path.is_dir() {
                pending.push(path);
            } else if relative.ends_with(".rs") && !TEST_ONLY.contains(&relative.as_str()) && relative != "lib.rs" {
                let module = relative.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned();
                let text = std::fs::read_to_string(&path).with_context(|| format!("could not read {path}"))?;
                let names = graph.entry(module.clone()).or_default();
                names.extend(named_modules(&text).into_iter().filter(|name| *name != module));
            }
        }
    }
    Ok(graph)
}

/// The top-level modules `text` names as `crate::name`, outside comments and its tests.
fn named_modules(text: &str) -> BTreeSet<String> {
    let production = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    let mut names = BTreeSet::new();
    for line in production.lines().map(str::trim_start).filter(|line| !line.starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()).collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// The cycles of `graph`: each strongly connected component of more than one module.
pub(crate) fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Two modules are in one cycle when each reaches the other.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(module) = stack.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|module| (module, reach(module))).collect();
    let mut cycles: Vec<Vec<String>> = Vec::new();
    for (module, reached) in &reaches {
        if cycles.iter().any(|cycle| cycle.contains(module)) {
            continue;
        }
        let component: Vec<String> = reached.iter().filter(|other| *other == *module || reaches.get(other).is_some_and(|back| back.contains(*module))).cloned().collect();
        if component.len() > 1 {
            cycles.push(component);
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cycle_and_ignores_comments_and_tests() {
        let a = "use crate::b::Thing;\n// crate::c in a comment\n#[cfg(test)]\nmod tests {\n    use crate::c;\n}\n";
        assert_eq!(named_modules(a), BTreeSet::from(["b".to_owned()]));
        let graph: Graph =
            [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])].into_iter().map(|(module, names)| (module.to_owned(), names.into_iter().map(str::to_owned).collect())).collect();
        assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
    }

    #[test]
    fn sea_build_has_no_module_cycle() {
        let src = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../sea-build/src");
        let graph = graph(&src).unwrap();
        assert!(graph.len() > 10, "{graph:?}");
        assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "module cycles in sea-build/src");
    }
}
