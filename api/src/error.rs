//! [`AppError`]: the one error type that leaves the server. Every failure becomes a
//! stable HTTP status, a stable machine-readable code and a message for people; gRPC gets
//! the matching status code. Internal details (storage errors, corruption reports) are
//! logged and answered with a generic message, never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ledger::LedgerError;

use crate::error_code::ErrorCode;
use crate::intake::{ErrorKind, IntakeError};

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    pub status: StatusCode,
    /// Stable, machine-readable reason, e.g. `sequence_gap`. Also the label of the
    /// rejects-by-reason metric.
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for `Retry-After` (back-pressure only).
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }

    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, code, message)
    }

    /// A well-formed request that fails a verification rule (signature, key, clock).
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn busy(retry_after: u64) -> AppError {
        AppError::busy_with(
            retry_after,
            "the append queue is full; retry after the time in Retry-After",
        )
    }

    /// 503 `busy` with `Retry-After` and a message saying what is busy.
    pub fn busy_with(retry_after: u64, message: impl Into<String>) -> AppError {
        AppError {
            retry_after: Some(retry_after),
            ..AppError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, message)
        }
    }

    /// Something went wrong inside the server. The detail goes to the server log only.
    pub fn internal(detail: impl std::fmt::Display) -> AppError {
        tracing::error!("internal error: {detail}");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal server error; the operator can find the details in the server log",
        )
    }

    /// Maps a log error. `retry_after` is used for [`LedgerError::Busy`].
    pub fn from_ledger(e: LedgerError, retry_after: u64) -> AppError {
        match e {
            LedgerError::Busy { .. } => AppError::busy(retry_after),
            LedgerError::Stopped { reason } => {
                tracing::error!("ledger stopped: {reason}");
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the ledger is not accepting appends; the operator must look at the server log",
                )
            }
            e @ LedgerError::NoSpace { .. } => {
                AppError::from(crate::intake::IntakeError::from_ledger(e, retry_after))
            }
            LedgerError::NotFound { what } => AppError::not_found(format!("{what} not found")),
            LedgerError::InvalidRequest(m) => AppError::bad_request(ErrorCode::InvalidRequest, m),
            LedgerError::Proof(p) => {
                AppError::bad_request(ErrorCode::InvalidRequest, p.to_string())
            }
            LedgerError::EntryTooLarge { len } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!("entry is {len} bytes; one log entry is at most 65535 bytes"),
            ),
            LedgerError::EmptyEntry => {
                AppError::bad_request(ErrorCode::Empty, "empty entries are not accepted")
            }
            other => AppError::internal(other),
        }
    }

    /// The gRPC status with the same meaning; the stable code travels in the
    /// `x-error-code` metadata entry.
    pub fn to_status(&self) -> tonic::Status {
        use tonic::Code;
        let code = match self.status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidArgument,
            StatusCode::PAYLOAD_TOO_LARGE => Code::OutOfRange,
            StatusCode::UNAUTHORIZED => Code::Unauthenticated,
            StatusCode::FORBIDDEN => Code::PermissionDenied,
            StatusCode::NOT_FOUND => Code::NotFound,
            StatusCode::CONFLICT => Code::FailedPrecondition,
            StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
            StatusCode::INSUFFICIENT_STORAGE => Code::ResourceExhausted,
            _ => Code::Internal,
        };
        let mut status = tonic::Status::new(code, self.message.clone());
        if let Ok(v) = self.code.as_str().parse() {
            status.metadata_mut().insert("x-error-code", v);
        }
        if let Some(secs) = self.retry_after {
            if let Ok(v) = secs.to_string().parse() {
                status.metadata_mut().insert("retry-after", v);
            }
        }
        status
    }

    /// The JSON body of an error answer: `{"error": {"code": …, "message": …}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code.as_str(), "message": self.message } })
    }
}

