//! Triage: where do production failures cluster? Negative signals grouped by prompt version,
//! model and signal; clusters by signal kind, by tag and by text similarity of the inputs
//! (TF-IDF cosine); the share of bad answers in each cluster and what tends to come with them
//! (a low retrieval score, a truncation…); and which failures are already golden cases.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Event, Interaction};
use crate::intern::Interner;
use crate::store::{InteractionRow, SignalRow};
use std::hash::BuildHasher;

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

/// One interaction with what is known about it, in a few bytes: repeated values (its prompt
/// version and model, tags, conditions, negative signals) are numbers into the triage's
/// tables, and its input text is its terms' numbers and counts.
struct Item {
    event_id: Box<str>,
    /// (prompt, prompt version, model) in `Triage::groups`.
    group: u32,
    /// Its tags in `Triage::tags`.
    tags: u32,
    /// Its conditions (numbers into `Triage::condition_names`, in name order) in
    /// `Triage::condition_sets`.
    conditions: u32,
    /// Its negative signals' (kind, name) numbers into `Triage::names`, in the order they
    /// came, in `Triage::negatives`.
    negative: u32,
    in_golden: bool,
    /// Each term of the input text with its count, by term number.
    terms: Box<[(u32, u32)]>,
}

/// The empty set or list: number 0 of each table of sets.
const NONE: u32 = 0;

/// Triage built one stored event at a time (the interactions, then the signals), so that a
/// million events take what their compact items take, not their bodies.
pub struct Triage {
    golden_hashes: HashSet<String>,
    items: Vec<Item>,
    /// An interaction's index by the 64-bit hash of its event id (`colliding` holds those
    /// whose hash an earlier id has).
    by_hash: HashMap<u64, u32>,
    colliding: HashMap<Box<str>, u32>,
    hasher: std::hash::RandomState,
    groups: Interner<(String, String, String)>,
    tags: Interner<Vec<String>>,
    condition_names: Interner<String>,
    condition_sets: Interner<Vec<u32>>,
    names: Interner<String>,
    negatives: Interner<Vec<(u32, u32)>>,
    /// The vocabulary, numbered in order of first appearance, and each term's document
    /// frequency.
    vocab: HashMap<String, u32>,
    words: Vec<String>,
    df: Vec<u32>,
    orphan_signals: u64,
    negative_signals: u64,
}

impl Triage {
    /// An empty triage; an interaction whose input hash is in `golden_hashes` is a golden
    /// case already.
    pub fn new(golden_hashes: HashSet<String>) -> Triage {
        let mut t = Triage {
            golden_hashes,
            items: Vec::new(),
            by_hash: HashMap::new(),
            colliding: HashMap::new(),
            hasher: std::hash::RandomState::new(),
            groups: Interner::default(),
            tags: Interner::default(),
            condition_names: Interner::default(),
            condition_sets: Interner::default(),
            names: Interner::default(),
            negatives: Interner::default(),
            vocab: HashMap::new(),
            words: Vec::new(),
            df: Vec::new(),
            orphan_signals: 0,
            negative_signals: 0,
        };
        t.tags.id(Vec::new());
        t.condition_sets.id(Vec::new());
        t.negatives.id(Vec::new());
        t
    }

    /// Adds a stored interaction (a row whose body is not an interaction is left out).
    pub fn add_interaction(&mut self, row: &InteractionRow) {
        let Ok(Event::Interaction(i)) = serde_json::from_str::<Event>(&row.body_json) else {
            return;
        };
        let conditions: Vec<u32> = retrieval_conditions(&i)
            .into_iter()
            .map(|c| self.condition_names.id(c))
            .collect();
        let conditions = self.condition_set(conditions);
        let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
        for w in tokens(&input_text(&i)) {
            let next = self.words.len() as u32;
            let id = *self.vocab.entry(w).or_insert_with_key(|w| {
                self.words.push(w.clone());
                self.df.push(0);
                next
            });
            *counts.entry(id).or_default() += 1;
        }
        for w in counts.keys() {
            self.df[*w as usize] += 1;
        }
        let index = self.items.len() as u32;
        let h = self.hasher.hash_one(&row.event_id);
        if let Some(&first) = self.by_hash.get(&h) {
            if *self.items[first as usize].event_id != *row.event_id {
                self.colliding
                    .insert(row.event_id.clone().into_boxed_str(), index);
            }
        } else {
            self.by_hash.insert(h, index);
        }
        let item = Item {
            event_id: row.event_id.clone().into_boxed_str(),
            group: self.groups.id((
                i.prompt,
                i.prompt_version.unwrap_or_default(),
                i.model.unwrap_or_default(),
            )),
            tags: self.tags.id(i.tags),
            conditions,
            negative: NONE,
            in_golden: self.golden_hashes.contains(&row.input_hash),
            terms: counts.into_iter().collect(),
        };
        self.items.push(item);
    }

