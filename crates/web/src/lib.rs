//! `rulelens serve`: a catalog as a local, read-only web site and JSON API.
//!
//! - [`routes`]: the URL table and the handlers (pages and `/api/...`).
//! - [`pages`]: the page models rendered by askama templates (`templates/`), which escape
//!   everything they print.
//! - [`guard`]: security headers on every response (a strict Content-Security-Policy), and the
//!   error pages (404 for unknown rules, 400 for bad parameters).
//!
//! Nothing reads the file system but the catalog: the style sheet and script are compiled in.

mod guard;
mod highlight;
mod pages;
mod routes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use routes::router;

/// Serves the catalog at `addr` until the process ends.
pub fn serve(db: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    // Fail early, with the catalog's own message, when it cannot be opened.
    catalog::Catalog::open(db)?;
    let app = router(PathBuf::from(db));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("rulelens: serving {} on http://{}", db.display(), listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
