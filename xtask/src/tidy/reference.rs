//! The README's reference must match the code: every key the `[package.metadata.sea]` parser
//! accepts, and every flag of every command, has a row, and no row names what the code lacks.
//! Both lists come from the code itself: the keys from serde's own list of the fields it
//! expects (the tables deny unknown fields), the flags from clap's definition of the commands.
//!
//! The README's metadata table is the `## [package.metadata.sea] reference` section: the first
//! cell of a row names a key in backticks (`` `node-version` ``, `` `windows.icon` ``). The
//! commands are the `## Commands` section: one `### `cargo xtask NAME ...`` heading per
//! command, whose table rows name its flags in their first cell (`` `--target T` ``).

use std::collections::BTreeSet;

use sea_build::config::{SeaMetadata, WindowsMetadata};

/// The heading of the README's metadata table.
pub(crate) const METADATA_HEADING: &str = "## `[package.metadata.sea]` reference";
/// The heading of the README's command reference.
pub(crate) const COMMANDS_HEADING: &str = "## Commands";

/// What is wrong with `readme`'s reference of the metadata keys and of `commands`' flags, one
/// line each; `file` names the README in the messages.
pub(crate) fn problems(readme: &str, commands: &clap::Command, file: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let accepted = metadata_keys();
    let documented = metadata_rows(readme);
    if documented.is_empty() {
        problems.push(format!("{file} has no `{METADATA_HEADING}` table whose rows name keys in their first cell"));
    }
    for key in accepted.difference(&documented) {
        problems.push(format!("{file}'s metadata table has no row for `{key}`, which [package.metadata.sea] accepts: add one (type, default, node versions)"));
    }
    for key in documented.difference(&accepted) {
        problems.push(format!("{file}'s metadata table names `{key}`, which [package.metadata.sea] does not accept: drop or rename the row"));
    }
    problems.extend(commands_problems(readme, commands, file));
    problems
}

/// What is wrong with the `## Commands` section of `markdown` (the file `file`) for
/// `commands`: a command without a section, a flag without a row, a row or section naming
/// what the code lacks.
pub(crate) fn commands_problems(markdown: &str, commands: &clap::Command, file: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let sections = command_sections(markdown);
    for command in commands.get_subcommands() {
        let name = command.get_name();
        let flags: BTreeSet<String> = command.get_arguments().filter_map(clap::Arg::get_long).filter(|long| !["help", "version"].contains(long)).map(|long| format!("--{long}")).collect();
        let Some(named) = sections.iter().find(|(section, _)| section == name).map(|(_, flags)| flags) else {
            problems.push(format!("{file}'s `{COMMANDS_HEADING}` has no `### `cargo xtask {name}`` section: add one with a row per flag"));
            continue;
        };
        for flag in flags.difference(named) {
            problems.push(format!("{file}'s section on `cargo xtask {name}` has no row for `{flag}`: add one saying what it does"));
        }
        for flag in named.difference(&flags) {
            problems.push(format!("{file}'s section on `cargo xtask {name}` names `{flag}`, which the command does not take: drop or rename the row"));
        }
    }
    for (section, _) in &sections {
        if commands.find_subcommand(section).is_none() {
            problems.push(format!("{file}'s `{COMMANDS_HEADING}` describes `cargo xtask {section}`, which is not a command: drop the section"));
        }
    }
    problems
}

/// Every key `[package.metadata.sea]` accepts, with the `[package.metadata.sea.windows]` ones
/// as `windows.<key>`.
pub(crate) fn metadata_keys() -> BTreeSet<String> {
    let mut keys = fields_of::<SeaMetadata>();
    if keys.remove("windows") {
        keys.extend(fields_of::<WindowsMetadata>().into_iter().map(|key| format!("windows.{key}")));
    }
    keys
}

/// The fields a table denying unknown fields expects, as serde lists them when it meets one it
/// does not know.
fn fields_of<T: serde::de::DeserializeOwned>() -> BTreeSet<String> {
    let probe = serde_json::json!({ "\u{1}not a field": 0 });
    let Err(error) = serde_json::from_value::<T>(probe) else { return BTreeSet::new() };
    let message = error.to_string();
    let expected = message.split_once("expected").map_or("", |(_, rest)| rest);
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The text of the section of `markdown` under `heading` (a `## ` heading), up to the next one.
fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let after = markdown.split(&format!("\n{heading}\n")).nth(1).unwrap_or_default();
    after.split("\n## ").next().unwrap_or_default()
}

/// The first cell of every table row in `text`, without the header and separator rows.
fn first_cells(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|line| line.starts_with('|') && !line.starts_with("|---") && !line.starts_with("| ---")).map(|row| row.trim_start_matches('|').split('|').next().unwrap_or_default())
}

/// The keys the metadata table's rows name: the first backticked word of each first cell.
fn metadata_rows(readme: &str) -> BTreeSet<String> {
    first_cells(section(readme, METADATA_HEADING)).filter_map(|cell| cell.split('`').nth(1)).map(str::to_owned).collect()
}

/// Each `### `cargo xtask NAME ...`` section of the commands reference, with the long flags its
/// table rows name in their first cell.
fn command_sections(readme: &str) -> Vec<(String, BTreeSet<String>)> {
    let commands = section(readme, COMMANDS_HEADING);
    commands
        .split("\n### ")
        .skip(1)
        .filter_map(|sub| {
            let (heading, body) = sub.split_once('\n').unwrap_or((sub, ""));
            let name = heading.split('`').nth(1)?.strip_prefix("cargo xtask ")?.split_whitespace().next()?.to_owned();
            let flags = first_cells(body).flat_map(long_flags).collect();
            Some((name, flags))
        })
        .collect()
}

/// The `--long` flags written in `text`.
fn long_flags(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).filter(|word| word.starts_with("--") && word.len() > 2 && word.as_bytes()[2].is_ascii_alphabetic()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_parser() {
        let keys = metadata_keys();
        for key in ["main", "node-version", "verify-args", "sidecar-dir", "windows.icon", "windows.version-info"] {
            assert!(keys.contains(key), "{key} missing from {keys:?}");
        }
        assert!(!keys.contains("windows"), "the windows table is listed by its keys");
    }

    #[test]
    fn missing_and_stale_rows_and_flags_are_named() {
        #[derive(clap::Parser)]
        enum Commands {
            /// Build.
            Sea {
                #[arg(long)]
                verify: bool,
                #[arg(long, value_name = "DIR")]
                out: Option<String>,
            },
        }
        let commands = <Commands as clap::CommandFactory>::command();
        let readme = "# x\n\n## `[package.metadata.sea]` reference\n\n| key | type |\n|---|---|\n| `main` | path |\n| `gone` (old) | bool |\n\n## Commands\n\n### `cargo xtask sea [--verify]`\n\n| flag | what |\n|---|---|\n| `--verify` | re-hash |\n| `--old DIR` | stale |\n\n### `cargo xtask nothing`\n\n## Next\n";
        let problems = problems(readme, &commands, "README.md");
        let has = |needle: &str| problems.iter().any(|problem| problem.contains(needle));
        assert!(has("no row for `node-version`"), "{problems:#?}");
        assert!(has("names `gone`"), "{problems:#?}");
        assert!(!has("`main`"), "{problems:#?}");
        assert!(has("no row for `--out`"), "{problems:#?}");
        assert!(has("names `--old`"), "{problems:#?}");
        assert!(has("`cargo xtask nothing`, which is not a command"), "{problems:#?}");
        assert!(!has("`--verify`"), "{problems:#?}");
    }
}
