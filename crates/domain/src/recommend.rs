//! Vehicle recommendation: the recommend-style query vector and the re-scoring of candidates.

use crate::sentiment::Polarity;
use crate::text::TextError;

/// The catalogs a recommendation can be asked for. The seed's requests say `"vehicle"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProductType {
    #[default]
    Vehicle,
}

impl ProductType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vehicle => "vehicle",
        }
    }
}

impl std::str::FromStr for ProductType {
    type Err = RequestError;

    /// Case-insensitive; an empty string means the default, `vehicle`.
    fn from_str(text: &str) -> Result<Self, RequestError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "vehicle" => Ok(Self::Vehicle),
            _ => Err(RequestError::ProductType(text.to_owned())),
        }
    }
}

/// How many recommendations to return: 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopK(u32);

impl TopK {
    pub const DEFAULT: Self = Self(10);
    pub const MAX: u32 = 100;

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl TryFrom<u32> for TopK {
    type Error = RequestError;

    fn try_from(value: u32) -> Result<Self, RequestError> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(RequestError::TopK(value))
        }
    }
}

/// A review that can be analysed: not blank, at most the configured number of characters, no
/// control characters other than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review(String);

impl Review {
    pub fn parse(text: &str, max_chars: usize) -> Result<Self, RequestError> {
        crate::text::check(text, max_chars).map_err(|error| match error {
            TextError::Empty => RequestError::EmptyReview,
            TextError::TooLong { chars, max_chars } => {
                RequestError::ReviewTooLong { chars, max_chars }
            }
            TextError::ControlCharacter(_) => RequestError::ControlCharacter,
        })?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as the cache sees it: trimmed, inner whitespace collapsed, lower-cased, so
    /// "Très bien !" and " très  bien ! " share an answer.
    pub fn normalized(&self) -> String {
        self.0
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// A recommendation request that passed every rule. The gateway checks with it before the
/// cache (so an invalid request is never cached nor queued as a job), the recommender at its
/// own boundary: one set of rules for both.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub review: Review,
    pub top_k: TopK,
    pub product_type: ProductType,
    pub weights: Weights,
}

impl Query {
    /// `top_k`, `product_type` (`""`) and `weights` fall back to their defaults when absent.
    pub fn parse(
        product_id: i64,
        review: &str,
        top_k: Option<u32>,
        product_type: &str,
        weights: Option<[f64; 3]>,
        max_review_chars: usize,
    ) -> Result<Self, RequestError> {
        if product_id <= 0 {
            return Err(RequestError::ProductId(product_id));
        }
        Ok(Self {
            review: Review::parse(review, max_review_chars)?,
            top_k: top_k.map_or(Ok(TopK::DEFAULT), TopK::try_from)?,
            product_type: product_type.parse()?,
            weights: match weights {
                Some([similarity, availability, reputation]) => {
                    Weights::new(similarity, availability, reputation)?
                }
                None => Weights::DEFAULT,
            },
        })
    }
}

/// A recommendation request that cannot be served as sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    #[error("product_id must be a positive integer, got {0}")]
    ProductId(i64),
    #[error("weights: {0}")]
    Weights(#[from] WeightsError),
    #[error("the review is empty")]
    EmptyReview,
    #[error("the review has {chars} characters; the limit is {max_chars}")]
    ReviewTooLong { chars: usize, max_chars: usize },
    #[error("the review contains control characters")]
    ControlCharacter,
    #[error("top_k must be between 1 and 100, got {0}")]
    TopK(u32),
    #[error("unknown product_type {0:?}; expected \"vehicle\"")]
    ProductType(String),
}

/// Weights of the final score: similarity, availability, reputation. Each in [0, 1], summing to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    similarity: f64,
    availability: f64,
    reputation: f64,
}

/// Weights that are not a convex combination.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    #[error("weight {name} = {value} is not a number in [0, 1]")]
    OutOfRange { name: &'static str, value: f64 },
    #[error("weights sum to {0}, not 1")]
    Sum(f64),
}

impl Weights {
    /// DESIGN.md: 0.60 similarity, 0.25 availability, 0.15 reputation.
    pub const DEFAULT: Self = Self {
        similarity: 0.60,
        availability: 0.25,
        reputation: 0.15,
    };
    const SUM_TOLERANCE: f64 = 1e-6;

    pub fn new(similarity: f64, availability: f64, reputation: f64) -> Result<Self, WeightsError> {
        for (name, value) in [
            ("similarity", similarity),
            ("availability", availability),
            ("reputation", reputation),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(WeightsError::OutOfRange { name, value });
            }
        }
        let sum = similarity + availability + reputation;
        if (sum - 1.0).abs() > Self::SUM_TOLERANCE {
            return Err(WeightsError::Sum(sum));
        }
        Ok(Self {
            similarity,
            availability,
            reputation,
        })
    }

