//! Workspace functions a rule may call by name: the `Parsers/` folders of a Sentinel content
//! tree. YAML parsers name themselves (`ParserName`, `EquivalentBuiltInParser` → `ParserQuery`);
//! `.txt`/`.kql` parsers are named by their file stem. A name two files give differently is
//! ambiguous: it is not resolved, and the rule using it says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use yaml_rust2::YamlLoader;

#[derive(Debug, Default, Clone)]
pub struct Functions {
    bodies: BTreeMap<String, String>,
    /// Names defined more than once, with different bodies.
    pub ambiguous: BTreeSet<String>,
}

impl Functions {
    /// Every parser under `root` (in any `Parsers` folder, at any depth).
    pub fn load(root: &Path) -> Functions {
        let mut f = Functions::default();
        for e in walkdir::WalkDir::new(root).sort_by_file_name().into_iter().flatten() {
            let p = e.path();
            if !e.file_type().is_file() || !p.components().any(|c| c.as_os_str() == "Parsers") {
                continue;
            }
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("").to_ascii_lowercase();
            // Parser files are small; anything large is not one.
            if e.metadata().map(|m| m.len() > 1 << 20).unwrap_or(true) {
                continue;
            }
            let Ok(raw) = std::fs::read_to_string(p) else { continue };
            let raw = raw.strip_prefix('\u{feff}').unwrap_or(&raw);
            match ext.as_str() {
                "yaml" | "yml" => {
                    let Ok(docs) = YamlLoader::load_from_str(raw) else { continue };
                    let Some(doc) = docs.first() else { continue };
                    let Some(body) = doc["ParserQuery"].as_str() else { continue };
                    for key in ["ParserName", "EquivalentBuiltInParser"] {
                        if let Some(name) = doc[key].as_str() {
                            f.add(name, body);
                        }
                    }
                }
                "txt" | "kql" => {
                    if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                        f.add(stem, raw);
                    }
                }
                _ => {}
            }
        }
        f
    }

    fn add(&mut self, name: &str, body: &str) {
        match self.bodies.get(name) {
            Some(b) if b.trim() != body.trim() => {
                self.ambiguous.insert(name.to_string());
            }
            Some(_) => {}
            None => {
                self.bodies.insert(name.to_string(), body.to_string());
            }
        }
    }

    /// The body of a function, when exactly one is known.
    pub fn get(&self, name: &str) -> Option<String> {
        if self.ambiguous.contains(name) {
            return None;
        }
        self.bodies.get(name).cloned()
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }
}
