use std::io::Read;

use ir::{Diagnostic, Rule, Source};
use serde::Serialize;

use crate::walk::RuleFile;

/// A file, or a document in it, that gave no rule.
#[derive(Debug, Clone, Serialize)]
pub struct FileFailure {
    pub origin: String,
    pub path: String,
    /// The language the file was recognised as, when it could be.
    pub source: Option<Source>,
    pub diagnostic: Diagnostic,
}

/// Rule files larger than this are refused: real rules are a few kB, the largest in the public
/// corpora under 100 kB.
pub const MAX_RULE_FILE: u64 = 4 * 1024 * 1024;

pub struct Ingested {
    pub rules: Vec<Rule>,
    pub failures: Vec<FileFailure>,
}

/// What the front ends need to know about the folder a file is under: Sentinel's workspace
/// functions (parsers) and the Splunk repository's macros.
#[derive(Default)]
pub struct FolderContext {
    pub functions: sentinel::Functions,
    pub splunk: splunk::Repo,
}

/// Reads one file and hands it to the front end that recognises it.
pub fn ingest(file: &RuleFile, ctx: &FolderContext) -> Ingested {
    let fail = |code: &str, msg: String, source: Option<Source>| Ingested {
        rules: Vec::new(),
        failures: vec![FileFailure {
            origin: file.origin.clone(),
            path: file.rel.clone(),
            source,
            diagnostic: Diagnostic::error(code, msg, None),
        }],
    };
    let bytes = match read_capped(file) {
        Ok(b) => b,
        Err(msg) => return fail("unreadable", msg, None),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            return fail("not-text", format!("not UTF-8 text: invalid byte at offset {at}; a rule file must be UTF-8 YAML"), None);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let parsed = sigma::parse_file(&file.origin, &file.rel, text);
    if !parsed.is_sigma {
        if splunk::looks_like_escu(&file.rel, text) {
            let s = splunk::parse_file(&file.origin, &file.rel, text, &ctx.splunk);
            let failures = s
                .failures
                .into_iter()
                .map(|d| FileFailure { origin: file.origin.clone(), path: file.rel.clone(), source: Some(Source::Splunk), diagnostic: d })
                .collect();
            return Ingested { rules: s.rules, failures };
        }
        let s = sentinel::parse_file(&file.origin, &file.rel, text, &ctx.functions);
        let failures = s
            .failures
            .into_iter()
            .map(|d| FileFailure { origin: file.origin.clone(), path: file.rel.clone(), source: Some(Source::Sentinel), diagnostic: d })
            .collect();
        return Ingested { rules: s.rules, failures };
    }
    let failures = parsed
        .failures
        .into_iter()
        .map(|d| FileFailure { origin: file.origin.clone(), path: file.rel.clone(), source: Some(Source::Sigma), diagnostic: d })
        .collect();
    Ingested { rules: parsed.rules, failures }
}

fn read_capped(file: &RuleFile) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(&file.abs).map_err(|e| format!("cannot open: {e}"))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_RULE_FILE {
        return Err(format!(
            "file is {:.1} MB, over the {} MB limit for a rule file: skipped",
            len as f64 / 1e6,
            MAX_RULE_FILE / (1024 * 1024)
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    // Read one byte past the cap: a file may grow after the size check.
    f.take(MAX_RULE_FILE + 1).read_to_end(&mut buf).map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() as u64 > MAX_RULE_FILE {
        return Err(format!("file is over the {} MB limit for a rule file: skipped", MAX_RULE_FILE / (1024 * 1024)));
    }
    Ok(buf)
}
