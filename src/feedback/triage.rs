//! Triage: where do production failures cluster? Negative signals grouped by prompt version,
//! model and signal; clusters by signal kind, by tag and by text similarity of the inputs
//! (TF-IDF cosine); the share of bad answers in each cluster and what tends to come with them
//! (a low retrieval score, a truncation…); and which failures are already golden cases.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Event, Interaction};
use crate::store::{InteractionRow, SignalRow};

/// A best retrieved chunk scored below this counts as a low retrieval score.
pub const LOW_RETRIEVAL: f64 = 0.5;
/// At most this many example event ids per cluster.
const EXAMPLES: usize = 5;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Cosine similarity (0..1) above which an input joins a text cluster.
    pub similarity: f64,
    /// Clusters shown per section.
    pub top: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            similarity: 0.3,
            top: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriageReport {
    pub interactions: u64,
    /// Interactions with at least one negative signal.
    pub bad: u64,
    pub negative_signals: u64,
    /// Signals whose interaction is not stored (or outside the filters).
    pub orphan_signals: u64,
    /// Bad interactions whose input is already a golden case.
    pub bad_in_golden: u64,
    /// Negative signals by prompt version, model and signal name.
    pub groups: Vec<Group>,
    /// What comes with bad answers, against the other answers.
    pub conditions: Vec<Condition>,
    pub by_kind: Vec<Cluster>,
    pub by_tag: Vec<Cluster>,
    /// Clusters of similar inputs, most bad answers first; `id` is what `promote --cluster`
    /// takes.
    pub by_text: Vec<Cluster>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub prompt: String,
    pub prompt_version: String,
    pub model: String,
    pub signal: String,
    pub signals: u64,
    pub interactions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub name: String,
    /// Share of bad interactions with it.
    pub bad_share: f64,
    /// Share of the other interactions with it.
    pub other_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    pub id: usize,
    /// A signal kind, a tag, or the top terms of the inputs.
    pub label: String,
    pub interactions: u64,
    pub bad: u64,
    pub bad_share: f64,
    /// The most frequent condition among the cluster's bad answers, with its share.
    pub top_condition: Option<(String, f64)>,
    pub in_golden: u64,
    /// Bad interactions first.
    pub examples: Vec<String>,
    /// Every bad interaction of the cluster not yet in golden (for `promote --cluster`).
    #[serde(skip)]
    pub bad_ids: Vec<String>,
}

/// One interaction with what is known about it.
struct Item {
    event_id: String,
    interaction: Interaction,
    negative: Vec<(String, String)>,
    conditions: BTreeSet<String>,
    in_golden: bool,
}

impl Item {
    fn bad(&self) -> bool {
        !self.negative.is_empty()
    }
}

/// Where the negative signals of stored interactions cluster (see the module's doc).
pub fn triage(
    interactions: &[InteractionRow],
    signals: &[SignalRow],
    golden_hashes: &HashSet<String>,
    opts: Options,
) -> TriageReport {
    let mut items = read_items(interactions, golden_hashes);
    let (orphan, negative_signals) = add_signals(&mut items, signals);
    let groups = signal_groups(&items);
    let bad: Vec<&Item> = items.iter().filter(|i| i.bad()).collect();
    let conditions = conditions(&items, &bad);
    // Clusters by signal kind (of the bad answers), by tag, by text.
    let by_text = ranked(&items, text_clusters(&items, opts.similarity), usize::MAX);
    TriageReport {
        interactions: items.len() as u64,
        bad: bad.len() as u64,
        negative_signals,
        orphan_signals: orphan,
        bad_in_golden: bad.iter().filter(|i| i.in_golden).count() as u64,
        groups,
        conditions,
        by_kind: ranked(&items, by_kind(&items), opts.top),
        by_tag: ranked(&items, by_tag(&items), opts.top),
        by_text,
    }
}

