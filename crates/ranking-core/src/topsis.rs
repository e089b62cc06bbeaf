//! TOPSIS: ranks alternatives by their relative closeness to the ideal solution.

/// Whether more of a criterion is better (benefit) or worse (cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Benefit,
    Cost,
}

/// One alternative's closeness and the figures that explain it, for `M` criteria.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation<const M: usize> {
    /// C = d⁻ / (d⁺ + d⁻), in [0, 1]; 1.0 when d⁺ + d⁻ = 0.
    pub closeness: f64,
    pub d_plus: f64,
    pub d_minus: f64,
    /// Per criterion: vector-normalised value r_ij.
    pub normalized: [f64; M],
    /// Per criterion: v_ij = w_j · r_ij.
    pub weighted: [f64; M],
    /// Per criterion: (v_ij − A⁺_j)², summing to d⁺².
    pub contribution_d_plus: [f64; M],
    /// Per criterion: (v_ij − A⁻_j)², summing to d⁻².
    pub contribution_d_minus: [f64; M],
}

/// The ideal and anti-ideal solutions of one decision matrix, fitted in one pass over its rows;
/// then any row's closeness costs a few multiplications and two square roots, and only the rows
/// that are shown need their [`Evaluation`] (live dispatch ranks thousands to show ten).
#[derive(Debug, Clone)]
pub struct Topsis<const M: usize> {
    weights: [f64; M],
    /// Per criterion: 1 / the column's Euclidean norm (vector normalisation), 0 for a zero
    /// column.
    inverse_norms: [f64; M],
    ideal: [f64; M],
    anti_ideal: [f64; M],
}

impl<const M: usize> Topsis<M> {
    /// Fits the matrix whose rows are `rows`. The caller guarantees finite values (the domain
    /// types do). A column of zeros stays zero.
    pub fn fit<'a>(
        rows: impl IntoIterator<Item = &'a [f64; M]>,
        weights: &[f64; M],
        directions: &[Direction; M],
    ) -> Self {
        let mut squares = [0.0; M];
        let mut min = [f64::INFINITY; M];
        let mut max = [f64::NEG_INFINITY; M];
        for row in rows {
            for j in 0..M {
                squares[j] += row[j] * row[j];
                min[j] = min[j].min(row[j]);
                max[j] = max[j].max(row[j]);
            }
        }
        let inverse_norms = squares.map(|s| if s > 0.0 { 1.0 / s.sqrt() } else { 0.0 });
        let mut fitted = Self {
            weights: *weights,
            inverse_norms,
            ideal: [0.0; M],
            anti_ideal: [0.0; M],
        };
        if min[0].is_finite() {
            // Weighting and normalising are monotone (rounding included), so the weighted
            // extremes are the weighted raw extremes: an alternative that is best on a
            // criterion is at distance exactly 0 from the ideal there.
            let weighted_min = fitted.weighted(&min);
            let weighted_max = fitted.weighted(&max);
            for j in 0..M {
                (fitted.ideal[j], fitted.anti_ideal[j]) = match directions[j] {
                    Direction::Benefit => (weighted_max[j], weighted_min[j]),
                    Direction::Cost => (weighted_min[j], weighted_max[j]),
                };
            }
        }
        fitted
    }

    #[inline]
    fn normalized(&self, row: &[f64; M]) -> [f64; M] {
        std::array::from_fn(|j| row[j] * self.inverse_norms[j])
    }

    #[inline]
    fn weighted(&self, row: &[f64; M]) -> [f64; M] {
        let normalized = self.normalized(row);
        std::array::from_fn(|j| self.weights[j] * normalized[j])
    }

    /// C = d⁻ / (d⁺ + d⁻) of `row`: the same number [`Self::evaluate`] gives, without the
    /// explanation.
    #[inline]
    pub fn closeness(&self, row: &[f64; M]) -> f64 {
        let weighted = self.weighted(row);
        let (mut plus, mut minus) = (0.0, 0.0);
        for ((v, ideal), anti_ideal) in weighted.iter().zip(&self.ideal).zip(&self.anti_ideal) {
            plus += (v - ideal).powi(2);
            minus += (v - anti_ideal).powi(2);
        }
        closeness(plus.sqrt(), minus.sqrt())
    }

    /// `row`'s closeness and the figures that explain it.
    pub fn evaluate(&self, row: &[f64; M]) -> Evaluation<M> {
        let normalized = self.normalized(row);
        let weighted = self.weighted(row);
        let contribution_d_plus: [f64; M] =
            std::array::from_fn(|j| (weighted[j] - self.ideal[j]).powi(2));
        let contribution_d_minus: [f64; M] =
            std::array::from_fn(|j| (weighted[j] - self.anti_ideal[j]).powi(2));
        // Summed in the order `closeness` sums them, so both give the same number.
        let (mut plus, mut minus) = (0.0, 0.0);
        for (p, m) in contribution_d_plus.iter().zip(&contribution_d_minus) {
            plus += p;
            minus += m;
        }
        let (d_plus, d_minus) = (plus.sqrt(), minus.sqrt());
        Evaluation {
            closeness: closeness(d_plus, d_minus),
            d_plus,
            d_minus,
            normalized,
            weighted,
            contribution_d_plus,
            contribution_d_minus,
        }
    }
}

