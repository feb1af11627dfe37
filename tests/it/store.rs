//! The store's queries, each run on SQLite and on PostgreSQL (when
//! `EVALGATE_TEST_DATABASE_URL` is set).

use evalgate::status::{CaseKind, CaseStatus, Outcome, RunStatus};
use evalgate::store::{
    CacheRow, CaseRow, GoldenRow, InteractionRow, Record, RequestRows, RunRow, ScoreRow, SignalRow,
    Store, StoreError, Timing,
};
use futures::StreamExt;

use crate::common::{postgres_schema, postgres_url};

pub(crate) fn run_row(id: &str, suite: &str, started_at: &str) -> RunRow {
    RunRow {
        id: id.into(),
        suite: suite.into(),
        model: "m".into(),
        model_api_name: "m-1".into(),
        provider: "p".into(),
        provider_kind: "openai".into(),
        prompt: "support".into(),
        prompt_version: "a".repeat(64),
        dataset: "support".into(),
        dataset_version: "b".repeat(64),
        status: RunStatus::Running,
        planned_cases: 2,
        started_at: started_at.into(),
        finished_at: None,
        price_json: r#"{"input":1.0,"cached_input":1.0,"output":2.0}"#.into(),
        scorers_json: r#"["contract"]"#.into(),
        contract_json: None,
        case_limit: Some(2),
        repeats: 1,
        stop_reason: None,
        batch_id: None,
        prompt_source: Some("[system]\nLabel.\n".into()),
        selection_json: None,
        git_commit: None,
        fingerprint_json: Some(r#"{"gates":"0f","prompt":"support@aa"}"#.into()),
    }
}

fn case_row(run: &str, id: &str, status: &str, latency: Option<f64>) -> CaseRow {
    CaseRow {
        run_id: run.into(),
        case_id: id.into(),
        repeat_index: 0,
        seq: 0,
        status: CaseStatus::parse(status).unwrap(),
        kind: (status != "pass").then_some(CaseKind::Contract),
        message: None,
        request_hash: Some("h".repeat(64)),
        vars_json: r#"{"t":"x"}"#.into(),
        expected_json: "{}".into(),
        tags_json: "[]".into(),
        output: Some("{\"a\": \"ünïcode ✓\"}".into()),
        parsed_json: None,
        input_tokens: 120,
        cached_input_tokens: 20,
        output_tokens: 7,
        cost_usd: 0.000134,
        latency_ms: latency,
        finished_at: "2026-11-23T10:00:01.000Z".into(),
        cache_hit: 0,
        attempts: 2,
        ttft_ms: latency.map(|l| l / 2.0),
        logprobs_json: latency
            .map(|_| r#"[{"t":"b","lp":-0.1,"top":[["b",-0.1],["f",-2.3]]}]"#.into()),
    }
}

fn record(case: &CaseRow) -> Record {
    Record {
        case: case.clone(),
        scores: Vec::new(),
        verdicts: Vec::new(),
        cache: Vec::new(),
        scorer_calls: Vec::new(),
    }
}

async fn exercise(store: Store) {
    let dv = "b".repeat(64);
    store
        .create_run(&run_row("abc123000001", "s1", "2026-11-23T10:00:00.000Z"))
        .await
        .unwrap();
    store
        .create_run(&run_row("abc999000002", "s1", "2026-11-23T11:00:00.000Z"))
        .await
        .unwrap();
    let mut third = run_row("def456000003", "s2", "2026-11-23T12:00:00.000Z");
    third.git_commit = Some("0123456789ab-dirty".into());
    third.dataset_version = "c".repeat(64);
    store.create_run(&third).await.unwrap();

    // A prompt's runs, oldest first, and the newest run of a version prefix.
    let of_prompt = store.runs_of_prompt("support").await.unwrap();
    let ids: Vec<&str> = of_prompt.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["abc123000001", "abc999000002", "def456000003"]);
    assert_eq!(
        of_prompt[2].git_commit.as_deref(),
        Some("0123456789ab-dirty")
    );
    assert_eq!(of_prompt[0].git_commit, None);
    assert_eq!(
        of_prompt[0].fingerprint_json.as_deref(),
        Some(r#"{"gates":"0f","prompt":"support@aa"}"#),
        "the fingerprint is stored with the run"
    );
    let newest = store.run_of_prompt_version("aaaa").await.unwrap().unwrap();
    assert_eq!(newest.id, "def456000003");
    assert!(store.run_of_prompt_version("ffff").await.unwrap().is_none());

    let c1 = case_row("abc123000001", "b", "pass", Some(12.5));
    let c2 = case_row("abc123000001", "a", "fail", None);
    let s = |case: &str, outcome: &str| ScoreRow {
        case_id: case.into(),
        repeat_index: 0,
        scorer: "contract".into(),
        outcome: Outcome::parse(outcome).unwrap(),
        detail: None,
    };
    let cache = CacheRow {
        key: "k1".into(),
        provider_kind: "openai".into(),
        model: "m-1".into(),
        response_json: r#"{"content":"x"}"#.into(),
    };
    store
        .insert_case(&dv, &c1, &[s("b", "pass")], Some(&cache))
        .await
        .unwrap();
    store
        .insert_case(&dv, &c2, &[s("a", "fail")], None)
        .await
        .unwrap();
    // The same case twice violates the primary key and leaves nothing half-written.
    assert!(
        store
            .insert_case(&dv, &c1, &[s("b", "pass")], None)
            .await
            .is_err()
    );

    // The response cache: the entry committed with the case, replaced on conflict.
    assert_eq!(
        store.cache_get("k1").await.unwrap().as_deref(),
        Some(r#"{"content":"x"}"#)
    );
    assert_eq!(store.cache_get("k2").await.unwrap(), None);
    let c3 = case_row("abc999000002", "z", "pass", None);
    let newer = CacheRow {
        response_json: r#"{"content":"y"}"#.into(),
        ..cache.clone()
    };
    store
        .insert_case(&dv, &c3, &[], Some(&newer))
        .await
        .unwrap();
    assert_eq!(
        store.cache_get("k1").await.unwrap().as_deref(),
        Some(r#"{"content":"y"}"#)
    );

    // A run stores its golden cases before its results, in one go; storing them again, or a
    // result carrying other inputs, leaves the stored case as it was.
    let dv2 = "c".repeat(64);
    let golden = |id: &str, text: &str| GoldenRow {
        case_id: id.into(),
        vars_json: format!(r#"{{"text":"{text}"}}"#),
        expected_json: r#"{"intent":"bug"}"#.into(),
        tags_json: r#"["t"]"#.into(),
    };
    let many: Vec<GoldenRow> = (0..250).map(|i| golden(&format!("g{i:03}"), "x")).collect();
    store.insert_golden(&dv2, &many).await.unwrap();
    store
        .insert_golden(&dv2, &[golden("g001", "changed"), golden("g250", "new")])
        .await
        .unwrap();
    store.insert_golden(&dv2, &[]).await.unwrap();
    let mut g = case_row("def456000003", "g001", "pass", None);
    g.vars_json = r#"{"text":"from the result"}"#.into();
    store.insert_case(&dv2, &g, &[], None).await.unwrap();
    let stored = store.cases("def456000003").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].vars_json, r#"{"text":"x"}"#);
    assert_eq!(stored[0].tags_json, r#"["t"]"#);

    // A parsed output that is the output itself is stored once and read back as written;
    // one that differs (extracted from a fence, say) is kept as it is.
    let mut same = case_row("def456000003", "p1", "pass", None);
    same.output = Some(r#"{"b": [1, 2.5], "a": "ü"}"#.into());
    same.parsed_json = Some(r#"{"a":"ü","b":[1,2.5]}"#.into());
    let mut fenced = case_row("def456000003", "p2", "pass", None);
    fenced.output = Some("```json\n{\"a\": 1}\n```".into());
    fenced.parsed_json = Some(r#"{"a":1}"#.into());
    store
        .insert_cases(&dv2, &[record(&same), record(&fenced)])
        .await
        .unwrap();
    let stored = store.cases("def456000003").await.unwrap();
    assert_eq!(stored[1], same);
    assert_eq!(stored[2].parsed_json, fenced.parsed_json);
    let summaries: Vec<CaseRow> = store
        .case_summaries("def456000003")
        .map(Result::unwrap)
        .collect()
        .await;
    let parsed: Vec<Option<&str>> = summaries.iter().map(|c| c.parsed_json.as_deref()).collect();
    assert_eq!(
        parsed,
        [
            None,
            same.parsed_json.as_deref(),
            fenced.parsed_json.as_deref()
        ]
    );
    let outputs: Vec<Option<&str>> = summaries.iter().map(|c| c.output.as_deref()).collect();
    assert_eq!(outputs, [Some(""), Some(""), Some("")]);

    // What a resume needs: how many cases are stored and which of those coming are, and
    // the unfinished runs, newest first.
    assert_eq!(store.finished_count("abc123000001").await.unwrap(), (2, 0));
    assert_eq!(store.finished_count("nosuchrun000").await.unwrap(), (0, -1));
    let coming = [("b", 0), ("a", 0), ("a", 1), ("c", 0), ("b", 0)];
    let stored = store.finished_among("abc123000001", &coming).await.unwrap();
    let mut stored: Vec<(String, i64)> = stored.into_iter().collect();
    stored.sort();
    assert_eq!(stored, [("a".to_string(), 0), ("b".to_string(), 0)]);
    let many: Vec<(String, i64)> = (0..1234).map(|i| (format!("x{i}"), 0)).collect();
    let mut many: Vec<(&str, i64)> = many.iter().map(|(c, r)| (c.as_str(), *r)).collect();
    many.push(("b", 0));
    let stored = store.finished_among("abc123000001", &many).await.unwrap();
    assert_eq!(stored.len(), 1, "chunks of ids, the stored one found");
    let unfinished = store
        .unfinished_runs("s1", "m", &"a".repeat(64), &"b".repeat(64))
        .await
        .unwrap();
    let ids: Vec<&str> = unfinished.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["abc999000002", "abc123000001"]);

    store
        .finish_run(
            "abc123000001",
            RunStatus::Finished,
            None,
            "2026-11-23T10:00:05.000Z",
        )
        .await
        .unwrap();
    store
        .finish_run(
            "abc999000002",
            RunStatus::Stopped,
            Some("budget"),
            "2026-11-23T11:00:05.000Z",
        )
        .await
        .unwrap();
    let stopped = store.find_run("abc9").await.unwrap();
    assert_eq!(
        (stopped.status.as_str(), stopped.stop_reason.as_deref()),
        ("stopped", Some("budget"))
    );
    store.reopen_run("abc999000002").await.unwrap();
    let reopened = store.find_run("abc9").await.unwrap();
    assert_eq!(
        (
            reopened.status.as_str(),
            reopened.stop_reason,
            reopened.finished_at
        ),
        ("running", None, None)
    );
    store
        .set_batch_id("abc999000002", "batch_123")
        .await
        .unwrap();
    assert_eq!(
        store.find_run("abc9").await.unwrap().batch_id.as_deref(),
        Some("batch_123")
    );

    // Prefix lookup: unique, ambiguous, unknown, exact.
    let run = store.find_run("abc1").await.unwrap();
    assert_eq!(run.status, RunStatus::Finished);
    assert_eq!(run.finished_at.as_deref(), Some("2026-11-23T10:00:05.000Z"));
    assert_eq!(run.planned_cases, 2);
    assert!(matches!(
        store.find_run("abc").await,
        Err(StoreError::AmbiguousRun { .. })
    ));
    assert!(matches!(
        store.find_run("zzz").await,
        Err(StoreError::RunNotFound(_))
    ));
    // A prefix is text, not a LIKE pattern: wildcards match only themselves.
    for pattern in ["%", "_", "abc%", "ab_123000001", "\\"] {
        assert!(
            matches!(
                store.find_run(pattern).await,
                Err(StoreError::RunNotFound(_))
            ),
            "{pattern}"
        );
    }
    assert_eq!(store.find_run("def456000003").await.unwrap().suite, "s2");

    // Cases come back in case id order with every column intact.
    let cases = store.cases("abc123000001").await.unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].case_id, "a");
    assert_eq!(cases[0].latency_ms, None);
    assert_eq!(cases[1], c1);
    let scores = store.scores("abc123000001").await.unwrap();
    assert_eq!(
        scores
            .iter()
            .map(|s| (s.case_id.as_str(), s.outcome.as_str()))
            .collect::<Vec<_>>(),
        [("a", "fail"), ("b", "pass")]
    );
    // The same, one case at a time with its scores (what merge, export and `--out` stream).
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let reader = store.clone();
    let task = tokio::spawn(async move { reader.each_case("abc123000001", tx).await });
    let mut streamed = Vec::new();
    while let Some(next) = rx.recv().await {
        streamed.push(next.unwrap());
    }
    task.await.unwrap();
    assert_eq!(
        streamed.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        cases
    );
    assert_eq!(
        streamed
            .into_iter()
            .flat_map(|(_, s)| s)
            .collect::<Vec<_>>(),
        scores
    );

    // A run's own timings as order statistics (a cached answer's are not the run's).
    for (id, latency, cached) in [
        ("t1", 10.0, 0),
        ("t2", 30.0, 0),
        ("t3", 20.0, 0),
        ("t4", 1e3, 1),
    ] {
        let mut c = case_row("abc999000002", id, "pass", Some(latency));
        c.cache_hit = cached;
        store.insert_case(&dv, &c, &[], None).await.unwrap();
    }
    let run = "abc999000002";
    assert_eq!(
        store.timing_count_max(run, Timing::Latency).await.unwrap(),
        (3, Some(30.0))
    );
    assert_eq!(
        store.timings_at(run, Timing::Latency, 0).await.unwrap(),
        [10.0, 20.0]
    );
    assert_eq!(
        store.timings_at(run, Timing::Latency, 2).await.unwrap(),
        [30.0]
    );
    assert_eq!(
        store.timings_at(run, Timing::Ttft, 1).await.unwrap(),
        [10.0, 15.0]
    );
    // What `report` computes from them is the held values' type-7 percentile, exactly.
    let (lo, hi, frac) = evalgate::stats::type7_ranks(3, 0.95);
    let v = store
        .timings_at(run, Timing::Latency, lo as u64)
        .await
        .unwrap();
    assert_eq!(
        Some(v[0] + frac * (v[hi - lo] - v[0])),
        evalgate::stats::percentile(&[10.0, 30.0, 20.0], 0.95)
    );
    assert_eq!(
        store.timing_count_max("nope", Timing::Ttft).await.unwrap(),
        (0, None)
    );

    // Listing: newest first, optionally by suite, limited.
    let all = store.list_runs(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["def456000003", "abc999000002", "abc123000001"]
    );
    let s1 = store.list_runs(Some("s1"), 1).await.unwrap();
    assert_eq!(s1.len(), 1);
    assert_eq!(s1[0].id, "abc999000002");
    store.close().await;
}

/// The feedback tables: idempotent inserts, filters, the signals of an interaction, counts.
async fn exercise_feedback(store: &Store) {
    use evalgate::feedback::{Event, rows};
    let events: Vec<Event> = [
        serde_json::json!({"type": "interaction", "event_id": "i1", "timestamp": "2026-11-20T10:00:00+01:00",
            "prompt": "support", "prompt_version": "v1", "model": "m", "vars": {"t": "Hello  World"}, "output": "{}"}),
        serde_json::json!({"type": "interaction", "event_id": "i2", "timestamp": "2026-11-22T10:00:00Z",
            "prompt": "other", "vars": {"t": "x"}, "output": "ok", "tags": ["web"]}),
        serde_json::json!({"type": "signal", "event_id": "s1", "interaction_id": "i1", "timestamp": "2026-11-21T00:00:00Z",
            "kind": "explicit", "name": "thumbs_down"}),
        serde_json::json!({"type": "signal", "event_id": "s2", "interaction_id": "i1", "timestamp": "2026-11-21T00:01:00Z",
            "kind": "explicit", "name": "user_edit", "edited_output": "{\"intent\": \"bug\"}"}),
        serde_json::json!({"type": "signal", "event_id": "s3", "interaction_id": "i9", "timestamp": "2026-11-23T00:00:00Z",
            "kind": "implicit", "name": "copy"}),
    ]
    .into_iter()
    .map(|v| Event::parse(v, None).unwrap())
    .collect();
    let (i, s) = rows(&events, "2026-11-23T12:00:00.000Z");
    let n = store.insert_feedback(&i, &s).await.unwrap();
    assert_eq!((n.interactions, n.signals), (2, 3));
    // The same events again, and a duplicate within one batch: nothing new.
    let mut twice = i.clone();
    twice.extend(i.clone());
    let n = store.insert_feedback(&twice, &s).await.unwrap();
    assert_eq!((n.interactions, n.signals), (0, 0));
    assert_eq!(store.feedback_counts().await.unwrap(), (2, 3));

    // Unless changed: the same bodies again are duplicates; a stored id with another body,
    // or one id sent twice with two bodies, stores nothing of the call.
    let n = store
        .insert_feedback_unless_changed(&twice, &s)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.counts().interactions + n.counts().signals, 0);
    let mut fresh = i[0].clone();
    fresh.event_id = "i3".into();
    let mut changed = i[1].clone();
    changed.body_json = changed.body_json.replace("\"ok\"", "\"changed\"");
    let refused = store
        .insert_feedback_unless_changed(&[fresh.clone(), changed], &[])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].interaction, refused[0].event_id.as_str()),
        (true, "i2")
    );
    assert_eq!(refused[0].stored_body, i[1].body_json);
    let mut other = fresh.clone();
    other.body_json.push(' ');
    let refused = store
        .insert_feedback_unless_changed(&[fresh.clone(), other], &[])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused[0].event_id, "i3");
    assert_eq!(refused[0].stored_body, fresh.body_json);
    assert_eq!(
        store.feedback_counts().await.unwrap(),
        (2, 3),
        "nothing stored"
    );

    // Times are stored in UTC, so that text order is time order.
    let i1 = store.feedback_interaction("i1").await.unwrap().unwrap();
    assert_eq!(i1.occurred_at, "2026-11-20T09:00:00.000Z");
    assert_eq!(
        i1.input_hash,
        evalgate::feedback::input_hash(
            serde_json::json!({"t": "hello world"}).as_object().unwrap()
        )
    );
    assert!(store.feedback_interaction("nope").await.unwrap().is_none());
    let all = store.feedback_interactions(None, None).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(),
        ["i1", "i2"]
    );
    let since = store
        .feedback_interactions(Some("2026-11-21T00:00:00.000Z"), None)
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    let support = store
        .feedback_interactions(None, Some("support"))
        .await
        .unwrap();
    assert_eq!(support.len(), 1);
    assert_eq!(support[0].prompt_version.as_deref(), Some("v1"));
    let sigs = store.feedback_signals_of("i1").await.unwrap();
    assert_eq!(
        sigs.iter()
            .map(|r| (r.name.as_str(), r.polarity))
            .collect::<Vec<_>>(),
        [("thumbs_down", -1), ("user_edit", -1)]
    );
    assert_eq!(
        store
            .feedback_signals(Some("2026-11-22T00:00:00.000Z"))
            .await
            .unwrap()
            .len(),
        1
    );
    let s3 = store.feedback_signal("s3").await.unwrap().unwrap();
    assert_eq!(
        (s3.kind.as_str(), s3.polarity, s3.interaction_id.as_str()),
        ("implicit", 1, "i9")
    );

    // The writer of `evalgate serve`, on a connection of its own: what it commits the pool
    // reads; an event again is no new event; a changed body stores nothing. (On a SQLite file
    // the server's writer is another, `file_feedback_writer`, tested on its own.)
    assert_eq!(
        store.file_feedback_writer().unwrap().is_some(),
        store.sqlite_file().is_some()
    );
    let mut w = store.feedback_writer().await.unwrap();
    let mut i4 = i[0].clone();
    i4.event_id = "i4".into();
    let new = w
        .insert_unless_changed(std::slice::from_ref(&i4), &s[..1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.counts().interactions + new.counts().signals, 1);
    assert!(new.interactions.contains("i4"));
    if let Some(file) = store.sqlite_file() {
        let wal = std::path::PathBuf::from(format!("{}-wal", file.display()));
        assert!(
            wal.exists(),
            "the writer keeps the file in write-ahead-log mode"
        );
    }
    let again = w.insert_returning(&[i4.clone()], &[]).await.unwrap();
    assert!(again.interactions.is_empty());
    let mut changed = i4.clone();
    changed.body_json.push(' ');
    let refused = w.insert_unless_changed(&[changed], &[]).await.unwrap();
    assert_eq!(refused.unwrap_err()[0].event_id, "i4");
    // Groups larger than one INSERT (100 rows): on PostgreSQL all new goes in one statement;
    // one stored id among them fails it and the group takes the full path (SQLite's only
    // one here), which stores the rest and says which were new; the connection is usable
    // after.
    let many = |prefix: &str, n: usize| -> (Vec<_>, Vec<_>) {
        let mut is: Vec<_> = (0..n)
            .map(|k| {
                let mut r = i[0].clone();
                r.event_id = format!("{prefix}-i{k:03}");
                r
            })
            .collect();
        let mut ss: Vec<_> = (0..n - 30)
            .map(|k| {
                let mut r = s[0].clone();
                r.event_id = format!("{prefix}-s{k:03}");
                r
            })
            .collect();
        is.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        ss.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        (is, ss)
    };
    let (bi, bs) = many("big", 150);
    let new = w.insert_unless_changed(&bi, &bs).await.unwrap().unwrap();
    assert_eq!(
        (new.counts().interactions, new.counts().signals),
        (150, 120)
    );
    assert_eq!(store.feedback_counts().await.unwrap(), (153, 123));
    let (mut mi, ms) = many("mix", 130);
    mi.push(bi[77].clone()); // stored before, same body: a duplicate
    let new = w.insert_unless_changed(&mi, &ms).await.unwrap().unwrap();
    assert_eq!(
        (new.counts().interactions, new.counts().signals),
        (130, 100)
    );
    assert!(!new.interactions.contains(&bi[77].event_id));
    assert_eq!(store.feedback_counts().await.unwrap(), (283, 223));
    let mut changed = bs[5].clone();
    changed.body_json.push(' ');
    let (ni, _) = many("never", 40);
    let refused = w.insert_unless_changed(&ni, &[changed]).await.unwrap();
    assert_eq!(refused.unwrap_err()[0].event_id, bs[5].event_id);
    assert_eq!(
        store.feedback_counts().await.unwrap(),
        (283, 223),
        "nothing of a refused group"
    );
    let (li, ls) = many("last", 31);
    let new = w.insert_unless_changed(&li, &ls).await.unwrap().unwrap();
    assert_eq!((new.counts().interactions, new.counts().signals), (31, 1));
    // A group of more bind parameters than PostgreSQL takes in one statement (8,200 × 8).
    let huge: Vec<_> = (0..8_200)
        .map(|k| {
            let mut r = s[0].clone();
            r.event_id = format!("huge-s{k:05}");
            r
        })
        .collect();
    let new = w.insert_unless_changed(&[], &huge).await.unwrap().unwrap();
    assert_eq!(new.counts().signals, 8_200);
    w.close().await;
    assert_eq!(store.feedback_counts().await.unwrap(), (314, 8_424));
    assert!(store.feedback_interaction("i4").await.unwrap().is_some());
    assert!(store.feedback_signal("big-s119").await.unwrap().is_some());
}

