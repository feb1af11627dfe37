//! Command-line definitions. All `--help` text lives here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Keeps LLM features honest over time: versioned prompts and golden data, real runs
/// against real models, deterministic scores, statistics and CI gates.
#[derive(Debug, Parser)]
#[command(name = "evalgate", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok · 1 a gate failed · 2 invalid input or configuration · 3 infrastructure failure\n\nStart with `evalgate init my-evals`, then `evalgate validate` and `evalgate run SUITE`."
)]
pub struct Cli {
    /// The project directory (the one holding evalgate.yaml).
    #[arg(
        long,
        short = 'C',
        global = true,
        default_value = ".",
        value_name = "DIR"
    )]
    pub project: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a small working project: evalgate.yaml, prompts/, golden/, judges/ and a CI workflow.
    #[command(
        after_help = "Example:\n  evalgate init my-evals && cd my-evals && evalgate validate"
    )]
    Init(InitArgs),
    /// Check every project file: YAML, prompts, templates, datasets and cross-references.
    ///
    /// Problems are printed as `file:line:col: message` with a hint, and the exit code is 2.
    /// Nothing is run or written. `evalgate run` performs the same checks first.
    #[command(after_help = "Example:\n  evalgate validate -C path/to/project")]
    Validate,
    /// Run a suite against its models, score every case, store the run and print the report.
    #[command(
        after_help = "Examples:\n  evalgate run support-features\n  evalgate run support-features --model smollm2-live --record --limit 10\n  evalgate run support-features --out run.json --format json"
    )]
    Run(RunArgs),
    /// Print the report of a stored run.
    #[command(
        after_help = "Example:\n  evalgate report 3f9a2c   (a unique prefix of the run id is enough)"
    )]
    Report(ReportArgs),
    /// List stored runs, newest first.
    Runs(RunsArgs),
    /// Re-score a stored run with the suite's current scorers and judges, without asking the
    /// model again: only judges and the embeddings of `similar` scorers are called (judges' answers
    /// are cached).
    ///
    /// Embeddings are not cached: each re-score pays for them again, says what they cost, and
    /// the run's report then counts these instead of the run's first ones.
    ///
    /// With `--judge J`, only judge J is asked; the verdicts of the suite's other judges are
    /// kept. Adding a judge to last week's run costs only the judge calls.
    #[command(
        after_help = "Examples:\n  evalgate score 3f9a2c\n  evalgate score 3f9a2c --judge summary_faithful"
    )]
    Score(ScoreArgs),
    /// Compare two runs answer by answer with a pairwise judge, in both orders.
    ///
    /// Each case both runs answered is judged with the base's answer as A, then with the
    /// candidate's as A. A verdict that flips with the order is a tie and counts as position
    /// bias. Prints the candidate's wins, ties and losses with 95% intervals.
    #[command(after_help = "Example:\n  evalgate pairwise 3f9a2c 7b1e04 --judge preference")]
    Pairwise(PairwiseArgs),
    /// Compare a candidate run with a base run, case by case.
    ///
    /// Cases are paired by id. Every metric is shown with its delta, a 95% interval (paired
    /// bootstrap, fixed seed) and a p-value (McNemar's exact test for pass/fail metrics);
    /// then the cases that flipped (pass → fail first) with the diff of their outputs, and the
    /// prompt diff when the prompt changed.
    #[command(
        after_help = "Examples:\n  evalgate compare 3f9a2c 7b1e04\n  evalgate compare golden/baselines/support-features.json 7b1e04"
    )]
    Compare(CompareArgs),
    /// The CI gate: run the suites that changed since their committed baseline, compare, and
    /// evaluate the suites' gates.
    ///
    /// A suite runs when its prompt, dataset, judges, scorers or model differ from
    /// `golden/baselines/SUITE.json` (all with `--all`); a suite without a baseline runs and
    /// gets its absolute gates only. Writes the markdown summary to `$GITHUB_STEP_SUMMARY` when
    /// set. Exit 0 pass, 1 regression, 2 bad input, 3 a run that could not be trusted.
    #[command(
        after_help = "Examples:\n  evalgate gate\n  evalgate gate support-features --markdown summary.md --junit junit.xml"
    )]
    Gate(GateArgs),
    /// Manage the committed baselines (`golden/baselines/SUITE.json`).
    Baseline(BaselineArgs),
    /// Join the run files of shards (`evalgate run SUITE --shard K/N` on several machines)
    /// into one run file that compares and gates like any other.
    ///
    /// The parts must be finished runs of the same suite, model, prompt and dataset version
    /// with disjoint cases. The merged report is computed again from all the cases.
    #[command(
        after_help = "Example:\n  evalgate merge shard-1.json shard-2.json shard-3.json --out run.json\n  evalgate gate support-features --run run.json"
    )]
    Merge(MergeArgs),
    /// Measure whether a run's features improve the cheaper model downstream (lift).
    ///
    /// A logistic regression predicts the golden cases' `outcome` (the suite's
    /// `lift.outcome`, or `--outcome`) by stratified k-fold cross-validation with a fixed seed,
    /// from (a) the cases' `base_features` alone, (b) the base features and the run's
    /// features, (c) the base features and the human labels of the same fields (`expected`),
    /// a ceiling. Prints AUC, log loss and accuracy of each, the lift AUC(b) − AUC(a) with a
    /// 95% bootstrap interval, and the share of the ceiling's lift the LLM reaches.
    #[command(
        after_help = "Examples:\n  evalgate lift 3f9a2c\n  evalgate lift golden/baselines/support-features.json --outcome escalated --folds 10"
    )]
    Lift(LiftArgs),
    /// Compare the features of two runs of the same cases, field by field.
    ///
    /// For a rerun, another prompt version or another model: per field, the share of cases
    /// whose value flipped, Cohen's kappa between the runs and the mean absolute change of
    /// numbers; then the cases that flipped. Free text is not compared.
    #[command(
        after_help = "Example:\n  evalgate stability golden/baselines/support-features.json 7b1e04"
    )]
    Stability(StabilityArgs),
    /// Cost per record of a run's features, and of keeping a table enriched.
    ///
    /// Prices a record from the run's measured tokens at the normal and Batch API rates, then
    /// projects a backfill of N records, a refresh every D days, and calling the model live on
    /// every serving event instead, and says which pays.
    #[command(
        after_help = "Example:\n  evalgate cost 3f9a2c --records 2000000 --refresh-days 7 --serving-events-per-day 150000\n\nMonths are 30 days. Live calls are priced at the normal rate (they cannot wait for a batch)."
    )]
    Cost(CostArgs),
    /// Find the cheapest cascade of models that is good enough, on the suite's golden cases.
    ///
    /// Runs every tier of the suite's `cascade:` section once on every case (each tier is a
    /// stored run; answers come from the response cache when they are there, so a second
    /// call costs nothing and an interrupted one goes on where it stopped), then replays
    /// thresholds offline: the frontier of cost against accuracy, the share of cases each
    /// tier answers, the quality kept against always using the top tier, and the cheapest
    /// operating point that keeps the target share of the top tier's accuracy.
    #[command(
        after_help = "Examples:\n  evalgate cascade support-intent\n  evalgate cascade support-intent --target 0.95 --svg frontier.svg --html cascade.html\n\nThe suite's section:\n  cascade:\n    field: intent            # the answer; right when it equals expected.intent\n    target: 0.98             # keep 98% of the top tier's accuracy\n    tiers:                   # cheapest first\n      - model: small\n        confidence: logprobs # or self_consistency (samples, temperature), or field\n      - model: large         # the last tier always answers"
    )]
    Cascade(CascadeArgs),
    /// Write a run's features for a downstream system, as CSV or JSON lines.
    ///
    /// One row per case whose answer met the contract, with the contracted fields,
    /// `feature_version` (prompt@version+model) and `generated_at`. Answers that broke the
    /// contract or failed are listed apart (on stderr, or in `--rejected FILE`).
    #[command(
        after_help = "Examples:\n  evalgate export 3f9a2c --format csv --out features.csv --rejected rejected.jsonl\n  evalgate export 3f9a2c --format jsonl | head"
    )]
    Export(ExportArgs),
    /// Production feedback: ingest events, triage failures into clusters, promote them to
    /// golden cases.
    Feedback(FeedbackArgs),
    /// Serve the HTTP API that production systems post interactions and feedback to.
    ///
    /// `POST /v1/interactions` and `POST /v1/feedback` take one event or an array (JSON);
    /// `POST /v1/traces` takes OpenTelemetry traces (OTLP/HTTP: `application/x-protobuf` or
    /// `application/json`, gzip accepted) and stores each span that follows the GenAI
    /// semantic conventions as an interaction whose event id is `otel-TRACEID-SPANID`; other
    /// spans are counted and ignored, and its errors are OTLP's (`google.rpc.Status`).
    /// `GET /healthz` answers `{"status": "ok"}`. A 200 means the events are committed.
    /// Bad input gets a JSON error: 400 (not JSON), 401 (token), 409 (an event id sent again
    /// with other content; nothing is stored), 413 (too large), 415 (not
    /// `Content-Type: application/json`), 422 (invalid events, with each one's index and
    /// reason; nothing is stored). A request naming another `Host` gets 421, one from another
    /// origin that changes something 403. Beyond loopback the server requires the bearer token
    /// in `EVALGATE_SERVER_TOKEN` (16 characters or more) and refuses to start without it; the
    /// review pages then ask for it once and keep a session cookie. Ctrl-C or SIGTERM stops it
    /// gracefully: the requests in flight finish and their events are committed.
    #[command(
        after_help = "Examples:\n  evalgate serve\n  EVALGATE_SERVER_TOKEN=… evalgate serve --listen 0.0.0.0:8787\n  curl -X POST localhost:8787/v1/feedback -H 'Content-Type: application/json' -d '{\"event_id\": \"s1\", \"interaction_id\": \"i1\", \"timestamp\": \"2026-11-23T10:00:00Z\", \"kind\": \"explicit\", \"name\": \"thumbs_down\"}'\n  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://localhost:8787/v1/traces python app.py"
    )]
    Serve(ServeArgs),
    /// Import a project written for another tool (promptfoo) as an evalgate project.
    Import(ImportArgs),
    /// Golden datasets: how they grow.
    Golden(GoldenArgs),
    /// A suite's runs in order: prompt version, git commit, model, pass rate with its
    /// interval, cost per case, p95 latency; and the prompt changes that made the pass rate
    /// significantly worse, with the last good version to roll back to.
    #[command(after_help = "Example:\n  evalgate history support-features")]
    History(HistoryArgs),
    /// The versions of a prompt and their diffs.
    Prompt(PromptArgs),
    /// Human review of judge verdicts: sample a batch, label it.
    Review(ReviewArgs),
    /// How often do the judges agree with people? Per judge version: items reviewed, raw
    /// agreement, Cohen's kappa with a 95% interval, the confusion matrix, the trend by ISO
    /// week and the disagreements.
    #[command(
        after_help = "Examples:\n  evalgate calibrate\n  evalgate calibrate --judge summary_faithful --weeks 8 --export-examples disagreements.jsonl"
    )]
    Calibrate(CalibrateArgs),
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(subcommand)]
    pub command: ReviewCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Sample judged results of a run into a review batch, stratified so that both judge
    /// passes and fails are seen (judge errors are left out). The batch also gets every case
    /// of the run that waits for a human label (`needs_label`, from `feedback promote`): the
    /// reviewer's answer becomes its expected value in the golden file.
    #[command(after_help = "Example:\n  evalgate review sample --run 3f9a2c --n 50")]
    Sample {
        /// The run (id or prefix).
        #[arg(long)]
        run: String,
        /// Judge verdicts in the batch (cases that need a label come on top).
        #[arg(long, default_value_t = 50)]
        n: usize,
        /// `verdict`: as many passes as fails; `tag`: each case tag in turn.
        #[arg(long, value_enum, default_value_t = StratifyBy::Verdict)]
        stratify: StratifyBy,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Label a batch in the terminal, one item at a time: the input, the output and the
    /// expected values are shown, the judge's verdict only after you answer (blind review).
    /// Each label is saved at once; run it again to go on where you stopped.
    #[command(
        after_help = "Answers: p (pass), f (fail), s (skip), q (quit); text after the letter is a note.\n\nA case that needs a label shows the model's output: p accepts it as the expected value;\nf takes the right answer after the letter, as fields that replace the output's\n(`f intent=bug, escalation_risk=4`) or a JSON object. The golden file is updated at once,\nwith the reviewer and the date in the case's `source`.\n\nExample:\n  evalgate review label rv-3f9a2c01 --reviewer ann"
    )]
    Label {
        /// The batch id `review sample` printed.
        batch: String,
        /// Your name, stored with each label.
        #[arg(long, env = "EVALGATE_REVIEWER")]
        reviewer: String,
    },
    /// Write the labels of judge verdicts that only the database holds (made before labels
    /// were kept in `golden/reviews/`) into `golden/reviews/JUDGE.jsonl`, to commit.
    Export,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StratifyBy {
    Verdict,
    Tag,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Only this judge.
    #[arg(long)]
    pub judge: Option<String>,
    /// Only labels of the last W weeks.
    #[arg(long, value_name = "W")]
    pub weeks: Option<i64>,
    /// Write the disagreements with the humans' verdicts as JSON lines, for a rubric's worked
    /// examples.
    #[arg(long, value_name = "FILE")]
    pub export_examples: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The suite, as named in evalgate.yaml.
    pub suite: String,
    /// The last N runs.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
    /// Also write the history as a self-contained HTML page with the pass-rate trend chart.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PromptArgs {
    #[command(subcommand)]
    pub command: PromptCommand,
}

