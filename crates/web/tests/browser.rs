//! End to end in a real headless Chromium (Debian's `chromium`, installed by `.ci/run`) against
//! the site over a catalog of the whole shared corpus: home, search "dcom", the seed rule's page
//! (stages, indicators), a corpus count followed to the rules behind it, the ATT&CK matrix and its
//! T1021.003 cell. Chromium renders each page (`--dump-dom`) and the test follows the links it
//! finds in the rendered DOM; every page is also saved as a screenshot under
//! `target/e2e-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;

const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

struct Browser {
    profile: tempfile::TempDir,
    shots: PathBuf,
    n: usize,
}

impl Browser {
    fn run(&self, extra: &[&str], url: &str) -> String {
        let out = Command::new("chromium")
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(url)
            .output()
            .expect("chromium runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The page as Chromium rendered it, and a screenshot of it.
    fn open(&mut self, url: &str, name: &str) -> String {
        self.n += 1;
        let shot = self.shots.join(format!("{:02}-{name}.png", self.n));
        self.run(&[&format!("--screenshot={}", shot.display()), "--window-size=1280,1000"], url);
        assert!(shot.is_file(), "no screenshot of {url}");
        self.run(&["--dump-dom"], url)
    }
}

/// Every `href` in a rendered DOM, entities decoded.
fn hrefs(dom: &str) -> Vec<String> {
    dom.split("href=\"").skip(1).filter_map(|s| s.split('"').next()).map(|h| h.replace("&amp;", "&")).collect()
}

/// The `href` of the link whose text is `text`.
fn link_to(dom: &str, text: &str) -> Option<String> {
    dom.split("<a ").find(|a| a.contains(&format!(">{text}</a>"))).and_then(|a| hrefs(&format!(" {a}")).into_iter().next())
}

#[test]
fn browse_the_catalog_in_chromium() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let chromium = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
    if !chromium || !corpus.join("sigma").is_dir() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! BROWSER TEST DID NOT RUN: chromium {} / corpus {} (`.ci/run` installs chromium; CI has the corpus) !!!\n",
            if chromium { "found" } else { "missing" },
            if corpus.is_dir() { "found" } else { "missing" }
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("catalog.db");
    let attack = attack_bundle(&corpus);
    let dirs = ["sigma", "sigma-mdecrevoisier", "sentinel", "splunk-security-content"].map(|d| corpus.join(d));
    catalog::build_with(&dirs, &db, &(), Some(&attack)).expect("build");

    // The site, on a free loopback port, in the background.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let app = web::router(db.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    let base = format!("http://{addr}");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut b = Browser { profile: tempfile::tempdir().unwrap(), shots, n: 0 };

    let home = b.open(&format!("{base}/"), "home");
    assert!(home.contains("Rules per source") && home.contains("sentinel") && home.contains("splunk"), "home");

    let search = b.open(&format!("{base}/search?q=dcom"), "search-dcom");
    let seed = link_to(&search, "Impacket DCOMexec process abuse via MMC").expect("seed 000 in the results for dcom");

    let page = b.open(&format!("{base}{seed}"), "seed-rule");
    for want in ["Stages and predicates", "selection_basic", "selection_sysmon", "Indicators", "ParentImage", "process.parent.name"] {
        assert!(page.contains(want), "{want} missing from the seed page");
    }
    // A corpus count, followed.
    let count = hrefs(&page).into_iter().find(|h| h.starts_with("/indicators/rules?canonical=1&field=process.parent.name")).expect("count link");
    let behind = b.open(&format!("{base}{count}"), "rules-behind-count");
    assert!(behind.contains("Impacket DCOMexec process abuse via MMC") && behind.contains("DCOM Lateral Movement"), "rules behind the count");

    let matrix = b.open(&format!("{base}/attack"), "attack-matrix");
    assert!(matrix.contains("Lateral Movement"));
    let cell = hrefs(&matrix).into_iter().find(|h| h == "/attack/T1021.003").expect("T1021.003 cell");
    let rules = b.open(&format!("{base}{cell}"), "t1021-003");
    for want in ["Impacket DCOMexec process abuse via MMC", "DCOM Lateral Movement", "Remote Process Instantiation via DCOM and PowerShell"] {
        assert!(rules.contains(want), "{want} missing from the T1021.003 cell");
    }
}

fn attack_bundle(corpus: &Path) -> attack_crate::Attack {
    attack_crate::Attack::load(&corpus.join("attack/enterprise-attack.json")).expect("ATT&CK bundle")
}

use attack as attack_crate;
