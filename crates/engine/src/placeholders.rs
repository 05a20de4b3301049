//! Sigma placeholders: values written `%name%` under the `expand` modifier stand for lists kept
//! outside the rule (`%Workstations%`, `%DomainControllers%`); the user gives them in a YAML file
//! of `name: [values]`.

use std::collections::HashMap;
use std::path::Path;

use ir::{Predicate, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::matcher::Unsupported;

/// Values for Sigma placeholders (`%Workstations%` under the `expand` modifier), by name.
pub type Placeholders = HashMap<String, Vec<String>>;

/// The predicate with every `%name%` in its values replaced by each value given for `name`
/// (several placeholders in one value give every combination).
pub fn expand(p: &Predicate, placeholders: &Placeholders) -> Result<Predicate, Unsupported> {
    let lookup = |name: &str| {
        placeholders
            .get(name)
            .or_else(|| placeholders.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
            .ok_or_else(|| Unsupported(format!("placeholder %{name}% has no values (give them with --placeholders FILE)")))
    };
    let is_name = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    let mut values = Vec::new();
    for v in &p.values {
        let text = v.text();
        let mut out = vec![String::new()];
        let mut rest = text.as_str();
        // Walk the written value once: literal parts are appended, each `%name%` multiplies.
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            match after.find('%').filter(|&len| is_name(&after[..len])) {
                Some(len) => {
                    let given = lookup(&after[..len])?;
                    let lit = &rest[..start];
                    out = out.iter().flat_map(|o| given.iter().map(move |g| format!("{o}{lit}{g}"))).collect();
                    if out.len() > 10_000 {
                        return Err(Unsupported("placeholders expand to more than 10,000 values".into()));
                    }
                    rest = &after[len + 1..];
                }
                None => {
                    out.iter_mut().for_each(|o| o.push_str(&rest[..=start]));
                    rest = after;
                }
            }
        }
        out.iter_mut().for_each(|o| o.push_str(rest));
        values.extend(out.into_iter().map(Value::Str));
    }
    let mut out = p.clone();
    out.values = values;
    out.transforms.retain(|t| t != "expand");
    Ok(out)
}

/// Reads a YAML mapping of placeholder names to a value or a list of values.
pub fn load(path: &Path) -> Result<Placeholders, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| format!("{}: invalid YAML: {e}", path.display()))?;
    let Some(Yaml::Hash(map)) = docs.into_iter().next() else {
        return Err(format!("{}: expected a mapping of placeholder names to values", path.display()));
    };
    let scalar = |y: &Yaml| match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    let mut out = Placeholders::new();
    for (k, v) in map {
        let name = scalar(&k).ok_or_else(|| format!("{}: a placeholder name must be a string", path.display()))?;
        let values: Vec<String> = match &v {
            Yaml::Array(a) => a.iter().filter_map(scalar).collect(),
            other => scalar(other).into_iter().collect(),
        };
        out.insert(name.trim_matches('%').to_string(), values);
    }
    Ok(out)
}
