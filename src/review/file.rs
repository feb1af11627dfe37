//! Human labels of judge verdicts as data in git: `golden/reviews/JUDGE.jsonl`, one label a
//! line (the item reviewed, the judge's version and verdict, the human verdict, who, when,
//! the batch). The file is the record: `review label` and the review page write it (under the
//! same cross-process lock as golden edits) before the database, and `calibrate` and the
//! `min_judge_kappa` gate read it, so that a team's review work lives in the repository and
//! a fresh clone in CI gates on it. The database holds the same labels as an index; labels
//! it holds that no file has (made before the files existed) are read too.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::store::{ReviewItemRow, ReviewLabelRow};

/// Where the labels files live, under the project.
pub const DIR: &str = crate::config::REVIEWS_DIR;

/// One label, as a line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelLine {
    pub batch: String,
    pub item: i64,
    pub run_id: String,
    pub case_id: String,
    #[serde(default)]
    pub repeat: i64,
    pub scorer: String,
    pub judge: String,
    pub judge_version: String,
    pub judge_model: String,
    /// What the judge said: `pass` or `fail`.
    pub judge_verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_reason: Option<String>,
    /// What the human said: `pass`, `fail` or `skip`.
    pub human: String,
    pub reviewer: String,
    pub labelled_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the item was sampled.
    #[serde(default)]
    pub sampled_at: String,
}

impl LabelLine {
    pub fn new(item: &ReviewItemRow, label: &ReviewLabelRow) -> LabelLine {
        LabelLine {
            batch: item.batch_id.clone(),
            item: item.item,
            run_id: item.run_id.clone(),
            case_id: item.case_id.clone(),
            repeat: item.repeat_index,
            scorer: item.scorer.clone(),
            judge: item.judge.clone(),
            judge_version: item.judge_version.clone(),
            judge_model: item.judge_model.clone(),
            judge_verdict: item.judge_outcome.clone(),
            judge_reason: item.judge_reason.clone(),
            human: label.verdict.clone(),
            reviewer: label.reviewer.clone(),
            labelled_at: label.labelled_at.clone(),
            note: label.note.clone(),
            sampled_at: item.created_at.clone(),
        }
    }

    /// The stored rows this line stands for.
    pub fn rows(&self) -> (ReviewItemRow, ReviewLabelRow) {
        (
            ReviewItemRow {
                batch_id: self.batch.clone(),
                item: self.item,
                run_id: self.run_id.clone(),
                case_id: self.case_id.clone(),
                repeat_index: self.repeat,
                scorer: self.scorer.clone(),
                judge: self.judge.clone(),
                judge_version: self.judge_version.clone(),
                judge_model: self.judge_model.clone(),
                judge_outcome: self.judge_verdict.clone(),
                judge_reason: self.judge_reason.clone(),
                created_at: self.sampled_at.clone(),
                kind: "verdict".into(),
            },
            ReviewLabelRow {
                batch_id: self.batch.clone(),
                item: self.item,
                reviewer: self.reviewer.clone(),
                verdict: self.human.clone(),
                note: self.note.clone(),
                labelled_at: self.labelled_at.clone(),
            },
        )
    }

