//! The API's error answer: `{"error": {"code", "message", "field"?}}` with the status
//! of API.md, built from domain refusals and store failures.

use serde::Serialize;
use utoipa::ToSchema;

use super::Reply;
use crate::camera::CameraError;
use crate::photos::PhotoError;
use crate::show::{Refusal, RefusalKind};
use crate::store;
use crate::studio::TakeError;

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code a client may branch on.
    #[schema(example = "show_overlap")]
    pub code: String,
    /// A sentence for the person at the tablet.
    pub message: String,
    /// The one body field or query parameter to blame, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Extra headers: `Retry-After` on 429, `Allow` on 405, `WWW-Authenticate` on 401.
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(422, code, message).field(field)
    }

    pub fn unauthorized(code: &'static str, message: &str) -> Self {
        let mut e = ApiError::new(401, code, message);
        e.headers.push(("WWW-Authenticate", "Bearer".into()));
        e
    }

    pub fn too_large(cap: usize) -> Self {
        ApiError::new(
            413,
            "body_too_large",
            format!("the body is larger than {cap} bytes"),
        )
    }

    pub fn throttled(retry_after_secs: u64) -> Self {
        let mut e = ApiError::new(
            429,
            "too_many_attempts",
            format!("too many failed logins from this address; try again in {retry_after_secs} s"),
        );
        e.headers
            .push(("Retry-After", retry_after_secs.to_string()));
        e
    }

    pub fn internal() -> Self {
        ApiError::new(
            500,
            "internal",
            "the box hit an internal fault; it has been logged",
        )
    }

    pub fn into_reply(self) -> Reply {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut r = Reply::json(self.status, &body);
        r.headers = self.headers;
        r
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let status = match r.kind {
            RefusalKind::Invalid => 422,
            RefusalKind::Conflict => 409,
            RefusalKind::NotFound => 404,
        };
        ApiError {
            status,
            code: r.code.as_str(),
            message: r.message,
            field: r.field,
            headers: Vec::new(),
        }
    }
}

impl From<TakeError> for ApiError {
    fn from(e: TakeError) -> Self {
        match e {
            TakeError::Refused(r) => r.into(),
            TakeError::Store(e) => e.into(),
            TakeError::DiskLow { .. } => ApiError::new(507, "disk_full", e.to_string()),
            TakeError::Photo(PhotoError::DiskFull) => ApiError::new(
                507,
                "storage_full",
                "the box's disk is full; the photo was not kept",
            ),
            TakeError::Photo(PhotoError::Undecodable(m)) => ApiError::new(
                503,
                "camera_failed",
                format!("the camera sent an unreadable photo: {m}"),
            ),
            TakeError::Photo(PhotoError::Io(err)) => {
                log::error!("photo file error: {err}");
                ApiError::internal()
            }
            TakeError::Camera(c) => {
                let code = match &c {
                    CameraError::Busy(_) => "camera_busy",
                    CameraError::StoreFull => "camera_card_full",
                    CameraError::Failed(_) => "camera_failed",
                    CameraError::FocusFailed(_) => "camera_focus_failed",
                    _ => "camera_unavailable",
                };
                let mut e = ApiError::new(503, code, c.to_string());
                if matches!(c, CameraError::Busy(_)) {
                    e.headers.push(("Retry-After", "2".into()));
                }
                e
            }
        }
    }
}

impl From<crate::outbox::ResendError> for ApiError {
    fn from(e: crate::outbox::ResendError) -> Self {
        match e {
            crate::outbox::ResendError::Store(e) => e.into(),
            crate::outbox::ResendError::Render(m) => {
                log::error!("mail rendering failure: {m}");
                ApiError::internal()
            }
        }
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Refused(r) => r.into(),
            store::Error::Full => {
                log::error!("the data disk is full: a write was refused");
                ApiError::new(
                    507,
                    "storage_full",
                    "the box's disk is full; nothing was saved",
                )
            }
            store::Error::Sqlite(e) => {
                log::error!("database failure: {e}");
                ApiError::internal()
            }
        }
    }
}
