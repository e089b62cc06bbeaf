//! From a sentiment classifier's probabilities to one score in [-1, 1].
//!
//! The label scheme is read from the model's own labels (`config.json` `id2label`), never
//! guessed from the number of outputs alone:
//! - 2 labels (negative, positive): score = p_pos − p_neg;
//! - 3 labels (negative, neutral, positive): score = p_pos − p_neg;
//! - 5 labels (1 to 5 stars, in id order): score = (Σ k·p_k − 3) / 2.

/// Scores above this are positive, below its opposite negative, in between neutral.
pub const POLARITY_THRESHOLD: f64 = 0.2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    #[error(
        "unsupported sentiment labels {0:?}: expected 2 (negative, positive), 3 (negative, neutral, positive) or 5 star labels"
    )]
    Unsupported(Vec<String>),
    #[error("expected {expected} probabilities, got {got}")]
    Arity { expected: usize, got: usize },
}

/// How a model's outputs map to a score, by output index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelScheme {
    Polar {
        negative: usize,
        positive: usize,
        arity: usize,
    },
    Stars,
}

/// A review's polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    Negative,
    Neutral,
    Positive,
}

impl Polarity {
    pub fn of(score: f64) -> Self {
        if score > POLARITY_THRESHOLD {
            Self::Positive
        } else if score < -POLARITY_THRESHOLD {
            Self::Negative
        } else {
            Self::Neutral
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Negative => "negative",
            Self::Neutral => "neutral",
            Self::Positive => "positive",
        }
    }
}

/// The sentiment of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentiment {
    /// In [-1, 1].
    pub score: f64,
    pub polarity: Polarity,
    /// The largest class probability.
    pub confidence: f64,
}

fn find(labels: &[String], needles: &[&str]) -> Option<usize> {
    labels.iter().position(|l| {
        let l = l.to_ascii_lowercase();
        needles.iter().any(|n| l.starts_with(n) || l == *n)
    })
}

impl LabelScheme {
    /// Reads the scheme from the labels in output order.
    pub fn from_labels(labels: &[String]) -> Result<Self, SchemeError> {
        let unsupported = || SchemeError::Unsupported(labels.to_vec());
        match labels.len() {
            2 | 3 => {
                let negative = find(labels, &["neg", "label_0"]).ok_or_else(unsupported)?;
                let positive = find(labels, &["pos"]).ok_or_else(unsupported)?;
                if labels.len() == 3 && find(labels, &["neu"]).is_none() {
                    return Err(unsupported());
                }
                Ok(Self::Polar {
                    negative,
                    positive,
                    arity: labels.len(),
                })
            }
            5 if labels
                .iter()
                .enumerate()
                .all(|(i, l)| l.trim_start().starts_with(&(i + 1).to_string())) =>
            {
                Ok(Self::Stars)
            }
            _ => Err(unsupported()),
        }
    }

    fn arity(&self) -> usize {
        match self {
            Self::Polar { arity, .. } => *arity,
            Self::Stars => 5,
        }
    }

    /// Scores one text's class probabilities (which sum to 1).
    pub fn score(&self, probabilities: &[f64]) -> Result<Sentiment, SchemeError> {
        if probabilities.len() != self.arity() {
            return Err(SchemeError::Arity {
                expected: self.arity(),
                got: probabilities.len(),
            });
        }
        let score = match self {
            Self::Polar {
                negative, positive, ..
            } => probabilities[*positive] - probabilities[*negative],
            Self::Stars => {
                let mean_stars: f64 = probabilities
                    .iter()
                    .enumerate()
                    .map(|(k, p)| (k + 1) as f64 * p)
                    .sum();
                (mean_stars - 3.0) / 2.0
            }
        }
        .clamp(-1.0, 1.0);
        let confidence = probabilities.iter().copied().fold(0.0, f64::max);
        Ok(Sentiment {
            score,
            polarity: Polarity::of(score),
            confidence,
        })
    }
}

