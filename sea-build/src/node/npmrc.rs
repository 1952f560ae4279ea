//! Finding the npm registry the way npm does, so sea-build never names a registry itself:
//! `npm_config_registry` in the environment, then the project's `.npmrc`, then the user's
//! (`NPM_CONFIG_USERCONFIG` or `~/.npmrc`), then whatever `npm config get registry` says (which
//! covers the global npmrc and npm's built-in default).

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

use crate::Env;

/// The registry URL from npm's configuration, with a trailing slash.
pub(crate) fn registry(env: &Env, project_dir: Option<&Utf8Path>) -> Result<String> {
    if let Some(url) = env.var("npm_config_registry").or_else(|| env.var("NPM_CONFIG_REGISTRY")) {
        return Ok(url);
    }
    let project_rc = project_dir.into_iter().flat_map(|dir| dir.ancestors()).map(|dir| dir.join(".npmrc")).find(|rc| rc.is_file());
    let user_rc = env.var("NPM_CONFIG_USERCONFIG").map(Into::into).or_else(|| dirs::home_dir().and_then(|home| camino::Utf8PathBuf::from_path_buf(home.join(".npmrc")).ok()));
    for rc in project_rc.into_iter().chain(user_rc) {
        let text = match std::fs::read_to_string(&rc) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).with_context(|| format!("could not read {rc}")),
        };
        if let Some(url) = registry_in_npmrc(&text, env) {
            return Ok(url);
        }
    }
    ask_npm()
}

fn ask_npm() -> Result<String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let output = std::process::Command::new(npm).args(["config", "get", "registry"]).stdin(std::process::Stdio::null()).output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => bail!("`npm config get registry` failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
        Err(error) => bail!(
            "found no npm registry: npm_config_registry is unset, no .npmrc sets `registry`, and npm could not be asked ({error}). Set npm_config_registry, add `registry=<url>` to ~/.npmrc, or install npm"
        ),
    };
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !url.starts_with("http") {
        bail!("`npm config get registry` printed `{url}`, not a URL");
    }
    Ok(url)
}

/// The `registry` setting of an npmrc text, with `${VAR}` references expanded as npm does.
pub(crate) fn registry_in_npmrc(text: &str, env: &Env) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        if line.starts_with(['#', ';']) {
            return None;
        }
        let (key, value) = line.split_once('=')?;
        if key.trim() != "registry" {
            return None;
        }
        let value = value.trim().trim_matches('"').trim_matches('\'');
        Some(expand_env(value, env)).filter(|v| !v.is_empty())
    })
}

fn expand_env(value: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        out.push_str(&env.var(&rest[start + 2..start + end]).unwrap_or_default());
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_registry_line_and_expands_variables() {
        let env = Env::from_process().with_var("MIRROR_HOST", "mirror.example");
        let text = "; comment\nregistry=https://first.example/\n@scope:registry=https://scoped.example/\nregistry = \"https://${MIRROR_HOST}/npm/\"\n";
        assert_eq!(registry_in_npmrc(text, &env).as_deref(), Some("https://mirror.example/npm/"));
        assert_eq!(registry_in_npmrc("# registry=https://x/\n", &env), None);
    }

    #[test]
    fn the_environment_wins() {
        let env = Env::from_process().with_var("npm_config_registry", "https://env.example/");
        assert_eq!(registry(&env, None).unwrap(), "https://env.example/");
    }
}
