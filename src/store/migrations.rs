//! The schema, as numbered, append-only migrations. Migration N (1-based) brings a
//! database from `user_version` N-1 to N. Never edit a migration that has shipped:
//! add a new one.

use anyhow::Context;
use rusqlite::{Connection, TransactionBehavior};

pub const MIGRATIONS: &[&str] = &[
    // 1: guests, shows, their membership and timeline, and login sessions.
    r#"
CREATE TABLE guests (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    -- lower-cased email: "the same email may not be waiting twice" is checked on it
    email_key   TEXT NOT NULL,
    energy      TEXT NOT NULL CHECK (energy IN ('lunar', 'solar')),
    element     TEXT NOT NULL CHECK (element IN ('agua', 'fuego', 'tierra', 'aire')),
    essence     TEXT NOT NULL,
    language    TEXT NOT NULL CHECK (language IN ('es', 'en')),
    consent_at  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('waiting', 'assigned', 'done', 'cancelled')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX guests_one_waiting_per_email ON guests (email_key) WHERE status = 'waiting';
CREATE INDEX guests_by_status ON guests (status, created_at);

CREATE TABLE shows (
    id               TEXT PRIMARY KEY,
    start_at         INTEGER NOT NULL,
    end_at           INTEGER NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 240),
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'running', 'posing', 'review', 'completed', 'cancelled')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CHECK (end_at > start_at)
) STRICT;
CREATE INDEX shows_by_start ON shows (start_at);

-- marker = index of the guest's floor marker (0-based), so at most one guest per marker
CREATE TABLE show_guests (
    show_id  TEXT NOT NULL REFERENCES shows (id),
    guest_id TEXT NOT NULL REFERENCES guests (id),
    marker   INTEGER NOT NULL CHECK (marker >= 0),
    PRIMARY KEY (show_id, guest_id),
    UNIQUE (show_id, marker)
) STRICT;
CREATE INDEX show_guests_by_guest ON show_guests (guest_id);

-- Last line of defence for "a guest is in at most one active show".
CREATE TRIGGER show_guests_one_active_show BEFORE INSERT ON show_guests
WHEN EXISTS (
    SELECT 1 FROM show_guests sg JOIN shows s ON s.id = sg.show_id
    WHERE sg.guest_id = NEW.guest_id AND sg.show_id <> NEW.show_id
      AND s.status IN ('scheduled', 'running', 'posing', 'review')
)
BEGIN
    SELECT RAISE(ABORT, 'guest already in an active show');
END;

CREATE TABLE show_events (
    id      INTEGER PRIMARY KEY,
    show_id TEXT NOT NULL REFERENCES shows (id),
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT
) STRICT;
CREATE INDEX show_events_by_show ON show_events (show_id, id);