/// Softmax of raw logits, computed stably.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&l| f64::from(l - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn two_labels() {
        let s = LabelScheme::from_labels(&labels(&["NEGATIVE", "POSITIVE"])).unwrap();
        let r = s.score(&[0.1, 0.9]).unwrap();
        assert!((r.score - 0.8).abs() < 1e-12);
        assert_eq!(r.polarity, Polarity::Positive);
        assert_eq!(r.confidence, 0.9);
        // Order comes from the labels, not from a convention.
        let reversed = LabelScheme::from_labels(&labels(&["positive", "negative"])).unwrap();
        assert!((reversed.score(&[0.1, 0.9]).unwrap().score + 0.8).abs() < 1e-12);
    }

    #[test]
    fn three_labels() {
        let s = LabelScheme::from_labels(&labels(&["negative", "neutral", "positive"])).unwrap();
        let neutral = s.score(&[0.2, 0.7, 0.1]).unwrap();
        assert!((neutral.score + 0.1).abs() < 1e-12);
        assert_eq!(neutral.polarity, Polarity::Neutral);
        let negative = s.score(&[0.8, 0.15, 0.05]).unwrap();
        assert!((negative.score + 0.75).abs() < 1e-12);
        assert_eq!(negative.polarity, Polarity::Negative);
    }

    #[test]
    fn five_stars() {
        let s = LabelScheme::from_labels(&labels(&[
            "1 star", "2 stars", "3 stars", "4 stars", "5 stars",
        ]))
        .unwrap();
        assert_eq!(s, LabelScheme::Stars);
        assert!((s.score(&[0.0, 0.0, 0.0, 0.0, 1.0]).unwrap().score - 1.0).abs() < 1e-12);
        assert!((s.score(&[1.0, 0.0, 0.0, 0.0, 0.0]).unwrap().score + 1.0).abs() < 1e-12);
        assert!(s.score(&[0.0, 0.0, 1.0, 0.0, 0.0]).unwrap().score.abs() < 1e-12);
        // Mean 3.5 stars → 0.25: positive.
        let r = s.score(&[0.0, 0.0, 0.5, 0.5, 0.0]).unwrap();
        assert!((r.score - 0.25).abs() < 1e-12);
        assert_eq!(r.polarity, Polarity::Positive);
    }

    #[test]
    fn thresholds_are_exclusive() {
        assert_eq!(Polarity::of(0.2), Polarity::Neutral);
        assert_eq!(Polarity::of(-0.2), Polarity::Neutral);
        assert_eq!(Polarity::of(0.2001), Polarity::Positive);
        assert_eq!(Polarity::of(-0.2001), Polarity::Negative);
    }

    #[test]
    fn unknown_schemes_and_arity_errors() {
        for bad in [
            &["a", "b"][..],
            &["neg", "pos", "other"],
            &["x"; 4],
            &["1", "2", "3", "4", "6"],
        ] {
            assert!(LabelScheme::from_labels(&labels(bad)).is_err(), "{bad:?}");
        }
        let s = LabelScheme::from_labels(&labels(&["negative", "positive"])).unwrap();
        assert_eq!(
            s.score(&[1.0]).unwrap_err(),
            SchemeError::Arity {
                expected: 2,
                got: 1
            }
        );
    }

    proptest! {
        #[test]
        fn scores_stay_in_range(logits in proptest::collection::vec(-50.0f32..50.0, 5)) {
            let stars = LabelScheme::Stars.score(&softmax(&logits)).unwrap();
            prop_assert!((-1.0..=1.0).contains(&stars.score));
            let three = LabelScheme::from_labels(&labels(&["negative", "neutral", "positive"])).unwrap();
            let p = softmax(&logits[..3]);
            prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            prop_assert!((-1.0..=1.0).contains(&three.score(&p).unwrap().score));
        }
    }
}