/// The review tables: items, labels saved one at a time (a later label replaces an earlier
/// one), the reviewed items joined with their labels.
async fn exercise_review(store: &Store) {
    use evalgate::store::{ReviewItemRow, ReviewLabelRow};
    let item = |i: i64, outcome: &str| ReviewItemRow {
        batch_id: "rv-1".into(),
        item: i,
        run_id: "r1".into(),
        case_id: format!("c{i}"),
        repeat_index: 0,
        scorer: "faithful".into(),
        judge: "j".into(),
        judge_version: "v1".into(),
        judge_model: "m".into(),
        judge_outcome: outcome.into(),
        judge_reason: Some("ok".into()),
        created_at: "2026-11-23T10:00:00.000Z".into(),
        kind: if i == 2 { "label" } else { "verdict" }.into(),
    };
    store
        .insert_review_items(&[item(0, "pass"), item(1, "fail"), item(2, "pass")])
        .await
        .unwrap();
    assert!(store.insert_review_items(&[item(0, "pass")]).await.is_err());
    let items = store.review_items("rv-1").await.unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        (items[0].kind.as_str(), items[2].kind.as_str()),
        ("verdict", "label")
    );
    let label = |i: i64, verdict: &str, at: &str| ReviewLabelRow {
        batch_id: "rv-1".into(),
        item: i,
        reviewer: "ann".into(),
        verdict: verdict.into(),
        note: None,
        labelled_at: at.into(),
    };
    store
        .save_review_label(&label(0, "fail", "2026-11-23T10:01:00.000Z"))
        .await
        .unwrap();
    store
        .save_review_label(&label(1, "fail", "2026-11-23T10:02:00.000Z"))
        .await
        .unwrap();
    store
        .save_review_label(&label(0, "pass", "2026-11-23T10:03:00.000Z"))
        .await
        .unwrap();
    let labels = store.review_labels(Some("rv-1")).await.unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!((labels[1].item, labels[1].verdict.as_str()), (0, "pass"));
    let reviewed = store.reviewed().await.unwrap();
    assert_eq!(reviewed.len(), 2);
    assert!(reviewed.iter().all(|(i, l)| i.item == l.item));
    assert!(store.review_labels(Some("nope")).await.unwrap().is_empty());
}

