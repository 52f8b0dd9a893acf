//! What a CloudFormation stack status means for stackctl: still working,
//! settled and healthy, settled after a failure, or stuck.

/// A stack status, sorted into what the engine does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// An operation is running (`*_IN_PROGRESS`, not `REVIEW_IN_PROGRESS`).
    Busy,
    /// Settled and usable: `CREATE_COMPLETE`, `UPDATE_COMPLETE`,
    /// `UPDATE_ROLLBACK_COMPLETE` (the last update failed, the stack is back
    /// as it was), `IMPORT_COMPLETE`, ...
    Stable,
    /// Created by a change set that was never executed: the stack has no
    /// template yet and takes a CREATE change set (or a delete).
    Review,
    /// A failed first create: the stack holds nothing and cannot be
    /// updated; it must be deleted and created again.
    FailedCreate,
    /// Stuck: needs a person (`UPDATE_ROLLBACK_FAILED`, `DELETE_FAILED`, ...).
    Stuck,
    /// Gone (`DELETE_COMPLETE`).
    Deleted,
}

/// Sorts `status`.
pub fn state(status: &str) -> State {
    match status {
        "REVIEW_IN_PROGRESS" => State::Review,
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => State::FailedCreate,
        "DELETE_COMPLETE" => State::Deleted,
        "UPDATE_ROLLBACK_FAILED" | "DELETE_FAILED" | "IMPORT_ROLLBACK_FAILED" => State::Stuck,
        s if s.ends_with("_IN_PROGRESS") => State::Busy,
        // CREATE_FAILED only shows while a rollback is disabled.
        "CREATE_FAILED" | "UPDATE_FAILED" => State::Stuck,
        _ => State::Stable,
    }
}

/// Whether an operation that ended in `status` did what was asked.
pub fn succeeded(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "DELETE_COMPLETE" | "IMPORT_COMPLETE"
    )
}

/// What a person can do about a stack in `status`, when it needs one.
pub fn remedy(status: &str) -> Option<&'static str> {
    Some(match status {
        "UPDATE_ROLLBACK_FAILED" => {
            "CloudFormation could not roll the update back; fix the resources named above, then `aws cloudformation continue-update-rollback --stack-name NAME` (or the console's \"Continue update rollback\")"
        }
        "DELETE_FAILED" => {
            "fix what kept the resources named above from being deleted (a bucket that holds objects, say: `stackctl destroy --empty-buckets`), then destroy again"
        }
        "CREATE_FAILED" | "UPDATE_FAILED" => {
            "the stack was deployed with rollback disabled; fix the resources named above and deploy again, or destroy it"
        }
        "IMPORT_ROLLBACK_FAILED" => "see the resources named above; the console can continue the rollback",
        _ => return None,
    })
}

/// Whether a failed resource event is only the echo of another failure
/// ("Resource creation cancelled" when a sibling failed first).
pub fn is_cancellation(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("resource creation cancelled")
        || r.contains("resource update cancelled")
        || r.contains("resource deletion cancelled")
        || r.contains("resource handler returned message: \"null\"") && r.contains("cancel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_states() {
        let cases = [
            ("CREATE_IN_PROGRESS", State::Busy),
            ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", State::Busy),
            ("UPDATE_ROLLBACK_IN_PROGRESS", State::Busy),
            ("DELETE_IN_PROGRESS", State::Busy),
            ("REVIEW_IN_PROGRESS", State::Review),
            ("CREATE_COMPLETE", State::Stable),
            ("UPDATE_ROLLBACK_COMPLETE", State::Stable),
            ("ROLLBACK_COMPLETE", State::FailedCreate),
            ("UPDATE_ROLLBACK_FAILED", State::Stuck),
            ("DELETE_FAILED", State::Stuck),
            ("DELETE_COMPLETE", State::Deleted),
        ];
        for (status, want) in cases {
            assert_eq!(state(status), want, "{status}");
        }
        assert!(succeeded("UPDATE_COMPLETE"));
        assert!(!succeeded("UPDATE_ROLLBACK_COMPLETE"));
        assert!(remedy("UPDATE_ROLLBACK_FAILED")
            .unwrap()
            .contains("continue-update-rollback"));
        assert!(remedy("UPDATE_COMPLETE").is_none());
    }

    #[test]
    fn cancellations_are_not_causes() {
        assert!(is_cancellation("Resource creation cancelled"));
        assert!(is_cancellation("Resource update cancelled"));
        assert!(!is_cancellation("ingest-bucket already exists"));
    }
}