/// The stored interactions that read as such, with their retrieval conditions and whether
/// their input is a golden case already.
fn read_items(interactions: &[InteractionRow], golden_hashes: &HashSet<String>) -> Vec<Item> {
    interactions
        .iter()
        .filter_map(|r| match serde_json::from_str::<Event>(&r.body_json) {
            Ok(Event::Interaction(i)) => Some(Item {
                event_id: r.event_id.clone(),
                conditions: retrieval_conditions(&i),
                interaction: i,
                negative: Vec::new(),
                in_golden: golden_hashes.contains(&r.input_hash),
            }),
            _ => None,
        })
        .collect()
}

/// Adds the signals to their interactions: negative ones, and operational ones as conditions.
/// Returns the signals without an interaction and the negative signals.
fn add_signals(items: &mut [Item], signals: &[SignalRow]) -> (u64, u64) {
    let index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.event_id.clone(), i))
        .collect();
    let (mut orphan, mut negative_signals) = (0u64, 0u64);
    for s in signals {
        let Some(&i) = index.get(&s.interaction_id) else {
            orphan += 1;
            continue;
        };
        // Operational signals that are not verdicts on the answer are conditions that may
        // explain bad answers (a low retrieval score).
        if s.kind == "operational" && s.polarity == 0 {
            items[i].conditions.insert(s.name.replace('_', " "));
        }
        if s.polarity < 0 {
            negative_signals += 1;
            items[i].negative.push((s.kind.clone(), s.name.clone()));
        }
    }
    (orphan, negative_signals)
}

/// Negative signals by prompt version, model and signal, most signals first.
fn signal_groups(items: &[Item]) -> Vec<Group> {
    // (prompt, version, model, signal) → (signals, interactions)
    type Key = (String, String, String, String);
    let mut groups: BTreeMap<Key, (u64, BTreeSet<usize>)> = BTreeMap::new();
    for (n, it) in items.iter().enumerate() {
        for (_, name) in &it.negative {
            let key = (
                it.interaction.prompt.clone(),
                it.interaction.prompt_version.clone().unwrap_or_default(),
                it.interaction.model.clone().unwrap_or_default(),
                name.clone(),
            );
            let g = groups.entry(key).or_default();
            g.0 += 1;
            g.1.insert(n);
        }
    }
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(
            |((prompt, prompt_version, model, signal), (n, set))| Group {
                prompt,
                prompt_version,
                model,
                signal,
                signals: n,
                interactions: set.len() as u64,
            },
        )
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.signals));
    groups
}

/// Each condition's share among the bad answers against among the others, most common among
/// the bad first.
fn conditions(items: &[Item], bad: &[&Item]) -> Vec<Condition> {
    let good: Vec<&Item> = items.iter().filter(|i| !i.bad()).collect();
    let names: BTreeSet<&String> = items.iter().flat_map(|i| &i.conditions).collect();
    let share = |set: &[&Item], c: &str| {
        if set.is_empty() {
            0.0
        } else {
            set.iter().filter(|i| i.conditions.contains(c)).count() as f64 / set.len() as f64
        }
    };
    let mut conditions: Vec<Condition> = names
        .into_iter()
        .map(|c| Condition {
            name: c.clone(),
            bad_share: share(bad, c),
            other_share: share(&good, c),
        })
        .collect();
    conditions.sort_by(|a, b| b.bad_share.total_cmp(&a.bad_share));
    conditions
}

/// The interactions with each kind of negative signal.
fn by_kind(items: &[Item]) -> Vec<(String, Vec<usize>)> {
    let mut kinds: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (n, it) in items.iter().enumerate() {
        let set: BTreeSet<&String> = it.negative.iter().map(|(k, _)| k).collect();
        for k in set {
            kinds.entry(k.clone()).or_default().push(n);
        }
    }
    kinds.into_iter().collect()
}

/// The interactions with each tag.
fn by_tag(items: &[Item]) -> Vec<(String, Vec<usize>)> {
    let mut tags: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (n, it) in items.iter().enumerate() {
        for t in &it.interaction.tags {
            tags.entry(t.clone()).or_default().push(n);
        }
    }
    tags.into_iter().collect()
}

