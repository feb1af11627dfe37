//! `evalgate serve`.

use std::path::Path;

use crate::cli::args::ServeArgs;
use crate::error::{Error, ExitStatus};
use crate::output::Printer;
use crate::serve;

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

type Rubrics = std::collections::BTreeMap<String, String>;
type Goldens = std::collections::BTreeMap<String, std::path::PathBuf>;

/// Each judge's file text and each dataset's golden file, for the review page (none when the
/// project does not load). The API keys of the project's providers are remembered as secrets
/// on the way, so that a span or an event that echoes one is stored without it.
fn review_files(root: &Path) -> (Rubrics, Goldens) {
    let Ok(project) = crate::config::load(root) else {
        return Default::default();
    };
    for provider in project.providers.values() {
        if let crate::config::ProviderKind::OpenAi {
            api_key_env: Some(var),
            ..
        }
        | crate::config::ProviderKind::Anthropic {
            api_key_env: Some(var),
            ..
        } = &provider.kind
        {
            let _ = crate::env::secret(var);
        }
    }
    let rubrics = project
        .judges
        .values()
        .filter_map(|j| Some((j.name.clone(), std::fs::read_to_string(&j.path).ok()?)))
        .collect();
    let goldens = project
        .datasets
        .values()
        .map(|d| (d.name.clone(), d.path.clone()))
        .collect();
    (rubrics, goldens)
}

pub async fn run(root: &Path, args: ServeArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let token = crate::env::secret(crate::env::SERVER_TOKEN);
    check(&args, token.as_deref())?;
    let store = super::open_store(root).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Error::usage(
                format!("cannot listen on {}: {e}", args.listen),
                Some("pick another address with --listen".into()),
            )
        })?;
    let addr = listener.local_addr().map_err(Error::Runtime)?;
    printer.info(&format!(
        "listening on http://{addr} ({}; storing to {}); Ctrl-C stops",
        if token.is_some() {
            "bearer token required"
        } else {
            "no token: loopback only"
        },
        store.display_url
    ));
    let options = options(root, &args, token);
    let totals = serve::serve(store, listener, options, stop_signal())
        .await
        .map_err(Error::Runtime)?;
    printer.info(&stopped(&totals));
    Ok(ExitStatus::Ok)
}

/// The flags and the token must make a server that is safe to start.
fn check(args: &ServeArgs, token: Option<&str>) -> Result<(), Error> {
    if serve::needs_token(&args.listen) && token.is_none() {
        return Err(Error::usage(
            format!(
                "refusing to listen on {} without a token: beyond loopback anyone could post events",
                args.listen
            ),
            Some(format!(
                "export {} with a long random value (clients send `Authorization: Bearer …`), or listen on 127.0.0.1",
                crate::env::SERVER_TOKEN
            )),
        ));
    }
    if let Some(why) = token.and_then(crate::serve::guard::weak_token) {
        return Err(Error::usage(
            format!(
                "{} is too weak to guard a server: {why}",
                crate::env::SERVER_TOKEN
            ),
            Some("make one with `openssl rand -hex 16`".into()),
        ));
    }
    if args.max_body_bytes == 0 {
        return Err(Error::usage("--max-body-bytes must be positive", None));
    }
    Ok(())
}

/// The server's options: the flags, the token and the project's review files.
fn options(root: &Path, args: &ServeArgs, token: Option<String>) -> serve::Options {
    let (rubrics, goldens) = review_files(root);
    serve::Options {
        token,
        max_body_bytes: args.max_body_bytes,
        rubrics,
        goldens,
        // Labels of judge verdicts go into the project's golden/reviews/ (when there is
        // a project here).
        project: root
            .join(crate::config::CONFIG_FILE)
            .is_file()
            .then(|| root.to_path_buf()),
        allowed_hosts: args.allowed_hosts.clone(),
        secure_cookies: args.secure_cookies,
    }
}

/// What the server did, said when it stops.
fn stopped(totals: &serve::Totals) -> String {
    format!(
        "stopped: {} requests, {} events stored{}",
        totals.requests,
        totals.events,
        if totals.duplicates > 0 {
            format!(
                ", {} sent again (already stored, left as they were)",
                totals.duplicates
            )
        } else {
            String::new()
        } + &if totals.conflicts > 0 {
            format!(
                ", {} refused (an id stored before with other content)",
                totals.conflicts
            )
        } else {
            String::new()
        } + &if totals.spans > 0 {
            format!(
                "; {} spans received on /v1/traces ({} ignored: no GenAI attributes or nothing generated; {} refused)",
                totals.spans, totals.spans_ignored, totals.spans_refused
            )
        } else {
            String::new()
        }
    )
}
