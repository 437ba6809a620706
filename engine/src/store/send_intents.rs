//! Send intents as the store keeps them: one row per batch (the records of a page about to be
//! sent), not one per record. An intent is answered once its run has an activity row for its
//! `seq` written by the same claim. Of a key's intents one counts, as when each key had one
//! row: the one written last, except that an intent of an earlier claim of a run (a stalled
//! worker's, written late) never replaces a later claim's.
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
    /// When it was written (a store stamp, which sorts as text).
    pub(super) created_at: String,
    /// The row's text as read: a rewrite applies only if it is unchanged (compare and set).
    pub(super) text: String,
    pub(super) intents: Vec<StoredIntent>,
}

impl IntentBatch {
    /// Parses a row; a text this build cannot read is reported with the batch it belongs to.
    pub(super) fn parse(
        run_id: RunId,
        attempt: i64,
        first_seq: i64,
        created_at: String,
        text: String,
    ) -> Result<Self> {
        let intents = serde_json::from_str(&text).map_err(|e| {
            StoreError::Corrupt(format!(
                "send intents of run {run_id} (claim {attempt}) from seq {first_seq}: {e}"
            ))
        })?;
        Ok(IntentBatch {
            run_id,
            attempt,
            first_seq,
            created_at,
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
}

/// An intent by position: batch, then index in it.
type At = (usize, usize);

/// Every intent in the order written: by batch stamp, then run, claim and `seq` (one claim
/// writes its batches in `seq` order).
fn write_order(batches: &[IntentBatch]) -> Vec<At> {
    let mut order: Vec<At> = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| (0..batch.intents.len()).map(move |i| (b, i)))
        .collect();
    order.sort_by(|&(a, i), &(b, j)| {
        let (x, y) = (&batches[a], &batches[b]);
        (&x.created_at, x.run_id, x.attempt, x.intents[i].0).cmp(&(
            &y.created_at,
            y.run_id,
            y.attempt,
            y.intents[j].0,
        ))
    });
    order
}

/// Whether intent `new`, written after `old` of the same key, replaces it: always, unless both
/// are of one run and `new` of an earlier claim.
fn replaces(batches: &[IntentBatch], new: At, old: At) -> bool {
    let (new, old) = (&batches[new.0], &batches[old.0]);
    new.run_id != old.run_id || new.attempt >= old.attempt
}

/// Per key, the intent that counts.
fn current_per_key(batches: &[IntentBatch]) -> HashMap<&str, At> {
    let mut current: HashMap<&str, At> = HashMap::new();
    for at in write_order(batches) {
        let key = batches[at.0].intents[at.1].1.as_str();
        match current.get(key) {
            Some(&old) if !replaces(batches, at, old) => {}
            _ => {
                current.insert(key, at);
            }
        }
    }
    current
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

/// The open intents (per key, the one that counts, when no activity row answers it; sorted by
/// key), and the rewrites that keep only those. `answered[i]` holds the `seq`s of batch `i` that have
/// their activity row.
pub(super) fn open_intents(
    batches: &[IntentBatch],
    answered: &[HashSet<i64>],
) -> (Vec<SendIntent>, Vec<Rewrite>) {
    let current = current_per_key(batches);
    let is_open = |at: At| {
        let (seq, key, _) = &batches[at.0].intents[at.1];
        current.get(key.as_str()) == Some(&at) && !answered[at.0].contains(seq)
    };
    let mut open: Vec<SendIntent> = current
        .values()
        .filter(|&&at| is_open(at))
        .map(|&(b, i)| batches[b].intent(&batches[b].intents[i]))
        .collect();
    open.sort_by(|a, b| a.business_key.cmp(&b.business_key));
    (open, rewrites(batches, is_open))
}

/// The rewrites that forget exactly `cleared` (key, run, claim, `seq`, hash) and, with each
/// one found, the intents of its key it replaced, and those it kept from counting (an earlier
/// claim's of its run written after it): none of them may count in its place.
pub(super) fn clear(batches: &[IntentBatch], cleared: &[SendIntent]) -> Vec<Rewrite> {
    let order = write_order(batches);
    let position: HashMap<At, usize> = order.iter().enumerate().map(|(n, &at)| (at, n)).collect();
    let mut found: HashMap<&str, Vec<At>> = HashMap::new();
    for &at in &order {
        let batch = &batches[at.0];
        let intent = &batch.intents[at.1];
        if cleared.contains(&batch.intent(intent)) {
            found.entry(intent.1.as_str()).or_default().push(at);
        }
    }
    rewrites(batches, |at| {
        let Some(gone) = found.get(batches[at.0].intents[at.1].1.as_str()) else {
            return true;
        };
        !gone.iter().any(|&c| {
            c == at
                || if position[&at] < position[&c] {
                    replaces(batches, c, at)
                } else {
                    !replaces(batches, at, c)
                }
        })
    })
}

/// The batches whose intents change when only those `keep` accepts stay.
fn rewrites(batches: &[IntentBatch], keep: impl Fn(At) -> bool) -> Vec<Rewrite> {
    let mut out = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let kept: Vec<StoredIntent> = (0..batch.intents.len())
            .filter(|&i| keep((b, i)))
            .map(|i| batch.intents[i].clone())
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

    /// A batch of claim `attempt` of run `run_id`, written at second `written`.
    fn batch(
        run_id: RunId,
        attempt: i64,
        written: u32,
        intents: &[(i64, &str, &str)],
    ) -> IntentBatch {
        let intents: Vec<StoredIntent> = intents
            .iter()
            .map(|&(seq, key, hash)| (seq, key.to_string(), hash.to_string()))
            .collect();
        let stamp = format!("2026-11-25T00:00:{written:02}.000Z");
        IntentBatch::parse(run_id, attempt, intents[0].0, stamp, encode(&intents)).unwrap()
    }

    fn keys(open: &[SendIntent]) -> Vec<(&str, RunId, i64, i64)> {
        open.iter()
            .map(|i| (i.business_key.as_str(), i.run_id, i.attempt, i.seq))
            .collect()
    }

    fn intent(run_id: RunId, attempt: i64, seq: i64, key: &str, hash: &str) -> SendIntent {
        SendIntent {
            business_key: key.into(),
            payload_hash: hash.into(),
            run_id,
            attempt,
            seq,
        }
    }

    #[test]
    fn answered_intents_are_forgotten_and_a_fully_answered_batch_deleted() {
        let batches = [
            batch(1, 0, 1, &[(0, "k1", "h"), (1, "k2", "h"), (3, "k3", "h")]),
            batch(1, 0, 2, &[(4, "k4", "h")]),
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
    fn the_intent_written_last_counts_unless_it_is_an_earlier_claims_of_the_run() {
        let batches = [
            // Run 1's claim 2 (the next owner) sent k1 and k2; its claim 1 (a stalled worker)
            // wrote k1 again late, and its answer for seq 0 is claim 1's row, not claim 2's.
            batch(1, 2, 1, &[(0, "k1", "h"), (1, "k2", "h")]),
            batch(1, 1, 2, &[(0, "k1", "stale")]),
            // Run 2 sent k2 later, and its answer is committed.
            batch(2, 0, 3, &[(0, "k2", "h2")]),
        ];
        let answered = [HashSet::new(), HashSet::from([0]), HashSet::from([0])];
        let (open, rewrites) = open_intents(&batches, &answered);
        assert_eq!(keys(&open), [("k1", 1, 2, 0)]);
        // Claim 2's k2 was replaced by run 2's; claim 1's k1 never counted; run 2's is answered.
        assert_eq!(
            rewrites.iter().map(|r| r.batch).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(rewrites[0].keep.as_deref(), Some(r#"[[0,"k1","h"]]"#));
        assert_eq!((&rewrites[1].keep, &rewrites[2].keep), (&None, &None));
    }

    #[test]
    fn a_run_that_wrote_later_counts_over_a_newer_run() {
        // Runs of one flow overlap (a replay during a scheduled run): run 6 sent k and was
        // answered, then run 5 sent k and stopped before its answer was committed.
        let batches = [
            batch(6, 0, 1, &[(0, "k", "h6")]),
            batch(5, 1, 2, &[(7, "k", "h5")]),
        ];
        let answered = [HashSet::from([0]), HashSet::new()];
        let (open, _) = open_intents(&batches, &answered);
        assert_eq!(keys(&open), [("k", 5, 1, 7)]);
    }

    #[test]
    fn clearing_names_an_intent_exactly_and_takes_the_ones_it_replaced_along() {
        let batches = [
            batch(1, 0, 1, &[(5, "k1", "h"), (6, "k2", "h")]),
            batch(2, 0, 2, &[(0, "k1", "h"), (1, "k2", "h")]),
        ];
        // Another payload, another seq or an older run: none of them is run 2's k2.
        let missed = [
            intent(2, 0, 1, "k2", "other"),
            intent(2, 0, 9, "k2", "h"),
            intent(1, 0, 6, "k2", "x"),
        ];
        assert!(clear(&batches, &missed).is_empty());
        // Run 2's k1 is cleared, and run 1's k1, which it replaced, with it.
        let rewrites = clear(&batches, &[intent(2, 0, 0, "k1", "h")]);
        assert_eq!(rewrites.len(), 2);
        assert_eq!(rewrites[0].keep.as_deref(), Some(r#"[[6,"k2","h"]]"#));
        assert_eq!(rewrites[1].keep.as_deref(), Some(r#"[[1,"k2","h"]]"#));
        // Clearing run 1's k1 leaves run 2's, written later.
        let rewrites = clear(&batches, &[intent(1, 0, 5, "k1", "h")]);
        assert_eq!(rewrites.len(), 1);
        assert_eq!(rewrites[0].keep.as_deref(), Some(r#"[[6,"k2","h"]]"#));
    }

    #[test]
    fn clearing_a_claims_intent_takes_a_late_one_of_an_earlier_claim_along() {
        // Claim 1's intent, written after claim 2's, never counted; it must not once claim 2's
        // is cleared.
        let batches = [
            batch(1, 2, 1, &[(0, "k", "h")]),
            batch(1, 1, 2, &[(0, "k", "stale")]),
        ];
        let rewrites = clear(&batches, &[intent(1, 2, 0, "k", "h")]);
        assert_eq!(
            rewrites,
            [
                Rewrite {
                    batch: 0,
                    keep: None
                },
                Rewrite {
                    batch: 1,
                    keep: None
                }
            ]
        );
        let (open, _) = open_intents(&batches[1..], &[HashSet::new()]);
        assert_eq!(keys(&open), [("k", 1, 1, 0)], "alone, it counts");
    }

    #[test]
    fn a_batch_text_that_is_not_intents_is_reported_with_its_run() {
        let err = IntentBatch::parse(7, 1, 250, "t".into(), "{}".into()).unwrap_err();
        assert!(
            err.to_string()
                .contains("send intents of run 7 (claim 1) from seq 250"),
            "{err}"
        );
    }
}
