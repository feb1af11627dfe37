//! What every request to `evalgate serve` goes through before its handler: the server is
//! reached by browsers, so any request may come from a hostile page.
//!
//! - **Host.** A request must name this server: its loopback or listening address, or a name
//!   given with `--allowed-host`. A page on `evil.example` whose name was rebound to 127.0.0.1
//!   (DNS rebinding) sends `Host: evil.example:PORT` and is refused.
//! - **Origin.** A request that changes something (anything but GET and HEAD) coming from a
//!   browser says where from (`Origin`, else `Referer`); from another origin it is refused, so
//!   a page a reviewer visits cannot post labels or events in their name.
//! - **JSON.** The API takes `Content-Type: application/json` only (and `/v1/traces` also
//!   `application/x-protobuf`, OTLP's binary encoding): a browser sends either across origins
//!   only after a preflight this server never grants.
//! - **CSRF.** Forms carry a token that must equal the `evalgate_csrf` cookie (double submit;
//!   the cookie is `SameSite=Strict`, so a foreign page's form never has it).
//! - **Sessions.** With a token, pages need it once: the login form (or a link with `?token=`,
//!   which redirects to the same page without it) exchanges it for an `HttpOnly`,
//!   `SameSite=Strict` session cookie, so the token is in no link, no page and no log.
//! - **Headers.** Every response says `X-Frame-Options: DENY`, `X-Content-Type-Options:
//!   nosniff`, `Referrer-Policy: no-referrer` and a `Content-Security-Policy` (pages: their own
//!   inline scripts by hash, nothing from elsewhere).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session cookie (pages, with a token).
pub const SESSION_COOKIE: &str = "evalgate_session";
/// The CSRF cookie (its value is also in every form).
pub const CSRF_COOKIE: &str = "evalgate_csrf";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The shortest token `serve` takes, and how many different characters it needs at least.
pub const MIN_TOKEN_LEN: usize = 16;
pub const MIN_TOKEN_DISTINCT: usize = 8;

/// Why a token is too weak to guard a server, if it is.
pub fn weak_token(token: &str) -> Option<String> {
    let distinct = token
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if token.chars().count() < MIN_TOKEN_LEN
        || distinct < MIN_TOKEN_DISTINCT
        || token.trim() != token
    {
        Some(format!(
            "the token must be at least {MIN_TOKEN_LEN} characters with at least {MIN_TOKEN_DISTINCT} different ones and no surrounding spaces (this one has {} characters, {distinct} different)",
            token.chars().count()
        ))
    } else {
        None
    }
}

/// The CSRF token of a request: the value its forms must carry.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

pub struct Guard {
    token: Option<Arc<str>>,
    listen: SocketAddr,
    /// Names (`host` or `host:port`) a proxy may forward as `Host`.
    allowed: Vec<String>,
    secure_cookies: bool,
    /// Session id → when it ends.
    sessions: Mutex<HashMap<String, Instant>>,
}

impl Guard {
    pub fn new(
        token: Option<Arc<str>>,
        listen: SocketAddr,
        allowed: Vec<String>,
        secure_cookies: bool,
    ) -> Guard {
        Guard {
            token,
            listen,
            allowed: allowed
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            secure_cookies,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether a `Host` header names this server.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        if self.allowed.contains(&host) {
            return true;
        }
        let (name, port) = split_host(&host);
        let port = port.unwrap_or(80);
        if self
            .allowed
            .iter()
            .any(|a| split_host(a).0 == name && split_host(a).1.is_none())
        {
            return true;
        }
        if port != self.listen.port() {
            return false;
        }
        let ip: Option<IpAddr> = name.trim_matches(['[', ']']).parse().ok();
        let ours = self.listen.ip();
        if ours.is_loopback() {
            return name == "localhost" || ip.is_some_and(|ip| ip.is_loopback());
        }
        if ours.is_unspecified() {
            // Listening everywhere: any address of this machine, written as an address (a
            // name could be anyone's, rebound to us).
            return ip.is_some() || name == "localhost";
        }
        ip == Some(ours)
    }

    /// A new session, for a client that showed the token.
    fn open_session(&self) -> String {
        let id = random_id();
        if let Ok(mut sessions) = self.sessions.lock() {
            let now = Instant::now();
            sessions.retain(|_, end| *end > now);
            sessions.insert(id.clone(), now + SESSION_TTL);
        }
        id
    }

    fn session_valid(&self, id: &str) -> bool {
        self.sessions
            .lock()
            .ok()
            .and_then(|s| s.get(id).copied())
            .is_some_and(|end| end > Instant::now())
    }

    /// The `Set-Cookie` value of a cookie evalgate sets.
    fn cookie(&self, name: &str, value: &str) -> String {
        format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict{}",
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    /// Whether a request shows the token: the bearer header, or a session.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = self.token.as_deref() else {
            return true;
        };
        if bearer(headers).is_some_and(|g| same_token(g.as_bytes(), token.as_bytes())) {
            return true;
        }
        cookie(headers, SESSION_COOKIE).is_some_and(|id| self.session_valid(id))
    }