CREATE TABLE sessions (
    -- SHA-256 of the bearer token; the token itself is never stored
    token_hash TEXT PRIMARY KEY,
    role       TEXT NOT NULL CHECK (role IN ('kiosk', 'host', 'technician', 'show_control')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
"#,
    // 2: photos, and the show's start time and spontaneous-photo state for the timeline.
    r#"
ALTER TABLE shows ADD COLUMN started_at INTEGER;
ALTER TABLE shows ADD COLUMN spontaneous TEXT NOT NULL DEFAULT 'pending'
    CHECK (spontaneous IN ('pending', 'taking', 'taken', 'failed'));

CREATE TABLE photos (
    id          TEXT PRIMARY KEY,
    show_id     TEXT NOT NULL REFERENCES shows (id),
    kind        TEXT NOT NULL CHECK (kind IN ('spontaneous', 'posed')),
    state       TEXT NOT NULL CHECK (state IN ('pending', 'approved')),
    -- file stem under photos/<show_id>/: unique, says show and kind
    name        TEXT NOT NULL UNIQUE,
    captured_at INTEGER NOT NULL,
    -- upright size of the original
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL
) STRICT;
CREATE INDEX photos_by_show ON photos (show_id, captured_at);
CREATE UNIQUE INDEX photos_one_spontaneous ON photos (show_id) WHERE kind = 'spontaneous';
"#,
    // 3: the outbox — one personalised message per guest of a finished show, kept until
    // the relay accepts it (or it fails for good), with the photos it carries.
    r#"
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    -- RFC 5322 Message-ID: fixed at queueing, the same on every retry, so a message
    -- sent twice (a crash between the relay's OK and our commit) is one to the reader
    message_id      TEXT NOT NULL UNIQUE,
    show_id         TEXT NOT NULL REFERENCES shows (id),
    guest_id        TEXT NOT NULL REFERENCES guests (id),
    recipient       TEXT NOT NULL,
    language        TEXT NOT NULL CHECK (language IN ('es', 'en')),
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    UNIQUE (show_id, guest_id)
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE outbox_attachments (
    outbox_id TEXT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    photo_id  TEXT NOT NULL REFERENCES photos (id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (outbox_id, photo_id)
) STRICT;
"#,
    // 4: the kiosk's Idempotency-Keys: a retried registration finds the guest it made.
    r#"
CREATE TABLE registration_keys (
    key            TEXT PRIMARY KEY,
    -- SHA-256 of the validated questionnaire: a repeat must carry the same answers
    request_sha256 TEXT NOT NULL,
    -- the key goes with its guest (erasure, retention purge)
    guest_id       TEXT NOT NULL REFERENCES guests (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX registration_keys_by_age ON registration_keys (created_at);
"#,
    // 5: a message may be sent again (a new row for the same guest and show, pointing at
    // the one it resends), so (show_id, guest_id) is no longer unique. SQLite cannot drop
    // a constraint: the table is rebuilt. Foreign keys stay on inside a migration, so the
    // attachments are moved to a table pointing at the new `outbox` before the old one
    // is dropped (dropping a parent would cascade-delete them).
    r#"
ALTER TABLE outbox RENAME TO outbox_v3;
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    show_id         TEXT NOT NULL REFERENCES shows (id),
    guest_id        TEXT NOT NULL REFERENCES guests (id),
    recipient       TEXT NOT NULL,
    language        TEXT NOT NULL CHECK (language IN ('es', 'en')),
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    -- the message this one sends again (the host's "resend"); it stays as history
    resend_of       TEXT
) STRICT;
INSERT INTO outbox (id, message_id, show_id, guest_id, recipient, language, subject, body_text,
                    body_html, status, attempts, last_error, created_at, next_attempt_at,
                    expires_at, sent_at)
SELECT id, message_id, show_id, guest_id, recipient, language, subject, body_text,
       body_html, status, attempts, last_error, created_at, next_attempt_at, expires_at, sent_at
FROM outbox_v3;
CREATE TABLE outbox_attachments_v4 (
    outbox_id TEXT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    photo_id  TEXT NOT NULL REFERENCES photos (id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (outbox_id, photo_id)
) STRICT;
INSERT INTO outbox_attachments_v4 SELECT outbox_id, photo_id, position FROM outbox_attachments;
DROP TABLE outbox_attachments;
ALTER TABLE outbox_attachments_v4 RENAME TO outbox_attachments;
DROP TABLE outbox_v3;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_guest ON outbox (guest_id);
CREATE INDEX outbox_by_show ON outbox (show_id);
"#,
    // 6: the host's alerts, kept across restarts: raised when a condition starts, cleared
    // when it ends, acknowledged by the host. No guest data: plain sentences and ids.
    r#"
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('camera_offline', 'spontaneous_failed', 'capture_failed',
                                                  'disk_low', 'mail_failing', 'photo_files_missing')),
    -- the show it is about, for the kinds that have one (no foreign key: an alert
    -- outlives the purge of its show)
    show_id         TEXT,
    message         TEXT NOT NULL,
    raised_at       INTEGER NOT NULL,
    cleared_at      INTEGER,
    acknowledged_at INTEGER
) STRICT;
-- one open alert per kind (and show): a condition that goes on is not raised again
CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, coalesce(show_id, '')) WHERE cleared_at IS NULL;
CREATE INDEX alerts_by_time ON alerts (raised_at);
"#,
    // 7 (issue 14): alert kind `camera_drift` (a profile setting changed on the body). SQLite
    // cannot alter a CHECK, so the table is rebuilt with its rows and indexes.
    r#"
CREATE TABLE alerts_new (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('camera_offline', 'spontaneous_failed', 'capture_failed',
                                                  'disk_low', 'mail_failing', 'photo_files_missing',
                                                  'camera_drift')),
    show_id         TEXT,
    message         TEXT NOT NULL,
    raised_at       INTEGER NOT NULL,
    cleared_at      INTEGER,
    acknowledged_at INTEGER
) STRICT;
INSERT INTO alerts_new (id, kind, show_id, message, raised_at, cleared_at, acknowledged_at)
    SELECT id, kind, show_id, message, raised_at, cleared_at, acknowledged_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, coalesce(show_id, '')) WHERE cleared_at IS NULL;
CREATE INDEX alerts_by_time ON alerts (raised_at);
"#,
    // 8 (issue 14): the camera bodies the box has seen, found again by serial after a USB
    // reset moved them to another port, with lifetime counters per body. Written behind the
    // capture path (see `crate::bodies`); no guest data.
    r#"
CREATE TABLE camera_bodies (
    -- 'serial:<serial>', or 'model:<model>' for a body that reports no serial
    key           TEXT PRIMARY KEY,
    serial        TEXT,
    model         TEXT NOT NULL,
    first_seen    INTEGER NOT NULL,
    -- last connected or counted
    last_seen     INTEGER NOT NULL,
    last_port     TEXT,
    captures      INTEGER NOT NULL DEFAULT 0 CHECK (captures >= 0),
    failures      INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    -- the recovery ladder's rungs climbed for this body
    retries       INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),
    reopens       INTEGER NOT NULL DEFAULT 0 CHECK (reopens >= 0),
    usb_resets    INTEGER NOT NULL DEFAULT 0 CHECK (usb_resets >= 0),
    power_cycles  INTEGER NOT NULL DEFAULT 0 CHECK (power_cycles >= 0),
    -- the body's own shutter counter, as last read (NULL: it reports none)
    shutter_count INTEGER CHECK (shutter_count >= 0)
) STRICT;
CREATE INDEX camera_bodies_by_last_seen ON camera_bodies (last_seen);
"#,
    // 9 (issue 15): the technician's alerts. `technician_conditions` holds the conditions
    // that are on now (a row per condition, gone when it ends); `technician_outbox` is the
    // outbox's second kind of message: alert mail (and webhook calls) to the technical
    // team, never a guest's, so never counted with the guests' mail nor purged with their
    // data. Each start, reminder and end writes its messages in the transaction that
    // changes the condition.
    r#"
CREATE TABLE technician_conditions (
    condition        TEXT PRIMARY KEY,
    started_at       INTEGER NOT NULL,
    -- a plain sentence, never guest data
    detail           TEXT NOT NULL,
    last_notified_at INTEGER NOT NULL,
    reminders        INTEGER NOT NULL DEFAULT 0 CHECK (reminders >= 0)
) STRICT;
CREATE TABLE technician_outbox (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    condition       TEXT NOT NULL,
    event           TEXT NOT NULL CHECK (event IN ('started', 'reminder', 'ended')),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    -- an address of [alerts] email, or the webhook URL
    recipient       TEXT NOT NULL,
    language        TEXT NOT NULL CHECK (language IN ('es', 'en')),
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    -- the condition's plain detail (the webhook's `detail`)
    detail          TEXT NOT NULL,
    -- the condition's start (the webhook's `since`)
    since           INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;
