//! Analytic Hierarchy Process: criteria weights from a pairwise-comparison matrix, with Saaty's
//! consistency check.

use crate::InvalidInput;

/// Saaty's random consistency index for n = 1..=15.
const RANDOM_INDEX: [f64; 15] = [
    0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59,
];

/// A matrix is consistent enough to use when its consistency ratio is below this.
pub const CONSISTENCY_THRESHOLD: f64 = 0.1;

/// How far a_ij · a_ji may stray from 1: people type 0.33 for 1/3 and 0.14 for 1/7.
const RECIPROCITY_TOLERANCE: f64 = 0.03;

/// A validated square pairwise-comparison matrix: n in 1..=15, entries finite and positive,
/// unit diagonal, a_ji = 1/a_ij (within 3%).
#[derive(Debug, Clone, PartialEq)]
pub struct PairwiseMatrix {
    n: usize,
    /// Row-major.
    values: Vec<f64>,
}

impl PairwiseMatrix {
    /// Builds a matrix from its size and row-major values.
    pub fn new(n: usize, values: Vec<f64>) -> Result<Self, InvalidInput> {
        const FIELD: &str = "matrice_ahp";
        if !(1..=RANDOM_INDEX.len()).contains(&n) {
            return Err(InvalidInput::new(
                FIELD,
                format!("must have 1 to 15 rows, got {n}"),
            ));
        }
        if values.len() != n * n {
            return Err(InvalidInput::new(
                FIELD,
                format!("must be {n}×{n}, got {} values", values.len()),
            ));
        }
        let at = |i: usize, j: usize| values[i * n + j];
        for i in 0..n {
            for j in 0..n {
                let v = at(i, j);
                if !v.is_finite() || v <= 0.0 {
                    return Err(InvalidInput::new(
                        FIELD,
                        format!("entry [{i}][{j}] must be a finite positive number, got {v}"),
                    ));
                }
            }
            if (at(i, i) - 1.0).abs() > RECIPROCITY_TOLERANCE {
                return Err(InvalidInput::new(
                    FIELD,
                    format!("diagonal entry [{i}][{i}] must be 1, got {}", at(i, i)),
                ));
            }
        }
        for i in 0..n {
            for j in (i + 1)..n {
                if (at(i, j) * at(j, i) - 1.0).abs() > RECIPROCITY_TOLERANCE {
                    return Err(InvalidInput::new(
                        FIELD,
                        format!(
                            "must be reciprocal: [{i}][{j}] = {} but [{j}][{i}] = {} (expected {})",
                            at(i, j),
                            at(j, i),
                            1.0 / at(i, j)
                        ),
                    ));
                }
            }
        }
        Ok(Self { n, values })
    }

