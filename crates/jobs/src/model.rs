//! What a job is: its id, its state machine and its stored record.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use uuid::Uuid;

/// The id a client polls (`GET /api/v1/tasks/{task_id}`): a random UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(Uuid);

impl TaskId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for TaskId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

/// A task id that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task id must be a UUID, got {0:?}")]
pub struct MalformedTaskId(pub String);

impl FromStr for TaskId {
    type Err = MalformedTaskId;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Uuid::try_parse(raw)
            .map(Self)
            .map_err(|_| MalformedTaskId(raw.chars().take(64).collect()))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Where a job stands. PENDING → STARTED → SUCCESS | FAILURE, with STARTED → RETRY → STARTED
/// while transient failures are retried. SUCCESS and FAILURE are terminal: nothing changes them
/// (the database refuses it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Stored, queued or about to be; no worker has started it.
    Pending,
    /// A worker is running it.
    Started,
    /// A try failed transiently; the next one is scheduled (`next_attempt_at`).
    Retry,
    /// Done; the result is stored.
    Success,
    /// Failed for good: a permanent error, or every retry failed.
    Failure,
}

impl JobState {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Started,
        Self::Retry,
        Self::Success,
        Self::Failure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Started => "STARTED",
            Self::Retry => "RETRY",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failure)
    }
}

/// A state name the database should never hold (its CHECK constraint lists the valid ones).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for JobState {
    type Err = UnknownState;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| UnknownState(raw.to_owned()))
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a try failed: the gRPC code of the failure and a message fit for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub code: tonic::Code,
    pub message: String,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: TaskId,
    pub tenant: String,
    pub state: JobState,
    /// Tries started.
    pub attempts: u32,
    /// The recommender's answer (protobuf `RecommendResponse`) once SUCCESS.
    pub result: Option<Vec<u8>>,
    /// How long the successful try took.
    pub processing_ms: Option<u64>,
    /// The last error (the final one on FAILURE; the one being retried on RETRY).
    pub error: Option<JobError>,
    pub correlation_id: String,
    pub created_at: SystemTime,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub next_attempt_at: Option<SystemTime>,
    pub updated_at: SystemTime,
}

/// A job to store: one recommendation request of a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: TaskId,
    /// The recommender request (protobuf `RecommendRequest`).
    pub request: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_parse_only_uuids_and_print_canonically() {
        let id = TaskId::new_random();
        assert_eq!(id.to_string().parse::<TaskId>(), Ok(id));
        assert_eq!(
            "6F9619FF8B86D011B42D00C04FC964FF"
                .parse::<TaskId>()
                .unwrap()
                .to_string(),
            "6f9619ff-8b86-d011-b42d-00c04fc964ff"
        );
        for bad in [
            "",
            "42",
            "task-uuid-here",
            "6f9619ff-8b86-d011-b42d-00c04fc964fg",
        ] {
            assert_eq!(
                bad.parse::<TaskId>(),
                Err(MalformedTaskId(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn states_round_trip_and_only_success_and_failure_are_terminal() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
            assert_eq!(
                state.is_terminal(),
                matches!(state, JobState::Success | JobState::Failure)
            );
        }
        assert!("DONE".parse::<JobState>().is_err());
    }
}
