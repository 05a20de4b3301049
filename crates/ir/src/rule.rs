use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Diagnostic, Logic, Severity};

/// The rule language / vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Sigma,
    Sentinel,
    Splunk,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Sigma, Source::Sentinel, Source::Splunk];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sigma => "sigma",
            Source::Sentinel => "sentinel",
            Source::Splunk => "splunk",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One ATT&CK reference of a rule (from Sigma tags, Sentinel relevantTechniques, ESCU mitre_attack_id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackRef {
    /// Technique id, upper case: `T1021.003`.
    pub technique: String,
    /// Name, when the vocabulary knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a rule reads: declared in its metadata or derived from its logic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Telemetry {
    /// A Sigma-style log source.
    LogSource {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
    /// A Windows event: provider and/or channel, and an EventID (none: any event of that channel).
    WinEvent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// A KQL table or function.
    Table { name: String },
    /// A Splunk CIM data model node, e.g. `Endpoint.Processes`.
    DataModel { node: String },
}

/// A detection rule in the one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Catalog-unique id: the rule's own id, or a short hash when it has none or shares it.
    pub id: String,
    /// The id the rule declares, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_id: Option<String>,
    pub source: Source,
    /// The repository or folder the rule came from (the folder given to `build`).
    pub origin: String,
    /// Path relative to `origin`, with `/` separators.
    pub path: String,
    /// Index of the YAML document inside the file (0 for single-document files).
    pub doc_index: usize,
    /// Rule kind within its source: `detection`, `correlation`, `filter` (Sigma); later
    /// `scheduled`, `nrt`, `hunting`, `TTP`, ...
    pub kind: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Severity / level as the rule spells it (lower case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub falsepositives: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Every other metadata key of the rule, as JSON (kept so nothing is lost).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub attack: Vec<AttackRef>,
    /// ATT&CK tactics named by the rule (`lateral-movement`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tactics: Vec<String>,
    /// Telemetry declared by metadata (Sigma logsource, Sentinel connectors, ESCU data_source).
    #[serde(default)]
    pub declared: Vec<Telemetry>,
    /// Telemetry derived from the rule (filled by the vocabulary pass).
    #[serde(default)]
    pub derived: Vec<Telemetry>,
    pub logic: Logic,
    /// The rule's own text (for Sigma: the YAML document).
    pub raw: String,
    /// Line of `raw`'s first line in the file (1-based).
    #[serde(default = "one")]
    pub raw_line: u32,
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
}

fn one() -> u32 {
    1
}

impl Rule {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}
