//! Log-source routing: which events a rule may see, and which field map applies to an event.
//! Facts come from vocab's data files; nothing here names a channel or EventID.

use std::collections::HashMap;
use std::sync::OnceLock;

use events::Event;
use ir::{Rule, Telemetry};

use crate::matcher::MapId;

/// One kind of event: a provider and/or channel, and an EventID (none: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub provider: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
}

impl Route {
    pub fn matches(&self, ev: &Event) -> bool {
        if self.event_id.is_some() && self.event_id != ev.event_id() {
            return false;
        }
        let same = |want: &Option<String>, got: Option<&str>| match (want, got) {
            (Some(w), Some(g)) => w.eq_ignore_ascii_case(g),
            _ => false,
        };
        same(&self.channel, ev.channel()) || same(&self.provider, ev.provider())
    }
}

/// Where a rule runs.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Only on these events.
    Events(Vec<Route>),
    /// On every Windows event (the log source names no known category or service; the rule's own
    /// predicates, e.g. `EventID` and `Channel`, decide).
    AnyWindows,
}

/// The scope of a rule from its declared log source, or why it cannot run on Windows logs.
pub fn scope(rule: &Rule) -> Result<Scope, String> {
    let ls = vocab::logsources();
    let Some((product, category, service)) = rule.declared.iter().find_map(|t| match t {
        Telemetry::LogSource { product, category, service } => Some((product, category, service)),
        _ => None,
    }) else {
        return Ok(Scope::AnyWindows);
    };
    let is_windows = product.as_deref().is_none_or(|p| p.eq_ignore_ascii_case("windows"));
    if !is_windows {
        let p = product.as_deref().unwrap_or("-");
        return Err(format!("log source product {p}: not a Windows log source, no events here can match"));
    }
    let refs = ls.resolve(Some("windows"), category.as_deref(), service.as_deref());
    if refs.is_empty() {
        if category.is_none() && service.is_none() {
            return Ok(Scope::AnyWindows);
        }
        let what: Vec<String> = [("category", category), ("service", service)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect();
        return Err(format!("log source {}: no Windows event is mapped to it (vocab logsources.toml)", what.join(", ")));
    }
    Ok(Scope::Events(
        refs.iter()
            .map(|r| {
                let p = ls.providers.get(&r.alias);
                Route {
                    provider: p.and_then(|p| p.provider.clone()),
                    channel: p.and_then(|p| p.channel.clone()),
                    event_id: r.event_id,
                }
            })
            .collect(),
    ))
}

/// Field maps per event kind (vocab's `fieldmaps.toml`): map id `i + 1` is entry `i`.
pub struct FieldMaps {
    pub entries: Vec<(Route, HashMap<String, String>)>,
}

pub fn field_maps() -> &'static FieldMaps {
    static CELL: OnceLock<FieldMaps> = OnceLock::new();
    CELL.get_or_init(|| {
        let ls = vocab::logsources();
        let entries = vocab::field_maps()
            .iter()
            .filter_map(|(key, fields)| {
                let (alias, id) = key.split_once(':')?;
                let p = ls.providers.get(alias)?;
                let route = Route { provider: p.provider.clone(), channel: p.channel.clone(), event_id: id.parse().ok() };
                Some((route, fields.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()))
            })
            .collect();
        FieldMaps { entries }
    })
}

impl FieldMaps {
    /// The field map that applies to an event (0 = none).
    pub fn map_of(&self, ev: &Event) -> MapId {
        self.entries.iter().position(|(r, _)| r.matches(ev)).map(|i| i as MapId + 1).unwrap_or(0)
    }

    /// For a rule field: the event field to read under each map that renames it.
    pub fn renames(&self, field: &str) -> Vec<(MapId, String)> {
        let f = field.to_ascii_lowercase();
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, (_, m))| m.get(&f).map(|to| (i as MapId + 1, to.clone())))
            .collect()
    }
}
