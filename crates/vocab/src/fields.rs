//! The field maps of `data/fields/`: each schema's fields (Sigma/Sysmon, Windows Security, Defender
//! and Sentinel tables, Splunk CIM) onto one canonical, ECS-style vocabulary.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

type Map = BTreeMap<String, String>;

#[derive(Debug, Deserialize)]
struct CanonicalFile {
    paths: Map,
}

#[derive(Debug, Deserialize)]
struct SigmaFile {
    any: Map,
    categories: BTreeMap<String, Map>,
    services: BTreeMap<String, Map>,
}

#[derive(Debug, Deserialize)]
struct MdeFile {
    tables: BTreeMap<String, Vec<String>>,
    groups: BTreeMap<String, Map>,
}

#[derive(Debug, Deserialize)]
struct CimFile {
    nodes: BTreeMap<String, Map>,
    metadata: Map,
}

/// All field maps, loaded once.
#[derive(Debug)]
pub struct Fields {
    /// Path field → the name field holding its last component.
    pub paths: Map,
    sigma: SigmaFile,
    mde: MdeFile,
    cim: CimFile,
}

fn parse<T: for<'de> Deserialize<'de>>(name: &str, text: &str) -> T {
    toml::from_str(text).unwrap_or_else(|e| panic!("vocab/data/fields/{name} is invalid (a build defect, caught by tests): {e}"))
}

pub fn fields() -> &'static Fields {
    static CELL: OnceLock<Fields> = OnceLock::new();
    CELL.get_or_init(|| {
        let canonical: CanonicalFile = parse("canonical.toml", include_str!("../data/fields/canonical.toml"));
        Fields {
            paths: canonical.paths,
            sigma: parse("sigma.toml", include_str!("../data/fields/sigma.toml")),
            mde: parse("mde.toml", include_str!("../data/fields/mde.toml")),
            cim: parse("cim.toml", include_str!("../data/fields/cim.toml")),
        }
    })
}

/// Field names compare case-insensitively (KQL and SPL columns are case-sensitive in theory,
/// but rules in the wild mix cases; Sigma field names are case-insensitive).
fn get<'a>(m: &'a Map, field: &str) -> Option<&'a str> {
    m.get(field).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)).map(|(_, v)| v)).map(String::as_str)
}

impl Fields {
    /// A Sigma field under its log source: the category's map, then the service's, then `[any]`.
    pub fn sigma(&self, category: Option<&str>, service: Option<&str>, field: &str) -> Option<&str> {
        let cat = category.and_then(|c| self.sigma.categories.get(c)).and_then(|m| get(m, field));
        let svc = || service.and_then(|s| self.sigma.services.get(s)).and_then(|m| get(m, field));
        cat.or_else(svc).or_else(|| get(&self.sigma.any, field))
    }

    /// A column of a Defender/Sentinel table.
    pub fn table(&self, table: &str, field: &str) -> Option<&str> {
        let groups = self.mde.tables.iter().find(|(t, _)| t.eq_ignore_ascii_case(table)).map(|(_, g)| g)?;
        groups.iter().find_map(|g| self.mde.groups.get(g).and_then(|m| get(m, field)))
    }

    /// Whether the table is one the maps know.
    pub fn knows_table(&self, table: &str) -> bool {
        self.mde.tables.keys().any(|t| t.eq_ignore_ascii_case(table))
    }

    /// A field of a Splunk search: a CIM field, Splunk's metadata (`sourcetype`), or — in raw
    /// searches of Windows event logs (XmlWinEventLog) — the event's own field name (`Image`,
    /// `EventCode`), read with the Windows maps.
    /// `categories`: the Sigma categories of the Windows events the rule declares (its data
    /// sources), which say what a raw field such as `ImageLoaded` means.
    pub fn splunk(&self, model: Option<&str>, categories: &[&str], field: &str) -> Option<&str> {
        self.cim(model, field).or_else(|| get(&self.cim.metadata, field)).or_else(|| {
            if field.contains('.') {
                return None;
            }
            categories.iter().find_map(|c| self.sigma(Some(c), None, field)).or_else(|| self.sigma(None, Some("security"), field))
        })
    }

    /// A CIM field, `Node.field` (`Processes.process_name`) or bare under a known data model
    /// (`Endpoint.Processes`).
    pub fn cim(&self, model: Option<&str>, field: &str) -> Option<&str> {
        let (node, bare) = match field.split_once('.') {
            Some((n, f)) => (Some(n), f),
            None => (None, field),
        };
        let matches_node = |k: &str| match node {
            Some(n) => k.rsplit('.').next().is_some_and(|last| last.eq_ignore_ascii_case(n)),
            None => model.is_some_and(|m| k.eq_ignore_ascii_case(m) || m.ends_with(&format!(".{}", k.rsplit('.').next().unwrap_or("")))),
        };
        self.cim.nodes.iter().filter(|(k, _)| matches_node(k)).find_map(|(_, m)| get(m, bare))
    }

    /// The name field of a path field (`process.executable` → `process.name`).
    pub fn name_of(&self, path_field: &str) -> Option<&str> {
        self.paths.get(path_field).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::fields;

    #[test]
    fn the_maps_load_and_keep_the_traps_apart() {
        let f = fields();
        assert_eq!(f.sigma(Some("process_creation"), None, "Image"), Some("process.executable"));
        assert_eq!(f.sigma(Some("process_creation"), None, "NewProcessName"), Some("process.executable"));
        assert_eq!(f.sigma(Some("process_access"), None, "TargetImage"), Some("process.target.executable"));
        // The parent in DeviceProcessEvents, the process itself in DeviceNetworkEvents.
        assert_eq!(f.table("DeviceProcessEvents", "InitiatingProcessFileName"), Some("process.parent.name"));
        assert_eq!(f.table("DeviceNetworkEvents", "InitiatingProcessFileName"), Some("process.name"));
        assert_eq!(f.table("DeviceProcessEvents", "FileName"), Some("process.name"));
        assert_eq!(f.table("DeviceImageLoadEvents", "FileName"), Some("dll.name"));
        assert_eq!(f.cim(None, "Processes.process_name"), Some("process.name"));
        assert_eq!(f.cim(Some("Endpoint.Processes"), "parent_process_name"), Some("process.parent.name"));
        assert_eq!(f.cim(None, "Filesystem.file_path"), Some("file.path"));
        assert_eq!(f.name_of("process.parent.executable"), Some("process.parent.name"));
        // Every group a table names exists.
        for groups in f.mde.tables.values() {
            for g in groups {
                assert!(f.mde.groups.contains_key(g), "unknown group {g}");
            }
        }
    }
}
