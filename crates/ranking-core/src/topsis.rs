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

/// Evaluates each row of `matrix` (alternatives × criteria) with vector normalisation.
///
/// The caller guarantees finite values (the domain types do). A column of zeros stays zero.
/// Fixed-size rows keep the hot loop free of allocations.
pub fn evaluate<const M: usize>(
    matrix: &[[f64; M]],
    weights: &[f64; M],
    directions: &[Direction; M],
) -> Vec<Evaluation<M>> {
    let mut norms = [0.0; M];
    for row in matrix {
        for (n, x) in norms.iter_mut().zip(row) {
            *n += x * x;
        }
    }
    let norms = norms.map(f64::sqrt);
    let weighted: Vec<[f64; M]> = matrix
        .iter()
        .map(|row| {
            std::array::from_fn(|j| {
                if norms[j] > 0.0 {
                    weights[j] * row[j] / norms[j]
                } else {
                    0.0
                }
            })
        })
        .collect();

    // Ideal and anti-ideal taken from the weighted values themselves, so an alternative that is
    // best on a criterion is at distance exactly 0 from the ideal there.
    let mut ideal = [0.0; M];
    let mut anti_ideal = [0.0; M];
    for j in 0..M {
        let (min, max) = weighted
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v[j]), hi.max(v[j]))
            });
        (ideal[j], anti_ideal[j]) = match directions[j] {
            Direction::Benefit => (max, min),
            Direction::Cost => (min, max),
        };
    }

    matrix
        .iter()
        .zip(weighted)
        .map(|(row, weighted)| {
            let normalized: [f64; M] = std::array::from_fn(|j| {
                if norms[j] > 0.0 {
                    row[j] / norms[j]
                } else {
                    0.0
                }
            });
            let contribution_d_plus: [f64; M] =
                std::array::from_fn(|j| (weighted[j] - ideal[j]).powi(2));
            let contribution_d_minus: [f64; M] =
                std::array::from_fn(|j| (weighted[j] - anti_ideal[j]).powi(2));
            let d_plus = contribution_d_plus.iter().sum::<f64>().sqrt();
            let d_minus = contribution_d_minus.iter().sum::<f64>().sqrt();
            let total = d_plus + d_minus;
            let closeness = if total > 0.0 {
                (d_minus / total).clamp(0.0, 1.0)
            } else {
                1.0
            };
            Evaluation {
                closeness,
                d_plus,
                d_minus,
                normalized,
                weighted,
                contribution_d_plus,
                contribution_d_minus,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Benefit, Cost};
    use proptest::prelude::*;

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