    /// Logs a client in: the session cookie to set, when the token is right.
    pub fn login(&self, token: &str) -> Option<HeaderValue> {
        let expected = self.token.as_deref()?;
        if !same_token(token.as_bytes(), expected.as_bytes()) {
            return None;
        }
        HeaderValue::from_str(&self.cookie(SESSION_COOKIE, &self.open_session())).ok()
    }
}

/// `host:port` (or `[v6]:port`) in two.
fn split_host(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, tail)) => (
                &host[..ip.len() + 2],
                tail.strip_prefix(':').and_then(|p| p.parse().ok()),
            ),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => (name, port.parse().ok()),
        _ => (host, None),
    }
}

/// 128 random bits twice, as hex (the process's random source, through uuid v4).
pub fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A cookie of a request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
}

/// Constant-time comparison of a presented secret with the expected one.
pub fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The origin (`scheme://host[:port]`) a browser says a request comes from, if it says.
fn origin_of(headers: &HeaderMap) -> Option<String> {
    if let Some(o) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return Some(o.trim().to_ascii_lowercase());
    }
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let (scheme, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether an origin is this request's own (`http(s)://` + its `Host`).
fn same_origin(origin: &str, host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    let (o_name, o_port) = split_host(authority);
    let (h_name, h_port) = split_host(&host);
    o_name == h_name && o_port.unwrap_or(default_port) == h_port.unwrap_or(default_port)
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({"error": message}))).into_response()
}

/// The policy of a response that is not a page of ours (JSON, redirects, errors).
const CSP_DEFAULT: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The Content-Security-Policy of a page: its own inline scripts, by hash, and nothing else
/// from anywhere (styles stay inline: the heat maps colour cells with `style`).
pub fn page_policy(html: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let attributes = &after[..open_end];
        let body_start = open_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        let body = &after[body_start..body_start + close];
        // Data (`type="application/json"`) is never run: it needs no hash.
        if !attributes.contains("application/json") {
            let digest = sha2::Sha256::digest(body.as_bytes());
            hashes.push(format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &after[body_start + close..];
    }
    let scripts = if hashes.is_empty() {
        "'none'".to_string()
    } else {
        hashes.join(" ")
    };
    format!(
        "default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The checks every request goes through, and the headers every response gets.
pub async fn protect(State(guard): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    if let Some(refused) = refusal(&guard, &req) {
        return finish(&guard, refused, None);
    }
    let path = req.uri().path();
    if path == "/healthz" || path.starts_with("/v1/") {
        // The API: no forms, so no CSRF cookie (its handlers check the bearer token).
        let resp = next.run(req).await;
        return finish(&guard, resp, None);
    }
    let headers = req.headers();
    // The CSRF token: the cookie's, or a new one (set on the response).
    let (csrf, new_csrf) = match cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 64) {
        Some(v) => (v.to_string(), false),
        None => (random_id(), true),
    };
    let set_csrf = new_csrf.then(|| guard.cookie(CSRF_COOKIE, &csrf));
    // Pages with a token: a session, the bearer header, or `?token=` once.
    let page = path != "/login";
    if page && !guard.authorized(headers) {
        return finish(&guard, log_in(&guard, &req, &csrf), set_csrf);
    }
    req.extensions_mut().insert(Csrf(csrf));
    let resp = next.run(req).await;
    finish(&guard, resp, set_csrf)
}

/// The refusal of a request with no host or another host, a change from another origin, or a change
/// to the API that is not JSON.
fn refusal(guard: &Guard, req: &Request) -> Option<Response> {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let Some(host) = host else {
        return Some(refuse(
            StatusCode::BAD_REQUEST,
            "the request names no host".into(),
        ));
    };
    if !guard.host_allowed(&host) {
        return Some(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this server is not `{host}` (a page whose name points here, or a proxy: start the server with `--allowed-host NAME` for a name it should answer to)"
            ),
        ));
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    // `Origin: null` says nothing: a browser sends it for our own forms too, since our pages
    // are `Referrer-Policy: no-referrer`. Such a request still needs the CSRF cookie (forms),
    // which a foreign page never has, or JSON with a preflight (the API), never granted.
    if changes
        && let Some(origin) = origin_of(headers)
        && origin != "null"
        && !same_origin(&origin, &host)
    {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            format!("a request from another origin (`{origin}`) cannot change anything here"),
        ));
    }
    if changes && req.uri().path().starts_with("/v1/") {
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let traces = req.uri().path() == "/v1/traces";
        let ok = media == "application/json" || (traces && media == "application/x-protobuf");
        if !ok {
            let message = if traces {
                OTLP_TYPES_MESSAGE
            } else {
                "send the events as JSON, with `Content-Type: application/json`"
            };
            return Some(refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, message.into()));
        }
    }
    None
}

