//! Send intents as the store keeps them: one row per batch (the records of a page about to be
//! sent), not one per record. An intent is answered once its run has an activity row for its
//! `seq` written by the same claim. Of a key's intents only the newest (by run, claim, `seq`)
//! counts: a later send of the key replaced the earlier one's uncertainty, as before.
//!
//! The SQL lives in `sql.rs`; this module decides what a batch row keeps.

use std::collections::{HashMap, HashSet};

use super::{Result, RunId, SendIntent, StoreError};

/// One intent as a batch row stores it: `[seq, business key, payload hash]`.
pub(super) type StoredIntent = (i64, String, String);

/// A batch row: which claim of which run wrote it, its first `seq`, and its intents.
#[derive(Debug, Clone)]
pub(super) struct IntentBatch {
    pub(super) run_id: RunId,
    pub(super) attempt: i64,
    pub(super) first_seq: i64,
    /// The row's text as read: a rewrite applies only if it is unchanged (compare and set).
    pub(super) text: String,
    pub(super) intents: Vec<StoredIntent>,
}

impl IntentBatch {
    /// Parses a row; a text this build cannot read is reported with the batch it belongs to.
    pub(super) fn parse(run_id: RunId, attempt: i64, first_seq: i64, text: String) -> Result<Self> {
        let intents = serde_json::from_str(&text).map_err(|e| {
            StoreError::Corrupt(format!(
                "send intents of run {run_id} (claim {attempt}) from seq {first_seq}: {e}"
            ))
        })?;
        Ok(IntentBatch {
            run_id,
            attempt,
            first_seq,
            text,
            intents,
        })
    }

    fn intent(&self, (seq, key, hash): &StoredIntent) -> SendIntent {
        SendIntent {
            business_key: key.clone(),
            payload_hash: hash.clone(),
            run_id: self.run_id,
            attempt: self.attempt,
            seq: *seq,
        }
    }

    /// Where the intent stands among its key's: run, then claim, then `seq`.
    fn rank(&self, seq: i64) -> (RunId, i64, i64) {
        (self.run_id, self.attempt, seq)
    }
}

/// A batch row's text.
pub(super) fn encode(intents: &[StoredIntent]) -> String {
    serde_json::to_string(intents).expect("numbers and strings always serialize")
}

/// A batch row to change: its new intents, or `None` to delete it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Rewrite {
    pub(super) batch: usize,
    pub(super) keep: Option<String>,
}

/// The open intents (per key, the newest, when no activity row answers it; sorted by key), and
/// the rewrites that keep only those. `answered[i]` holds the `seq`s of batch `i` that have
/// their activity row.
pub(super) fn open_intents(
    batches: &[IntentBatch],
    answered: &[HashSet<i64>],
) -> (Vec<SendIntent>, Vec<Rewrite>) {
    let newest = newest_per_key(batches);
    let is_open = |b: usize, intent: &StoredIntent| {
        let batch = &batches[b];
        newest.get(intent.1.as_str()) == Some(&batch.rank(intent.0))
            && !answered[b].contains(&intent.0)
    };
    let mut open: Vec<SendIntent> = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| {
            batch
                .intents
                .iter()
                .filter(move |i| is_open(b, i))
                .map(move |i| batch.intent(i))
        })
        .collect();
    open.sort_by(|a, b| a.business_key.cmp(&b.business_key));
    (open, rewrites(batches, is_open))
}

/// The rewrites that forget exactly `cleared` (key, run, claim, `seq`, hash) and, for each one
/// found, the older intents of its key.
pub(super) fn clear(batches: &[IntentBatch], cleared: &[SendIntent]) -> Vec<Rewrite> {
    let mut found: HashMap<&str, (RunId, i64, i64)> = HashMap::new();
    for batch in batches {
        for intent in &batch.intents {
            if cleared.contains(&batch.intent(intent)) {
                let rank = batch.rank(intent.0);
                let upto = found.entry(intent.1.as_str()).or_insert(rank);
                *upto = (*upto).max(rank);
            }
        }
    }
    rewrites(batches, |b, intent| {
        let batch = &batches[b];
        found
            .get(intent.1.as_str())
            .is_none_or(|&upto| batch.rank(intent.0) > upto)
    })
}

/// Per key, the rank of its newest intent.
fn newest_per_key(batches: &[IntentBatch]) -> HashMap<&str, (RunId, i64, i64)> {
    let mut newest: HashMap<&str, (RunId, i64, i64)> = HashMap::new();
    for batch in batches {
        for (seq, key, _) in &batch.intents {
            let rank = batch.rank(*seq);
            let at = newest.entry(key.as_str()).or_insert(rank);
            *at = (*at).max(rank);
        }
    }
    newest
}