    /// The number of a set of conditions (sorted by name, without repeats).
    fn condition_set(&mut self, mut set: Vec<u32>) -> u32 {
        set.sort_by(|a, b| {
            self.condition_names
                .get(*a)
                .cmp(self.condition_names.get(*b))
        });
        set.dedup();
        self.condition_sets.id(set)
    }

    fn item_of(&self, event_id: &str) -> Option<usize> {
        let i = *self.by_hash.get(&self.hasher.hash_one(event_id))?;
        if *self.items[i as usize].event_id == *event_id {
            Some(i as usize)
        } else {
            self.colliding.get(event_id).map(|&i| i as usize)
        }
    }

    /// Adds a stored signal to its interaction (added before): a negative one, or an
    /// operational one as a condition. A signal without its interaction is counted apart.
    pub fn add_signal(&mut self, s: &SignalRow) {
        let Some(i) = self.item_of(&s.interaction_id) else {
            self.orphan_signals += 1;
            return;
        };
        // Operational signals that are not verdicts on the answer are conditions that may
        // explain bad answers (a low retrieval score).
        if s.kind == "operational" && s.polarity == 0 {
            let c = self.condition_names.id(s.name.replace('_', " "));
            let mut set = self.condition_sets.get(self.items[i].conditions).clone();
            set.push(c);
            self.items[i].conditions = self.condition_set(set);
        }
        if s.polarity < 0 {
            self.negative_signals += 1;
            let pair = (self.names.id(s.kind.clone()), self.names.id(s.name.clone()));
            let mut list = self.negatives.get(self.items[i].negative).clone();
            list.push(pair);
            self.items[i].negative = self.negatives.id(list);
        }
    }

