//! The rulelens command line.

mod hunt;
mod render;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use catalog::{Catalog, Found, Page};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(name = "rulelens", version, about = "Detection rules from Sigma, Sentinel and Splunk in one model and one catalog")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct DbArg {
    /// Catalog file [default: $RULELENS_DB, else catalog.db in the user's data folder]
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read every rule under the folders and write the catalog
    Build {
        #[command(flatten)]
        db: DbArg,
        /// ATT&CK STIX bundle (enterprise-attack.json): technique names, tactics, the matrix
        #[arg(long, value_name = "FILE")]
        attack: Option<PathBuf>,
        /// Rule folders (or files)
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
    /// ATT&CK coverage: techniques × sources (detections and hunting), or a Navigator layer
    Coverage {
        #[command(flatten)]
        db: DbArg,
        /// Write an ATT&CK Navigator layer (JSON) to FILE ("-": standard output)
        #[arg(long, value_name = "FILE")]
        navigator: Option<PathBuf>,
        /// Only this source's rules (sigma, sentinel, splunk)
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Counts per source, status, level; parse failures with their reasons
    Stats {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
    /// One rule's page: metadata, coverage, stages, predicates, indicators
    Show {
        #[command(flatten)]
        db: DbArg,
        /// Rule id, title, or file path
        rule: String,
        #[arg(long)]
        json: bool,
    },
    /// Full-text search over titles, descriptions, tags, fields and values
    Search {
        #[command(flatten)]
        db: DbArg,
        /// Words to find (all must match; OR / NOT between words; `word*` for a prefix)
        #[arg(required = true)]
        query: Vec<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Serve the catalog as a local web site and JSON API (read-only)
    Serve {
        #[command(flatten)]
        db: DbArg,
        /// Address to listen on (loopback by default)
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
    },
    /// The most used indicators, or the rules behind one (`--field F --kind K --value V`)
    Indicators {
        #[command(flatten)]
        db: DbArg,
        /// Count canonical indicators across sources (`process.name eq mmc.exe`) instead of raw ones
        #[arg(long)]
        canonical: bool,
        /// Only this field (raw, or canonical with --canonical)
        #[arg(long)]
        field: Option<String>,
        /// With --field and --value: the indicator's kind (eq, contains, endswith ...)
        #[arg(long, default_value = "eq")]
        kind: String,
        /// List the rules behind this value of --field
        #[arg(long)]
        value: Option<String>,
        #[arg(long, default_value_t = 30)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Run rules over event logs (EVTX, JSON lines, folders, zip/tar.gz) and print what fires
    Hunt {
        /// Rule folder or file (repeat for more)
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Run the rules of this catalog (with or instead of --rules)
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// Log file, folder or archive (repeat for more)
        #[arg(long = "logs", value_name = "PATH", required = true)]
        logs: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutFormat::Table)]
        format: OutFormat,
        /// Write the alerts here (atomically) instead of to standard output
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Values for Sigma placeholders (`expand` modifier): YAML `name: [values]`
        #[arg(long, value_name = "FILE")]
        placeholders: Option<PathBuf>,
    },
    /// Replay Sigma regression cases (info.yml + EVTX/JSON) against their rules
    Test {
        /// Rule folder or file (repeat); default: the rules*/ folders of the Sigma repository
        /// that holds the regression_data folder
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Take the rules from this catalog
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// Folders holding regression cases
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Read each case's match_count as a minimum, as SigmaHQ's regression runner does (a
        /// case firing more often passes, with a note); by default the count must be exact
        #[arg(long)]
        min_count: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutFormat {
    Table,
    Jsonl,
    Csv,
}

impl From<OutFormat> for engine::Format {
    fn from(f: OutFormat) -> Self {
        match f {
            OutFormat::Table => engine::Format::Table,
            OutFormat::Jsonl => engine::Format::Jsonl,
            OutFormat::Csv => engine::Format::Csv,
        }
    }
}

impl DbArg {
    fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.db {
            return Ok(p.clone());
        }
        if let Some(p) = std::env::var_os("RULELENS_DB") {
            return Ok(PathBuf::from(p));
        }
        let dir = dirs::data_dir().context("no user data folder on this system: pass --db FILE")?;
        Ok(dir.join("rulelens").join("catalog.db"))
    }
}

struct Bar(ProgressBar);

impl catalog::Progress for Bar {
    fn start(&self, files: usize) {
        self.0.set_length(files as u64);
    }
    fn inc(&self) {
        self.0.inc(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rulelens: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Build { db, attack, dirs } => {
            let path = db.path()?;
            let attack = match attack {
                Some(f) => Some(attack::Attack::load(&f)?),
                None => None,
            };
            let bar = ProgressBar::new(0);
            if !std::io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            bar.set_style(
                ProgressStyle::with_template("{spinner} parsing {pos}/{len} files {wide_bar} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let summary = catalog::build_with(&dirs, &path, &Bar(bar.clone()), attack.as_ref())?;
            bar.finish_and_clear();
            print!("{}", render::build_summary(&summary));
        }
        Cmd::Stats { db, json } => {
            let stats = Catalog::open(&db.path()?)?.stats()?;
            if json {
                print_json(&stats)?;
            } else {
                print!("{}", render::stats(&stats));
            }
        }
        Cmd::Show { db, rule, json } => {
            let cat = Catalog::open(&db.path()?)?;
            match cat.find(&rule)? {
                Found::One(r) => {
                    let page = Page::new(&cat, *r)?;
                    if json {
                        print_json(&page)?;
                    } else {
                        print!("{}", render::page(&page));
                    }
                }
                Found::Many(hits) => {
                    eprintln!("{} rules match {rule:?}; name one by id:", hits.len());
                    if json {
                        print_json(&hits)?;
                    } else {
                        print!("{}", render::hits(&hits));
                    }
                    return Ok(ExitCode::from(2));
                }
                Found::None { suggestions } => {
                    eprintln!("no rule with id, path or title {rule:?}");
                    if !suggestions.is_empty() {
                        eprintln!("did you mean:");
                        eprint!("{}", render::hits(&suggestions));
                    }
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Cmd::Search { db, query, limit, json } => {
            let hits = Catalog::open(&db.path()?)?.search(&query.join(" "), limit)?;
            if json {
                print_json(&hits)?;
            } else if hits.is_empty() {
                eprintln!("no rule matches");
            } else {
                print!("{}", render::hits(&hits));
            }
        }
        Cmd::Serve { db, addr } => web::serve(&db.path()?, addr)?,
        Cmd::Coverage { db, navigator, source, json } => {
            let cat = Catalog::open(&db.path()?)?;
            if let Some(out) = navigator {
                let layer = serde_json::to_string_pretty(&cat.navigator(source.as_deref())?)?;
                if out.as_os_str() == "-" {
                    println!("{layer}");
                } else {
                    hunt::write_atomic(&out, layer.as_bytes())?;
                    eprintln!("wrote {}", out.display());
                }
            } else {
                let mut cov = cat.coverage()?;
                if let Some(s) = &source {
                    cov.techniques.retain(|t| t.rules.by_source.contains_key(s));
                }
                if json {
                    print_json(&cov)?;
                } else {
                    print!("{}", render::coverage(&cov));
                }
            }
        }
        Cmd::Indicators { db, canonical, field, kind, value, limit, json } => {
            let cat = Catalog::open(&db.path()?)?;
            match (&field, &value) {
                (Some(f), Some(v)) => {
                    let hits = if canonical {
                        cat.canonical_rules(f, &kind, v)?
                    } else {
                        cat.indicator_rules(f, &kind, &v.to_lowercase())?
                    };
                    if json {
                        print_json(&hits)?;
                    } else if hits.is_empty() {
                        eprintln!("no rule has {f} {kind} {v}");
                    } else {
                        print!("{}", render::hits(&hits));
                    }
                }
                (None, Some(_)) => anyhow::bail!("--value needs --field (and --kind, default eq)"),
                _ => {
                    let rows = cat.top_indicators(canonical, field.as_deref(), limit)?;
                    if json {
                        print_json(&rows)?;
                    } else {
                        print!("{}", render::indicator_rows(&rows));
                    }
                }
            }
        }
        Cmd::Hunt { rules, db, logs, format, output, placeholders } => {
            let rules = hunt::load_rules(&rules, db.as_deref())?;
            let placeholders = match placeholders {
                Some(p) => engine::placeholders::load(&p).map_err(anyhow::Error::msg)?,
                None => Default::default(),
            };
            return hunt::hunt(rules, &placeholders, &logs, format.into(), output.as_deref());
        }
        Cmd::Test { rules, db, dirs, json, min_count } => {
            let count = if min_count { engine::Count::AtLeast } else { engine::Count::Exact };
            return hunt::test(&rules, db.as_deref(), &dirs, json, count);
        }
    }
    Ok(ExitCode::SUCCESS)
}
