use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// `data/logsources.toml`, parsed once.
#[derive(Debug, Deserialize)]
pub struct LogSources {
    pub event_type_fields: Vec<String>,
    pub providers: BTreeMap<String, Provider>,
    pub services: BTreeMap<String, String>,
    pub categories: BTreeMap<String, Vec<String>>,
    pub titles: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct Provider {
    pub provider: Option<String>,
    pub channel: Option<String>,
}

/// One event a log source resolves to: a provider alias and an EventID (none: the whole channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub alias: String,
    pub event_id: Option<u32>,
}

static DATA: &str = include_str!("../data/logsources.toml");

/// The log source tables. The file ships inside the binary, and a test checks it loads.
pub fn logsources() -> &'static LogSources {
    static CELL: OnceLock<LogSources> = OnceLock::new();
    CELL.get_or_init(|| match toml::from_str(DATA) {
        Ok(v) => v,
        Err(e) => panic!("vocab/data/logsources.toml is invalid (a build defect, caught by tests): {e}"),
    })
}

impl LogSources {
    pub fn is_event_type_field(&self, field: &str) -> bool {
        self.event_type_fields.iter().any(|f| f.eq_ignore_ascii_case(field))
    }

    /// Events of a Windows Sigma log source; empty when it does not resolve.
    pub fn resolve(&self, product: Option<&str>, category: Option<&str>, service: Option<&str>) -> Vec<EventRef> {
        if !product.is_some_and(|p| p.eq_ignore_ascii_case("windows")) {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(list) = category.and_then(|c| self.categories.get(c)) {
            out.extend(list.iter().filter_map(|s| parse_ref(s)));
        }
        if let Some(s) = service {
            let alias = self.services.get(s).map(String::as_str).unwrap_or(s);
            if self.providers.contains_key(alias) {
                out.push(EventRef { alias: alias.to_string(), event_id: None });
            }
        }
        out
    }

    /// The provider alias whose channel (or provider name) is `name`.
    /// The Sigma categories an event (channel or provider, EventID) belongs to, most specific first
    /// (`Microsoft-Windows-Sysmon/Operational` 7 → `image_load`).
    pub fn categories_of(&self, channel: &str, event_id: u32) -> Vec<&str> {
        let Some(alias) = self.alias_of(channel) else { return Vec::new() };
        let key = format!("{alias}:{event_id}");
        let mut cats: Vec<(&str, usize)> =
            self.categories.iter().filter(|(_, refs)| refs.contains(&key)).map(|(c, refs)| (c.as_str(), refs.len())).collect();
        cats.sort_by_key(|c| c.1);
        cats.into_iter().map(|c| c.0).collect()
    }

    pub fn alias_of(&self, name: &str) -> Option<&str> {
        self.providers.iter().find_map(|(alias, p)| {
            let hit = p.channel.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name))
                || p.provider.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name));
            hit.then_some(alias.as_str())
        })
    }

    pub fn title(&self, alias: &str, event_id: u32) -> Option<&str> {
        self.titles.get(&format!("{alias}:{event_id}")).map(String::as_str)
    }
}

fn parse_ref(s: &str) -> Option<EventRef> {
    let (alias, id) = s.split_once(':')?;
    Some(EventRef { alias: alias.to_string(), event_id: id.parse().ok() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_loads_and_references_known_providers() {
        let ls = logsources();
        for (cat, refs) in &ls.categories {
            for r in refs {
                let e = parse_ref(r).unwrap_or_else(|| panic!("{cat}: bad event ref {r}"));
                assert!(ls.providers.contains_key(&e.alias), "{cat}: unknown provider alias {}", e.alias);
                assert!(e.event_id.is_some(), "{cat}: {r} has no EventID");
            }
        }
        for alias in ls.services.values() {
            assert!(ls.providers.contains_key(alias), "service maps to unknown alias {alias}");
        }
    }

    #[test]
    fn process_creation_is_sysmon_1_and_security_4688() {
        let got = logsources().resolve(Some("windows"), Some("process_creation"), None);
        let ids: Vec<_> = got.iter().map(|e| (e.alias.as_str(), e.event_id)).collect();
        assert_eq!(ids, vec![("sysmon", Some(1)), ("security", Some(4688))]);
        assert!(logsources().resolve(Some("linux"), Some("process_creation"), None).is_empty());
    }
}