    pub fn as_array(self) -> [f64; 3] {
        [self.similarity, self.availability, self.reputation]
    }
}

impl Default for Weights {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A vehicle returned by the vector search, with what re-scoring needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: i64,
    /// Cosine similarity to the query vector, in [-1, 1].
    pub similarity: f32,
    pub available: bool,
    /// Average rating, 0 to 5.
    pub rating: f32,
}

/// A candidate with its final score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub candidate: Candidate,
    pub score: f64,
}

/// final = w_s·similarity + w_a·availability + w_r·reputation, with similarity clamped to [0, 1]
/// (an opposite vehicle is simply not similar), availability 1 or 0 and reputation rating/5
/// capped at 1. Returns the best `top_k`, ties broken by the smaller id so answers are stable.
pub fn rescore(candidates: &[Candidate], weights: Weights, top_k: usize) -> Vec<Scored> {
    let mut scored: Vec<Scored> = candidates
        .iter()
        .map(|&candidate| Scored {
            candidate,
            score: final_score(candidate, weights),
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.candidate.id.cmp(&b.candidate.id))
    });
    scored.truncate(top_k);
    scored
}

fn final_score(candidate: Candidate, weights: Weights) -> f64 {
    let similarity = f64::from(candidate.similarity).clamp(0.0, 1.0);
    let availability = if candidate.available { 1.0 } else { 0.0 };
    let reputation = (f64::from(candidate.rating) / 5.0).clamp(0.0, 1.0);
    weights.similarity * similarity
        + weights.availability * availability
        + weights.reputation * reputation
}

/// The examples of a recommend-style query, as (positive, negative): the reviewed vehicle is
/// always wanted; the review itself is wanted when positive, avoided when negative, and left out
/// when neutral.
pub fn review_examples<T>(vehicle: T, review: T, polarity: Polarity) -> (Vec<T>, Vec<T>) {
    match polarity {
        Polarity::Positive => (vec![vehicle, review], vec![]),
        Polarity::Neutral => (vec![vehicle], vec![]),
        Polarity::Negative => (vec![vehicle], vec![review]),
    }
}

/// Qdrant's `average_vector` recommend strategy: the mean of the positives, pushed away from the
/// mean of the negatives (`2·avg⁺ − avg⁻`) when there are any. `None` without positives or when
/// the vectors disagree in length.
pub fn average_vector(positives: &[&[f32]], negatives: &[&[f32]]) -> Option<Vec<f32>> {
    let positive = mean(positives)?;
    if negatives.is_empty() {
        return Some(positive);
    }
    let negative = mean(negatives)?;
    (negative.len() == positive.len()).then(|| {
        positive
            .iter()
            .zip(&negative)
            .map(|(p, n)| p + p - n)
            .collect()
    })
}