impl From<ledger_record::BatchBodyError> for AppError {
    fn from(e: ledger_record::BatchBodyError) -> AppError {
        match e {
            ledger_record::BatchBodyError::Malformed(_) => {
                AppError::bad_request(ErrorCode::InvalidBatch, e.to_string())
            }
            ledger_record::BatchBodyError::TooMany { .. } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooManyRecords,
                e.to_string(),
            ),
        }
    }
}

impl From<IntakeError> for AppError {
    /// The status, code and message of an intake refusal. Internal details were logged
    /// when the error was made; the message here is the generic one.
    fn from(e: IntakeError) -> AppError {
        let status = match e.kind() {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Busy { .. } | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::InsufficientStorage { .. } => StatusCode::INSUFFICIENT_STORAGE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let retry_after = match e.kind() {
            ErrorKind::Busy { retry_after_secs }
            | ErrorKind::InsufficientStorage { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        AppError {
            retry_after,
            ..AppError::new(status, e.code(), e.to_string())
        }
    }
}

impl From<crate::auth::AuthError> for AppError {
    fn from(e: crate::auth::AuthError) -> AppError {
        use crate::auth::AuthError as A;
        let code = e.code();
        match e {
            A::NoCredential | A::ExpiredCredential | A::UnknownCredential => {
                AppError::unauthorized(e.to_string())
            }
            A::Store(store) => AppError::internal(store),
            other => AppError::forbidden(code, other.to_string()),
        }
    }
}

impl From<IntakeError> for tonic::Status {
    fn from(e: IntakeError) -> tonic::Status {
        AppError::from(e).to_status()
    }
}

impl From<crate::checkins::InvalidCheckin> for AppError {
    fn from(e: crate::checkins::InvalidCheckin) -> AppError {
        AppError::bad_request(e.code(), e.0)
    }
}

impl From<AppError> for tonic::Status {
    fn from(e: AppError) -> tonic::Status {
        e.to_status()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_carries_retry_after_over_http_and_grpc() {
        let e = AppError::from_ledger(LedgerError::Busy { capacity: 4 }, 2);
        let r = e.clone().into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "2");
        let s = e.to_status();
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(s.metadata().get("x-error-code").unwrap(), "busy");
    }

    #[test]
    fn intake_errors_keep_their_status_code_and_message() {
        let gap = IntakeError::SequenceGap {
            chain: ledger_record::ChainId::new(
                ledger_record::Id::new("site-a").unwrap(),
                ledger_record::Id::new("box-1").unwrap(),
            ),
            expected: 4,
            got: 6,
        };
        let e = AppError::from(gap);
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.code, "sequence_gap");
        assert_eq!(
            e.message,
            "sequence gap for site-a/box-1: expected sequence 4, got 6"
        );
        assert_eq!(e.retry_after, None);
        let e = AppError::from(IntakeError::FutureTime {
            ahead_ms: 1,
            max_skew_secs: 2,
        });
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let e = AppError::from(IntakeError::Undecodable(
            ledger_record::RecordError::TooLarge { len: 9, max: 8 },
        ));
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.code, "too_large");
    }

    #[test]
    fn intake_errors_map_like_ledger_errors() {
        for ledger_error in [
            || LedgerError::Busy { capacity: 4 },
            || LedgerError::Stopped { reason: "x".into() },
            || LedgerError::NotFound {
                what: "tree size 9".into(),
            },
            || LedgerError::InvalidRequest("bad range".into()),
            || LedgerError::EntryTooLarge { len: 70000 },
            || LedgerError::EmptyEntry,
            || LedgerError::Corrupt {
                what: "leaf".into(),
            },
        ] {
            let direct = AppError::from_ledger(ledger_error(), 3);
            let via_intake = AppError::from(IntakeError::from_ledger(ledger_error(), 3));
            assert_eq!(via_intake, direct);
        }
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let e = AppError::from_ledger(
            LedgerError::Corrupt {
                what: "secret path /var/lib/x".into(),
            },
            1,
        );
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("/var/lib"));
    }
}