    fn check(&self) -> Result<(), String> {
        if !matches!(self.judge_verdict.as_str(), "pass" | "fail") {
            return Err(format!(
                "`judge_verdict` is pass or fail, got `{}`",
                self.judge_verdict
            ));
        }
        if !matches!(self.human.as_str(), "pass" | "fail" | "skip") {
            return Err(format!(
                "`human` is pass, fail or skip, got `{}`",
                self.human
            ));
        }
        if self.judge.is_empty() || self.judge_version.is_empty() || self.batch.is_empty() {
            return Err("`judge`, `judge_version` and `batch` must not be empty".into());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read or write `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a review label: {message}")]
    Bad {
        path: String,
        line: usize,
        message: String,
    },
}

/// The labels file of a judge.
pub fn path(root: &Path, judge: &str) -> PathBuf {
    root.join(DIR).join(format!("{judge}.jsonl"))
}

/// Reads one labels file; every bad line is an error with its line.
pub fn read(path: &Path, shown: &str) -> Result<Vec<LabelLine>, Vec<FileError>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(vec![FileError::Io {
                path: shown.to_string(),
                source,
            }]);
        }
    };
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| FileError::Bad {
            path: shown.to_string(),
            line: i + 1,
            message,
        };
        match serde_json::from_str::<LabelLine>(line) {
            Ok(l) => match l.check() {
                Ok(()) => lines.push(l),
                Err(m) => problems.push(bad(m)),
            },
            // serde_json's " at line 1 column C" would contradict the file's line in front.
            Err(e) => {
                let message = e.to_string();
                let message = message
                    .rsplit_once(" at line ")
                    .map_or(message.clone(), |(m, _)| m.to_string());
                problems.push(bad(message))
            }
        }
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        Err(problems)
    }
}

/// The labels files of a project, by file name.
pub fn files(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join(DIR)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    out.sort();
    out
}

/// Every label of the project's files, then the database's labels that no file has; oldest
/// label first. The files win over the database for an item both hold.
pub fn reviewed(
    root: &Path,
    stored: Vec<(ReviewItemRow, ReviewLabelRow)>,
) -> Result<Reviewed, Vec<FileError>> {
    let mut out = Reviewed::default();
    let mut problems = Vec::new();
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    for file in files(root) {
        let shown = crate::diag::display_path(root, &file).display().to_string();
        match read(&file, &shown) {
            Ok(lines) => {
                for l in lines {
                    if seen.insert((l.batch.clone(), l.item)) {
                        out.from_files += 1;
                        out.pairs.push(l.rows());
                    }
                }
            }
            Err(mut e) => problems.append(&mut e),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    for (item, label) in stored {
        if item.kind == "verdict" && seen.insert((item.batch_id.clone(), item.item)) {
            out.only_in_database += 1;
            out.pairs.push((item, label));
        } else if item.kind != "verdict" {
            out.pairs.push((item, label));
        }
    }
    out.pairs.sort_by(|a, b| {
        (&a.1.labelled_at, &a.1.batch_id, a.1.item).cmp(&(
            &b.1.labelled_at,
            &b.1.batch_id,
            b.1.item,
        ))
    });
    Ok(out)
}

/// The labels `calibrate` and the gate use, and where they came from.
#[derive(Debug, Default)]
pub struct Reviewed {
    pub pairs: Vec<(ReviewItemRow, ReviewLabelRow)>,
    pub from_files: usize,
    /// Labels of judge verdicts that only the database holds (made before the files).
    pub only_in_database: usize,
}

/// Writes a label into its judge's file, replacing the line of the same item (a reviewer who
/// changed their mind) or appending, under the golden files' cross-process lock. Blocking.
pub fn save(root: &Path, line: &LabelLine) -> Result<PathBuf, FileError> {
    let path = path(root, &line.judge);
    let shown = crate::diag::display_path(root, &path).display().to_string();
    let io = |source| FileError::Io {
        path: shown.clone(),
        source,
    };
    let _lock = crate::golden::lock(&path).map_err(io)?;
    let mut lines = read(&path, &shown).map_err(|mut e| e.remove(0))?;
    match lines
        .iter_mut()
        .find(|l| l.batch == line.batch && l.item == line.item)
    {
        Some(old) => *old = line.clone(),
        None => lines.push(line.clone()),
    }
    let mut text = String::new();
    for l in &lines {
        text.push_str(&serde_json::to_string(l).unwrap_or_default());
        text.push('\n');
    }
    crate::files::replace_file(&path, text.as_bytes()).map_err(io)?;
    Ok(path)
}

/// Writes the database's labels that no file holds into the files (`review export`).
/// Returns how many were written, by file.
pub fn export(
    root: &Path,
    stored: &[(ReviewItemRow, ReviewLabelRow)],
) -> Result<BTreeMap<PathBuf, usize>, Vec<FileError>> {
    let mut have: HashSet<(String, i64)> = HashSet::new();
    for file in files(root) {
        let shown = crate::diag::display_path(root, &file).display().to_string();
        for l in read(&file, &shown)? {
            have.insert((l.batch, l.item));
        }
    }
    let mut written: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (item, label) in stored {
        if item.kind != "verdict" || have.contains(&(item.batch_id.clone(), item.item)) {
            continue;
        }
        let path = save(root, &LabelLine::new(item, label)).map_err(|e| vec![e])?;
        *written.entry(path).or_default() += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(batch: &str, n: i64, judge_outcome: &str) -> ReviewItemRow {
        ReviewItemRow {
            batch_id: batch.into(),
            item: n,
            run_id: "r1".into(),
            case_id: format!("c{n}"),
            repeat_index: 0,
            scorer: "faithful".into(),
            judge: "faithful".into(),
            judge_version: "v1".into(),
            judge_model: "m".into(),
            judge_outcome: judge_outcome.into(),
            judge_reason: Some("ok".into()),
            created_at: "2026-11-20T09:00:00.000Z".into(),
            kind: "verdict".into(),
        }
    }

    fn label(batch: &str, n: i64, verdict: &str, at: &str) -> ReviewLabelRow {
        ReviewLabelRow {
            batch_id: batch.into(),
            item: n,
            reviewer: "ana".into(),
            verdict: verdict.into(),
            note: None,
            labelled_at: at.into(),
        }
    }

    #[test]
    fn a_label_is_written_replaced_and_read_back_as_rows() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (i1, l1) = (
            item("b1", 0, "pass"),
            label("b1", 0, "fail", "2026-11-20T10:00:00.000Z"),
        );
        save(root, &LabelLine::new(&i1, &l1)).unwrap();
        let (i2, l2) = (
            item("b1", 1, "fail"),
            label("b1", 1, "fail", "2026-11-20T10:01:00.000Z"),
        );
        save(root, &LabelLine::new(&i2, &l2)).unwrap();
        // The reviewer changes their mind about the first item: its line is replaced.
        let l1b = label("b1", 0, "pass", "2026-11-20T10:02:00.000Z");
        save(root, &LabelLine::new(&i1, &l1b)).unwrap();
        let text = std::fs::read_to_string(path(root, "faithful")).unwrap();
        assert_eq!(text.lines().count(), 2);
        let got = reviewed(root, Vec::new()).unwrap();
        assert_eq!(got.pairs, vec![(i2.clone(), l2.clone()), (i1.clone(), l1b)]);
        assert_eq!(got.from_files, 2);

        // The database's labels: the file wins for an item both hold; others are added.
        let (i3, l3) = (
            item("b0", 0, "pass"),
            label("b0", 0, "pass", "2026-11-19T10:00:00.000Z"),
        );
        let got = reviewed(root, vec![(i1, l1), (i3.clone(), l3.clone())]).unwrap();
        assert_eq!(got.pairs.len(), 3);
        assert_eq!(got.pairs[0], (i3.clone(), l3.clone()));
        assert_eq!(got.only_in_database, 1);
        let written = export(root, &[(i3, l3)]).unwrap();
        assert_eq!(written.values().sum::<usize>(), 1);
        assert_eq!(reviewed(root, Vec::new()).unwrap().pairs.len(), 3);
    }

    #[test]
    fn a_bad_line_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "faithful");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let good = serde_json::to_string(&LabelLine::new(
            &item("b1", 0, "pass"),
            &label("b1", 0, "pass", "2026-11-20T10:00:00.000Z"),
        ))
        .unwrap();
        std::fs::write(
            &p,
            format!(
                "{good}\n{{\"batch\": 1}}\n{}\n",
                good.replace("\"human\":\"pass\"", "\"human\":\"maybe\"")
            ),
        )
        .unwrap();
        let errors = reviewed(dir.path(), Vec::new()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("golden/reviews/faithful.jsonl:2: not a review label"),
            "{shown:?}"
        );
        assert!(
            shown[1].contains(":3: not a review label: `human` is pass, fail or skip, got `maybe`"),
            "{shown:?}"
        );
    }
}
