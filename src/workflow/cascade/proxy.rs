//! The proxy tier of `evalgate cascade`: the labeller answers the pool (a stored run, cached),
//! the pool and the golden inputs are embedded (cached in the store), a logistic regression
//! learns the labeller's labels and answers the golden cases.

use crate::status::CaseStatus;
use std::collections::HashMap;
use std::path::Path;

use crate::cascade::{self, ProxySpec, proxy, simulate::TierAnswer};
use crate::config::{Project, Suite};
use crate::error::Error;
use crate::output::Printer;
use crate::plan::RunSettings;
use crate::provider::{ClientOptions, Clients};
use crate::store::{CaseRow, EmbeddingRow, Store};
use crate::workflow::run::RunRequest;

/// Pool inputs per embeddings request. Golden inputs go one per request, so that their
/// latency is what one case would wait.
const POOL_BATCH: usize = 32;

/// What a proxy tier is worked out in.
pub struct Context<'a> {
    pub root: &'a Path,
    pub project: &'a Project,
    pub suite: &'a Suite,
    /// The cascade's answer field.
    pub field: &'a str,
    pub opts: &'a super::Options<'a>,
    pub printer: &'a Printer,
}

/// The proxy's answers on the golden cases: the labeller answers the pool, then a classifier
/// over embeddings learns its labels. None when the labeller's run did not finish.
pub async fn answers(
    cx: &Context<'_>,
    spec: &ProxySpec,
    golden: &[CaseRow],
    notes: &mut Vec<String>,
) -> Result<Option<HashMap<String, TierAnswer>>, Error> {
    let Context {
        root,
        project,
        suite,
        field,
        opts,
        printer,
    } = *cx;
    // The labeller answers the pool.
    let req = RunRequest {
        suite: suite.name.clone(),
        plan: RunSettings {
            models: vec![spec.labeller.clone()],
            dataset: Some(spec.pool.clone()),
            ..RunSettings::default()
        },
        repeat: 1,
        ..RunRequest::default()
    };
    let run = super::cascade_run(root, project, opts, req, printer).await?;
    let Some(pool_run) = run else {
        printer.warn(&format!(
            "the labeller {} did not finish the pool `{}`: run `evalgate cascade {}` again to go on",
            spec.labeller, spec.pool, suite.name
        ));
        return Ok(None);
    };
    let store = crate::workflow::open_store(root).await?;
    let record = opts.record_dir(root);
    let result = answer(
        project, field, spec, golden, &pool_run, &store, record, printer, notes,
    )
    .await;
    store.close().await;
    result.map(Some)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one step of a command, given what the command holds"
)]
async fn answer(
    project: &Project,
    field: &str,
    spec: &ProxySpec,
    golden: &[CaseRow],
    pool_run: &str,
    store: &Store,
    record: Option<std::path::PathBuf>,
    printer: &Printer,
    notes: &mut Vec<String>,
) -> Result<HashMap<String, TierAnswer>, Error> {
    let bad = |m: String| Error::usage(m, None);
    let pool_rows = store.cases(pool_run).await?;
    let text_of = |r: &CaseRow| -> Result<String, Error> {
        let vars: serde_json::Value = serde_json::from_str(&r.vars_json).unwrap_or_default();
        proxy::input_text(&vars, spec.input.as_deref())
            .map_err(|e| bad(format!("proxy input of case `{}`: {e}", r.case_id)))
    };
    let mut pool: Vec<(String, Option<String>)> = Vec::new();
    for r in pool_rows.iter().filter(|r| r.repeat_index == 0) {
        let label =
            if r.status == CaseStatus::Error || r.kind == Some(crate::status::CaseKind::Contract) {
                None
            } else {
                r.parsed_json
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                    .and_then(|p| p.get(field).and_then(cascade::label_of))
            };
        pool.push((text_of(r)?, label));
    }
    let golden: Vec<(&str, String)> = golden
        .iter()
        .filter(|r| r.repeat_index == 0)
        .map(|r| Ok((r.case_id.as_str(), text_of(r)?)))
        .collect::<Result<_, Error>>()?;

    let model = project
        .models
        .get(&spec.embeddings)
        .ok_or_else(|| bad(format!("no model named `{}`", spec.embeddings)))?;
    let recording = record.is_some();
    let clients = Clients::new(ClientOptions {
        cache: None,
        record_dir: record,
        concurrency: 1,
    });
    let client = clients
        .get(project, &model.provider)
        .map_err(Error::ProviderSetup)?;
    let scope = client.scope();
    let labelled: Vec<&String> = pool
        .iter()
        .filter(|(_, l)| l.is_some())
        .map(|(t, _)| t)
        .collect();
    let golden_texts: Vec<&String> = golden.iter().map(|(_, t)| t).collect();
    let mut vectors = HashMap::new();
    for (texts, batch) in [(&labelled, POOL_BATCH), (&golden_texts, 1)] {
        embed(
            &client,
            store,
            &scope,
            &model.api_name,
            texts,
            batch,
            recording,
            printer,
            &mut vectors,
        )
        .await?;
    }
    let hash = |t: &str| crate::hash::sha256_hex(t.as_bytes());
    let train: Vec<(&[f32], &str)> = pool
        .iter()
        .filter_map(|(t, l)| Some((vectors.get(&hash(t))?.vector.as_slice(), l.as_deref()?)))
        .collect();
    let test: Vec<&EmbeddingRow> = golden.iter().map(|(_, t)| &vectors[&hash(t)]).collect();
    let (predictions, mut training) = proxy::train_predict(
        &train,
        &test.iter().map(|e| e.vector.as_slice()).collect::<Vec<_>>(),
        spec.regularization,
    )
    .map_err(|e| bad(format!("the proxy cannot be trained: {e}")))?;
    training.unlabelled = pool.len() - train.len();
    describe_training(spec, &training, &pool, &golden, notes);
    Ok(golden
        .iter()
        .zip(predictions)
        .zip(test)
        .map(|(((id, _), (label, p)), e)| {
            (
                id.to_string(),
                TierAnswer {
                    answer: Some(label),
                    confidence: p,
                    cost_usd: e.tokens * model.price.input / 1_000_000.0,
                    latency_ms: e.latency_ms,
                },
            )
        })
        .collect())
}

