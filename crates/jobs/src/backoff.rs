//! Exponential backoff with jitter, for retrying jobs and for reconnecting.

use std::time::Duration;

use rand::Rng as _;

/// Delay before retry `n` (1-based): `base · 2^(n−1)`, capped, then "equal jitter": half of it
/// fixed, half random, so retries of jobs that failed together spread out but never come back
/// sooner than half the nominal delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The nominal (jitter-free) delay before retry `n`.
    pub fn nominal(&self, retry: u32) -> Duration {
        let factor = 2_u32.saturating_pow(retry.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry `n`, jittered within [nominal/2, nominal].
    pub fn delay(&self, retry: u32) -> Duration {
        let nominal = self.nominal(retry);
        let half = nominal / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_mins(10),
    };

    #[test]
    fn doubles_per_retry_up_to_the_cap() {
        let nominal: Vec<u64> = (1..=12).map(|n| POLICY.nominal(n).as_secs()).collect();
        assert_eq!(nominal, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(POLICY.nominal(u32::MAX), POLICY.cap, "no overflow");
    }

    #[test]
    fn jitter_stays_within_half_to_full_nominal_and_varies() {
        for retry in 1..=5 {
            let nominal = POLICY.nominal(retry);
            let delays: Vec<Duration> = (0..200).map(|_| POLICY.delay(retry)).collect();
            assert!(
                delays.iter().all(|d| *d >= nominal / 2 && *d <= nominal),
                "retry {retry}: {delays:?}"
            );
            let distinct: std::collections::HashSet<_> = delays.iter().collect();
            assert!(
                distinct.len() > 100,
                "jittered: {} distinct",
                distinct.len()
            );
        }
    }
}
