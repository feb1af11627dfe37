//! The report model: plain serializable structs filled by the analyses and read by the
//! renderers. Renderers are pure functions of this model; they compute nothing.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod terminal;

pub use crate::analysis::{
    Agreement, Counts, EnumFieldReport, FailureRow, IntegerFieldReport, JudgeSummary, KindCount,
    LatencyReport, RunHeader, RunReport, ScorerSummary, UsageReport,
};
pub use crate::cascade::{cascade_claim, cascade_sentence, cascade_thresholds};
pub use crate::compare::{
    Comparison, DiffLine, FlakyCase, FlippedCase, MatrixRow, MetricDelta, ModelMatrix,
};
pub use crate::gate::{GateResult, SuiteVerdict};
pub use crate::metric::{format_change, format_signed, format_value};
pub use crate::pairwise::PairwiseReport;
pub use crate::stats::{Confusion, LabelMetrics, Proportion};