/// d⁻ / (d⁺ + d⁻), and 1.0 when both are 0 (one alternative, or all identical).
#[inline]
fn closeness(d_plus: f64, d_minus: f64) -> f64 {
    let total = d_plus + d_minus;
    if total > 0.0 {
        (d_minus / total).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Benefit, Cost};
    use proptest::prelude::*;

    /// Every row of `matrix` (alternatives × criteria) evaluated.
    fn evaluate<const M: usize>(
        matrix: &[[f64; M]],
        weights: &[f64; M],
        directions: &[Direction; M],
    ) -> Vec<Evaluation<M>> {
        let topsis = Topsis::fit(matrix, weights, directions);
        matrix.iter().map(|row| topsis.evaluate(row)).collect()
    }

    #[test]
    fn tzeng_and_huang_2011_example() {
        let matrix = [
            [5.0, 8.0, 4.0],
            [7.0, 6.0, 8.0],
            [8.0, 8.0, 6.0],
            [7.0, 4.0, 6.0],
        ];
        let r = evaluate(&matrix, &[0.3, 0.4, 0.3], &[Benefit; 3]);
        let closeness: Vec<f64> = r.iter().map(|e| e.closeness).collect();
        for (c, e) in closeness.iter().zip([0.5037, 0.6581, 0.7482, 0.3340]) {
            assert!((c - e).abs() < 5e-5, "{closeness:?}");
        }
    }

    #[test]
    fn contributions_decompose_the_distances() {
        let matrix = [[1.0, 9.0], [4.0, 2.0], [3.0, 3.0]];
        for e in evaluate(&matrix, &[0.7, 0.3], &[Cost, Benefit]) {
            assert!((e.contribution_d_plus.iter().sum::<f64>().sqrt() - e.d_plus).abs() < 1e-12);
            assert!((e.contribution_d_minus.iter().sum::<f64>().sqrt() - e.d_minus).abs() < 1e-12);
        }
    }

    #[test]
    fn cost_criterion_prefers_smaller_values() {
        let r = evaluate(&[[1.0], [2.0]], &[1.0], &[Cost]);
        assert_eq!(r[0].closeness, 1.0);
        assert_eq!(r[1].closeness, 0.0);
    }

    #[test]
    fn degenerate_cases_score_one() {
        // One alternative.
        let one = evaluate(&[[3.0, 4.0]], &[0.5, 0.5], &[Benefit, Cost]);
        assert_eq!(one[0].closeness, 1.0);
        // All identical.
        let same = evaluate(&[[3.0, 4.0], [3.0, 4.0]], &[0.5, 0.5], &[Benefit, Cost]);
        assert!(same.iter().all(|e| e.closeness == 1.0));
        // A zero column stays zero and does not produce NaN.
        let zero = evaluate(&[[0.0, 1.0], [0.0, 2.0]], &[0.5, 0.5], &[Cost, Benefit]);
        assert!(
            zero.iter()
                .all(|e| e.closeness.is_finite() && e.normalized[0] == 0.0)
        );
        assert!(evaluate::<1>(&[], &[1.0], &[Benefit]).is_empty());
    }

    proptest! {
        #[test]
        fn closeness_alone_equals_the_evaluated_closeness(
            rows in proptest::collection::vec(proptest::array::uniform4(0.0f64..1e4), 1..40),
        ) {
            let directions = [Cost, Benefit, Benefit, Benefit];
            let weights = [0.4, 0.3, 0.2, 0.1];
            let topsis = Topsis::fit(&rows, &weights, &directions);
            for row in &rows {
                prop_assert_eq!(topsis.closeness(row), topsis.evaluate(row).closeness);
            }
        }

        #[test]
        fn closeness_is_within_unit_interval(
            rows in proptest::collection::vec(proptest::array::uniform4(0.0f64..1e6), 1..40),
            raw_weights in proptest::array::uniform4(0.001f64..1.0),
        ) {
            let total: f64 = raw_weights.iter().sum();
            let weights = raw_weights.map(|w| w / total);
            for e in evaluate(&rows, &weights, &[Cost, Benefit, Benefit, Benefit]) {
                prop_assert!((0.0..=1.0).contains(&e.closeness), "{}", e.closeness);
            }
        }
    }
}
