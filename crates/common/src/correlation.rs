//! Correlation ids: one id per public request, from the caller's `X-Correlation-ID` or a new
//! UUID, carried in gRPC metadata and AMQP headers, and written on every log line of its work.

/// Header (HTTP) and metadata key (gRPC) that carries the id.
pub const HEADER: &str = "x-correlation-id";

/// Longest id accepted from a caller; longer ones are replaced, not truncated.
const MAX_LEN: usize = 128;

/// A correlation id: 1 to 128 characters from `[A-Za-z0-9._:-]`, safe to log and echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationId(String);

impl CorrelationId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The caller's id when it is well-formed, else a fresh one: a malformed id must not reach
    /// logs or headers, and refusing the request for it would help nobody.
    pub fn from_header(value: Option<&str>) -> Self {
        value.and_then(Self::parse).unwrap_or_else(Self::new_random)
    }

    pub fn parse(value: &str) -> Option<Self> {
        let valid = !value.is_empty()
            && value.len() <= MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        valid.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_well_formed_ids_and_replaces_others() {
        assert_eq!(
            CorrelationId::from_header(Some("abc-123-def")).as_str(),
            "abc-123-def"
        );
        for bad in ["", "has space", "new\nline", "é", &"x".repeat(129)] {
            let id = CorrelationId::from_header(Some(bad));
            assert_ne!(id.as_str(), bad);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        }
        assert_ne!(
            CorrelationId::from_header(None),
            CorrelationId::from_header(None)
        );
    }
}