/// Why `/v1/traces` refuses a content type.
pub const OTLP_TYPES_MESSAGE: &str = "send OTLP traces as protobuf (`Content-Type: application/x-protobuf`) or OTLP JSON (`Content-Type: application/json`)";

/// The answer to a page asked without a session: with a good `?token=`, a session and the
/// same page without the token in its address; else the login form (GET) or 401.
fn log_in(guard: &Guard, req: &Request, csrf: &str) -> Response {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let query_token = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        });
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("token="))
        .collect();
    let without_token = if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    };
    if *req.method() != Method::GET {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "log in first (the token, once, at /login), or send `Authorization: Bearer …`".into(),
        );
    }
    if let Some(session) = query_token.as_deref().and_then(|t| guard.login(t)) {
        // In once, then the same page without the token in its address.
        let mut resp = axum::response::Redirect::to(&without_token).into_response();
        resp.headers_mut().append(header::SET_COOKIE, session);
        return resp;
    }
    let page = crate::render::html::render_login(
        &without_token,
        csrf,
        query_token
            .is_some()
            .then_some("that token is not this server's"),
    );
    let mut r = super::html_with(StatusCode::UNAUTHORIZED, page);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// The headers every response gets (and the CSRF cookie when it is new).
fn finish(_guard: &Guard, mut resp: Response, set_csrf: Option<String>) -> Response {
    let h = resp.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_DEFAULT),
        );
    }
    if let Some(c) = set_csrf.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.append(header::SET_COOKIE, c);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str, allowed: &[&str]) -> Guard {
        Guard::new(
            None,
            listen.parse().unwrap(),
            allowed.iter().map(|s| s.to_string()).collect(),
            false,
        )
    }

    #[test]
    fn hosts_are_this_server_s_own() {
        let g = guard("127.0.0.1:8787", &[]);
        for ok in [
            "127.0.0.1:8787",
            "localhost:8787",
            "[::1]:8787",
            "LOCALHOST:8787",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8787",
            "127.0.0.1:9999",
            "evil.example",
            "127.0.0.1.nip.io:8787",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let g = guard("0.0.0.0:8787", &["evals.example.com"]);
        assert!(g.host_allowed("10.0.0.5:8787"));
        assert!(g.host_allowed("evals.example.com"));
        assert!(g.host_allowed("evals.example.com:443"));
        assert!(!g.host_allowed("evil.example:8787"));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin("http://127.0.0.1:8787", "127.0.0.1:8787"));
        assert!(same_origin(
            "https://evals.example.com",
            "evals.example.com"
        ));
        assert!(!same_origin("http://evil.example", "127.0.0.1:8787"));
        assert!(!same_origin("null", "127.0.0.1:8787"));
        assert!(!same_origin("http://127.0.0.1:8788", "127.0.0.1:8787"));
        let mut h = HeaderMap::new();
        h.insert(
            header::REFERER,
            HeaderValue::from_static("http://evil.example/x?y"),
        );
        assert_eq!(origin_of(&h).as_deref(), Some("http://evil.example"));
    }

    #[test]
    fn weak_tokens_are_named() {
        assert!(weak_token("x").is_some());
        assert!(weak_token(" ").is_some());
        assert!(weak_token("aaaaaaaaaaaaaaaaaaaa").is_some());
        assert!(weak_token(" 0123456789abcdef").is_some());
        assert!(weak_token("0123456789abcdef").is_none());
    }

    #[test]
    fn a_page_policy_allows_its_own_scripts_only() {
        let page = r#"<html><script type="application/json" id="d">{"a":1}</script><script>var x = 1;</script></html>"#;
        let p = page_policy(page);
        assert!(p.contains("script-src 'sha256-"), "{p}");
        assert_eq!(p.matches("'sha256-").count(), 1, "{p}");
        assert!(page_policy("<p>no script</p>").contains("script-src 'none'"));
    }
}
