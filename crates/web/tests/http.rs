//! The site over HTTP (in process): pages, JSON keys, escaping of hostile rule text, the CSP
//! header, 404 and 400 responses, and no way out of the catalog.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

const HOSTILE: &str = r#"title: "<script>alert(1)</script> Evil \"><img src=x onerror=alert(2)>"
id: 9a9a9a9a-0000-4000-8000-000000000666
description: "</p><script>document.location='//x'</script>"
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    CommandLine|contains: '"><img src=x onerror=alert(3)>'
  condition: selection
level: high
"#;

/// A rule kept with a located error: its page shows the line and a caret under the spot.
const FLAWED: &str = r#"title: Flawed <b>rule</b>
id: 9a9a9a9a-0000-4000-8000-000000000777
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    CommandLine|nosuchmodifier: '<b>x</b>'
  condition: selection
"#;

fn catalog() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules");
    std::fs::write(rules.join("hostile.yml"), HOSTILE).unwrap();
    std::fs::write(rules.join("flawed.yml"), FLAWED).unwrap();
    let db = dir.path().join("c.db");
    catalog::build(&[examples, rules], &db, &()).expect("build");
    (dir, db)
}

async fn get(db: &Path, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = web::router(db.to_path_buf()).oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 8 << 20).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn pages_api_and_errors() {
    let (_d, db) = catalog();
    let (s, h, body) = get(&db, "/").await;
    assert_eq!(s, StatusCode::OK);
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(body.contains("Rules per source"));

    let (s, _, body) = get(&db, "/api/search?q=dcom").await;
    assert_eq!(s, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let results = v["results"].as_array().unwrap();
    assert!(results.len() >= 3);
    for r in results {
        assert!(r["id"].is_string() && r["source"].is_string() && r["title"].is_string());
    }

    // A rule page and its JSON (the keys of `show --json`).
    let (s, _, html) = get(&db, "/rules/sigma/5d0a8c1e-9b1f-4c52-a7f4-0c6f1d2e3a41").await;
    assert_eq!(s, StatusCode::OK);
    for section in ["MITRE ATT&amp;CK coverage", "Event coverage", "Stages and predicates", "Indicators", "Related rules"] {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.contains("/indicators/rules?canonical=1"), "counts link to the rules behind them");
    let (_, _, json) = get(&db, "/api/rules/sigma/5d0a8c1e-9b1f-4c52-a7f4-0c6f1d2e3a41").await;
    let page: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in ["title", "id", "source", "path", "attack", "telemetry", "stages", "indicators", "diagnostics", "related"] {
        assert!(page.get(key).is_some(), "{key}");
    }

    let (s, h, text) = get(&db, "/rules/sigma/5d0a8c1e-9b1f-4c52-a7f4-0c6f1d2e3a41/source").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/plain") && text.starts_with("title: MMC Started by the DCOM Launcher"));
    // A Sentinel page shows its schedule, trigger and entities.
    let (s, _, html) = get(&db, "/rules/sentinel/7c2f5e1a-3b4d-4e8f-9a60-1d2c3b4a5f60").await;
    assert_eq!(s, StatusCode::OK);
    for want in ["Frequency", "1h", "Trigger", "Entity Host", "FullName=DeviceName", "table DeviceProcessEvents"] {
        assert!(html.contains(want), "{want}");
    }

    // A Splunk page shows the data model, schedule, macros with definitions, post-aggregation
    // filters and the subsearch stage.
    let (s, _, html) = get(&db, "/rules/splunk/7f1c4c2e-5d3a-4e51-9b8e-2a61f0c0d001").await;
    assert_eq!(s, StatusCode::OK);
    for want in ["Data model", "Endpoint.Processes", "Schedule (Example Default Configuration TTP)", "Macro `process_mmc`", "Processes.original_file_name=MMC.exe", "MMC was started over DCOM on $dest$ by $user$"] {
        assert!(html.contains(want), "{want}");
    }
    let (s, _, html) = get(&db, "/rules/splunk/7f1c4c2e-5d3a-4e51-9b8e-2a61f0c0d002").await;
    assert_eq!(s, StatusCode::OK);
    for want in ["Post-aggregation filter", "where count &#62; 3", "inputlookup"] {
        assert!(html.contains(want), "{want}");
    }

    // Following a count lists the rules behind it.
    let (s, _, list) = get(&db, "/indicators/rules?canonical=1&field=process.parent.name&kind=eq&value=svchost.exe").await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.contains("MMC Started by the DCOM Launcher (Defender)") && list.contains("Excel Started by the DCOM Launcher"));

    for uri in ["/attack", "/indicators", "/api/stats", "/api/indicators", "/api/coverage", "/api/navigator", "/search?q=mimikatz&source=sigma"] {
        assert_eq!(get(&db, uri).await.0, StatusCode::OK, "{uri}");
    }
    // Results show techniques and the matching text.
    let (_, _, html) = get(&db, "/search?q=sekurlsa").await;
    assert!(html.contains("class=\"snip\"") && html.contains("[sekurlsa"), "snippet");
    let (_, _, html) = get(&db, "/search?q=dcom").await;
    assert!(html.contains("T1021.003"), "techniques on hits");
    // Facets narrow the results.
    let (_, _, html) = get(&db, "/search?q=dcom&kind=scheduled").await;
    assert!(html.contains("MMC Started by the DCOM Launcher (Defender)") && !html.contains("Excel Started by the DCOM Launcher"), "kind facet");
    let (_, _, html) = get(&db, "/search?q=dcom&level=medium").await;
    assert!(html.contains("Excel Started by the DCOM Launcher") && !html.contains(">MMC Started by the DCOM Launcher<"), "level facet");
    let (_, _, html) = get(&db, "/search?q=launcher&technique=T1559").await;
    assert!(html.contains("Excel Started by the DCOM Launcher") && !html.contains("(Defender)"), "technique facet");
    let (_, _, html) = get(&db, "/search?q=dcom&telemetry=DeviceProcessEvents").await;
    assert!(html.contains("(Defender)") && !html.contains("Excel Started"), "telemetry facet");
    let (_, _, html) = get(&db, "/search?q=dcom&field=process.command_line&status=test").await;
    assert!(html.contains("Excel Started by the DCOM Launcher") && !html.contains("(Defender)"), "field + status facets");
    assert_eq!(get(&db, "/attack?kind=hunting").await.0, StatusCode::OK);
    assert_eq!(get(&db, "/attack?kind=everything").await.0, StatusCode::BAD_REQUEST);
    // Unknown rules and pages: 404; bad parameters: 400.
    assert_eq!(get(&db, "/rules/sigma/no-such-rule").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&db, "/rules/sentinel/5d0a8c1e-9b1f-4c52-a7f4-0c6f1d2e3a41").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&db, "/rules/elastic/x").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&db, "/search?q=x&limit=abc").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(get(&db, "/search?q=x&source=elastic").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(get(&db, "/api/search?q=x&debug=1").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(get(&db, "/indicators/rules?field=x").await.0, StatusCode::BAD_REQUEST);
    // No file outside the catalog is reachable.
    for uri in ["/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/rules/sigma/..%2F..%2Fetc%2Fpasswd", "/etc/passwd"] {
        let (s, _, body) = get(&db, uri).await;
        assert!(s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST, "{uri}: {s}");
        assert!(!body.contains("root:x:0"), "{uri}");
    }
}

#[tokio::test]
async fn rule_text_is_escaped_everywhere() {
    let (_d, db) = catalog();
    let id = "9a9a9a9a-0000-4000-8000-000000000666";
    for uri in [format!("/rules/sigma/{id}"), "/search?q=evil".to_string(), "/indicators".to_string()] {
        let (s, _, html) = get(&db, &uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert!(!html.contains("<script>alert"), "{uri}: raw script");
        assert!(!html.contains("<img src=x"), "{uri}: raw img");
        assert!(!html.contains("</p><script>"), "{uri}: raw description");
    }
    let (_, _, html) = get(&db, &format!("/rules/sigma/{id}")).await;
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "the title is shown, as text");
    assert!(html.contains("onerror=alert(3)"), "the value is shown, as text");
    // A located error: the line, escaped, with a caret under the spot.
    let (s, _, html) = get(&db, "/rules/sigma/9a9a9a9a-0000-4000-8000-000000000777").await;
    assert_eq!(s, StatusCode::OK);
    let pre = html.split("<pre class=\"caret\">").nth(1).expect("a caret block").split("</pre>").next().unwrap();
    assert!(pre.contains("CommandLine|nosuchmodifier") && pre.contains('^') && !pre.contains("<b>"), "{pre}");
}