fn mean(vectors: &[&[f32]]) -> Option<Vec<f32>> {
    let (first, rest) = vectors.split_first()?;
    let mut sum = first.to_vec();
    for vector in rest {
        if vector.len() != sum.len() {
            return None;
        }
        for (s, v) in sum.iter_mut().zip(*vector) {
            *s += v;
        }
    }
    let count = vectors.len() as f32;
    for s in &mut sum {
        *s /= count;
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn candidate(id: i64, similarity: f32, available: bool, rating: f32) -> Candidate {
        Candidate {
            id,
            similarity,
            available,
            rating,
        }
    }

    #[test]
    fn weights_must_be_a_convex_combination() {
        assert_eq!(Weights::new(0.6, 0.25, 0.15), Ok(Weights::DEFAULT));
        assert_eq!(Weights::new(0.5, 0.5, 0.5), Err(WeightsError::Sum(1.5)));
        assert!(matches!(
            Weights::new(1.2, -0.1, -0.1),
            Err(WeightsError::OutOfRange {
                name: "similarity",
                ..
            })
        ));
        assert!(matches!(
            Weights::new(f64::NAN, 0.5, 0.5),
            Err(WeightsError::OutOfRange { .. })
        ));
    }

    #[test]
    fn final_score_follows_the_design_formula() {
        let scored = rescore(&[candidate(1, 0.8, true, 4.0)], Weights::DEFAULT, 10);
        let expected = 0.60 * 0.8 + 0.25 * 1.0 + 0.15 * (4.0 / 5.0);
        assert!(
            (scored[0].score - expected).abs() < 1e-6,
            "{}",
            scored[0].score
        );
        // Negative similarity counts as none; a rating above 5 cannot buy more than 1.
        let scored = rescore(&[candidate(2, -0.5, false, 7.0)], Weights::DEFAULT, 10);
        assert!((scored[0].score - 0.15).abs() < 1e-9);
    }

    #[test]
    fn availability_and_reputation_reorder_similar_vehicles() {
        let candidates = [
            candidate(1, 0.90, false, 2.0),
            candidate(2, 0.85, true, 4.5),
            candidate(3, 0.85, true, 4.5),
        ];
        let ids: Vec<i64> = rescore(&candidates, Weights::DEFAULT, 10)
            .iter()
            .map(|s| s.candidate.id)
            .collect();
        assert_eq!(
            ids,
            [2, 3, 1],
            "available, better rated first; equal scores by id"
        );
        assert_eq!(rescore(&candidates, Weights::DEFAULT, 1).len(), 1);
        assert!(rescore(&[], Weights::DEFAULT, 5).is_empty());
    }

    #[test]
    fn review_role_follows_its_polarity() {
        assert_eq!(
            review_examples("car", "review", Polarity::Positive),
            (vec!["car", "review"], vec![])
        );
        assert_eq!(
            review_examples("car", "review", Polarity::Neutral),
            (vec!["car"], vec![])
        );
        assert_eq!(
            review_examples("car", "review", Polarity::Negative),
            (vec!["car"], vec!["review"])
        );
    }

    #[test]
    fn average_vector_matches_qdrant_strategy() {
        let a = [1.0_f32, 0.0, 2.0];
        let b = [3.0_f32, 2.0, 0.0];
        let n = [0.0_f32, 4.0, 1.0];
        assert_eq!(average_vector(&[&a, &b], &[]), Some(vec![2.0, 1.0, 1.0]));
        // 2·avg⁺ − avg⁻ = 2·(2, 1, 1) − (0, 4, 1)
        assert_eq!(average_vector(&[&a, &b], &[&n]), Some(vec![4.0, -2.0, 1.0]));
        assert_eq!(average_vector(&[], &[&n]), None);
        assert_eq!(average_vector(&[&a, &[1.0][..]], &[]), None);
    }

    #[test]
    fn requests_are_parsed_at_the_boundary() {
        assert_eq!("".parse::<ProductType>(), Ok(ProductType::Vehicle));
        assert_eq!("Vehicle".parse::<ProductType>(), Ok(ProductType::Vehicle));
        assert_eq!(
            "house".parse::<ProductType>(),
            Err(RequestError::ProductType("house".into()))
        );
        assert_eq!(TopK::try_from(1).map(TopK::get), Ok(1));
        assert_eq!(TopK::try_from(100).map(TopK::get), Ok(100));
        assert_eq!(TopK::try_from(0), Err(RequestError::TopK(0)));
        assert_eq!(TopK::try_from(101), Err(RequestError::TopK(101)));
        assert_eq!(Review::parse("  \n ", 10), Err(RequestError::EmptyReview));
        assert_eq!(
            Review::parse("ééééé", 4),
            Err(RequestError::ReviewTooLong {
                chars: 5,
                max_chars: 4
            })
        );
        assert_eq!(
            Review::parse("a\u{0}b", 10),
            Err(RequestError::ControlCharacter)
        );
        assert!(Review::parse("Très bien,\nmerci !", 50).is_ok());
        let review = Review::parse("  Très   BIEN !\n", 50).unwrap();
        assert_eq!(review.normalized(), "très bien !");
    }

    proptest! {
        #[test]
        fn scores_are_bounded_and_order_independent(
            raw in prop::collection::vec((-1.0_f32..=1.0, any::<bool>(), 0.0_f32..=5.0), 0..40),
            top_k in 1_usize..50,
        ) {
            let candidates: Vec<Candidate> = (0_i64..).zip(&raw)
                .map(|(i, &(s, a, r))| candidate(i, s, a, r)).collect();
            let forward = rescore(&candidates, Weights::DEFAULT, top_k);
            let mut reversed = candidates.clone();
            reversed.reverse();
            prop_assert_eq!(&forward, &rescore(&reversed, Weights::DEFAULT, top_k));
            prop_assert_eq!(forward.len(), top_k.min(candidates.len()));
            for pair in forward.windows(2) {
                prop_assert!(pair[0].score >= pair[1].score);
            }
            for scored in &forward {
                prop_assert!((0.0..=1.0 + 1e-9).contains(&scored.score));
            }
        }
    }
}
