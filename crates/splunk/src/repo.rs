//! The ESCU repository around a folder: its root and macros.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spl::{Macro, Macros};

#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub root: PathBuf,
    pub macros: Macros,
    /// `data_sources/`: by name (`Sysmon EventID 1`).
    pub data_sources: BTreeMap<String, DataSource>,
    /// `deployments/`: default scheduling and alerting, by detection type (lower case).
    pub deployments: BTreeMap<String, serde_json::Value>,
    /// Macro files that could not be read, by file stem (the macro's usual name), with why.
    pub broken_macros: BTreeMap<String, String>,
}

/// A data source object: where its events come from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataSource {
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    /// The EventID/EventCode it is about, when its name ends with one and it is separated by it.
    pub event_id: Option<u32>,
}

fn yaml_docs(dir: &Path) -> Vec<yaml_rust2::Yaml> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| ruleyaml::load(&t).ok())
        .filter_map(|l| l.docs.into_iter().next())
        .collect()
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
        let mut broken_macros = BTreeMap::new();
        if let Ok(rd) = std::fs::read_dir(root.join("macros")) {
            let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                let Ok(text) = std::fs::read_to_string(&p) else { continue };
                let docs = match ruleyaml::load(&text) {
                    Ok(l) => l.docs,
                    Err(d) => {
                        // Kept, so a call of this macro says why it is not defined.
                        let stem = p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                        let file = p.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                        broken_macros.insert(stem, format!("{file}:{}", d.located()));
                        continue;
                    }
                };
                let Some(d) = docs.first() else { continue };
                let (Some(name), Some(def)) = (d["name"].as_str(), d["definition"].as_str()) else { continue };
                let args = d["arguments"].as_vec().map(|v| v.iter().filter_map(|a| a.as_str().map(str::to_string)).collect()).unwrap_or_default();
                macros.add(Macro { name: name.to_string(), args, definition: def.to_string() });
            }
        }
        let mut data_sources = BTreeMap::new();
        for d in yaml_docs(&root.join("data_sources")) {
            let Some(name) = d["name"].as_str() else { continue };
            let by_id = matches!(d["separator"].as_str(), Some("EventID" | "EventCode" | "event_id"));
            let event_id = by_id.then(|| name.rsplit(' ').next().and_then(|n| n.parse().ok())).flatten();
            data_sources.insert(
                name.to_string(),
                DataSource { source: d["source"].as_str().map(str::to_string), sourcetype: d["sourcetype"].as_str().map(str::to_string), event_id },
            );
        }
        let mut deployments = BTreeMap::new();
        for d in yaml_docs(&root.join("deployments")) {
            if let Some(t) = d["type"].as_str() {
                deployments.insert(t.to_ascii_lowercase(), ruleyaml::to_json(&d));
            }
        }
        Some(Repo { root, macros, data_sources, deployments, broken_macros })
    }
}

