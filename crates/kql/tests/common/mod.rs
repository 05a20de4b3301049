//! Reading Sentinel YAML for the tests: the `query` of each file and where it sits in the file.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// The corpus folder, or None after printing the loud skip notice.
pub fn sentinel_or_skip(test: &str) -> Option<PathBuf> {
    let root = corpus_root().join("sentinel");
    if root.is_dir() {
        Some(root)
    } else {
        // Written to the process's stderr, not through the test harness's capture: a skipped
        // sweep must be seen even when the test passes.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! CORPUS TEST DID NOT RUN ({test}): {} is missing; nothing was checked !!!\n",
            root.display()
        );
        None
    }
}

/// Every file under `dir` (sorted), recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A KQL text taken from a YAML file.
pub struct Extracted {
    pub path: PathBuf,
    pub key: String,
    pub text: String,
    pub origin: kql::Origin,
}

/// The string value of top-level `key` in a YAML text, with its position in the file.
pub fn extract(path: &Path, raw: &str, key: &str) -> Option<Extracted> {
    let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let docs = YamlLoader::load_from_str(raw).ok()?;
    let doc = docs.first()?;
    let text = match &doc[key] {
        Yaml::String(s) => s.clone(),
        _ => return None,
    };
    Some(Extracted {
        path: path.to_path_buf(),
        key: key.to_string(),
        origin: locate(raw, key, &text),
        text,
    })
}

/// Where the value of `key:` starts: for a block scalar, the first content line and its
/// indentation; otherwise the key's line.
fn locate(raw: &str, key: &str, value: &str) -> kql::Origin {
    let mut offset = 0usize;
    let lines: Vec<&str> = raw.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let rest = rest.trim();
            if rest.starts_with('|') || rest.starts_with('>') || rest.is_empty() {
                // Block scalar (or plain multi-line): content from the next non-blank line.
                let mut off = offset + line.len();
                for (j, l) in lines.iter().enumerate().skip(i + 1) {
                    if l.trim().is_empty() {
                        off += l.len();
                        continue;
                    }
                    let indent = l.len() - l.trim_start_matches(' ').len();
                    let first = value.lines().next().unwrap_or("");
                    let _exact = l.trim_end() == format!("{}{}", " ".repeat(indent), first);
                    return kql::Origin {
                        line_offset: j as u32,
                        byte_offset: off + indent,
                        indent: indent as u32,
                    };
                }
            }
            // Inline value: `query: "..."`.
            let col = line.len() - line[key.len() + 1..].trim_start().len();
            return kql::Origin {
                line_offset: i as u32,
                byte_offset: offset + col,
                indent: col as u32,
            };
        }
        offset += line.len();
    }
    kql::Origin::default()
}

/// Workspace function bodies found in the corpus: YAML parsers (`ParserName`,
/// `EquivalentBuiltInParser` → `ParserQuery`) and `.txt`/`.kql` parsers by file stem.
pub fn functions(sentinel: &Path) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for p in files(sentinel) {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let in_parsers = p.components().any(|c| c.as_os_str() == "Parsers");
        if !in_parsers {
            continue;
        }
        let Ok(raw) = std::fs::read_to_string(&p) else {
            continue;
        };
        match ext {
            "yaml" | "yml" => {
                let Ok(docs) =
                    YamlLoader::load_from_str(raw.strip_prefix('\u{feff}').unwrap_or(&raw))
                else {
                    continue;
                };
                let Some(doc) = docs.first() else { continue };
                let Some(q) = doc["ParserQuery"].as_str() else {
                    continue;
                };
                for k in ["ParserName", "EquivalentBuiltInParser"] {
                    if let Some(n) = doc[k].as_str() {
                        map.insert(n.to_string(), q.to_string());
                    }
                }
            }
            "txt" | "kql" => {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    map.entry(stem.to_string()).or_insert(raw);
                }
            }
            _ => {}
        }
    }
    map
}

/// Every `query:` of every YAML file under `dir`.
pub fn queries(dir: &Path) -> Vec<Extracted> {
    let mut out = Vec::new();
    for p in files(dir) {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "yaml" && ext != "yml" {
            continue;
        }
        let Ok(raw) = std::fs::read_to_string(&p) else {
            continue;
        };
        if let Some(x) = extract(&p, &raw, "query") {
            out.push(x);
        }
    }
    out
}