/// A fresh store in a temporary project directory: SQLite, or a fresh PostgreSQL schema (None
/// when `EVALGATE_TEST_DATABASE_URL` is unset), with the URL it was opened with.
async fn fresh_store(postgres: bool) -> Option<(tempfile::TempDir, Store, Option<String>)> {
    let url = match postgres {
        true => {
            let base = postgres_url()?;
            Some(
                tokio::task::spawn_blocking(move || postgres_schema(&base))
                    .await
                    .unwrap(),
            )
        }
        false => None,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(url.as_deref(), dir.path()).await.unwrap();
    Some((dir, store, url))
}

#[tokio::test]
async fn review_queries_on_sqlite() {
    let Some((_dir, store, _)) = fresh_store(false).await else {
        return;
    };
    exercise_review(&store).await;
    store.close().await;
}

#[tokio::test]
async fn review_queries_on_postgres() {
    let Some((_dir, store, _)) = fresh_store(true).await else {
        return;
    };
    exercise_review(&store).await;
    store.close().await;
}

#[tokio::test]
async fn feedback_queries_on_sqlite() {
    let Some((_dir, store, _)) = fresh_store(false).await else {
        return;
    };
    exercise_feedback(&store).await;
    store.close().await;
}

/// An in-memory database: the writer has no connection of its own, it borrows the pool's.
#[tokio::test]
async fn feedback_queries_on_sqlite_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some("sqlite::memory:"), dir.path())
        .await
        .unwrap();
    exercise_feedback(&store).await;
    store.close().await;
}