/// The batches whose intents change when only those `keep` accepts stay.
fn rewrites(batches: &[IntentBatch], keep: impl Fn(usize, &StoredIntent) -> bool) -> Vec<Rewrite> {
    let mut out = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let kept: Vec<StoredIntent> = batch
            .intents
            .iter()
            .filter(|i| keep(b, i))
            .cloned()
            .collect();
        if kept.len() == batch.intents.len() {
            continue;
        }
        out.push(Rewrite {
            batch: b,
            keep: (!kept.is_empty()).then(|| encode(&kept)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(run_id: RunId, attempt: i64, intents: &[(i64, &str, &str)]) -> IntentBatch {
        let intents: Vec<StoredIntent> = intents
            .iter()
            .map(|&(seq, key, hash)| (seq, key.to_string(), hash.to_string()))
            .collect();
        IntentBatch::parse(run_id, attempt, intents[0].0, encode(&intents)).unwrap()
    }

    fn keys(open: &[SendIntent]) -> Vec<(&str, RunId, i64, i64)> {
        open.iter()
            .map(|i| (i.business_key.as_str(), i.run_id, i.attempt, i.seq))
            .collect()
    }

    #[test]
    fn answered_intents_are_forgotten_and_a_fully_answered_batch_deleted() {
        let batches = [
            batch(1, 0, &[(0, "k1", "h"), (1, "k2", "h"), (3, "k3", "h")]),
            batch(1, 0, &[(4, "k4", "h")]),
        ];
        let answered = [HashSet::from([0, 1]), HashSet::from([4])];
        let (open, rewrites) = open_intents(&batches, &answered);
        assert_eq!(keys(&open), [("k3", 1, 0, 3)]);
        assert_eq!(
            rewrites,
            [
                Rewrite {
                    batch: 0,
                    keep: Some(r#"[[3,"k3","h"]]"#.into())
                },
                Rewrite {
                    batch: 1,
                    keep: None
                },
            ]
        );
    }

    #[test]
    fn only_the_newest_intent_of_a_key_counts_and_an_answer_of_another_claim_does_not() {
        let batches = [
            // Run 1's claim 2 (the next owner) sent k1 and k2; its claim 1 (a stalled worker)
            // wrote k1 again late, and its answer for seq 0 is claim 1's row, not claim 2's.
            batch(1, 2, &[(0, "k1", "h"), (1, "k2", "h")]),
            batch(1, 1, &[(0, "k1", "stale")]),
            // Run 2 sent k2 later, and its answer is committed.
            batch(2, 0, &[(0, "k2", "h2")]),
        ];
        let answered = [HashSet::new(), HashSet::from([0]), HashSet::from([0])];
        let (open, rewrites) = open_intents(&batches, &answered);
        assert_eq!(keys(&open), [("k1", 1, 2, 0)]);
        // Claim 2's k2 was replaced by run 2's; claim 1's k1 by claim 2's; run 2's is answered.
        assert_eq!(
            rewrites.iter().map(|r| r.batch).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(rewrites[0].keep.as_deref(), Some(r#"[[0,"k1","h"]]"#));
        assert_eq!((&rewrites[1].keep, &rewrites[2].keep), (&None, &None));
    }

    #[test]
    fn clearing_names_an_intent_exactly_and_takes_the_older_ones_of_its_key_along() {
        let batches = [
            batch(1, 0, &[(5, "k1", "h"), (6, "k2", "h")]),
            batch(2, 0, &[(0, "k1", "h"), (1, "k2", "h")]),
        ];
        let intent = |run_id, seq, key: &str, hash: &str| SendIntent {
            business_key: key.into(),
            payload_hash: hash.into(),
            run_id,
            attempt: 0,
            seq,
        };
        // Another payload, another seq or an older run: none of them is run 2's k2.
        let missed = [
            intent(2, 1, "k2", "other"),
            intent(2, 9, "k2", "h"),
            intent(1, 6, "k2", "x"),
        ];
        assert!(clear(&batches, &missed).is_empty());
        // Run 2's k1 is cleared, and run 1's k1, which it replaced, with it.
        let rewrites = clear(&batches, &[intent(2, 0, "k1", "h")]);
        assert_eq!(rewrites.len(), 2);
        assert_eq!(rewrites[0].keep.as_deref(), Some(r#"[[6,"k2","h"]]"#));
        assert_eq!(rewrites[1].keep.as_deref(), Some(r#"[[1,"k2","h"]]"#));
        // Clearing run 1's k1 leaves run 2's newer one.
        let rewrites = clear(&batches, &[intent(1, 5, "k1", "h")]);
        assert_eq!(rewrites.len(), 1);
        assert_eq!(rewrites[0].keep.as_deref(), Some(r#"[[6,"k2","h"]]"#));
    }

    #[test]
    fn a_batch_text_that_is_not_intents_is_reported_with_its_run() {
        let err = IntentBatch::parse(7, 1, 250, "{}".into()).unwrap_err();
        assert!(
            err.to_string()
                .contains("send intents of run 7 (claim 1) from seq 250"),
            "{err}"
        );
    }
}