    /// No interaction was added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn bad(&self, i: &Item) -> bool {
        i.negative != NONE
    }

    fn conditions_of(&self, i: &Item) -> &[u32] {
        self.condition_sets.get(i.conditions)
    }

    /// The report (see the module's doc).
    pub fn report(&self, opts: Options) -> TriageReport {
        let bad: Vec<&Item> = self.items.iter().filter(|i| self.bad(i)).collect();
        let by_text = self.ranked(self.text_clusters(opts.similarity), usize::MAX);
        TriageReport {
            interactions: self.items.len() as u64,
            bad: bad.len() as u64,
            negative_signals: self.negative_signals,
            orphan_signals: self.orphan_signals,
            bad_in_golden: bad.iter().filter(|i| i.in_golden).count() as u64,
            groups: self.signal_groups(),
            conditions: self.conditions(bad.len()),
            by_kind: self.ranked(self.by_kind(), opts.top),
            by_tag: self.ranked(self.by_tag(), opts.top),
            by_text,
        }
    }

    /// Negative signals by prompt version, model and signal, most signals first.
    fn signal_groups(&self) -> Vec<Group> {
        // (group, signal name) → (signals, interactions)
        let mut counts: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
        for it in &self.items {
            let negative = self.negatives.get(it.negative);
            for (n, &(_, name)) in negative.iter().enumerate() {
                let g = counts.entry((it.group, name)).or_default();
                g.0 += 1;
                // An interaction counts once per signal name.
                if !negative[..n].iter().any(|&(_, m)| m == name) {
                    g.1 += 1;
                }
            }
        }
        let mut groups: Vec<Group> = counts
            .into_iter()
            .map(|((group, name), (signals, interactions))| {
                let (prompt, prompt_version, model) = self.groups.get(group).clone();
                Group {
                    prompt,
                    prompt_version,
                    model,
                    signal: self.names.get(name).clone(),
                    signals,
                    interactions,
                }
            })
            .collect();
        // Ordered by key, then most signals first (a stable sort keeps the key order).
        groups.sort_by(|a, b| {
            (&a.prompt, &a.prompt_version, &a.model, &a.signal).cmp(&(
                &b.prompt,
                &b.prompt_version,
                &b.model,
                &b.signal,
            ))
        });
        groups.sort_by_key(|g| std::cmp::Reverse(g.signals));
        groups
    }

    /// Each condition's share among the bad answers against among the others, most common
    /// among the bad first.
    fn conditions(&self, bad: usize) -> Vec<Condition> {
        let good = self.items.len() - bad;
        let mut counts = vec![(0usize, 0usize); self.condition_names.len()];
        for it in &self.items {
            for &c in self.conditions_of(it) {
                if self.bad(it) {
                    counts[c as usize].0 += 1;
                } else {
                    counts[c as usize].1 += 1;
                }
            }
        }
        let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        let mut conditions: Vec<Condition> = counts
            .iter()
            .enumerate()
            .map(|(c, &(b, g))| Condition {
                name: self.condition_names.get(c as u32).clone(),
                bad_share: share(b, bad),
                other_share: share(g, good),
            })
            .collect();
        conditions.sort_by(|a, b| a.name.cmp(&b.name));
        conditions.sort_by(|a, b| b.bad_share.total_cmp(&a.bad_share));
        conditions
    }

    /// The interactions with each kind of negative signal.
    fn by_kind(&self) -> Vec<(String, Vec<u32>)> {
        let mut kinds: BTreeMap<&String, Vec<u32>> = BTreeMap::new();
        for (n, it) in self.items.iter().enumerate() {
            let set: BTreeSet<&String> = self
                .negatives
                .get(it.negative)
                .iter()
                .map(|&(k, _)| self.names.get(k))
                .collect();
            for k in set {
                kinds.entry(k).or_default().push(n as u32);
            }
        }
        kinds.into_iter().map(|(k, v)| (k.clone(), v)).collect()
    }

    /// The interactions with each tag.
    fn by_tag(&self) -> Vec<(String, Vec<u32>)> {
        let mut tags: BTreeMap<&String, Vec<u32>> = BTreeMap::new();
        for (n, it) in self.items.iter().enumerate() {
            for t in self.tags.get(it.tags) {
                tags.entry(t).or_default().push(n as u32);
            }
        }
        tags.into_iter().map(|(k, v)| (k.clone(), v)).collect()
    }

    /// An item's TF-IDF vector (L2-normalized), by term number.
    fn vector(&self, it: &Item, out: &mut Vec<(u32, f64)>) {
        let n = self.items.len() as f64;
        out.clear();
        out.extend(it.terms.iter().map(|&(w, count)| {
            let idf = ((1.0 + n) / (1.0 + f64::from(self.df[w as usize]))).ln() + 1.0;
            (w, f64::from(count) * idf)
        }));
        normalize(out);
    }

    /// Clusters of similar inputs (TF-IDF cosine at least `similarity`), labeled by their top
    /// terms.
    fn text_clusters(&self, similarity: f64) -> Vec<(String, Vec<u32>)> {
        let mut clusters = Leader::new(self.words.len(), similarity);
        let mut v = Vec::new();
        for it in &self.items {
            self.vector(it, &mut v);
            clusters.add(&v);
        }
        clusters
            .members
            .iter()
            .enumerate()
            .map(|(c, members)| {
                (
                    clusters.top_terms(c, &self.words, 3).join(" · "),
                    members.clone(),
                )
            })
            .collect()
    }

    /// The groups with bad answers as clusters, most bad answers first, numbered from 1, at
    /// most `top` of them.
    fn ranked(&self, groups: Vec<(String, Vec<u32>)>, top: usize) -> Vec<Cluster> {
        let mut out: Vec<Cluster> = groups
            .into_iter()
            .filter(|(_, members)| members.iter().any(|&m| self.bad(&self.items[m as usize])))
            .map(|(label, members)| self.cluster(label, &members))
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

    fn cluster(&self, label: String, members: &[u32]) -> Cluster {
        let members: Vec<&Item> = members.iter().map(|&m| &self.items[m as usize]).collect();
        let bad: Vec<&Item> = members.iter().copied().filter(|i| self.bad(i)).collect();
        let mut counts: BTreeMap<&String, u64> = BTreeMap::new();
        for it in &bad {
            for &c in self.conditions_of(it) {
                *counts.entry(self.condition_names.get(c)).or_default() += 1;
            }
        }
        let top_condition = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(c, n)| (c.clone(), n as f64 / bad.len().max(1) as f64));
        let mut examples: Vec<String> = bad
            .iter()
            .chain(members.iter().filter(|i| !self.bad(i)))
            .take(EXAMPLES)
            .map(|i| i.event_id.to_string())
            .collect();
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
                .map(|i| i.event_id.to_string())
                .collect(),
        }
    }
}

