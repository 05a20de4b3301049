//! Security headers and error responses.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// Scripts and styles only from this site, no inline code, no framing, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub async fn headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// An error a handler returns: an HTML page, or JSON under `/api`.
#[derive(Debug)]
pub enum AppError {
    NotFound(String),
    BadRequest(String),
    Internal(String),
}

pub struct Error {
    pub api: bool,
    pub error: AppError,
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(format!("{e:#}"))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self.error {
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.as_str()),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.as_str()),
            AppError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "Error", m.as_str()),
        };
        if self.api {
            return (status, axum::Json(serde_json::json!({"error": title, "message": message}))).into_response();
        }
        let page = ErrorPage { status: status.as_u16(), title, message };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title.to_string()).into_response(),
        }
    }
}