CREATE INDEX technician_outbox_due ON technician_outbox (channel, status, next_attempt_at);
CREATE INDEX technician_outbox_by_time ON technician_outbox (created_at);
"#,
];

/// A database from a newer cosmosd: it is left as it is (never downgraded). The caller
/// names the backup that puts the previous state back (`crate::upgrade`).
#[derive(Debug, thiserror::Error)]
#[error(
    "the database has schema version {found}, newer than this cosmosd knows ({known}); \
     run the newer cosmosd or restore a backup"
)]
pub struct NewerSchema {
    /// The database's `user_version`.
    pub found: usize,
    /// The schema this binary brings (the number of migrations).
    pub known: usize,
}

/// The schema version (`user_version`) of a database file, opened read-only: a backup's
/// copy, which is one file without a write-ahead log.
pub fn schema_of_file(path: &std::path::Path) -> anyhow::Result<usize> {
    let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", path.display()))?;
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .with_context(|| format!("reading the schema version of {}", path.display()))?;
    Ok(v as usize)
}

/// Brings the database up to the newest schema, one migration per transaction; refuses
/// a database from a newer cosmosd.
pub(super) fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(NewerSchema {
            found: current,
            known: MIGRATIONS.len(),
        }
        .into());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        log::info!(migration = i + 1; "database migrated to schema version {}", i + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_camera_drift_kind_keeps_the_alerts_and_their_one_open_rule() {
        let mut c = Connection::open_in_memory().unwrap();
        let at = MIGRATIONS
            .iter()
            .position(|m| m.contains("'camera_drift'"))
            .unwrap();
        for sql in &MIGRATIONS[..at] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", at as i64).unwrap();
        c.execute_batch(
            "INSERT INTO alerts VALUES ('a', 'camera_offline', NULL, 'm', 1, NULL, NULL);
             INSERT INTO alerts VALUES ('b', 'disk_low', NULL, 'm', 2, 3, NULL);",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        c.execute(
            "INSERT INTO alerts VALUES ('d', 'camera_drift', NULL, 'm', 4, NULL, NULL)",
            [],
        )
        .unwrap();
        let again = c.execute(
            "INSERT INTO alerts VALUES ('e', 'camera_offline', NULL, 'm', 5, NULL, NULL)",
            [],
        );
        assert!(
            again.is_err(),
            "one open alert per kind survives the rebuild"
        );
        assert!(
            c.execute(
                "INSERT INTO alerts VALUES ('f', 'nonsense', NULL, 'm', 5, NULL, NULL)",
                []
            )
            .is_err()
        );
    }

    #[test]
    fn the_camera_bodies_table_arrives_empty_and_keeps_every_older_row() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", true).unwrap();
        let at = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE camera_bodies"))
            .unwrap();
        for sql in &MIGRATIONS[..at] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", at as i64).unwrap();
        c.execute_batch(
            "INSERT INTO guests VALUES ('g', 'n', 'e@x.org', 'e@x.org', 'lunar', 'agua', 'flor', 'es', 0, 'waiting', 0, 0);
             INSERT INTO shows (id, start_at, end_at, duration_minutes, status, created_at, updated_at)
                 VALUES ('s', 0, 1, 1, 'completed', 0, 0);
             INSERT INTO photos VALUES ('p', 's', 'posed', 'approved', 'n1', 0, 1, 1, 1);
             INSERT INTO alerts VALUES ('a', 'camera_drift', NULL, 'm', 1, NULL, NULL);",
        )
        .unwrap();
        let count = |c: &Connection, t: &str| -> i64 {
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        };
        migrate(&mut c).unwrap();
        for t in ["guests", "shows", "photos", "alerts"] {
            assert_eq!(count(&c, t), 1, "{t} kept its row");
        }
        assert_eq!(count(&c, "camera_bodies"), 0);
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            v as usize,
            MIGRATIONS.len(),
            "and every later migration ran"
        );
        c.execute(
            "INSERT INTO camera_bodies (key, serial, model, first_seen, last_seen)
             VALUES ('serial:1', '1', 'm', 0, 0)",
            [],
        )
        .unwrap();
        assert!(
            c.execute(
                "UPDATE camera_bodies SET captures = -1 WHERE key = 'serial:1'",
                []
            )
            .is_err(),
            "counters never go negative"
        );
    }

    #[test]
    fn rebuilding_the_outbox_keeps_messages_and_their_attachments() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", true).unwrap();
        for sql in &MIGRATIONS[..3] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 3).unwrap();
        c.execute_batch(
            "INSERT INTO guests VALUES ('g', 'n', 'e@x.org', 'e@x.org', 'lunar', 'agua', 'flor', 'es', 0, 'done', 0, 0);
             INSERT INTO shows (id, start_at, end_at, duration_minutes, status, created_at, updated_at)
                 VALUES ('s', 0, 1, 1, 'completed', 0, 0);
             INSERT INTO photos VALUES ('p', 's', 'posed', 'approved', 'n1', 0, 1, 1, 1);
             INSERT INTO outbox (id, message_id, show_id, guest_id, recipient, language, subject,
                                 body_text, body_html, status, created_at, next_attempt_at, expires_at)
                 VALUES ('m', '<m@x>', 's', 'g', 'e@x.org', 'es', 's', 't', 'h', 'sent', 0, 0, 0);
             INSERT INTO outbox_attachments VALUES ('m', 'p', 0);",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM outbox_attachments WHERE outbox_id = 'm'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "the attachment survived");
        // The same guest and show may now have a second message ...
        c.execute_batch(
            "INSERT INTO outbox (id, message_id, show_id, guest_id, recipient, language, subject,
                                 body_text, body_html, status, created_at, next_attempt_at, expires_at, resend_of)
                 VALUES ('m2', '<m2@x>', 's', 'g', 'e@x.org', 'es', 's', 't', 'h', 'queued', 0, 0, 0, 'm');
             INSERT INTO outbox_attachments VALUES ('m2', 'p', 0);",
        )
        .unwrap();
        // ... and attachments still go with their message.
        c.execute("DELETE FROM outbox WHERE id = 'm'", []).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM outbox_attachments", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let fk: i64 = c
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk, 0);
    }
}