#[derive(Debug, Subcommand)]
pub enum PromptCommand {
    /// Every version of a prompt that ran, oldest first, with the runs that used it, its git
    /// commit, and its diff from the version before.
    #[command(after_help = "Example:\n  evalgate prompt log support_features")]
    Log {
        /// The prompt: `prompts/NAME.yaml`.
        name: String,
    },
    /// The diff between two prompt versions. Each side is a version (a prefix of its hash, as
    /// runs show it) or a prompt's name for its current file.
    #[command(
        after_help = "Examples:\n  evalgate prompt diff 8245395e b4108449\n  evalgate prompt diff 8245395e support_features"
    )]
    Diff {
        /// The old side.
        a: String,
        /// The new side.
        b: String,
    },
}

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    #[command(subcommand)]
    pub command: FeedbackCommand,
}

#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Store the events of a JSONL file (or `-` for stdin): interactions and signals.
    ///
    /// Lines are streamed and committed in batches of 500. A bad line is reported with its
    /// number and reason and written to the reject file; every good line is stored. An event
    /// id already stored is skipped, so ingesting the same file twice adds nothing. Exit 2
    /// when a line was rejected (the good ones are stored all the same).
    #[command(
        after_help = "Examples:\n  evalgate feedback ingest events.jsonl\n  tail -n 1000 app.log.jsonl | evalgate feedback ingest - --rejects bad.jsonl"
    )]
    Ingest {
        /// A JSONL file of events, or `-` for stdin.
        file: PathBuf,
        /// Where rejected lines go (JSON lines: line, reason, text). Default: FILE.rejects.jsonl
        /// (for stdin: .evalgate/feedback-rejects.jsonl).
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
    },
    /// Where do failures cluster? Negative signals by prompt version, model and signal; the
    /// conditions that come with bad answers; clusters by signal kind, by tag and by text
    /// similarity of the inputs, each with its share of bad answers and example event ids.
    #[command(
        after_help = "Examples:\n  evalgate feedback triage --since 7d\n  evalgate feedback triage --prompt support_features --format json"
    )]
    Triage(TriageArgs),
    /// Append production interactions to a golden file as cases, with their provenance.
    ///
    /// Give interaction or signal event ids, or `--cluster C` for the bad interactions of text
    /// cluster C of `evalgate feedback triage` (same `--since` and `--prompt`). The expected
    /// value is the user's edit when there is one; otherwise the case is tagged and marked
    /// `needs_label`. An id or an input already in the file is skipped.
    #[command(
        after_help = "Examples:\n  evalgate feedback promote int-0042 sig-0107 --to golden/support.jsonl\n  evalgate feedback promote --cluster 1 --since 7d --to golden/support.jsonl"
    )]
    Promote {
        /// Interaction or signal event ids.
        #[arg(required_unless_present = "cluster")]
        event_ids: Vec<String>,
        /// The golden file to append to (created if missing).
        #[arg(long, value_name = "golden/NAME.jsonl")]
        to: PathBuf,
        /// Promote the bad interactions of this text cluster of `feedback triage`.
        #[arg(long, value_name = "C", conflicts_with = "event_ids")]
        cluster: Option<usize>,
        /// With `--cluster`: the similarity the triage used.
        #[arg(long, default_value_t = 0.3)]
        similarity: f64,
        #[command(flatten)]
        filter: FeedbackFilter,
    },
}

