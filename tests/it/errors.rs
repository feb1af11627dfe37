//! Every way a command can fail outside the project files has a fixture here: the command
//! that meets it, its exit status, and its message and hint (snapshotted). The project
//! files' own problems are `validate`'s fixtures (`tests/fixtures/invalid`).
//!
//! The list at the bottom names each failure; a failure without a fixture is a test failure.

use crate::common::{Project, example};
use crate::snapshot;
use crate::store::run_row;
use evalgate::status::RunStatus;
use evalgate::store::Store;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// An example project whose database holds runs `abc100000001` and `abc200000002`.
fn with_two_runs() -> Project {
    let p = example();
    block_on(async {
        let store = Store::open(None, p.path()).await.unwrap();
        for id in ["abc100000001", "abc200000002"] {
            store
                .create_run(&run_row(id, "support-features", "2026-12-01T10:00:00.000Z"))
                .await
                .unwrap();
            store
                .finish_run(id, RunStatus::Finished, None, "2026-12-01T10:00:05.000Z")
                .await
                .unwrap();
        }
        store.close().await;
    });
    p
}

fn run_not_found() -> String {
    let p = with_two_runs();
    p.evalgate(&["report", "fff"]).assert_code(2).transcript()
}

fn ambiguous_run_prefix() -> String {
    let p = with_two_runs();
    let run = p.evalgate(&["report", "abc"]);
    run.assert_code(2);
    assert!(run.stderr.contains("abc100000001") && run.stderr.contains("abc200000002"));
    // A wildcard of SQL's LIKE is text like any other.
    p.evalgate(&["report", "abc%"]).assert_code(2);
    run.transcript()
}

/// A killed run whose log has a line that is not a case result: resuming it stops at that
/// line rather than dropping what the log holds.
fn corrupt_run_log() -> String {
    let p = example();
    let first = p.evalgate(&["run", "support-features", "--limit", "2"]);
    first.assert_code(0);
    let id = first.run_id();
    block_on(async {
        let store = Store::open(None, p.path()).await.unwrap();
        store.reopen_run(&id).await.unwrap();
        store.close().await;
    });
    let pending = p.path().join(".evalgate/pending");
    std::fs::create_dir_all(&pending).unwrap();
    std::fs::write(
        pending.join(format!("{id}.jsonl")),
        "{\"case\": 1}\nnot json\n",
    )
    .unwrap();
    let run = p.evalgate(&["run", "support-features", "--limit", "2", "--resume", &id]);
    run.assert_code(3);
    assert!(
        run.stderr.contains(".jsonl:1: not a logged case result"),
        "{}",
        run.stderr
    );
    run.transcript()
}

/// A run whose log another process holds (here, the test itself holds its lock): resuming
/// it is refused at once, naming the run, rather than writing beside the other process.
fn busy_run_log() -> String {
    let p = example();
    let first = p.evalgate(&["run", "support-features", "--limit", "2"]);
    first.assert_code(0);
    let id = first.run_id();
    block_on(async {
        let store = Store::open(None, p.path()).await.unwrap();
        store.reopen_run(&id).await.unwrap();
        store.close().await;
    });
    let held = evalgate::runlog::RunLog::open(&p.path().join(".evalgate/pending"), &id).unwrap();
    let run = p.evalgate(&["run", "support-features", "--limit", "2", "--resume", &id]);
    drop(held);
    run.assert_code(2);
    run.transcript()
}

/// A database that cannot be reached: nothing listens on port 9.
fn store_open_failure() -> String {
    let p = example();
    let run = p.evalgate_env(
        &["run", "support-features", "--limit", "1"],
        &[(
            "EVALGATE_DATABASE_URL",
            "postgres://postgres@127.0.0.1:9/test",
        )],
    );
    run.assert_code(3);
    run.transcript()
}

/// A database URL of no backend evalgate speaks.
fn bad_database_url() -> String {
    let p = example();
    let run = p.evalgate_env(
        &["runs"],
        &[("EVALGATE_DATABASE_URL", "mysql://root@127.0.0.1/test")],
    );
    run.assert_code(2);
    run.transcript()
}

/// A database that opens but refuses writes (SQLite's read-only mode): the run fails, and
/// says it could not store.
fn store_write_failure() -> String {
    let p = example();
    p.evalgate(&["run", "support-features", "--limit", "1"])
        .assert_code(0);
    let db = p.path().join(".evalgate/evalgate.db");
    let url = format!("sqlite://{}?mode=ro", db.display());
    let run = p.evalgate_env(
        &["run", "support-features", "--limit", "1", "--no-cache"],
        &[("EVALGATE_DATABASE_URL", url.as_str())],
    );
    run.assert_code(3);
    run.transcript()
}

/// Every failure outside the project files, with its fixture. A busy run between two live
/// processes (its log locked on SQLite, its lease held on PostgreSQL) is also tested in
/// `resilience::a_live_run_cannot_be_resumed_on_sqlite` and `…_on_postgres`.
#[test]
fn every_failure_outside_the_project_files_has_a_fixture() {
    type Fixture = (&'static str, fn() -> String);
    let fixtures: &[Fixture] = &[
        ("run_not_found", run_not_found),
        ("ambiguous_run_prefix", ambiguous_run_prefix),
        ("corrupt_run_log", corrupt_run_log),
        ("busy_run_log", busy_run_log),
        ("store_open_failure", store_open_failure),
        ("bad_database_url", bad_database_url),
        ("store_write_failure", store_write_failure),
    ];
    for (name, fixture) in fixtures {
        snapshot!(format!("failure_{name}"), fixture());
    }
}