/// Clusters of similar inputs (TF-IDF cosine above `similarity`), labeled by their top terms.
fn text_clusters(items: &[Item], similarity: f64) -> Vec<(String, Vec<usize>)> {
    let texts: Vec<String> = items.iter().map(|i| input_text(&i.interaction)).collect();
    let (vectors, words) = tfidf(&texts);
    cluster_vectors(&vectors, similarity)
        .into_iter()
        .map(|members| {
            (
                top_terms(&vectors, &words, &members, 3).join(" · "),
                members,
            )
        })
        .collect()
}

/// The groups with bad answers as clusters, most bad answers first, numbered from 1, at most
/// `top` of them.
fn ranked(items: &[Item], groups: Vec<(String, Vec<usize>)>, top: usize) -> Vec<Cluster> {
    let mut out: Vec<Cluster> = groups
        .into_iter()
        .map(|(label, members)| cluster(items, label, &members))
        .filter(|c| c.bad > 0)
        .collect();
    out.sort_by(|a, b| {
        b.bad
            .cmp(&a.bad)
            .then(b.bad_share.total_cmp(&a.bad_share))
            .then(a.label.cmp(&b.label))
    });
    for (i, c) in out.iter_mut().enumerate() {
        c.id = i + 1;
    }
    out.truncate(top);
    out
}

fn cluster(items: &[Item], label: String, members: &[usize]) -> Cluster {
    let bad: Vec<&Item> = members
        .iter()
        .map(|&i| &items[i])
        .filter(|i| i.bad())
        .collect();
    let mut counts: BTreeMap<&String, u64> = BTreeMap::new();
    for it in &bad {
        for c in &it.conditions {
            *counts.entry(c).or_default() += 1;
        }
    }
    let top_condition = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(c, n)| (c.clone(), n as f64 / bad.len().max(1) as f64));
    let mut examples: Vec<String> = bad.iter().map(|i| i.event_id.clone()).collect();
    examples.extend(
        members
            .iter()
            .map(|&i| &items[i])
            .filter(|i| !i.bad())
            .map(|i| i.event_id.clone()),
    );
    examples.truncate(EXAMPLES);
    Cluster {
        id: 0,
        label,
        interactions: members.len() as u64,
        bad: bad.len() as u64,
        bad_share: bad.len() as f64 / members.len().max(1) as f64,
        top_condition,
        in_golden: bad.iter().filter(|i| i.in_golden).count() as u64,
        examples,
        bad_ids: bad
            .iter()
            .filter(|i| !i.in_golden)
            .map(|i| i.event_id.clone())
            .collect(),
    }
}

/// Conditions read from the interaction itself: weak or missing retrieval.
fn retrieval_conditions(i: &Interaction) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let best = i
        .context
        .iter()
        .filter_map(|c| c.score)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    if best.is_some_and(|b| b < LOW_RETRIEVAL) {
        out.insert("low retrieval score".to_string());
    }
    out
}

/// The text of an interaction's inputs: its string variables, in key order.
fn input_text(i: &Interaction) -> String {
    let mut parts = Vec::new();
    for v in i.vars.values() {
        match v {
            Value::String(s) => parts.push(s.clone()),
            other => parts.push(other.to_string()),
        }
    }
    parts.join("\n")
}

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "are", "was", "with", "that", "this", "have", "has", "but",
    "not", "our", "can", "will", "from", "they", "what", "when", "there", "their", "would",
    "could", "please", "customer", "agent", "been", "just", "all", "any", "about", "into", "its",
    "it's", "i'm", "don't", "can't", "also", "some", "out", "get", "got", "did", "does", "how",
];

fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| t.len() >= 3 && !t.chars().all(|c| c.is_ascii_digit()))
        .filter(|t| !STOPWORDS.contains(t))
        .map(str::to_string)
        .collect()
}

/// A sparse vector, in index order (so that sums are computed in one order: deterministic).
type Sparse = BTreeMap<usize, f64>;

