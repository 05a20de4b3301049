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

/// Tables (Defender, Log Analytics) and parser functions (ASIM, by name prefix) → groups of
/// columns; `any` holds the columns every table has.
#[derive(Debug, Deserialize, Default)]
struct TablesFile {
    #[serde(default)]
    tables: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    prefixes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    any: Map,
    groups: BTreeMap<String, Map>,
}

impl TablesFile {
    /// Merges another file in; a group or table defined twice is a build defect.
    fn merge(mut self, name: &str, other: TablesFile) -> TablesFile {
        for (k, v) in other.groups {
            assert!(self.groups.insert(k.clone(), v).is_none(), "vocab/data/fields/{name}: group {k} defined twice");
        }
        for (k, v) in other.tables {
            assert!(self.tables.insert(k.clone(), v).is_none(), "vocab/data/fields/{name}: table {k} defined twice");
        }
        self.prefixes.extend(other.prefixes);
        self.any.extend(other.any);
        self
    }
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
    mde: TablesFile,
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
            mde: parse::<TablesFile>("mde.toml", include_str!("../data/fields/mde.toml"))
                .merge("loganalytics.toml", parse("loganalytics.toml", include_str!("../data/fields/loganalytics.toml")))
                .merge("asim.toml", parse("asim.toml", include_str!("../data/fields/asim.toml"))),
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

    /// The groups of a table, or of the parser function whose name it is (longest prefix).
    fn groups_of(&self, table: &str) -> Option<&Vec<String>> {
        if let Some((_, g)) = self.mde.tables.iter().find(|(t, _)| t.eq_ignore_ascii_case(table)) {
            return Some(g);
        }
        let key: String = table.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect();
        self.mde.prefixes.iter().filter(|(p, _)| key.starts_with(p.as_str())).max_by_key(|(p, _)| p.len()).map(|(_, g)| g)
    }

    /// A column of a Defender/Sentinel table (or ASIM parser); the columns every Log Analytics
    /// table has (`TimeGenerated`) for any table.
    pub fn table(&self, table: &str, field: &str) -> Option<&str> {
        let own = self.groups_of(table).and_then(|groups| groups.iter().find_map(|g| self.mde.groups.get(g).and_then(|m| get(m, field))));
        own.or_else(|| get(&self.mde.any, field))
    }

    /// Whether the table (or parser function) is one the maps know.
    pub fn knows_table(&self, table: &str) -> bool {
        self.groups_of(table).is_some()
    }

    /// Whether `table` names an ASIM parser function (its own schema, whatever tables it reads).
    pub fn is_parser(&self, table: &str) -> bool {
        !self.mde.tables.keys().any(|t| t.eq_ignore_ascii_case(table)) && self.groups_of(table).is_some()
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
        // ASIM parsers by prefix: the acting process is the parent in the process schema only.
        assert_eq!(f.table("imProcessCreate", "ActingProcessName"), Some("process.parent.executable"));
        assert_eq!(f.table("_Im_ProcessCreate", "CommandLine"), Some("process.command_line"));
        assert_eq!(f.table("ASimFileEventMicrosoftSysmon", "ActingProcessName"), Some("process.executable"));
        assert_eq!(f.table("imDns", "DnsQuery"), Some("dns.question.name"));
        assert!(f.is_parser("imDns") && !f.is_parser("DeviceProcessEvents"));
        // Columns every Log Analytics table has, known or not.
        assert_eq!(f.table("SomeCustomTable_CL", "TimeGenerated"), Some("@timestamp"));
        assert_eq!(f.table("CommonSecurityLog", "DestinationIP"), Some("destination.ip"));
        // Every group a table or parser names exists.
        for groups in f.mde.tables.values().chain(f.mde.prefixes.values()) {
            for g in groups {
                assert!(f.mde.groups.contains_key(g), "unknown group {g}");
            }
        }
    }
}
