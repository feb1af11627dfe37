//! The project's git commit, recorded with each run so that a suite's history names the
//! commit of each prompt version. Read by running `git`; absent when the project is not a git
//! repository or git is not installed.

use std::path::Path;
use std::process::Command;

/// The commit checked out at `root` (12 hex digits), with `-dirty` when tracked files differ
/// from it.
pub fn commit(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let hash = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if hash.is_empty() {
        return None;
    }
    let dirty = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}
