//! The few file operations the tasks need that differ between hosts: links and the executable
//! bit. On Windows (the xtask builds and runs there, see `cross`), a link is a symbolic link of
//! the right kind and every file is executable.

use anyhow::{Context, Result};
use camino::Utf8Path;

/// Makes `link` a symbolic link to `target` (a file or a directory).
pub(crate) fn symlink(target: &Utf8Path, link: &Utf8Path) -> Result<()> {
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    let made = if target.is_dir() { std::os::windows::fs::symlink_dir(target, link) } else { std::os::windows::fs::symlink_file(target, link) };
    made.with_context(|| format!("could not link {link} to {target}"))
}

/// Makes `path` executable by everyone (mode 0755 on Unix; nothing to do on Windows).
pub(crate) fn make_executable(path: &Utf8Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("could not make {path} executable"))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