#[derive(Debug, Args)]
pub struct FeedbackFilter {
    /// Only events from this date (2026-11-01), time (RFC 3339) or number of days back (7d).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only interactions of this prompt.
    #[arg(long, value_name = "NAME")]
    pub prompt: Option<String>,
}

#[derive(Debug, Args)]
pub struct TriageArgs {
    #[command(flatten)]
    pub filter: FeedbackFilter,
    /// Clusters shown per section.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Cosine similarity (0 to 1) from which two inputs share a text cluster.
    #[arg(long, default_value_t = 0.3)]
    pub similarity: f64,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: std::net::SocketAddr,
    /// The largest request body accepted (larger: 413).
    #[arg(long, value_name = "BYTES", default_value_t = crate::serve::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// A name the server answers to besides its address (`evals.example.com`, or with a
    /// port), as a reverse proxy forwards it in `Host`. Requests naming any other host are
    /// refused (DNS rebinding). Repeat for several names.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Mark cookies `Secure` (sent over HTTPS only): set it behind a proxy that terminates TLS.
    #[arg(long)]
    pub secure_cookies: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: ImportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Write an evalgate project from a promptfoo config: prompts, providers and models,
    /// tests as a golden dataset, assertions as scorers, judges and gates.
    ///
    /// Reads `promptfooconfig.yaml` and the files it names: prompts (inline, or
    /// `file://` text with `---` between prompts, JSON/YAML chat arrays), providers
    /// (`openai:MODEL`, `openai:chat:MODEL` with `config.apiBaseUrl` or `apiHost` for any
    /// OpenAI-compatible server, `anthropic:messages:MODEL`), tests (inline, CSV with
    /// `__expected` columns, YAML, JSON, JSONL; `vars`, list variables expanded, and
    /// `defaultTest` merged into each). Each suite is one prompt on every model; each test a
    /// golden case whose id is a hash of its variables.
    ///
    /// Assertions: equals, contains, icontains, contains-any/all, icontains-any/all,
    /// starts-with, regex, is-json, contains-json, levenshtein, similar (embeddings) and
    /// their `not-` forms become scorers; llm-rubric and model-graded-closedqa become judges;
    /// cost and latency become gates. Anything else (javascript, python, webhook, custom
    /// providers, transforms…) is left out and listed with its file:line. A key written in
    /// the config (`apiKey`) is never copied: the provider reads it from an environment
    /// variable, which the report names.
    ///
    /// Prints the mapping report on stdout; exit 0 when the project was written (left-out
    /// items included), 2 when a promptfoo file cannot be read or nothing could be mapped.
    /// Never overwrites an evalgate project.
    #[command(
        after_help = "Example:\n  evalgate import promptfoo ../evals/promptfooconfig.yaml --out imported\n  cd imported && evalgate validate && evalgate run SUITE --dry-run"
    )]
    Promptfoo {
        /// The promptfoo config (`promptfooconfig.yaml`); `file://` paths in it are relative
        /// to its directory.
        config: PathBuf,
        /// The directory to write the evalgate project into (default: the project directory,
        /// `-C`). It must not hold an evalgate.yaml.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct GoldenArgs {
    #[command(subcommand)]
    pub command: GoldenCommand,
}