    /// Builds a matrix from its rows.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, InvalidInput> {
        let n = rows.len();
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != n) {
            return Err(InvalidInput::new(
                "matrice_ahp",
                format!(
                    "must be square: row {i} has {} values, expected {n}",
                    row.len()
                ),
            ));
        }
        Self::new(n, rows.concat())
    }

    /// Builds a matrix from its upper triangle (row by row, above the diagonal); the diagonal
    /// is 1 and the lower triangle the reciprocals.
    pub fn from_upper_triangle(n: usize, upper: &[f64]) -> Result<Self, InvalidInput> {
        let expected = n * n.saturating_sub(1) / 2;
        if upper.len() != expected {
            return Err(InvalidInput::new(
                "matrice_ahp",
                format!(
                    "an upper triangle of a {n}×{n} matrix has {expected} values, got {}",
                    upper.len()
                ),
            ));
        }
        let mut values = vec![1.0; n * n];
        let mut next = upper.iter();
        for i in 0..n {
            for j in (i + 1)..n {
                let v = *next.next().expect("length checked above");
                values[i * n + j] = v;
                values[j * n + i] = 1.0 / v;
            }
        }
        Self::new(n, values)
    }

    pub fn size(&self) -> usize {
        self.n
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.values[i * self.n + j]
    }

    fn mul_vec(&self, v: &[f64]) -> Vec<f64> {
        self.values
            .chunks_exact(self.n)
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect()
    }

    /// Weights (principal right eigenvector, summing to 1) and the consistency figures.
    pub fn weights(&self) -> AhpWeights {
        let n = self.n;
        // Power iteration: the matrix is positive, so Perron–Frobenius guarantees a unique
        // positive principal eigenvector and convergence from any positive start.
        let mut w = vec![1.0 / n as f64; n];
        for _ in 0..10_000 {
            let mut next = self.mul_vec(&w);
            let sum: f64 = next.iter().sum();
            for x in &mut next {
                *x /= sum;
            }
            let delta = next
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            w = next;
            if delta < 1e-15 {
                break;
            }
        }
        let aw = self.mul_vec(&w);
        let lambda_max = aw.iter().zip(&w).map(|(a, b)| a / b).sum::<f64>() / n as f64;
        let consistency_index = if n > 1 {
            ((lambda_max - n as f64) / (n as f64 - 1.0)).max(0.0)
        } else {
            0.0
        };
        let random_index = RANDOM_INDEX[n - 1];
        // n ≤ 2 matrices are always consistent (RI = 0): CR is 0 by convention.
        let consistency_ratio = if random_index > 0.0 {
            consistency_index / random_index
        } else {
            0.0
        };
        AhpWeights {
            weights: w,
            lambda_max,
            consistency_index,
            consistency_ratio,
        }
    }
}

/// The result of AHP on one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct AhpWeights {
    /// One weight per criterion, in the matrix's order; positive, summing to 1.
    pub weights: Vec<f64>,
    pub lambda_max: f64,
    /// CI = (λmax − n)/(n − 1).
    pub consistency_index: f64,
    /// CR = CI / RI(n).
    pub consistency_ratio: f64,
}

