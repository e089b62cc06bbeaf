//! How instants appear in answers: RFC 3339, UTC, to the millisecond (`2026-12-07T21:16:23.672Z`).

use std::time::SystemTime;

/// `time` as every answer of the API writes it.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn utc_to_the_millisecond() {
        let time = UNIX_EPOCH + Duration::from_micros(1_796_678_183_672_048);
        assert_eq!(super::rfc3339(time), "2026-12-07T21:16:23.672Z");
    }
}