#[derive(Debug, Subcommand)]
pub enum GoldenCommand {
    /// Cases by source and month: see the dataset grow from production.
    #[command(after_help = "Example:\n  evalgate golden stats support")]
    Stats {
        /// The dataset: `golden/NAME.jsonl`.
        name: String,
        #[arg(long, value_enum, default_value_t = Format::Terminal)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct LiftArgs {
    /// The run: a run id (or unique prefix), or a run file such as a baseline.
    pub run: String,
    /// The key of the golden cases' `outcome` to predict (default: the suite's `lift.outcome`).
    #[arg(long, value_name = "KEY")]
    pub outcome: Option<String>,
    /// Cross-validation folds (default: the suite's, else 5).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(2..=100))]
    pub folds: Option<u32>,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CascadeArgs {
    /// The suite with a `cascade:` section.
    pub suite: String,
    /// The share of the top tier's accuracy to keep (default: the suite's `target`, else 0.98).
    #[arg(long, value_name = "SHARE")]
    pub target: Option<f64>,
    /// Run only the first N cases of the dataset.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Requests in flight at once for each tier's run.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Where to write the frontier chart (default: .evalgate/cascade/SUITE.svg).
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,
    /// Also write a self-contained HTML page with the tables and the chart.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Ask every tier (and the proxy's labeller and embedder) live, without the cache, and
    /// save each answer as a cassette in DIR, so that a replay provider can serve the cascade
    /// offline.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StabilityArgs {
    /// The first run: a run id (or unique prefix), or a run file.
    pub run_a: String,
    /// The second run.
    pub run_b: String,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// The run whose answers are priced: a run id (or unique prefix), or a run file.
    pub run: String,
    /// Records in the table to enrich (for the backfill and refresh projections).
    #[arg(long, value_name = "N")]
    pub records: Option<u64>,
    /// Recompute every record's features every D days.
    #[arg(long, value_name = "D", requires = "records")]
    pub refresh_days: Option<f64>,
    /// Serving events a day that would each call the model if it ran live.
    #[arg(long, value_name = "E")]
    pub serving_events_per_day: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row; label sets as JSON arrays.
    Csv,
    /// One JSON object a line.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run: a run id (or unique prefix), or a run file.
    pub run: String,
    /// The file format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the rejected answers here (JSON lines: case_id, reason).
    #[arg(long, value_name = "FILE")]
    pub rejected: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The runs to join: run files, or stored run ids (or prefixes).
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<String>,
    /// Where to write the merged run file.
    #[arg(long, value_name = "RUN.json")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The base run: a run id (or unique prefix), or a run file such as a baseline.
    pub base: String,
    /// The candidate run: a run id (or unique prefix), or a run file.
    pub candidate: String,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
    /// Also write a self-contained HTML report here: the flipped cases first, with both
    /// outputs side by side and a word-level diff, then the metrics and every case.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Resamples of each paired bootstrap (intervals, and the p-values of metrics that are
    /// not pass/fail). The smallest p-value a bootstrap can give is 1 / resamples.
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(200..=1_000_000))]
    pub resamples: u32,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The suites to gate (default: every suite).
    pub suites: Vec<String>,
    /// Run every suite, changed or not.
    #[arg(long)]
    pub all: bool,
    /// Also write the markdown summary here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write JUnit XML here: one test case per case × scorer, and one per gate.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Where the candidate run files go (`DIR/SUITE.json`).
    #[arg(long, value_name = "DIR", default_value = ".evalgate/gate")]
    pub out_dir: PathBuf,
    /// Gate this run (a run file, such as `evalgate merge`'s, or a stored run id) instead of
    /// running the suite: for CI matrices whose shards ran elsewhere. Needs one SUITE.
    #[arg(long, value_name = "RUN", conflicts_with = "all")]
    pub run: Option<String>,
    /// Ask each case K times; gates apply to the mean over repeats.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(subcommand)]
    pub command: BaselineCommand,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Write `golden/baselines/SUITE.json` from a run (default: run the suite now; unchanged
    /// cases come from the response cache). Commit the file on the main branch.
    ///
    /// The baseline holds the run's versions, per-case results and metrics; never a key.
    #[command(
        after_help = "Examples:\n  evalgate baseline update support-features\n  evalgate baseline update support-features --from 3f9a2c"
    )]
    Update {
        /// The suite, as named in evalgate.yaml.
        suite: String,
        /// Use this stored run (id or prefix) or run file instead of running the suite.
        #[arg(long, value_name = "RUN")]
        from: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project (created if missing; must not already hold evalgate.yaml).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Write the sharded CI workflow (`.github/workflows/evalgate-sharded.yml`: the suite
    /// split over a matrix of jobs with `run --shard K/N`, merged and gated by a last job)
    /// instead of the single-job one.
    #[arg(long)]
    pub sharded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Tables for people.
    #[default]
    Terminal,
    /// The report model as JSON.
    Json,
}

#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// The suite to run, as named in evalgate.yaml.
    pub suite: String,

    /// Run this model instead of the suite's models (repeat or separate with commas for several).
    ///
    /// With several models the report ends with the model matrix: pass rate with its
    /// interval, cost per case and per 1,000 cases, latency, each model against the first
    /// (McNemar), and the cheapest model not significantly worse than the best.
    #[arg(
        long = "model",
        visible_alias = "models",
        short = 'm',
        value_delimiter = ',',
        value_name = "MODEL"
    )]
    pub models: Vec<String>,

    /// With several models: how many pass-rate points a cheaper model may lose against the
    /// best and still be recommended (non-inferiority: its whole 95% interval must stay
    /// within the margin). Default 5.
    #[arg(long, value_name = "POINTS", value_parser = margin_points)]
    pub margin: Option<f64>,

    /// Requests in flight at once (default: the suite's `concurrency`, else 4).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,

    /// Run only the first N cases of the dataset.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Write the portable run file (JSON: the run, its report and every case) here.
    ///
    /// With several models, the model name is added before the extension.
    #[arg(long, value_name = "RUN.json")]
    pub out: Option<PathBuf>,

    /// Save every response as a cassette in `cassettes/` (or DIR) for offline replay.
    ///
    /// Cassettes hold the request (model, messages, params) and the response body, never a
    /// header or an API key. A `replay` provider serves them.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "cassettes")]
    pub record: Option<PathBuf>,

    /// How to print the report on stdout.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,

    /// Ask each case K times (for nondeterministic models; each repeat is scored).
    ///
    /// With temperature > 0 every repeat is a separate request (and a separate cache entry).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,

    /// Spend at most this much (USD, the model, its judges and the embeddings of `similar`
    /// scorers together).
    ///
    /// Before a case is sent, the most it can cost (input at most its bytes, output at
    /// `max_tokens`, every judge vote with its repair round, every `similar` scorer's
    /// embeddings of the answer and the expected text) is reserved; a case the rest of the
    /// budget cannot cover is not started. The run then stops (exit 3), is stored as stopped
    /// and can be finished later with `--resume`, whose budget counts what the run paid
    /// before. Overrides the suite's `max_cost`. Cache hits cost nothing; embeddings are never
    /// cached.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,

    /// Print the number of calls, the estimated tokens and the estimated cost, and stop.
    ///
    /// Input tokens are estimated at 4 characters a token; output tokens at the prompt's
    /// `max_tokens` (an upper bound). Answers already in the response cache are free. The
    /// embeddings of `similar` scorers (every answer, cached or not, with its expected text)
    /// are in the cost and said apart.
    #[arg(long)]
    pub dry_run: bool,

    /// Finish an unfinished run (interrupted, stopped by its budget, or killed) instead of
    /// starting a new one. Without RUN, the newest unfinished run of the same suite, model,
    /// prompt version and dataset version.
    ///
    /// Finished cases are never requested again.
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = "")]
    pub resume: Option<String>,

    /// Send the cases through the provider's Batch API (OpenAI-compatible providers): half
    /// the price, answers within 24 hours.
    ///
    /// The batch id is stored with the run: after an interruption, `--resume` polls the same
    /// batch instead of sending a new one. Cached answers are not sent.
    #[arg(long, conflicts_with_all = ["record", "dry_run"])]
    pub batch: bool,

    /// Run only the cases that failed or errored in RUN (a stored run id or prefix), to
    /// iterate on a prompt quickly. The new run covers just those cases.
    #[arg(long, value_name = "RUN")]
    pub only_failing: Option<String>,

    /// Run one deterministic slice of the dataset, K of N (1-based), for CI matrices: a case
    /// belongs to the shard its id hashes to. `evalgate merge` joins the shards' run files.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::plan::Shard>,

    /// Neither read nor write the response cache.
    #[arg(long, conflicts_with = "refresh")]
    pub no_cache: bool,

    /// Ask the model again even when the cache has the answer, and cache the new answer.
    #[arg(long)]
    pub refresh: bool,

    /// Changes to the prompt's params (set by `evalgate cascade` for its tiers).
    #[arg(skip)]
    pub params: crate::plan::ParamsPatch,

    /// Print no report after the run (set by commands that report on their own).
    #[arg(skip)]
    pub no_report: bool,

    /// Run this dataset instead of the suite's (set by `evalgate cascade` for its pool).
    #[arg(skip)]
    pub dataset: Option<String>,

    /// Call no judge (set by `evalgate cascade` when labelling its pool).
    #[arg(skip)]
    pub no_judges: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run id, or a unique prefix of it; with `--matrix`, two or more runs (ids, prefixes
    /// or run files).
    #[arg(required = true, num_args = 1.., value_name = "RUN")]
    pub runs: Vec<String>,

    /// Show the runs side by side: every case a row, every run a column (its output, status,
    /// failed scorers, cost and latency), each run's pass rate with its 95% interval; with
    /// `--html`, the page with filters (status differs, output differs, failures, a predicted
    /// label, text) and each output diffed word by word against the first column's.
    #[arg(long)]
    pub matrix: bool,

    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,

    /// Also write the portable run file here.
    #[arg(long, value_name = "RUN.json")]
    pub out: Option<PathBuf>,

    /// Also write a self-contained HTML report here (metrics, confusion heat maps, latency
    /// and cost charts, a filterable table of the cases).
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The run id, or a unique prefix of it.
    pub run: String,

    /// Ask only this judge (a file `judges/NAME.yaml` that the suite scores with).
    #[arg(long, value_name = "JUDGE")]
    pub judge: Option<String>,

    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct PairwiseArgs {
    /// The base run (id or unique prefix).
    pub base: String,
    /// The candidate run (id or unique prefix).
    pub candidate: String,
    /// The pairwise judge (a file `judges/NAME.yaml` with `verdict: {kind: pairwise}`).
    #[arg(long, value_name = "JUDGE")]
    pub judge: String,
    /// Save the judge's answers as cassettes in `cassettes/` (or DIR), as `run --record` does.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "cassettes")]
    pub record: Option<std::path::PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this suite.
    #[arg(long)]
    pub suite: Option<String>,

    /// At most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

/// A non-inferiority margin in pass-rate points: more than 0, at most 50.
fn margin_points(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of points such as 5, got `{s}`"))?;
    if v > 0.0 && v <= 50.0 {
        Ok(v)
    } else {
        Err(format!(
            "a margin is more than 0 and at most 50 points, got {v}"
        ))
    }
}