/// The file writer's view of requests' rows.
fn as_requests(group: &[(Vec<InteractionRow>, Vec<SignalRow>)]) -> Vec<RequestRows<'_>> {
    group
        .iter()
        .map(|(i, s)| RequestRows {
            interactions: i,
            signals: s,
        })
        .collect()
}

/// The writer of `evalgate serve` on a SQLite file (rusqlite, a thread of its own): a group
/// of requests is one transaction in which each request is stored or refused whole, and an
/// event is compared with what the group stored before it as well as with the file.
#[tokio::test]
async fn the_file_writer_stores_each_request_or_refuses_it_whole() {
    use evalgate::feedback::{Event, rows};
    let Some((_dir, store, _)) = fresh_store(false).await else {
        return;
    };
    let interaction = |id: &str, text: &str| {
        serde_json::json!({"type": "interaction", "event_id": id, "timestamp": "2026-11-20T10:00:00Z",
            "prompt": "support", "vars": {"t": text}, "output": "ok"})
    };
    let signal = |id: &str, of: &str| {
        serde_json::json!({"type": "signal", "event_id": id, "interaction_id": of,
            "timestamp": "2026-11-21T00:00:00Z", "kind": "explicit", "name": "thumbs_up"})
    };
    let request = |events: Vec<serde_json::Value>| {
        let events: Vec<Event> = events
            .into_iter()
            .map(|v| Event::parse(v, None).unwrap())
            .collect();
        rows(&events, "2026-11-23T12:00:00.000Z")
    };
    let stored = request(vec![interaction("a1", "one")]);
    store.insert_feedback(&stored.0, &stored.1).await.unwrap();

    let mut w = store
        .file_feedback_writer()
        .unwrap()
        .expect("a SQLite file");
    let group = [
        // New events, and one stored before with the same body (sent again).
        request(vec![
            interaction("a1", "one"),
            interaction("b1", "two"),
            signal("b1-s", "b1"),
        ]),
        // b1 again, as the request before stored it: sent again.
        request(vec![interaction("b1", "two"), interaction("c1", "three")]),
        // A new event and b1 changed: nothing of this request.
        request(vec![
            interaction("d1", "four"),
            interaction("b1", "changed"),
        ]),
        // One id twice in a request, with two bodies: nothing.
        request(vec![signal("e-s", "a1"), {
            let mut v = signal("e-s", "a1");
            v["name"] = "thumbs_down".into();
            v
        }]),
        // One id twice with one body: stored once.
        request(vec![signal("f-s", "a1"), signal("f-s", "a1")]),
    ];
    let out = w.write(&as_requests(&group)).unwrap();
    let counts = |k: usize| out[k].as_ref().map(|n| (n.interactions, n.signals));
    assert_eq!(counts(0).unwrap(), (1, 1));
    assert_eq!(counts(1).unwrap(), (1, 0));
    let changed = out[2].as_ref().unwrap_err();
    assert_eq!(changed.len(), 1);
    assert_eq!(
        (changed[0].interaction, changed[0].event_id.as_str()),
        (true, "b1")
    );
    assert_eq!(changed[0].stored_body, group[0].0[1].body_json);
    let twice = out[3].as_ref().unwrap_err();
    assert_eq!(
        (
            twice.len(),
            twice[0].interaction,
            twice[0].event_id.as_str()
        ),
        (1, false, "e-s")
    );
    assert_eq!(counts(4).unwrap(), (0, 1));
    assert_eq!(store.feedback_counts().await.unwrap(), (3, 2));
    assert!(store.feedback_interaction("d1").await.unwrap().is_none());
    assert!(store.feedback_signal("e-s").await.unwrap().is_none());
    assert_eq!(
        store.feedback_interaction("c1").await.unwrap().unwrap(),
        group[1].0[1],
        "stored as given"
    );
    // The writer goes on after a refusal, and keeps the file in write-ahead-log mode.
    let next = request(vec![interaction("g1", "five"), interaction("c1", "other")]);
    let out = w.write(&as_requests(&[next])).unwrap();
    assert_eq!(out[0].as_ref().unwrap_err()[0].event_id, "c1");
    // A refused request's new events are not kept: a later request of the group may send
    // their ids with other bodies.
    let group = [
        request(vec![interaction("h1", "six"), interaction("a1", "changed")]),
        request(vec![interaction("h1", "other six")]),
    ];
    let out = w.write(&as_requests(&group)).unwrap();
    assert_eq!(out[0].as_ref().unwrap_err()[0].event_id, "a1");
    assert_eq!(out[1].as_ref().unwrap().interactions, 1);
    assert_eq!(
        store
            .feedback_interaction("h1")
            .await
            .unwrap()
            .unwrap()
            .body_json,
        group[1].0[0].body_json
    );
    // An error of the database stores nothing of the group, and the next group is stored.
    let file = store.sqlite_file().unwrap().to_path_buf();
    let other = rusqlite::Connection::open(&file).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON feedback_signals \
             WHEN NEW.event_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom is refused'); END;",
        )
        .unwrap();
    // (`a-s`, of a request before the refused one, is inserted before the trigger refuses
    // `boom`.)
    let ok = request(vec![signal("a-s", "a1")]);
    let bad = request(vec![signal("j-s", "a1"), signal("boom", "a1")]);
    let err = w.write(&as_requests(&[ok, bad])).unwrap_err();
    assert!(!err.is_busy());
    assert!(
        format!("{:?}", std::error::Error::source(&err)).contains("boom is refused"),
        "{err:?}"
    );
    assert!(store.feedback_signal("a-s").await.unwrap().is_none());
    assert!(store.feedback_signal("j-s").await.unwrap().is_none());
    let good = request(vec![signal("k-s", "a1")]);
    let out = w.write(&as_requests(&[good])).unwrap();
    assert_eq!(out[0].as_ref().unwrap().signals, 1);
    let mode: String = other
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        mode, "wal",
        "the writer keeps the file in write-ahead-log mode"
    );
    drop((w, other));
    assert_eq!(store.feedback_counts().await.unwrap(), (4, 3));
    store.close().await;
}

