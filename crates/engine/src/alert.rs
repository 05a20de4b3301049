//! Alerts and how they are written: table, JSON lines, CSV.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

/// One rule match (or one satisfied correlation window). JSON keys are the public interface.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// UTC, RFC 3339; `null` when the event carried no time.
    pub timestamp: Option<String>,
    pub computer: Option<String>,
    pub channel: Option<String>,
    pub provider: Option<String>,
    pub event_id: Option<u32>,
    pub record_id: Option<u64>,
    pub rule_id: String,
    pub title: String,
    pub level: Option<String>,
    pub techniques: Vec<String>,
    /// The log file (and archive entry) the event came from.
    pub file: String,
    /// The fields the rule reads, with this event's values.
    pub fields: BTreeMap<String, String>,
    /// For correlation alerts: the kind, group and aggregate, and how many matches it covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<CorrelationInfo>,
    /// Sort key: event time in ms since the epoch.
    #[serde(skip)]
    pub time_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorrelationInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub group: BTreeMap<String, String>,
    pub value: f64,
    pub matches: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Jsonl,
    Csv,
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn fields_text(f: &BTreeMap<String, String>) -> String {
    f.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// Writes alerts in the chosen format.
pub fn write_alerts(out: &mut dyn Write, alerts: &[Alert], format: Format) -> std::io::Result<()> {
    match format {
        Format::Jsonl => {
            for a in alerts {
                serde_json::to_writer(&mut *out, a)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            writeln!(out, "timestamp,computer,channel,provider,event_id,record_id,rule_id,title,level,techniques,file,fields")?;
            for a in alerts {
                let cells = [
                    a.timestamp.clone().unwrap_or_default(),
                    a.computer.clone().unwrap_or_default(),
                    a.channel.clone().unwrap_or_default(),
                    a.provider.clone().unwrap_or_default(),
                    a.event_id.map(|e| e.to_string()).unwrap_or_default(),
                    a.record_id.map(|e| e.to_string()).unwrap_or_default(),
                    a.rule_id.clone(),
                    a.title.clone(),
                    a.level.clone().unwrap_or_default(),
                    a.techniques.join(" "),
                    a.file.clone(),
                    fields_text(&a.fields),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        Format::Table => {
            for a in alerts {
                writeln!(
                    out,
                    "{}  {:<8}  {}  {}  {} {}  {}",
                    a.timestamp.as_deref().unwrap_or("-"),
                    a.level.as_deref().unwrap_or("-"),
                    a.title,
                    a.computer.as_deref().unwrap_or("-"),
                    a.channel.as_deref().unwrap_or("-"),
                    a.event_id.map(|e| e.to_string()).unwrap_or_default(),
                    fields_text(&a.fields)
                )?;
            }
        }
    }
    Ok(())
}
