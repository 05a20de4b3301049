//! The ESCU repository around a folder: its root and macros.

use std::path::{Path, PathBuf};

use spl::{Macro, Macros};
use yaml_rust2::YamlLoader;

#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub root: PathBuf,
    pub macros: Macros,
}

fn is_root(p: &Path) -> bool {
    p.join("macros").is_dir() && (p.join("detections").is_dir() || p.join("contentctl.yml").is_file())
}

impl Repo {
    /// The repository `dir` is in (the folder itself, an ancestor, or a child of it).
    pub fn find(dir: &Path) -> Option<Repo> {
        let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let root = abs.ancestors().find(|a| is_root(a)).map(Path::to_path_buf).or_else(|| {
            std::fs::read_dir(&abs).ok()?.flatten().map(|e| e.path()).find(|p| p.is_dir() && is_root(p))
        })?;
        let mut macros = Macros::default();
        if let Ok(rd) = std::fs::read_dir(root.join("macros")) {
            let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                let Ok(text) = std::fs::read_to_string(&p) else { continue };
                let Ok(docs) = YamlLoader::load_from_str(&text) else { continue };
                let Some(d) = docs.first() else { continue };
                let (Some(name), Some(def)) = (d["name"].as_str(), d["definition"].as_str()) else { continue };
                let args = d["arguments"].as_vec().map(|v| v.iter().filter_map(|a| a.as_str().map(str::to_string)).collect()).unwrap_or_default();
                macros.add(Macro { name: name.to_string(), args, definition: def.to_string() });
            }
        }
        Some(Repo { root, macros })
    }
}
