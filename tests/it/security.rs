//! What `evalgate serve` and the runner protect against: secrets echoed by a provider, hostile
//! requests from browsers (foreign origins, rebinding hosts, forged forms), pages that could
//! be framed or sniffed, and a token that must not end up in links.

use std::path::Path;

use crate::common::Project;
use crate::common::stub::{Reply, Stub};

/// Every file under `dir`, as text (lossy), with its path.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

/// A provider that answers 401 and echoes the key it was sent (as OpenAI's "Incorrect API
/// key provided: …" does) and an Authorization header: neither reaches a file, the terminal or
/// a report.
#[test]
fn a_key_echoed_by_the_provider_is_written_nowhere() {
    let secret = "sk-live-Echo1234567890abcdef";
    let stub = Stub::start(move |_| {
        Reply::Status(
            401,
            serde_json::json!({"error": {"message": format!("Incorrect API key provided: {secret}. You sent: Authorization: Bearer {secret}")}}).to_string(),
        )
    });
    let p = Project::base(&stub.base_url);
    let run = p.evalgate_env(
        &[
            "run",
            "support",
            "--model",
            "keyed-model",
            "--out",
            "run.json",
        ],
        &[("STUB_API_KEY", secret), ("EVALGATE_NO_RETRY_DELAY", "1")],
    );
    run.assert_code(3);
    assert!(
        run.stderr
            .contains("Incorrect API key provided: [redacted]"),
        "{}",
        run.stderr
    );
    let id = {
        let file: serde_json::Value = serde_json::from_str(&p.read("run.json")).unwrap();
        file["run"]["id"].as_str().unwrap().to_string()
    };
    let report = p.evalgate(&["report", &id, "--html", "report.html"]);
    report.assert_code(0);
    for (what, text) in [
        ("stdout", run.stdout.as_str()),
        ("stderr", run.stderr.as_str()),
        ("report", report.stdout.as_str()),
    ] {
        assert!(!text.contains(secret), "{what} holds the key:\n{text}");
    }
    let written = files(p.path());
    assert!(written.iter().any(|(p, _)| p.ends_with("evalgate.db")));
    assert!(written.iter().any(|(p, _)| p.ends_with("report.html")));
    for (path, text) in &written {
        assert!(!text.contains(secret), "{} holds the key", path.display());
        assert!(
            !text.contains("Echo1234567890"),
            "{} holds part of the key",
            path.display()
        );
    }
}

