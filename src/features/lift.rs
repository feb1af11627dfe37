//! Downstream lift: does an LLM-made feature improve the cheaper model that consumes it?
//!
//! A logistic regression predicts each golden case's `outcome` by cross-validation from
//! (a) its `base_features` alone, (b) the base features and the run's LLM features, and
//! (c) the base features and the human labels of the same fields (`expected`): a ceiling.
//! The lift is AUC(b) − AUC(a), with a 95% paired-bootstrap interval over cases.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

use super::model::{self, Design, Scores};
use super::{FeatureKind, RunFeatures, label};
use crate::error::Error;
use crate::golden::Case;
use crate::runfile::RunFile;
use crate::stats::{self, Delta};

pub use crate::config::spec::{DEFAULT_FOLDS, DEFAULT_REGULARIZATION, DEFAULT_SEED, LiftSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiftReport {
    pub run_id: crate::id::RunId,
    pub suite: String,
    pub feature_version: String,
    pub outcome: String,
    /// The outcome's classes with their number of cases.
    pub classes: Vec<(String, u64)>,
    /// The class the AUC ranks (binary outcomes).
    pub positive_class: Option<String>,
    pub cases: u64,
    /// Cases of the run left out, with why.
    pub excluded: Vec<(String, u64)>,
    pub folds: usize,
    pub seed: u64,
    pub regularization: f64,
    pub base_features: Vec<String>,
    pub llm_features: Vec<String>,
    /// Cases whose answer gave no features (an error or a contract violation): the model sees
    /// them as missing.
    pub llm_missing: u64,
    pub rows: Vec<LiftRow>,
    /// AUC(base + LLM) − AUC(base), with its interval.
    pub lift: Option<Delta>,
    /// AUC(base + human labels) − AUC(base).
    pub ceiling_lift: Option<f64>,
    /// lift / ceiling lift: how much of what perfect labels would add the LLM delivers.
    pub ceiling_share: Option<f64>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiftRow {
    /// `base`, `base + LLM` or `base + human labels`.
    pub features: String,
    pub scores: Scores,
}

/// Below this many cases of the smallest class per fold, the estimates are noisy.
const FEW_PER_FOLD: usize = 5;

/// The lift analysis of `run` on the golden cases it answered.
pub fn analyze(run: &RunFile, golden: &[Case], spec: &LiftSpec) -> Result<LiftReport, Error> {
    let features = RunFeatures::of(run)?;
    let (llm_fields, llm_kinds) = llm_features(run, &features, spec)?;
    let (rows, excluded) = outcome_rows(&features, golden, spec)?;
    let outcomes = Outcomes::of(run, &rows, spec)?;
    let (base_names, base_kinds) = base_features(&rows, spec)?;
    let human_known = rows
        .iter()
        .any(|r| llm_fields.iter().any(|f| r.0.expected.contains_key(f)));
    let sets = FeatureSets {
        base_names,
        base_kinds,
        llm_fields,
        llm_kinds,
        human_known,
    };
    let fitted = fit_models(&rows, &sets, &outcomes, spec)?;
    let llm_missing = rows.iter().filter(|r| r.1.is_none()).count() as u64;
    let notes = lift_notes(llm_missing, &outcomes, &sets, &fitted, spec);

    Ok(LiftReport {
        run_id: run.run.id.clone(),
        suite: run.run.suite.clone(),
        feature_version: features.feature_version(),
        outcome: spec.outcome.clone(),
        classes: outcomes
            .classes
            .iter()
            .cloned()
            .zip(outcomes.counts)
            .collect(),
        positive_class: (outcomes.classes.len() == 2).then(|| outcomes.classes[1].clone()),
        cases: rows.len() as u64,
        excluded: excluded.into_iter().collect(),
        folds: spec.folds,
        seed: spec.seed,
        regularization: spec.regularization,
        base_features: sets.base_names,
        llm_features: sets.llm_fields,
        llm_missing,
        rows: fitted.table,
        lift: fitted.lift,
        ceiling_lift: fitted.ceiling_lift,
        ceiling_share: fitted.ceiling_share,
        notes,
    })
}

/// A usage error with an optional hint.
fn usage(m: String, hint: Option<&str>) -> Error {
    Error::usage(m, hint.map(str::to_string))
}

/// The LLM fields (the spec's, or every field a model can use) and how each enters the model.
fn llm_features(
    run: &RunFile,
    features: &RunFeatures<'_>,
    spec: &LiftSpec,
) -> Result<(Vec<String>, Vec<FeatureKind>), Error> {
    let llm_fields = spec
        .features
        .clone()
        .unwrap_or_else(|| features.model_fields());
    let mut llm_kinds = Vec::new();
    for f in &llm_fields {
        let Some(field) = features.contract.fields.get(f) else {
            let known = features.model_fields().join(", ");
            return Err(usage(
                format!("lift names `{f}`, which the run's contract does not declare"),
                Some(&format!("the run's feature fields are: {known}")),
            ));
        };
        match FeatureKind::of_field(&field.kind) {
            Some(k) => llm_kinds.push(k),
            None => {
                return Err(usage(
                    format!("`{f}` is free text and cannot feed a logistic regression"),
                    Some("list enum, integer, number, boolean or labels fields in `features`"),
                ));
            }
        }
    }
    if llm_kinds.is_empty() {
        return Err(usage(
            format!("run {} has no feature a model can use", run.run.id),
            None,
        ));
    }
    Ok((llm_fields, llm_kinds))
}

/// The cases: the run's, with a golden outcome; and how many were left out, by why.
fn outcome_rows<'a>(
    features: &'a RunFeatures<'_>,
    golden: &'a [Case],
    spec: &LiftSpec,
) -> Result<(Vec<Row<'a>>, BTreeMap<String, u64>), Error> {
    let by_id: BTreeMap<&str, &Case> = golden.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut excluded: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (id, (_, feats)) in &features.cases {
        let Some(case) = by_id.get(id) else {
            *excluded
                .entry("no longer in the golden dataset".into())
                .or_default() += 1;
            continue;
        };
        let outcome = case.outcome.as_ref().and_then(|o| o.get(&spec.outcome));
        let Some(outcome) = outcome.filter(|v| !v.is_null()) else {
            *excluded
                .entry(format!("no `outcome.{}`", spec.outcome))
                .or_default() += 1;
            continue;
        };
        let Some(class) = label(outcome) else {
            return Err(usage(
                format!(
                    "case `{id}` has an outcome `{}` of {outcome}: an outcome is a boolean, a string or a number",
                    spec.outcome
                ),
                None,
            ));
        };
        rows.push((case, feats.as_ref().ok(), class));
    }
    Ok((rows, excluded))
}

/// The outcome classes, each case's class, the count of each and the smallest class.
struct Outcomes {
    classes: Vec<String>,
    y: Vec<usize>,
    counts: Vec<u64>,
    smallest: String,
    smallest_n: usize,
}

impl Outcomes {
    /// The outcomes of `rows`, refused when there is nothing to predict or too few per fold.
    fn of(run: &RunFile, rows: &[Row<'_>], spec: &LiftSpec) -> Result<Self, Error> {
        let classes: Vec<String> = rows
            .iter()
            .map(|r| r.2.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if rows.is_empty() {
            return Err(usage(
                format!(
                    "no case of run {} has an `outcome.{}` in the golden dataset",
                    run.run.id, spec.outcome
                ),
                Some("add `\"outcome\": {…}` to the golden cases: what happened downstream"),
            ));
        }
        if classes.len() < 2 {
            return Err(usage(
                format!(
                    "every one of the {} cases has the outcome `{}`: there is nothing to predict",
                    rows.len(),
                    classes[0]
                ),
                None,
            ));
        }
        let y: Vec<usize> = rows
            .iter()
            .map(|r| classes.binary_search(&r.2).unwrap_or(0))
            .collect();
        let counts: Vec<u64> = (0..classes.len())
            .map(|c| y.iter().filter(|&&v| v == c).count() as u64)
            .collect();
        let (smallest, smallest_n) = counts
            .iter()
            .enumerate()
            .min_by_key(|(_, n)| **n)
            .map(|(i, n)| (classes[i].clone(), *n as usize))
            .unwrap_or_default();
        if spec.folds < 2 {
            return Err(usage(
                "cross-validation needs at least 2 folds".into(),
                None,
            ));
        }
        if smallest_n < spec.folds {
            return Err(usage(
                format!(
                    "too few cases per fold: the outcome `{smallest}` has {smallest_n} case{}, and {}-fold cross-validation needs at least one in every fold",
                    if smallest_n == 1 { "" } else { "s" },
                    spec.folds
                ),
                Some(&format!(
                    "add golden cases with that outcome, or lower `folds` (at most {smallest_n})"
                )),
            ));
        }
        Ok(Outcomes {
            classes,
            y,
            counts,
            smallest,
            smallest_n,
        })
    }
}

/// The base features (the spec's, or every key found) and the kind inferred for each.
fn base_features(
    rows: &[Row<'_>],
    spec: &LiftSpec,
) -> Result<(Vec<String>, Vec<FeatureKind>), Error> {
    let base_names: Vec<String> = match &spec.base_features {
        Some(names) => names.clone(),
        None => rows
            .iter()
            .filter_map(|r| r.0.base_features.as_ref())
            .flat_map(|m| m.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let mut base_kinds = Vec::new();
    for name in &base_names {
        let values = rows
            .iter()
            .filter_map(|r| r.0.base_features.as_ref().and_then(|m| m.get(name)));
        base_kinds.push(
            FeatureKind::infer(name, values)
                .map_err(|e| usage(format!("base feature {e}"), None))?,
        );
    }
    Ok((base_names, base_kinds))
}

/// The features the models see: the base ones and the LLM's, with their kinds, and whether
/// some golden case labels the LLM fields (for the human ceiling).
struct FeatureSets {
    base_names: Vec<String>,
    base_kinds: Vec<FeatureKind>,
    llm_fields: Vec<String>,
    llm_kinds: Vec<FeatureKind>,
    human_known: bool,
}

/// The design matrices of the three models: base, base + LLM, base + human labels (if any).
fn designs(rows: &[Row<'_>], sets: &FeatureSets) -> (Design, Design, Option<Design>) {
    let base = |c: &Case| c.base_features.clone().unwrap_or_default();
    let base_cols: Vec<Map<String, Value>> = rows.iter().map(|r| base(r.0)).collect();
    let llm_cols: Vec<Option<Map<String, Value>>> = rows.iter().map(|r| r.1.cloned()).collect();
    let human_cols: Vec<Map<String, Value>> = rows.iter().map(|r| r.0.expected.clone()).collect();
    let empty = Map::new();

    let base_part = |i: usize| vec![(&base_cols[i], &sets.base_names, &sets.base_kinds)];
    let design_a = design(rows.len(), base_part);
    let design_b = design(rows.len(), |i| {
        let mut p = base_part(i);
        p.push((
            llm_cols[i].as_ref().unwrap_or(&empty),
            &sets.llm_fields,
            &sets.llm_kinds,
        ));
        p
    });
    let design_c = sets.human_known.then(|| {
        design(rows.len(), |i| {
            let mut p = base_part(i);
            p.push((&human_cols[i], &sets.llm_fields, &sets.llm_kinds));
            p
        })
    });
    (design_a, design_b, design_c)
}

/// What the fitted models show: their scores, the lift with its interval and the ceiling.
struct Fitted {
    table: Vec<LiftRow>,
    lift: Option<Delta>,
    ceiling_lift: Option<f64>,
    ceiling_share: Option<f64>,
}

/// Cross-validates the three models and scores them, with the lift and the ceiling.
fn fit_models(
    rows: &[Row<'_>],
    sets: &FeatureSets,
    outcomes: &Outcomes,
    spec: &LiftSpec,
) -> Result<Fitted, Error> {
    let (design_a, design_b, design_c) = designs(rows, sets);
    let y = &outcomes.y;
    let folds = model::stratified_folds(y, spec.folds, spec.seed);
    let fit = |d: &Design| {
        model::cross_validate(
            d,
            y,
            outcomes.classes.len(),
            &folds,
            spec.folds,
            spec.regularization,
        )
        .map_err(|e| Error::usage(e, None))
    };
    let all: Vec<usize> = (0..y.len()).collect();
    let p_a = fit(&design_a)?;
    let p_b = fit(&design_b)?;
    let p_c = design_c.as_ref().map(fit).transpose()?;

    let mut table = vec![
        LiftRow {
            features: "base".into(),
            scores: model::scores(&p_a, y, &all),
        },
        LiftRow {
            features: "base + LLM".into(),
            scores: model::scores(&p_b, y, &all),
        },
    ];
    if let Some(p_c) = &p_c {
        table.push(LiftRow {
            features: "base + human labels".into(),
            scores: model::scores(p_c, y, &all),
        });
    }
    let lift = stats::paired_bootstrap(y.len(), |idx| {
        Some(model::auc(&p_b, y, idx)? - model::auc(&p_a, y, idx)?)
    });
    let auc_a = table[0].scores.auc;
    let ceiling_lift = p_c
        .as_ref()
        .and_then(|p| Some(model::auc(p, y, &all)? - auc_a?));
    let ceiling_share = match (lift, ceiling_lift) {
        (Some(l), Some(c)) if c > 0.0 => Some(l.delta / c),
        _ => None,
    };
    Ok(Fitted {
        table,
        lift,
        ceiling_lift,
        ceiling_share,
    })
}

/// The notes of the analysis: missing features, few cases, no or a useless ceiling, no base.
fn lift_notes(
    llm_missing: u64,
    outcomes: &Outcomes,
    sets: &FeatureSets,
    fitted: &Fitted,
    spec: &LiftSpec,
) -> Vec<String> {
    let mut notes = Vec::new();
    let (smallest, smallest_n) = (&outcomes.smallest, outcomes.smallest_n);
    if llm_missing > 0 {
        notes.push(format!(
            "{llm_missing} of {} answers gave no features (an error or a contract violation): the model sees them as missing",
            outcomes.y.len()
        ));
    }
    if smallest_n < FEW_PER_FOLD * spec.folds {
        notes.push(format!(
            "few cases: the outcome `{smallest}` has {smallest_n} cases, under {FEW_PER_FOLD} per fold; the estimates are noisy, read the interval"
        ));
    }
    if !sets.human_known {
        notes.push("no golden case labels these fields in `expected`: no human ceiling".into());
    } else if fitted.ceiling_lift.is_some_and(|c| c <= 0.0) {
        notes.push(
            "the human labels add nothing over the base features: there is no ceiling to reach"
                .into(),
        );
    }
    if sets.base_names.is_empty() {
        notes.push(
            "the golden cases have no `base_features`: the base model predicts the class shares"
                .into(),
        );
    }
    notes
}

/// A case of the analysis: its golden case, the LLM's features (None when its answer gave
/// none) and its outcome class.
type Row<'a> = (&'a Case, Option<&'a Map<String, Value>>, String);

type Part<'a> = (
    &'a Map<String, Value>,
    &'a Vec<String>,
    &'a Vec<FeatureKind>,
);

/// The design matrix of `n` cases whose features come in parts (values, names, kinds). A
/// feature missing in some case gets an extra 0/1 column saying so.
fn design<'a>(n: usize, parts: impl Fn(usize) -> Vec<Part<'a>>) -> Design {
    let mut rows: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut standardize = Vec::new();
    let Some(first) = (n > 0).then(|| parts(0)) else {
        return Design::default();
    };
    for (p, (_, names, kinds)) in first.iter().enumerate() {
        for (name, kind) in names.iter().zip(kinds.iter()) {
            let mut missing = vec![false; n];
            for (i, row) in rows.iter_mut().enumerate() {
                let part = &parts(i)[p];
                missing[i] = kind.encode(part.0.get(name), row);
            }
            let (width, std) = kind.columns();
            standardize.extend(std::iter::repeat_n(std, width));
            if missing.iter().any(|m| *m) {
                for (row, m) in rows.iter_mut().zip(&missing) {
                    row.push(f64::from(u8::from(*m)));
                }
                standardize.push(false);
            }
        }
    }
    Design { rows, standardize }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A run of `n` cases whose LLM feature `risk` is `llm(i)`; golden outcome `outcome(i)`,
    /// a base feature of pure noise, and the human label `human(i)`.
    fn fixture(
        n: usize,
        llm: impl Fn(usize) -> i64,
        human: impl Fn(usize) -> i64,
        outcome: impl Fn(usize) -> bool,
    ) -> (RunFile, Vec<Case>) {
        let mut rng = fastrand::Rng::with_seed(11);
        let golden: Vec<Case> = (0..n)
            .map(|i| {
                let plan = ["free", "pro"][rng.usize(0..2)];
                serde_json::from_value(json!({
                    "id": format!("c{i:03}"),
                    "expected": {"risk": human(i)},
                    "outcome": {"escalated": outcome(i)},
                    "base_features": {"age": rng.f64(), "plan": plan},
                }))
                .unwrap()
            })
            .collect();
        let cases: Vec<Value> = (0..n)
            .map(|i| {
                json!({"id": format!("c{i:03}"), "status": "pass",
                       "output": format!("{{\"risk\": {}}}", llm(i))})
            })
            .collect();
        let run = crate::runfile::testing::run_file(
            "r1",
            r#"{"fields":{"risk":{"type":"integer","min":1,"max":5}}}"#,
            cases,
        );
        (run, golden)
    }

    #[test]
    fn a_feature_that_decides_the_outcome_lifts_to_the_top() {
        let outcome = |i: usize| i.is_multiple_of(3);
        let risk = |i: usize| if i.is_multiple_of(3) { 5 } else { 1 };
        let (run, golden) = fixture(120, risk, risk, outcome);
        let r = analyze(&run, &golden, &LiftSpec::new("escalated")).unwrap();
        assert_eq!(r.cases, 120);
        assert_eq!(r.positive_class.as_deref(), Some("true"));
        let base = r.rows[0].scores.auc.unwrap();
        let llm = r.rows[1].scores.auc.unwrap();
        assert!(base < 0.65, "noise alone: {base}");
        assert!(llm > 0.99, "a deciding feature: {llm}");
        let lift = r.lift.unwrap();
        assert!(lift.delta > 0.35 && lift.low > 0.2, "{lift:?}");
        assert!((r.ceiling_share.unwrap() - 1.0).abs() < 1e-9);
        assert!(r.rows[1].scores.accuracy > 0.99);
    }

    #[test]
    fn a_noise_feature_has_an_interval_around_zero() {
        let mut rng = fastrand::Rng::with_seed(3);
        let noise: Vec<i64> = (0..150).map(|_| rng.i64(1..=5)).collect();
        let outcome = |i: usize| i.is_multiple_of(3);
        let (run, golden) = fixture(
            150,
            |i| noise[i],
            |i| if i % 3 == 0 { 5 } else { 1 },
            outcome,
        );
        let r = analyze(&run, &golden, &LiftSpec::new("escalated")).unwrap();
        let lift = r.lift.unwrap();
        assert!(lift.low < 0.0 && lift.high > 0.0, "{lift:?}");
        // The human labels decide the outcome; the LLM reaches almost none of that ceiling.
        assert!(r.ceiling_lift.unwrap() > 0.3);
        assert!(
            r.ceiling_share.unwrap().abs() < 0.25,
            "{:?}",
            r.ceiling_share
        );
    }

    #[test]
    fn too_few_cases_per_fold_is_said_plainly() {
        let (run, golden) = fixture(12, |_| 1, |_| 1, |i| i < 3);
        let err = analyze(&run, &golden, &LiftSpec::new("escalated")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("too few cases per fold"), "{text}");
        assert!(text.contains("`true` has 3 cases"), "{text}");
    }

    #[test]
    fn missing_outcome_and_unknown_field_are_errors() {
        let (run, golden) = fixture(20, |_| 1, |_| 1, |i| i < 10);
        let err = analyze(&run, &golden, &LiftSpec::new("churned")).unwrap_err();
        assert!(err.to_string().contains("`outcome.churned`"), "{err}");
        let mut spec = LiftSpec::new("escalated");
        spec.features = Some(vec!["intent".into()]);
        let err = analyze(&run, &golden, &spec).unwrap_err();
        assert!(err.to_string().contains("does not declare"), "{err}");
    }

    #[test]
    fn a_multi_class_outcome_uses_the_macro_auc() {
        // The outcome is what support did: it follows the intent, which the LLM gets right
        // but for every fourth case.
        let intents = ["billing", "bug", "other"];
        let resolution = |i: usize| ["refund", "fix", "none"][i % 3];
        let golden: Vec<Case> = (0..90)
            .map(|i| {
                serde_json::from_value(json!({
                    "id": format!("m{i:02}"),
                    "expected": {"intent": intents[i % 3]},
                    "outcome": {"resolution": resolution(i)},
                    "base_features": {"seats": (i * 13) % 7},
                }))
                .unwrap()
            })
            .collect();
        let cases = (0..90)
            .map(|i| {
                let said = if i % 4 == 0 { "other" } else { intents[i % 3] };
                json!({"id": format!("m{i:02}"), "status": "pass",
                       "output": format!("{{\"intent\": \"{said}\"}}")})
            })
            .collect();
        let run = crate::runfile::testing::run_file(
            "r",
            r#"{"fields":{"intent":{"type":"enum","values":["billing","bug","other"]}}}"#,
            cases,
        );
        let r = analyze(&run, &golden, &LiftSpec::new("resolution")).unwrap();
        assert_eq!(r.positive_class, None);
        assert_eq!(r.classes.len(), 3);
        let [base, llm, human] = [0, 1, 2].map(|i| r.rows[i].scores);
        assert!(base.auc.unwrap() < 0.7, "{base:?}");
        assert!(llm.auc.unwrap() > 0.85, "{llm:?}");
        assert!(human.auc.unwrap() > llm.auc.unwrap(), "{human:?} {llm:?}");
        assert!(human.accuracy > 0.99 && llm.accuracy < human.accuracy);
        let share = r.ceiling_share.unwrap();
        assert!(share > 0.6 && share < 1.0, "{share}");
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let (run, golden) = fixture(
            60,
            |i| (i % 5) as i64 + 1,
            |i| (i % 5) as i64 + 1,
            |i| i % 5 > 2,
        );
        let a = analyze(&run, &golden, &LiftSpec::new("escalated")).unwrap();
        let b = analyze(&run, &golden, &LiftSpec::new("escalated")).unwrap();
        assert_eq!(a, b);
    }
}