/// The notes on a proxy: how it was trained, and the golden inputs it has seen in the pool.
fn describe_training(
    spec: &ProxySpec,
    training: &proxy::Training,
    pool: &[(String, Option<String>)],
    golden: &[(&str, String)],
    notes: &mut Vec<String>,
) {
    notes.push(format!(
        "proxy({}): logistic regression over {}-dimensional embeddings, trained on {} inputs of the pool `{}` labelled by {} ({} classes; {} inputs without a usable label left out)",
        spec.embeddings,
        training.dimensions,
        training.examples,
        spec.pool,
        spec.labeller,
        training.classes,
        training.unlabelled
    ));
    let pool_texts: std::collections::HashSet<&str> = pool.iter().map(|(t, _)| t.trim()).collect();
    let overlap = golden
        .iter()
        .filter(|(_, t)| pool_texts.contains(t.trim()))
        .count();
    if overlap > 0 {
        notes.push(format!(
            "proxy({}): {overlap} golden inputs are also in the pool, so the proxy has seen them (with the labeller's label)",
            spec.embeddings
        ));
    }
}

/// Embeds the texts not cached yet, `batch` a request, and caches them; fills `out` by hash.
#[expect(
    clippy::too_many_arguments,
    reason = "one step of a command, given what the command holds"
)]
async fn embed(
    client: &crate::provider::Client,
    store: &Store,
    scope: &str,
    model: &str,
    texts: &[&String],
    batch: usize,
    recording: bool,
    printer: &Printer,
    out: &mut HashMap<String, EmbeddingRow>,
) -> Result<(), Error> {
    let mut hashes: Vec<(String, &String)> = texts
        .iter()
        .map(|t| (crate::hash::sha256_hex(t.as_bytes()), *t))
        .collect();
    hashes.sort();
    hashes.dedup_by(|a, b| a.0 == b.0);
    hashes.retain(|(h, _)| !out.contains_key(h));
    // Recording asks every input again, so that the cassettes hold them all.
    if !recording {
        let keys: Vec<String> = hashes.iter().map(|(h, _)| h.clone()).collect();
        for row in store.embeddings_get(scope, model, &keys).await? {
            out.insert(row.input_hash.clone(), row);
        }
    }
    let todo: Vec<&(String, &String)> = hashes
        .iter()
        .filter(|(h, _)| !out.contains_key(h))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let total = todo.len() as u64;
    let mut bar = printer.progress(total, 0);
    let mut done = 0u64;
    for chunk in todo.chunks(batch) {
        let inputs: Vec<String> = chunk.iter().map(|(_, t)| (*t).clone()).collect();
        let embedded = client.embed(model, &inputs).await.map_err(|f| {
            Error::usage(
                format!(
                    "embedding with `{model}` failed after {} attempts: {}",
                    f.attempts, f.error.message
                ),
                Some("the provider must serve `/embeddings` (llama-cpp-python: `--embedding true --kv_overrides llama.pooling_type=int:1`)".into()),
            )
        })?;
        let n = inputs.len() as f64;
        let rows: Vec<EmbeddingRow> = chunk
            .iter()
            .zip(embedded.vectors)
            .map(|((h, _), vector)| EmbeddingRow {
                input_hash: h.clone(),
                vector,
                tokens: embedded.tokens as f64 / n,
                latency_ms: embedded.latency_ms / n,
            })
            .collect();
        store.embeddings_put(scope, model, &rows).await?;
        for r in rows {
            out.insert(r.input_hash.clone(), r);
        }
        done += chunk.len() as u64;
        bar.update(done, total, "embedded");
    }
    bar.finish();
    Ok(())
}
