use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct FieldMapsFile {
    events: BTreeMap<String, BTreeMap<String, String>>,
}

static DATA: &str = include_str!("../data/fieldmaps.toml");

/// `data/fieldmaps.toml`: per event (`alias:EventID`, aliases from logsources.toml), the event
/// field that holds each Sigma taxonomy field.
pub fn field_maps() -> &'static BTreeMap<String, BTreeMap<String, String>> {
    static CELL: OnceLock<BTreeMap<String, BTreeMap<String, String>>> = OnceLock::new();
    CELL.get_or_init(|| match toml::from_str::<FieldMapsFile>(DATA) {
        Ok(f) => f.events,
        Err(e) => panic!("vocab/data/fieldmaps.toml is invalid (a build defect, caught by tests): {e}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_maps_load_and_name_known_events() {
        let ls = crate::logsources();
        let maps = super::field_maps();
        assert_eq!(maps["security:4688"]["Image"], "NewProcessName");
        for key in maps.keys() {
            let (alias, id) = key.split_once(':').expect("alias:EventID");
            assert!(ls.providers.contains_key(alias), "{key}: unknown alias");
            assert!(id.parse::<u32>().is_ok(), "{key}: bad EventID");
        }
    }
}
