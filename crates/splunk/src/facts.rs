//! What a Splunk detection's page shows beyond the common sections, as (label, value) rows, for
//! the terminal and the web alike: risk and RBA, data model and `by` fields, post-aggregation
//! filters, the default configuration of its type (from `deployments/`), data sources and tests.

use ir::Rule;
use serde_json::Value;

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

fn list(v: &Value) -> String {
    v.as_array().map(|a| a.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| text(v))
}

pub fn facts(r: &Rule) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let m = &r.meta;
    for (label, key) in [("Type", "type"), ("Risk score", "risk_score"), ("Confidence", "confidence"), ("Impact", "impact"), ("Security domain", "security_domain"), ("RBA message", "message")] {
        if let Some(v) = m.get(key) {
            out.push((label.into(), list(v)));
        }
    }
    // ESCU's newer `rba:` block: message, risk and threat objects.
    if let Some(rba) = m.get("rba") {
        if let Some(msg) = rba.get("message") {
            out.push(("RBA message".into(), text(msg)));
        }
        for o in rba.get("risk_objects").and_then(Value::as_array).into_iter().flatten() {
            out.push(("RBA risk object".into(), format!("{} ({}, score {})", text(&o["field"]), text(&o["type"]), text(&o["score"]))));
        }
        for o in rba.get("threat_objects").and_then(Value::as_array).into_iter().flatten() {
            out.push(("RBA threat object".into(), format!("{} ({})", text(&o["field"]), text(&o["type"]))));
        }
    }
    for t in &r.derived {
        if let ir::Telemetry::DataModel { node } = t {
            out.push(("Data model".into(), node.clone()));
        }
    }
    if let Some(v) = m.get("output_fields") {
        out.push(("By / output fields".into(), list(v)));
    }
    for f in m.get("post_aggregation_filters").and_then(Value::as_array).into_iter().flatten() {
        out.push(("Post-aggregation filter".into(), text(f)));
    }
    if let Some(v) = m.get("data_source") {
        out.push(("Data sources".into(), list(v)));
    }
    if let Some(d) = m.get("deployment") {
        let name = d.get("name").map(text).unwrap_or_else(|| "default".into());
        let s = &d["scheduling"];
        let mut parts = Vec::new();
        for (label, key) in [("cron", "cron_schedule"), ("earliest", "earliest_time"), ("latest", "latest_time"), ("window", "schedule_window")] {
            if let Some(v) = s.get(key) {
                parts.push(format!("{label} {}", text(v)));
            }
        }
        out.push((format!("Schedule ({name})"), parts.join(", ")));
        let actions = &d["alert_action"];
        let notable = actions.get("notable").is_some_and(|n| !n.is_null());
        let rba = actions.get("rba").and_then(|r| r.get("enabled")).and_then(Value::as_bool).unwrap_or(false);
        out.push(("Alert actions".into(), format!("notable {}, risk (RBA) {}", if notable { "yes" } else { "no" }, if rba { "yes" } else { "no" })));
    }
    for mac in m.get("macros").and_then(Value::as_array).into_iter().flatten() {
        out.push((format!("Macro `{}`", text(&mac["name"])), mac["definition"].as_str().unwrap_or("(not defined)").to_string()));
    }
    for t in m.get("tests").and_then(Value::as_array).into_iter().flatten() {
        let data: Vec<String> = t["attack_data"].as_array().map(|a| a.iter().map(|d| text(&d["data"])).collect()).unwrap_or_default();
        out.push((format!("Test: {}", text(&t["name"])), data.join(", ")));
    }
    out
}
