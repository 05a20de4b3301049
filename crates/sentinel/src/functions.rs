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
    /// Parser files whose header and file name disagree, by each of the two names.
    pub notes: BTreeMap<String, String>,
}

/// The alias a parser's header comment asks for: "... alias as CiscoMeraki", "the alias of
/// TeamsData", "(e.g. Zoom | take 10)", "Function name text box, type X".
fn header_alias(text: &str) -> Option<String> {
    use std::sync::OnceLock;
    static RES: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            r"(?i)alias,? as ([A-Za-z_][A-Za-z0-9_]*)",
            r"(?i)alias of ([A-Za-z_][A-Za-z0-9_]*)",
            r"(?i)function name text box, type ([A-Za-z_][A-Za-z0-9_]*)",
            r"(?i)alias.*\(e\.g\. ([A-Za-z_][A-Za-z0-9_]*)",
        ]
        .iter()
        .filter_map(|r| regex::Regex::new(r).ok())
        .collect()
    });
    let header: Vec<&str> = text.lines().take_while(|l| l.trim_start().starts_with("//") || l.trim().is_empty()).collect();
    let header = header.join("\n");
    res.iter().find_map(|re| re.captures(&header).and_then(|c| c.get(1)).map(|m| m.as_str().to_string()))
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
                    // The header comment names the alias to save the function under; the file
                    // name is the fallback. Both are registered; a disagreement is noted.
                    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    let alias = header_alias(raw);
                    if let Some(a) = &alias {
                        f.add(a, raw);
                        if !a.eq_ignore_ascii_case(stem) {
                            let note = format!("{}: its header names the function `{a}`, its file name `{stem}`", p.display());
                            f.notes.insert(a.clone(), note.clone());
                            f.notes.insert(stem.to_string(), note);
                        }
                    }
                    if !stem.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::header_alias;

    #[test]
    fn header_aliases() {
        assert_eq!(header_alias("// It is recommended to name the Function Alias, as CiscoMeraki\nCommonSecurityLog").as_deref(), Some("CiscoMeraki"));
        assert_eq!(header_alias("// this Function should be given the alias of TeamsData.\nOfficeActivity").as_deref(), Some("TeamsData"));
        assert_eq!(header_alias("// save as Function ... name and alias (e.g. Zoom).\n// use (e.g. Zoom | take 10)\nZoom_CL").as_deref(), Some("Zoom"));
        assert_eq!(header_alias("Syslog | where x\n// alias as Later").as_deref(), None);
    }
}