#[tokio::test]
async fn feedback_queries_on_postgres() {
    let Some((_dir, store, _)) = fresh_store(true).await else {
        return;
    };
    exercise_feedback(&store).await;
    store.close().await;
}

#[tokio::test]
async fn store_queries_on_sqlite() {
    let Some((dir, store, _)) = fresh_store(false).await else {
        return;
    };
    exercise(store).await;
    assert!(dir.path().join(".evalgate/evalgate.db").is_file());
    // The answer is stored once: the parsed output that is the output read as JSON is `=`.
    {
        use sqlx::Connection;
        let url = format!(
            "sqlite://{}",
            dir.path().join(".evalgate/evalgate.db").display()
        );
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let stored: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT case_id, parsed_json FROM case_results WHERE case_id IN ('p1', 'p2') ORDER BY case_id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(
            stored,
            [
                ("p1".to_string(), Some("=".to_string())),
                ("p2".to_string(), Some(r#"{"a":1}"#.to_string()))
            ]
        );
        conn.close().await.unwrap();
    }
    // Opening again applies no migration twice.
    Store::open(None, dir.path()).await.unwrap().close().await;
}

#[tokio::test]
async fn store_queries_on_postgres() {
    let Some((dir, store, url)) = fresh_store(true).await else {
        return;
    };
    exercise(store).await;
    assert!(!dir.path().join(".evalgate").exists());
    Store::open(url.as_deref(), dir.path())
        .await
        .unwrap()
        .close()
        .await;
}

/// The embeddings cache: vectors come back bit for bit, by scope, model and input; an input
/// stored twice keeps its first vector.
async fn exercise_embeddings(store: &Store) {
    use evalgate::store::EmbeddingRow;
    let row = |h: &str, x: f32| EmbeddingRow {
        input_hash: h.into(),
        vector: vec![x, -0.5, 1e-7, f32::MAX],
        tokens: 2.5,
        latency_ms: 12.0,
    };
    store
        .embeddings_put("openai http://x", "m", &[row("a", 0.25), row("b", 3.0)])
        .await
        .unwrap();
    store
        .embeddings_put("openai http://x", "m", &[row("a", 9.0)])
        .await
        .unwrap();
    let keys: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let mut got = store
        .embeddings_get("openai http://x", "m", &keys)
        .await
        .unwrap();
    got.sort_by(|x, y| x.input_hash.cmp(&y.input_hash));
    assert_eq!(got, vec![row("a", 0.25), row("b", 3.0)]);
    assert!(
        store
            .embeddings_get("openai http://x", "other", &keys)
            .await
            .unwrap()
            .is_empty()
    );
    // More inputs than one query takes.
    let many: Vec<EmbeddingRow> = (0..900).map(|i| row(&format!("k{i}"), i as f32)).collect();
    store.embeddings_put("s", "m", &many).await.unwrap();
    let keys: Vec<String> = (0..900).map(|i| format!("k{i}")).collect();
    assert_eq!(
        store.embeddings_get("s", "m", &keys).await.unwrap().len(),
        900
    );
}

#[tokio::test]
async fn embedding_queries_on_sqlite() {
    let Some((_dir, store, _)) = fresh_store(false).await else {
        return;
    };
    exercise_embeddings(&store).await;
    store.close().await;
}

#[tokio::test]
async fn embedding_queries_on_postgres() {
    let Some((_dir, store, _)) = fresh_store(true).await else {
        return;
    };
    exercise_embeddings(&store).await;
    store.close().await;
}

/// The scorers' paid calls (a `similar` scorer's embeddings): stored with their case in one
/// transaction, added up by scorer and model, read back in case order, and replaced with
/// their case by a re-score.
async fn exercise_scorer_calls(store: &Store) {
    use evalgate::store::{ScorerCallRow, ScorerCallTotals};
    let dv = "b".repeat(64);
    store
        .create_run(&run_row("emb000000001", "s1", "2026-11-23T10:00:00.000Z"))
        .await
        .unwrap();
    let call = |case: &str, repeat: i64, scorer: &str, tokens: i64| ScorerCallRow {
        case_id: case.into(),
        repeat_index: repeat,
        scorer: scorer.into(),
        model: "embed-1".into(),
        input_tokens: tokens,
        cost_usd: tokens as f64 * 0.02 / 1e6,
        attempts: 1,
        created_at: "2026-11-23T10:00:02.000Z".into(),
    };
    let with_calls = |id: &str, repeat: i64, calls: Vec<ScorerCallRow>| {
        let mut c = case_row("emb000000001", id, "pass", Some(3.0));
        c.repeat_index = repeat;
        Record {
            scorer_calls: calls,
            ..record(&c)
        }
    };
    assert!(store.scorer_calls("emb000000001").await.unwrap().is_empty());
    assert!(
        store
            .scorer_call_totals("emb000000001")
            .await
            .unwrap()
            .is_empty()
    );
    store
        .insert_cases(
            &dv,
            &[
                with_calls(
                    "b",
                    0,
                    vec![call("b", 0, "close", 30), call("b", 0, "alike", 7)],
                ),
                with_calls("a", 0, vec![call("a", 0, "close", 12)]),
                with_calls("a", 1, vec![call("a", 1, "close", 11)]),
                with_calls("c", 0, Vec::new()),
            ],
        )
        .await
        .unwrap();
    let calls = store.scorer_calls("emb000000001").await.unwrap();
    let keys: Vec<(&str, i64, &str)> = calls
        .iter()
        .map(|c| (c.case_id.as_str(), c.repeat_index, c.scorer.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("a", 0, "close"),
            ("a", 1, "close"),
            ("b", 0, "alike"),
            ("b", 0, "close")
        ]
    );
    assert_eq!(
        calls[0],
        call("a", 0, "close", 12),
        "every column reads back"
    );
    let totals = store.scorer_call_totals("emb000000001").await.unwrap();
    let close = 53.0 * 0.02 / 1e6;
    assert_eq!(totals.len(), 2, "{totals:?}");
    assert_eq!(
        (
            totals[0].scorer.as_str(),
            totals[0].calls,
            totals[0].input_tokens
        ),
        ("alike", 1, 7)
    );
    assert_eq!(
        (
            totals[1].scorer.as_str(),
            totals[1].model.as_str(),
            totals[1].calls,
            totals[1].input_tokens
        ),
        ("close", "embed-1", 3, 53)
    );
    assert!((totals[1].cost_usd - close).abs() < 1e-15, "{totals:?}");
    // A case stored twice is refused, and its calls are not stored either.
    assert!(
        store
            .insert_cases(&dv, &[with_calls("a", 0, vec![call("a", 0, "other", 99)])])
            .await
            .is_err()
    );
    assert_eq!(store.scorer_calls("emb000000001").await.unwrap().len(), 4);
    // A re-score replaces a case's calls with its new ones (or none).
    store
        .replace_cases(
            &dv,
            &[
                with_calls("b", 0, vec![call("b", 0, "close", 31)]),
                with_calls("a", 1, Vec::new()),
            ],
        )
        .await
        .unwrap();
    let totals = store.scorer_call_totals("emb000000001").await.unwrap();
    assert_eq!(
        totals,
        [ScorerCallTotals {
            scorer: "close".into(),
            model: "embed-1".into(),
            calls: 2,
            input_tokens: 43,
            cost_usd: totals[0].cost_usd,
        }]
    );
    assert!((totals[0].cost_usd - 43.0 * 0.02 / 1e6).abs() < 1e-15);
    // Another run's calls are its own.
    assert!(store.scorer_calls("abc123000001").await.unwrap().is_empty());
}

#[tokio::test]
async fn scorer_call_queries_on_sqlite() {
    let Some((_dir, store, _)) = fresh_store(false).await else {
        return;
    };
    exercise_scorer_calls(&store).await;
    store.close().await;
}

#[tokio::test]
async fn scorer_call_queries_on_postgres() {
    let Some((_dir, store, _)) = fresh_store(true).await else {
        return;
    };
    exercise_scorer_calls(&store).await;
    store.close().await;
}

/// SQLite files are kept with a rollback journal; one left in WAL mode (by an older evalgate)
/// opens while another process holds it that way, and switches once evalgate is alone.
#[tokio::test]
async fn a_database_left_in_wal_mode_opens_and_switches_when_alone() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".evalgate")).unwrap();
    let db = dir.path().join(".evalgate/evalgate.db");
    let wal = dir.path().join(".evalgate/evalgate.db-wal");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let mut older = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut older)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE older_table (x INTEGER)")
        .execute(&mut older)
        .await
        .unwrap();

    let store = Store::open(None, dir.path()).await.unwrap();
    store
        .create_run(&run_row("abc123000001", "s1", "2026-11-23T10:00:00.000Z"))
        .await
        .unwrap();
    assert!(
        wal.exists(),
        "still in WAL mode while the other connection is open"
    );
    store.close().await;
    older.close().await.unwrap();

    let store = Store::open(None, dir.path()).await.unwrap();
    store
        .create_run(&run_row("abc123000002", "s1", "2026-11-23T11:00:00.000Z"))
        .await
        .unwrap();
    assert!(!wal.exists(), "a rollback journal once alone");
    assert_eq!(store.list_runs(Some("s1"), 5).await.unwrap().len(), 2);
    store.close().await;
}
