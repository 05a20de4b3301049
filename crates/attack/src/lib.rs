//! MITRE ATT&CK as the loaded STIX bundle says it is: tactics in matrix order, techniques and
//! sub-techniques with names and tactics. Rules name techniques and tactics by tags written for
//! some ATT&CK version; everything here follows the bundle given (`rulelens build --attack FILE`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
pub struct Tactic {
    /// `TA0008`.
    pub id: String,
    /// `lateral-movement`.
    pub shortname: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Technique {
    /// `T1021.003`.
    pub id: String,
    pub name: String,
    /// Tactic shortnames, in bundle order.
    pub tactics: Vec<String>,
    /// The parent technique of a sub-technique.
    pub parent: Option<String>,
    pub deprecated: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Attack {
    /// The ATT&CK release: the collection's `x_mitre_version` when the bundle has a collection
    /// object; else `18+` when it has detection strategies (introduced in v18); else unknown.
    pub version: Option<String>,
    pub tactics: Vec<Tactic>,
    pub techniques: BTreeMap<String, Technique>,
}

#[derive(Deserialize)]
struct Bundle {
    objects: Vec<Object>,
}

#[derive(Deserialize)]
struct Object {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    external_references: Vec<ExternalRef>,
    #[serde(default)]
    kill_chain_phases: Vec<Phase>,
    #[serde(default)]
    x_mitre_shortname: Option<String>,
    #[serde(default)]
    x_mitre_deprecated: bool,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    tactic_refs: Vec<String>,
    #[serde(default)]
    x_mitre_version: Option<String>,
}

#[derive(Deserialize)]
struct ExternalRef {
    #[serde(default)]
    source_name: String,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct Phase {
    #[serde(default)]
    kill_chain_name: String,
    #[serde(default)]
    phase_name: String,
}

fn attack_id(o: &Object) -> Option<String> {
    o.external_references.iter().find(|r| r.source_name == "mitre-attack").and_then(|r| r.external_id.clone())
}

impl Attack {
    /// Reads an ATT&CK STIX 2.1 bundle (`enterprise-attack.json`).
    pub fn load(path: &Path) -> anyhow::Result<Attack> {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let bundle: Bundle = serde_json::from_reader(std::io::BufReader::new(file))
            .with_context(|| format!("{} is not an ATT&CK STIX bundle", path.display()))?;
        Ok(Self::from_objects(bundle.objects))
    }

    fn from_objects(objects: Vec<Object>) -> Attack {
        let mut tactics_by_ref: BTreeMap<String, Tactic> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut version = None;
        let mut strategies = false;
        let mut techniques = BTreeMap::new();
        for o in &objects {
            match o.kind.as_str() {
                "x-mitre-tactic" => {
                    if let (Some(id), Some(short)) = (attack_id(o), o.x_mitre_shortname.clone()) {
                        tactics_by_ref.insert(o.id.clone(), Tactic { id, shortname: short, name: o.name.clone() });
                    }
                }
                "x-mitre-matrix" => order = o.tactic_refs.clone(),
                "x-mitre-collection" => version = o.x_mitre_version.clone(),
                "x-mitre-detection-strategy" => strategies = true,
                "attack-pattern" if !o.revoked => {
                    let Some(id) = attack_id(o) else { continue };
                    let tactics = o
                        .kill_chain_phases
                        .iter()
                        .filter(|p| p.kill_chain_name == "mitre-attack")
                        .map(|p| p.phase_name.clone())
                        .collect();
                    let parent = id.split_once('.').map(|(p, _)| p.to_string());
                    techniques.insert(id.clone(), Technique { id, name: o.name.clone(), tactics, parent, deprecated: o.x_mitre_deprecated });
                }
                _ => {}
            }
        }
        if version.is_none() && strategies {
            version = Some("18+".into());
        }
        let mut tactics: Vec<Tactic> = order.iter().filter_map(|r| tactics_by_ref.remove(r)).collect();
        tactics.extend(tactics_by_ref.into_values());
        Attack { version, tactics, techniques }
    }

    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.techniques.get(&id.to_ascii_uppercase())
    }

    /// The tactic a rule's tag names (`lateral-movement`, `lateral_movement`), in this bundle.
    pub fn tactic(&self, tag: &str) -> Option<&Tactic> {
        let t = tag.to_ascii_lowercase().replace('_', "-");
        self.tactics.iter().find(|x| x.shortname == t || x.name.eq_ignore_ascii_case(&t.replace('-', " ")))
    }

    /// The tactic of this bundle that covers a tactic tag of another ATT&CK version
    /// (`stealth` → `defense-evasion` in v18), from `data/tactic_versions.toml`.
    pub fn counterpart(&self, tag: &str) -> Option<&Tactic> {
        let map: BTreeMap<String, String> = toml_map(include_str!("../data/tactic_versions.toml"));
        let t = tag.to_ascii_lowercase().replace('_', "-");
        map.get(&t).and_then(|c| self.tactic(c))
    }

    /// A technique's full name (`Remote Services: Distributed Component Object Model`).
    pub fn full_name(&self, id: &str) -> Option<String> {
        let t = self.technique(id)?;
        Some(match t.parent.as_deref().and_then(|p| self.technique(p)) {
            Some(p) => format!("{}: {}", p.name, t.name),
            None => t.name.clone(),
        })
    }
}

/// `key = "value"` lines (the data file is that simple; comments start with `#`).
fn toml_map(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: serde_json::Value) -> Object {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn tactics_follow_the_matrix_and_sub_techniques_name_their_parent() {
        let objects = vec![
            obj(serde_json::json!({"type": "x-mitre-tactic", "id": "t2", "name": "Lateral Movement", "x_mitre_shortname": "lateral-movement",
                "external_references": [{"source_name": "mitre-attack", "external_id": "TA0008"}]})),
            obj(serde_json::json!({"type": "x-mitre-tactic", "id": "t1", "name": "Execution", "x_mitre_shortname": "execution",
                "external_references": [{"source_name": "mitre-attack", "external_id": "TA0002"}]})),
            obj(serde_json::json!({"type": "x-mitre-matrix", "tactic_refs": ["t1", "t2"], "x_mitre_version": "1.0"})),
            obj(serde_json::json!({"type": "x-mitre-collection", "x_mitre_version": "18.1"})),
            obj(serde_json::json!({"type": "attack-pattern", "name": "Remote Services",
                "external_references": [{"source_name": "mitre-attack", "external_id": "T1021"}],
                "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "lateral-movement"}]})),
            obj(serde_json::json!({"type": "attack-pattern", "name": "Distributed Component Object Model",
                "external_references": [{"source_name": "mitre-attack", "external_id": "T1021.003"}],
                "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "lateral-movement"}]})),
            obj(serde_json::json!({"type": "attack-pattern", "name": "Gone", "revoked": true,
                "external_references": [{"source_name": "mitre-attack", "external_id": "T9999"}]})),
        ];
        let a = Attack::from_objects(objects);
        assert_eq!(a.tactics.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["TA0002", "TA0008"]);
        assert_eq!(a.full_name("t1021.003").as_deref(), Some("Remote Services: Distributed Component Object Model"));
        assert!(a.technique("T9999").is_none());
        assert_eq!(a.tactic("lateral_movement").map(|t| t.id.as_str()), Some("TA0008"));
        assert_eq!(a.version.as_deref(), Some("18.1"));
    }
}
