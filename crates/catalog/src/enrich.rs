//! Rules meet the loaded ATT&CK bundle: technique names, and tactics placed by the bundle.

use attack::Attack;
use ir::Rule;

/// Names each technique the rule tags; a tactic tag the bundle does not know (another ATT&CK
/// version: `stealth` and `defense-impairment` are v19, the shared bundle is v18) is replaced by
/// its techniques' tactics in the bundle, and a note in `meta.attack_notes` says so.
pub fn with_attack(rule: &mut Rule, attack: &Attack) {
    let mut notes: Vec<String> = Vec::new();
    for a in &mut rule.attack {
        match attack.full_name(&a.technique) {
            Some(name) => a.name = Some(name),
            None => notes.push(format!("technique {} is not in the loaded ATT&CK bundle", a.technique)),
        }
    }
    let version = attack.version.as_deref().unwrap_or("?");
    let mut tactics: Vec<String> = Vec::new();
    for t in &rule.tactics {
        match attack.tactic(t) {
            Some(known) => push(&mut tactics, &known.shortname),
            None => {
                // The bundle's counterpart when one of the rule's techniques sits under it;
                // otherwise the techniques' own tactics.
                let techs: Vec<&attack::Technique> = rule.attack.iter().filter_map(|a| attack.technique(&a.technique)).collect();
                let mut placed: Vec<String> = Vec::new();
                match attack.counterpart(t) {
                    Some(c) if techs.iter().any(|x| x.tactics.contains(&c.shortname)) => push(&mut placed, &c.shortname),
                    _ => techs.iter().flat_map(|x| x.tactics.iter()).for_each(|s| push(&mut placed, s)),
                }
                if placed.is_empty() {
                    match attack.counterpart(t) {
                        Some(c) => {
                            notes.push(format!("tactic `{t}` is not in ATT&CK v{version}; placed under its counterpart {}", c.name));
                            push(&mut tactics, &c.shortname);
                        }
                        None => notes.push(format!("tactic `{t}` is not in ATT&CK v{version} and the rule names no technique to place it by")),
                    }
                } else {
                    notes.push(format!(
                        "tactic `{t}` is not in ATT&CK v{version}; placed by its techniques under {}",
                        placed.iter().filter_map(|s| attack.tactic(s).map(|x| x.name.clone())).collect::<Vec<_>>().join(", ")
                    ));
                    placed.iter().for_each(|p| push(&mut tactics, p));
                }
            }
        }
    }
    rule.tactics = tactics;
    if !notes.is_empty() {
        rule.meta.insert("attack_notes".into(), serde_json::json!(notes));
    }
}

fn push(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}
