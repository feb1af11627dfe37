//! The report model: plain serializable structs filled by the analyses and read by the
//! renderers (the `render` module), which are pure functions of this model and compute nothing.
//! Each analysis owns the structs it fills; this module gathers them, so that a renderer
//! imports the report model and nothing else; the few views of stored rows the pages show
//! are here too (`serve` fills them).

pub use crate::analysis::{
    Agreement, Counts, EmbeddingSummary, EnumFieldReport, FailureRow, IntegerFieldReport,
    JudgeSummary, KindCount, LatencyReport, RunHeader, RunReport, ScorerSummary, UsageReport,
};
pub use crate::cascade::CascadeReport;
pub use crate::cascade::simulate::{Point, VersusTop};
pub use crate::cascade::{cascade_claim, cascade_sentence, cascade_thresholds};
pub use crate::compare::{
    Comparison, DiffLine, FlakyCase, FlippedCase, MatrixRow, MetricDelta, ModelMatrix,
};
pub use crate::features::cost::CostReport;
pub use crate::features::lift::LiftReport;
pub use crate::features::stability::{MAX_FLIPS_SHOWN, StabilityReport};
pub use crate::feedback::triage::{Cluster, TriageReport};
pub use crate::gate::{GateResult, SuiteVerdict};
pub use crate::golden::Growth;
pub use crate::history::{History, PromptVersion};
pub use crate::metric::{format_change, format_signed, format_value};
pub use crate::pairwise::PairwiseReport;
pub use crate::review::Calibration;
pub use crate::runfile::{CaseEntry, RunFile};
pub use crate::stats::{Confusion, LabelMetrics, Proportion};

/// A stored run as the list of runs shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunListing {
    pub id: crate::id::RunId,
    pub started_at: String,
    pub suite: String,
    pub model: String,
    pub prompt: String,
    pub prompt_version: String,
    pub status: crate::status::RunStatus,
}

/// A review item as its page shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReviewItem {
    pub item: i64,
    pub case_id: String,
    /// `verdict` (check a judge's verdict) or `label` (give a case its expected value).
    pub kind: String,
    pub scorer: String,
    pub judge: String,
    pub judge_outcome: String,
    pub judge_reason: Option<String>,
}

/// A reviewer's answer to an item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReviewAnswer {
    /// `pass`, `fail` or `skip`.
    pub verdict: String,
    pub note: Option<String>,
}