/// TF-IDF vectors (L2-normalized) of the texts, and the vocabulary.
fn tfidf(texts: &[String]) -> (Vec<Sparse>, Vec<String>) {
    let mut vocab: HashMap<String, usize> = HashMap::new();
    let mut words: Vec<String> = Vec::new();
    let docs: Vec<Vec<usize>> = texts
        .iter()
        .map(|t| {
            tokens(t)
                .into_iter()
                .map(|w| {
                    *vocab.entry(w.clone()).or_insert_with(|| {
                        words.push(w);
                        words.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    let mut df = vec![0usize; words.len()];
    for d in &docs {
        let set: HashSet<&usize> = d.iter().collect();
        for &w in set {
            df[w] += 1;
        }
    }
    let n = texts.len() as f64;
    let vectors = docs
        .iter()
        .map(|d| {
            let mut v: Sparse = BTreeMap::new();
            for &w in d {
                *v.entry(w).or_default() += 1.0;
            }
            for (w, x) in v.iter_mut() {
                *x *= ((1.0 + n) / (1.0 + df[*w] as f64)).ln() + 1.0;
            }
            normalize(&mut v);
            v
        })
        .collect();
    (vectors, words)
}

fn normalize(v: &mut Sparse) {
    let norm = v.values().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v.values_mut() {
            *x /= norm;
        }
    }
}

fn dot(a: &Sparse, b: &Sparse) -> f64 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .filter_map(|(k, x)| large.get(k).map(|y| x * y))
        .sum()
}

/// Leader clustering on TF-IDF cosine: each text joins the cluster whose centroid it is most
/// similar to, if at least `threshold`, else starts one. Deterministic in input order.
fn cluster_vectors(vectors: &[Sparse], threshold: f64) -> Vec<Vec<usize>> {
    // Each cluster keeps the sum of its vectors and the sum's squared norm; the cosine with
    // the centroid is dot(v, sum) / |sum|.
    let mut sums: Vec<Sparse> = Vec::new();
    let mut norms2: Vec<f64> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let mut best: Option<(usize, f64, f64)> = None;
        for (c, sum) in sums.iter().enumerate() {
            let d = dot(v, sum);
            let sim = if norms2[c] > 0.0 {
                d / norms2[c].sqrt()
            } else {
                0.0
            };
            if best.is_none_or(|b| sim > b.1) {
                best = Some((c, sim, d));
            }
        }
        match best {
            Some((c, sim, d)) if sim >= threshold => {
                let v2: f64 = v.values().map(|x| x * x).sum();
                for (k, x) in v {
                    *sums[c].entry(*k).or_default() += x;
                }
                norms2[c] += 2.0 * d + v2;
                members[c].push(i);
            }
            _ => {
                norms2.push(v.values().map(|x| x * x).sum());
                sums.push(v.clone());
                members.push(vec![i]);
            }
        }
    }
    members
}

/// The terms with the highest summed TF-IDF weight over a cluster's texts.
fn top_terms(vectors: &[Sparse], words: &[String], members: &[usize], n: usize) -> Vec<String> {
    let mut weight: BTreeMap<usize, f64> = BTreeMap::new();
    for &m in members {
        for (k, x) in &vectors[m] {
            *weight.entry(*k).or_default() += x;
        }
    }
    let mut terms: Vec<(usize, f64)> = weight.into_iter().collect();
    terms.sort_by(|a, b| b.1.total_cmp(&a.1).then(words[a.0].cmp(&words[b.0])));
    terms
        .into_iter()
        .take(n)
        .map(|(k, _)| words[k].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_texts_cluster_together() {
        let texts: Vec<String> = [
            "my csv export breaks accents",
            "the invoice was charged twice, refund please",
            "csv export accents broken in excel",
            "double charge on my invoice, need a refund",
            "export to csv mangles accents",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (vectors, words) = tfidf(&texts);
        let clusters = cluster_vectors(&vectors, 0.2);
        assert_eq!(clusters, vec![vec![0, 2, 4], vec![1, 3]]);
        let terms = top_terms(&vectors, &words, &clusters[0], 2);
        assert!(terms.contains(&"csv".to_string()), "{terms:?}");
    }
}
