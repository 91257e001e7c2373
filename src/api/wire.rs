//! Wire vocabulary shared by every resource: the closed sets (statuses, roles, the
//! questionnaire's choices) as enums with their OpenAPI schema, each mapped from its
//! domain twin, and how times are written. The domain types stay free of serde: only
//! `api` decides what the tablets see.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema, schema::Ref};

/// A wire enum and its `From` the domain enum of the same variants.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident from $domain:path { $($variant:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl From<$domain> for $name {
            fn from(d: $domain) -> Self {
                use $domain as D;
                match d { $(D::$variant => $name::$variant),+ }
            }
        }
    };
}

wire_enum!(
    /// The guest's energy.
    Energy from crate::show::Energy { Lunar, Solar }
);
wire_enum!(
    /// The guest's element (stored and sent by its Spanish id).
    Element from crate::show::Element { Agua, Fuego, Tierra, Aire }
);
wire_enum!(
    /// The language of the guest's mail.
    Language from crate::show::Language { Es, En }
);
wire_enum!(
    /// waiting → assigned (in a show) → done; or cancelled.
    GuestStatus from crate::show::GuestStatus { Waiting, Assigned, Done, Cancelled }
);
wire_enum!(
    /// scheduled → running → posing → review → completed; or cancelled.
    ShowStatus from crate::show::ShowStatus { Scheduled, Running, Posing, Review, Completed, Cancelled }
);
wire_enum!(
    /// The show's spontaneous photo: pending → taking → taken, or failed.
    Spontaneous from crate::show::Spontaneous { Pending, Taking, Taken, Failed }
);
wire_enum!(
    /// Taken during the show without posing, or posed at the end.
    PhotoKind from crate::show::PhotoKind { Spontaneous, Posed }
);
wire_enum!(
    /// pending → approved (a retake replaces a pending posed photo).
    PhotoState from crate::show::PhotoState { Pending, Approved }
);
wire_enum!(
    /// queued → sent, or failed (the host may queue it again).
    MailStatus from crate::show::MailStatus { Queued, Sent, Failed }
);
wire_enum!(
    /// What an alert is about (`spontaneous_failed`, `capture_failed`: a show's).
    AlertKind from crate::show::AlertKind { CameraOffline, SpontaneousFailed, CaptureFailed, DiskLow, MailFailing, PhotoFilesMissing, CameraDrift }
);
wire_enum!(
    /// Who a session token speaks for.
    Role from crate::access::Role { Kiosk, Host, Technician, ShowControl }
);
wire_enum!(
    /// Whether the mail relay answered the last time (unknown: nothing tried yet).
    UplinkState from crate::outbox::UplinkState { Unknown, Up, Down }
);

impl From<Role> for crate::access::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Kiosk => crate::access::Role::Kiosk,
            Role::Host => crate::access::Role::Host,
            Role::Technician => crate::access::Role::Technician,
            Role::ShowControl => crate::access::Role::ShowControl,
        }
    }
}

/// The element as a kiosk may send it: the Spanish id or its English alias.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // only its schema is used: the domain parses the value (aliases, case)
pub enum ElementChoice {
    Agua,
    Fuego,
    Tierra,
    Aire,
    Water,
    Fire,
    Earth,
    Air,
}

/// A guest-status filter: a status, or every guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuestFilter {
    Waiting,
    Assigned,
    Done,
    Cancelled,
    All,
}

/// The schema name of the venue's essences: an enum filled from the config when the
/// document is served (see `openapi::document`).
pub const ESSENCE: &str = "Essence";

/// `$ref` to [`ESSENCE`], for the fields that carry an essence id.
pub fn essence_ref() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(ESSENCE))
}

/// Times go out as RFC 3339 with offset and whole seconds, as they always have.
pub fn time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, false))
}

pub fn time_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

/// Reports keep sub-second precision (the camera's `since`, a purge's `at`).
pub fn precise<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

pub fn precise_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => precise(t, s),
        None => s.serialize_none(),
    }
}

/// `{"items": [...]}`: every list the API sends.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T: ToSchema> {
    pub items: Vec<T>,
}

impl<T: ToSchema> Items<T> {
    pub fn of<D>(list: impl IntoIterator<Item = D>, f: impl FnMut(D) -> T) -> Self {
        Items {
            items: list.into_iter().map(f).collect(),
        }
    }
}