/// A project with a stored run of the example and a review batch of it; the batch id.
fn reviewed_project() -> (Project, String) {
    let p = crate::common::example();
    let run = p.evalgate(&["run", "support-features"]);
    run.assert_code(0);
    let r = p.evalgate(&["review", "sample", "--run", &run.run_id(), "--n", "3"]);
    r.assert_code(0);
    let batch = r
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("rv-"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    (p, batch)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const EVENT: &str = r#"{"event_id": "s1", "interaction_id": "i1", "timestamp": "2026-11-20T10:00:00Z", "kind": "explicit", "name": "thumbs_down"}"#;

/// What a hostile page can send to a loopback server without a token: a form post of an
/// event as `text/plain` (no preflight), a label posted from its own origin, a page read
/// through a rebound name. Each is refused; nothing is stored.
#[test]
fn cross_site_requests_and_rebinding_are_refused() {
    let (p, batch) = reviewed_project();
    let server = crate::feedback::Server::start(&p, &[], &[]);
    let url = server.url.clone();
    let host = url.trim_start_matches("http://").to_string();
    crate::feedback::runtime().block_on(async {
        let http = client();
        // A cross-origin text/plain post of a valid event: refused.
        let r = http
            .post(format!("{url}/v1/feedback"))
            .header("origin", "http://evil.example")
            .header("content-type", "text/plain")
            .body(EVENT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
        // The same without an Origin (curl, or a browser that hides it): JSON only.
        let r = http
            .post(format!("{url}/v1/feedback"))
            .header("content-type", "text/plain")
            .body(EVENT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415);
        // A label posted by a foreign page: refused for its origin, and without the CSRF
        // cookie even when the browser hides the origin.
        for origin in [Some("http://evil.example"), Some("null"), None] {
            let mut req = http.post(format!("{url}/review/{batch}/0")).form(&[
                ("verdict", "fail"),
                ("reviewer", "mallory"),
                ("csrf", "x"),
            ]);
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 403, "origin {origin:?}");
        }
        // A rebound name reads nothing.
        let r = http
            .get(format!("{url}/runs"))
            .header(
                "host",
                format!("evil.example:{}", host.rsplit(':').next().unwrap()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 421);
        // Our own host and origin work.
        let r = http
            .post(format!("{url}/v1/feedback"))
            .header("origin", format!("http://{host}"))
            .header("content-type", "application/json")
            .body(EVENT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    assert_eq!(server.stop(), 0);
    let store = crate::feedback::runtime()
        .block_on(evalgate::store::Store::open(None, p.path()))
        .unwrap();
    let rt = crate::feedback::runtime();
    assert_eq!(rt.block_on(store.feedback_counts()).unwrap(), (0, 1));
    assert!(
        rt.block_on(store.review_labels(Some(&batch)))
            .unwrap()
            .is_empty(),
        "no forged label"
    );
}

/// Every response says how it may be used: pages with their own scripts by hash and nothing
/// from elsewhere, no framing, no sniffing, no referrer; the API's answers too.
#[test]
fn responses_carry_the_security_headers() {
    let (p, batch) = reviewed_project();
    let server = crate::feedback::Server::start(&p, &[], &[]);
    let url = server.url.clone();
    crate::feedback::runtime().block_on(async {
        let http = client();
        for path in [
            "/runs".to_string(),
            format!("/review/{batch}"),
            "/review".into(),
            "/healthz".into(),
            "/nope".into(),
        ] {
            let r = http.get(format!("{url}{path}")).send().await.unwrap();
            let h = r.headers();
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
            let csp = h["content-security-policy"].to_str().unwrap().to_string();
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            if path.starts_with("/review/") {
                // The review page's own script, by its hash; no 'unsafe-inline' script.
                assert!(csp.contains("script-src 'sha256-"), "{csp}");
                assert!(!csp.contains("script-src 'unsafe-inline'"), "{csp}");
            }
        }
    });
    assert_eq!(server.stop(), 0);
}

/// With a token, a reviewer logs in once: the token for an HttpOnly, SameSite=Strict session
/// cookie; forms then carry a CSRF token, never the server's token, and labels are saved.
#[test]
fn a_reviewer_logs_in_once_and_the_token_is_in_no_page() {
    let token = "review-token-0123456789abcdef";
    let (p, batch) = reviewed_project();
    let server = crate::feedback::Server::start(&p, &[], &[("EVALGATE_SERVER_TOKEN", token)]);
    let url = server.url.clone();
    crate::feedback::runtime().block_on(async {
        let http = client();
        let page = format!("{url}/review/{batch}");
        let r = http.get(&page).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let headers = r.headers().clone();
        let login = r.text().await.unwrap();
        assert!(
            login.contains(r#"action="/login""#) && !login.contains(token),
            "{login}"
        );
        let mut browser = crate::common::Browser::from_page(&headers, &login);
        // A wrong token: the login page again.
        let r = http
            .post(format!("{url}/login"))
            .header("cookie", browser.cookie())
            .form(&[
                ("token", "wrong"),
                ("next", &format!("/review/{batch}")),
                ("csrf", &browser.csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = http
            .post(format!("{url}/login"))
            .header("cookie", browser.cookie())
            .form(&[
                ("token", token),
                ("next", &format!("/review/{batch}")),
                ("csrf", &browser.csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("/review/{batch}"));
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            set.starts_with("evalgate_session=")
                && set.contains("HttpOnly")
                && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(!set.contains(token), "{set}");
        browser.take_cookies(r.headers());
        let r = http
            .get(&page)
            .header("cookie", browser.cookie())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let form = r.text().await.unwrap();
        assert!(!form.contains(token), "the token is in the page");
        assert!(form.contains(r#"name="csrf""#), "{form}");
        // The label goes through with the session and the CSRF token.
        let r = http
            .post(format!("{url}/review/{batch}/0"))
            .header("cookie", browser.cookie())
            .form(&[
                ("verdict", "pass"),
                ("reviewer", "ann"),
                ("csrf", &browser.csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert!(!r.headers()["location"].to_str().unwrap().contains("token"));
        // A link with `?token=` logs in and leaves the token out of the address.
        let r = http
            .get(format!("{url}/runs?token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/runs");
        // The API still takes the bearer token only, not the session.
        let r = http
            .post(format!("{url}/v1/feedback"))
            .header("cookie", browser.cookie())
            .header("content-type", "application/json")
            .body(EVENT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    });
    let (code, log) = server.stop_with_log();
    assert_eq!(code, 0);
    assert!(
        !log.contains(token),
        "the token is in the server's log: {log}"
    );
    assert_eq!(
        p.read("golden/reviews/summary_faithful.jsonl")
            .lines()
            .filter(|l| l.contains(r#""reviewer":"ann""#))
            .count(),
        1
    );
}

/// A weak token does not guard a server; a deep body is refused before it is parsed.
#[test]
fn weak_tokens_and_deep_bodies_are_refused() {
    let p = Project::empty();
    for weak in ["x", " ", "aaaaaaaaaaaaaaaaaaaaaaaa", "short-token"] {
        let r = p.evalgate_env(
            &["serve", "--listen", "0.0.0.0:0"],
            &[("EVALGATE_SERVER_TOKEN", weak)],
        );
        r.assert_code(2);
        assert!(
            r.stderr.contains("EVALGATE_SERVER_TOKEN is too weak"),
            "{weak:?}: {}",
            r.stderr
        );
    }
    let server = crate::feedback::Server::start(&p, &[], &[]);
    let url = server.url.clone();
    crate::feedback::runtime().block_on(async {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let r = client()
            .post(format!("{url}/v1/feedback"))
            .header("content-type", "application/json")
            .body(deep)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("nests more than 64 levels")
        );
    });
    assert_eq!(server.stop(), 0);
}