/// Where the negative signals of stored interactions cluster (see the module's doc): the
/// interactions and signals given whole.
pub fn triage(
    interactions: &[InteractionRow],
    signals: &[SignalRow],
    golden_hashes: &HashSet<String>,
    opts: Options,
) -> TriageReport {
    let mut t = Triage::new(golden_hashes.clone());
    for i in interactions {
        t.add_interaction(i);
    }
    for s in signals {
        t.add_signal(s);
    }
    t.report(opts)
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

/// Scales a sparse vector (by term number) to length 1, summing in term order.
fn normalize(v: &mut [(u32, f64)]) {
    let norm = v.iter().map(|(_, x)| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for (_, x) in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Leader clustering on cosine similarity: each vector joins the cluster whose centroid it is
/// most similar to (the first such cluster on a tie), if at least `threshold`, else starts
/// one. Deterministic in input order.
///
/// Each cluster keeps the sum of its vectors and the sum's squared norm: the cosine with the
/// centroid is dot(v, sum) / |sum|. The sums are kept by term (`postings`: for each term, the
/// clusters whose sum has it, with its weight), so a vector is compared only with the
/// clusters that share a term with it, each dot product summed in term order as a full
/// comparison would.
struct Leader {
    threshold: f64,
    postings: Vec<Vec<(u32, f64)>>,
    /// For each cluster, where each of its terms is in that term's postings.
    slots: Vec<HashMap<u32, u32>>,
    norms2: Vec<f64>,
    members: Vec<Vec<u32>>,
    /// The vectors added so far.
    added: u32,
    /// Scratch: each cluster's dot product with the vector being added, whether it shares a
    /// term with it, and the clusters that do.
    dots: Vec<f64>,
    shares: Vec<bool>,
    touched: Vec<u32>,
}

impl Leader {
    fn new(terms: usize, threshold: f64) -> Leader {
        Leader {
            threshold,
            postings: vec![Vec::new(); terms],
            slots: Vec::new(),
            norms2: Vec::new(),
            members: Vec::new(),
            added: 0,
            dots: Vec::new(),
            shares: Vec::new(),
            touched: Vec::new(),
        }
    }

    fn add(&mut self, v: &[(u32, f64)]) {
        let item = self.added;
        self.added += 1;
        for &(w, x) in v {
            for &(c, y) in &self.postings[w as usize] {
                if !self.shares[c as usize] {
                    self.shares[c as usize] = true;
                    self.touched.push(c);
                }
                self.dots[c as usize] += x * y;
            }
        }
        // The most similar cluster; a cluster sharing no term has a cosine of 0, and the
        // first cluster stands for them all.
        let mut best: Option<(u32, f64, f64)> = (!self.members.is_empty()).then_some((0, 0.0, 0.0));
        self.touched.sort_unstable();
        for &c in &self.touched {
            let d = self.dots[c as usize];
            let norm2 = self.norms2[c as usize];
            let sim = if norm2 > 0.0 { d / norm2.sqrt() } else { 0.0 };
            if best.is_none_or(|b| sim > b.1 || (sim == b.1 && c < b.0)) {
                best = Some((c, sim, d));
            }
        }
        for &c in &self.touched {
            self.dots[c as usize] = 0.0;
            self.shares[c as usize] = false;
        }
        self.touched.clear();
        let v2: f64 = v.iter().map(|(_, x)| x * x).sum();
        match best {
            Some((c, sim, d)) if sim >= self.threshold => {
                for &(w, x) in v {
                    let slot = self.slots[c as usize].entry(w).or_insert_with(|| {
                        self.postings[w as usize].push((c, 0.0));
                        (self.postings[w as usize].len() - 1) as u32
                    });
                    self.postings[w as usize][*slot as usize].1 += x;
                }
                self.norms2[c as usize] += 2.0 * d + v2;
                self.members[c as usize].push(item);
            }
            _ => {
                let c = self.members.len() as u32;
                let mut slots = HashMap::with_capacity(v.len());
                for &(w, x) in v {
                    slots.insert(w, self.postings[w as usize].len() as u32);
                    self.postings[w as usize].push((c, x));
                }
                self.slots.push(slots);
                self.norms2.push(v2);
                self.members.push(vec![item]);
                self.dots.push(0.0);
                self.shares.push(false);
            }
        }
    }

    /// The `n` terms of cluster `c` with the highest summed weight over its vectors.
    fn top_terms(&self, c: usize, words: &[String], n: usize) -> Vec<String> {
        let mut terms: Vec<(u32, f64)> = self.slots[c]
            .iter()
            .map(|(&w, &slot)| (w, self.postings[w as usize][slot as usize].1))
            .collect();
        terms.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then(words[a.0 as usize].cmp(&words[b.0 as usize]))
        });
        terms
            .into_iter()
            .take(n)
            .map(|(w, _)| words[w as usize].clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interaction(id: &str, text: &str) -> InteractionRow {
        let body = serde_json::json!({
            "type": "interaction", "event_id": id, "timestamp": "2026-11-23T10:00:00Z",
            "prompt": "support", "vars": {"text": text}, "output": "ok",
        });
        InteractionRow {
            event_id: id.into(),
            occurred_at: "2026-11-23T10:00:00Z".into(),
            prompt: "support".into(),
            prompt_version: None,
            model: None,
            input_hash: id.into(),
            body_json: body.to_string(),
            received_at: "2026-11-23T10:00:00Z".into(),
        }
    }

    fn triage_of(texts: &[&str]) -> Triage {
        let mut t = Triage::new(HashSet::new());
        for (i, text) in texts.iter().enumerate() {
            t.add_interaction(&interaction(&format!("e{i}"), text));
        }
        t
    }

    #[test]
    fn similar_texts_cluster_together() {
        let t = triage_of(&[
            "my csv export breaks accents",
            "the invoice was charged twice, refund please",
            "csv export accents broken in excel",
            "double charge on my invoice, need a refund",
            "export to csv mangles accents",
        ]);
        let clusters = t.text_clusters(0.2);
        let members: Vec<&Vec<u32>> = clusters.iter().map(|(_, m)| m).collect();
        assert_eq!(members, [&vec![0, 2, 4], &vec![1, 3]]);
        assert!(clusters[0].0.contains("csv"), "{}", clusters[0].0);
    }

    /// Clustering as it was first written: every vector compared with every cluster's sum,
    /// held as a sorted map. The postings must give the same clusters and labels, bit for bit.
    fn leader_by_comparing_all(
        vectors: &[Vec<(u32, f64)>],
        threshold: f64,
    ) -> (Vec<Vec<u32>>, Vec<BTreeMap<u32, f64>>) {
        let mut sums: Vec<BTreeMap<u32, f64>> = Vec::new();
        let mut norms2: Vec<f64> = Vec::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        for (i, v) in vectors.iter().enumerate() {
            let mut best: Option<(usize, f64, f64)> = None;
            for (c, sum) in sums.iter().enumerate() {
                let d: f64 = v
                    .iter()
                    .filter_map(|(k, x)| sum.get(k).map(|y| x * y))
                    .sum();
                let sim = if norms2[c] > 0.0 {
                    d / norms2[c].sqrt()
                } else {
                    0.0
                };
                if best.is_none_or(|b| sim > b.1) {
                    best = Some((c, sim, d));
                }
            }
            let v2: f64 = v.iter().map(|(_, x)| x * x).sum();
            match best {
                Some((c, sim, d)) if sim >= threshold => {
                    for (k, x) in v {
                        *sums[c].entry(*k).or_default() += x;
                    }
                    norms2[c] += 2.0 * d + v2;
                    members[c].push(i as u32);
                }
                _ => {
                    norms2.push(v2);
                    sums.push(v.iter().copied().collect());
                    members.push(vec![i as u32]);
                }
            }
        }
        (members, sums)
    }

    #[test]
    fn postings_cluster_exactly_as_comparing_every_cluster() {
        // 400 texts of 2 to 7 words from 30, some of them stopwords or repeated.
        let words: Vec<String> = (0..30)
            .map(|i| format!("word{}", (b'a' + i as u8) as char))
            .collect();
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let texts: Vec<String> = (0..400)
            .map(|_| {
                let n = 2 + next() % 6;
                let mut t: Vec<&str> = (0..n).map(|_| words[next() % 30].as_str()).collect();
                if next() % 5 == 0 {
                    t.push("the");
                }
                t.join(" ")
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let t = triage_of(&refs);
        let vectors: Vec<Vec<(u32, f64)>> = t
            .items
            .iter()
            .map(|it| {
                let mut v = Vec::new();
                t.vector(it, &mut v);
                v
            })
            .collect();
        for threshold in [0.0, 0.2, 0.3, 0.5, 0.9] {
            let (members, sums) = leader_by_comparing_all(&vectors, threshold);
            let mut leader = Leader::new(t.words.len(), threshold);
            for v in &vectors {
                leader.add(v);
            }
            assert_eq!(leader.members, members, "threshold {threshold}");
            for (c, sum) in sums.iter().enumerate() {
                let mut kept: Vec<(u32, f64)> = leader.slots[c]
                    .iter()
                    .map(|(&w, &slot)| (w, leader.postings[w as usize][slot as usize].1))
                    .collect();
                kept.sort_by_key(|(w, _)| *w);
                let expected: Vec<(u32, f64)> = sum.iter().map(|(k, x)| (*k, *x)).collect();
                assert_eq!(kept, expected, "threshold {threshold}, cluster {c}");
            }
        }
    }

    #[test]
    fn signals_find_their_interactions_and_orphans_are_counted() {
        let mut t = triage_of(&["csv export broken", "refund twice charged"]);
        let signal = |id: &str, of: &str, kind: &str, name: &str, polarity: i64| SignalRow {
            event_id: id.into(),
            interaction_id: of.into(),
            occurred_at: "2026-11-23T10:00:01Z".into(),
            kind: kind.into(),
            name: name.into(),
            polarity,
            body_json: "{}".into(),
            received_at: "2026-11-23T10:00:01Z".into(),
        };
        t.add_signal(&signal("s1", "e0", "explicit", "thumbs_down", -1));
        t.add_signal(&signal("s2", "e0", "explicit", "thumbs_down", -1));
        t.add_signal(&signal("s3", "e1", "operational", "low_retrieval_score", 0));
        t.add_signal(&signal("s4", "nowhere", "explicit", "thumbs_down", -1));
        let r = t.report(Options::default());
        assert_eq!(
            (r.interactions, r.bad, r.negative_signals, r.orphan_signals),
            (2, 1, 2, 1)
        );
        assert_eq!(r.groups.len(), 1);
        assert_eq!((r.groups[0].signals, r.groups[0].interactions), (2, 1));
        assert_eq!(r.conditions[0].name, "low retrieval score");
        assert_eq!(
            (r.conditions[0].bad_share, r.conditions[0].other_share),
            (0.0, 1.0)
        );
        assert_eq!(r.by_kind[0].examples, ["e0"]);
    }
}
