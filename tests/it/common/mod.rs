//! Test helpers: a project in a temporary directory, the real `evalgate` binary with a clean
//! environment, the stub server, and snapshot filters for what varies between runs.

pub mod stub;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (this crate's manifest directory).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A project in a temporary directory.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn empty() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A copy of `tests/fixtures/base`: a valid support-features project with three cases,
    /// whose provider points at `base_url`.
    pub fn base(base_url: &str) -> Project {
        let p = Project::empty();
        copy_dir(&repo().join("tests/fixtures/base"), p.path());
        let config = std::fs::read_to_string(p.path().join("evalgate.yaml")).unwrap();
        p.write(
            "evalgate.yaml",
            &config.replace("http://127.0.0.1:9/v1", base_url),
        );
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// `evalgate` run in this project.
    pub fn evalgate(&self, args: &[&str]) -> Run {
        let mut cmd = evalgate();
        cmd.current_dir(self.path()).args(args);
        Run::of(cmd.output().unwrap())
    }

    pub fn evalgate_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = evalgate();
        cmd.current_dir(self.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::of(cmd.output().unwrap())
    }
}

/// The repository's example project (the README's offline demo): its files, committed
/// baselines and cassettes.
pub fn example() -> Project {
    let p = Project::empty();
    for item in [
        "prompts",
        "golden",
        "judges",
        "cassettes",
        "examples/prompt-changes",
    ] {
        copy_dir(&repo().join(item), &p.path().join(item));
    }
    std::fs::copy(repo().join("evalgate.yaml"), p.path().join("evalgate.yaml")).unwrap();
    p
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The real binary with every variable that could change its behaviour removed.
pub fn evalgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evalgate"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("EVALGATE_")
            || k == "CI"
            || k == "NO_COLOR"
            || k == "CLICOLOR"
            || k.ends_with("_API_KEY")
            || k.to_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// The outcome of one command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn of(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Exit code, stdout and stderr in one text, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code\n{}",
            self.transcript()
        );
        self
    }

    /// The run id printed by `evalgate run`.
    pub fn run_id(&self) -> String {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("run "))
            .expect("no run line in stdout");
        line.split_whitespace().nth(1).unwrap().to_string()
    }
}

/// Filters for snapshots: run ids, durations, temporary paths, ports, latencies and times.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\b[0-9a-f]{12}\b", "[RUN_ID]"),
        (r"\(\d+\.\d+s", "([TIME]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"(/private)?/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
        (r"sqlite://\S+", "[DB]"),
        (r"latency    p50 .*", "latency    [LATENCY]"),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z",
            "[TIMESTAMP]",
        ),
    ]
}

/// Snapshots a transcript with the standard filters.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({filters => $crate::common::filters()}, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

/// The PostgreSQL URL for tests, or `None` (with the reason printed) when it is not set.
#[expect(
    clippy::print_stderr,
    reason = "a skipped test says why it was skipped"
)]
pub fn postgres_url() -> Option<String> {
    match std::env::var("EVALGATE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        // In CI the PostgreSQL variants must run: a missing URL fails instead of passing.
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but EVALGATE_TEST_DATABASE_URL is not set: the PostgreSQL variants must run in CI"
            )
        }
        _ => {
            eprintln!(
                "skipped: EVALGATE_TEST_DATABASE_URL is not set, so the PostgreSQL variant did not run"
            );
            None
        }
    }
}

/// A fresh schema in the test database, and a URL whose connections use it.
pub fn postgres_schema(base: &str) -> String {
    let schema = format!("evalgate_test_{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(base)
            .await
            .expect("cannot connect to EVALGATE_TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// chromedriver, or None (with the reason printed) when it is not installed. `.ci/run`
/// installs Debian's `chromium` and `chromium-driver`.
#[expect(
    clippy::print_stderr,
    reason = "a skipped test says why it was skipped"
)]
pub fn chromedriver() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromedriver"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!(
            "skipped: chromedriver is not installed, so the browser test did not run (apt-get install chromium chromium-driver)"
        );
    }
    found
}

/// chromedriver started on a free loopback port.
pub fn start_chromedriver(driver: &Path) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (child, port)
}

/// A headless Chromium session through the chromedriver on `port`, with a window of `size`
/// (`"W,H"`). chromedriver speaks plain HTTP on loopback: no TLS connector is needed.
pub async fn browser(port: u16, size: &str) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless", "--no-sandbox", "--disable-gpu", format!("--window-size={size}")]}),
    );
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        if let Ok(c) = fantoccini::ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("chromedriver does not answer on port {port}");
}

/// The browser state a form post needs from a page of `evalgate serve`: the `Cookie` header
/// to send back (the CSRF cookie, and any session) and the form's CSRF value.
pub struct Browser {
    pub cookies: Vec<String>,
    pub csrf: String,
}

impl Browser {
    /// Reads the cookies a response sets and the CSRF field of its page.
    pub fn from_page(headers: &reqwest::header::HeaderMap, page: &str) -> Browser {
        let mut b = Browser {
            cookies: Vec::new(),
            csrf: String::new(),
        };
        b.take_cookies(headers);
        b.csrf = page
            .split(r#"name="csrf" value=""#)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        b
    }

    /// Keeps the cookies a response sets (name=value), replacing ones of the same name.
    pub fn take_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let Some(pair) = v.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            let name = pair.split('=').next().unwrap_or("").to_string();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair.to_string());
        }
    }

    /// The `Cookie` header value.
    pub fn cookie(&self) -> String {
        self.cookies.join("; ")
    }
}

/// A JSON file of the project, parsed.
pub fn json_file(p: &Project, name: &str) -> serde_json::Value {
    serde_json::from_str(&p.read(name)).unwrap()
}

/// What must not differ between a run and its merged shards: every case's result, and the
/// quality figures of the report (ids, times and cache use do).
pub fn results(run: &serde_json::Value) -> (serde_json::Value, Vec<serde_json::Value>) {
    let r = &run["report"];
    let report = serde_json::json!([
        r["counts"],
        r["pass_rate"],
        r["scorers"],
        r["enum_fields"],
        r["integer_fields"],
        r["kinds"],
        r["usage"]["input_tokens"],
        r["usage"]["output_tokens"],
        r["usage"]["cost_usd"]
    ]);
    let cases = run["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::json!([c["id"], c["repeat"], c["status"], c["output"], c["scores"]]))
        .collect();
    (report, cases)
}