impl AhpWeights {
    pub fn is_consistent(&self) -> bool {
        self.consistency_ratio < CONSISTENCY_THRESHOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wang_and_chin_2011_six_criteria() {
        let m = PairwiseMatrix::from_rows(&[
            vec![1.0, 4.0, 3.0, 1.0, 3.0, 4.0],
            vec![1.0 / 4.0, 1.0, 7.0, 3.0, 1.0 / 5.0, 1.0],
            vec![1.0 / 3.0, 1.0 / 7.0, 1.0, 1.0 / 5.0, 1.0 / 5.0, 1.0 / 6.0],
            vec![1.0, 1.0 / 3.0, 5.0, 1.0, 1.0, 1.0 / 3.0],
            vec![1.0 / 3.0, 5.0, 5.0, 1.0, 1.0, 3.0],
            vec![1.0 / 4.0, 1.0, 6.0, 3.0, 1.0 / 3.0, 1.0],
        ])
        .unwrap();
        let r = m.weights();
        let expected = [0.3208, 0.1395, 0.0348, 0.1285, 0.2374, 0.1391];
        for (w, e) in r.weights.iter().zip(expected) {
            assert!(close(*w, e, 5e-5), "{:?}", r.weights);
        }
        assert!(
            close(r.consistency_ratio, 0.229, 1e-3),
            "CR {}",
            r.consistency_ratio
        );
        assert!(!r.is_consistent());
    }

    #[test]
    fn default_express_matrix() {
        let m = PairwiseMatrix::from_upper_triangle(4, &[3.0, 4.0, 5.0, 2.0, 3.0, 2.0]).unwrap();
        let r = m.weights();
        for (w, e) in r.weights.iter().zip([0.546, 0.232, 0.138, 0.084]) {
            assert!(close(*w, e, 1e-3), "{:?}", r.weights);
        }
        assert!(
            close(r.consistency_ratio, 0.019, 1e-3),
            "CR {}",
            r.consistency_ratio
        );
        assert!(r.is_consistent());
    }

    #[test]
    fn trivial_sizes_are_consistent() {
        let one = PairwiseMatrix::new(1, vec![1.0]).unwrap().weights();
        assert_eq!(one.weights, vec![1.0]);
        assert_eq!(one.consistency_ratio, 0.0);
        let two = PairwiseMatrix::from_upper_triangle(2, &[3.0])
            .unwrap()
            .weights();
        assert!(close(two.weights[0], 0.75, 1e-12) && close(two.weights[1], 0.25, 1e-12));
        assert_eq!(two.consistency_ratio, 0.0);
    }

    #[test]
    fn rejects_invalid_matrices() {
        let cases: Vec<(usize, Vec<f64>, &str)> = vec![
            (0, vec![], "1 to 15 rows"),
            (16, vec![1.0; 256], "1 to 15 rows"),
            (2, vec![1.0, 2.0, 0.5], "2×2"),
            (2, vec![1.0, -2.0, -0.5, 1.0], "finite positive"),
            (2, vec![1.0, 0.0, 0.0, 1.0], "finite positive"),
            (2, vec![1.0, f64::NAN, 1.0, 1.0], "finite positive"),
            (2, vec![1.0, f64::INFINITY, 0.0, 1.0], "finite positive"),
            (2, vec![1.5, 2.0, 0.5, 1.0], "diagonal"),
            (2, vec![1.0, 3.0, 3.0, 1.0], "reciprocal"),
        ];
        for (n, values, needle) in cases {
            let err = PairwiseMatrix::new(n, values.clone()).unwrap_err();
            assert!(err.to_string().contains(needle), "{n} {values:?}: {err}");
        }
        assert!(
            PairwiseMatrix::from_rows(&[vec![1.0, 2.0], vec![0.5]])
                .unwrap_err()
                .to_string()
                .contains("square")
        );
        // Typed thirds are accepted.
        assert!(
            PairwiseMatrix::from_rows(&[
                vec![1.0, 3.0, 7.0],
                vec![0.33, 1.0, 2.0],
                vec![0.14, 0.5, 1.0]
            ])
            .is_ok()
        );
    }

    fn positive_weights(n: usize) -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(0.01f64..100.0, n)
    }

    fn saaty_upper(n: usize) -> impl Strategy<Value = Vec<f64>> {
        let scale = prop_oneof![
            (1u32..=9).prop_map(f64::from),
            (1u32..=9).prop_map(|v| 1.0 / f64::from(v))
        ];
        proptest::collection::vec(scale, n * (n - 1) / 2)
    }

    proptest! {
        #[test]
        fn consistent_matrix_recovers_its_weights(w in (1usize..=15).prop_flat_map(positive_weights)) {
            let n = w.len();
            let total: f64 = w.iter().sum();
            let values = (0..n * n).map(|k| w[k / n] / w[k % n]).collect();
            let r = PairwiseMatrix::new(n, values).unwrap().weights();
            prop_assert!((r.lambda_max - n as f64).abs() < 1e-9, "λmax {}", r.lambda_max);
            prop_assert!(r.consistency_ratio < 1e-9);
            for (got, want) in r.weights.iter().zip(&w) {
                prop_assert!((got - want / total).abs() < 1e-9);
            }
        }

        #[test]
        fn weights_are_positive_and_sum_to_one(
            upper in (3usize..=8).prop_flat_map(|n| saaty_upper(n).prop_map(move |u| (n, u)))
        ) {
            let (n, upper) = upper;
            let r = PairwiseMatrix::from_upper_triangle(n, &upper).unwrap().weights();
            prop_assert!((r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            prop_assert!(r.weights.iter().all(|w| *w > 0.0));
            // Perron: a positive reciprocal matrix has λmax ≥ n (so CI, hence CR, is never
            // negative; the code clamps rounding noise below n to 0).
            prop_assert!(r.lambda_max >= n as f64 - 1e-9, "λmax ≥ n for reciprocal matrices");
        }
    }
}
