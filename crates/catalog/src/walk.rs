use std::path::{Path, PathBuf};

use ir::Diagnostic;
use walkdir::WalkDir;

use crate::ingest::FileFailure;

/// A candidate rule file found under one of the folders given to `build`.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// Name of the folder given to `build` (the repository or folder the rule came from).
    pub origin: String,
    /// Path relative to that folder, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
}

fn is_rule_ext(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
}

fn origin_of(root: &Path) -> String {
    let canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    canon.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "root".into())
}

fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    parts.join("/")
}

/// Every `.yml`/`.yaml` regular file under `root` (or `root` itself when it is a file), sorted.
/// Dangling symlinks, unreadable folders and non-regular files with a rule extension (FIFOs,
/// sockets, devices) are reported, never opened.
pub fn walk(root: &Path) -> (Vec<RuleFile>, Vec<FileFailure>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let origin_root = if root.is_file() { root.parent().unwrap_or(Path::new(".")) } else { root };
    let origin = origin_of(origin_root);
    let fail = |path: &Path, code: &str, msg: String| FileFailure {
        origin: origin.clone(),
        path: rel_path(origin_root, path),
        source: None,
        diagnostic: Diagnostic::error(code, msg, None),
    };
    if !root.exists() && root.symlink_metadata().is_err() {
        failures.push(fail(root, "not-found", format!("{}: no such file or folder", root.display())));
        return (files, failures);
    }
    for entry in WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                let msg = if e.loop_ancestor().is_some() {
                    "symlink loop".to_string()
                } else if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) && !path.exists() {
                    format!("dangling symlink (target {} does not exist)", std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default())
                } else {
                    e.to_string()
                };
                failures.push(fail(&path, "unreadable", msg));
                continue;
            }
        };
        let path = entry.path();
        if entry.file_type().is_dir() {
            continue;
        }
        if !is_rule_ext(path) {
            continue;
        }
        if !entry.file_type().is_file() {
            failures.push(fail(path, "not-a-file", "not a regular file (FIFO, socket or device): skipped".into()));
            continue;
        }
        files.push(RuleFile { origin: origin.clone(), rel: rel_path(origin_root, path), abs: path.to_path_buf() });
    }
    (files, failures)
}
