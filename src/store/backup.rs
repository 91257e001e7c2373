//! The SQL side of `cosmosd backup` and `restore`: an online snapshot of the live
//! database into a single file, and the checks of such a copy (integrity, what it holds).
//! These open their own connections: the CLI runs beside the daemon, not inside it.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, backup::StepResult};

/// What a copy of the database holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub guests: u64,
    pub shows: u64,
    pub photos: u64,
    /// `(show_id, name)` of every photo row, ordered: the files a backup must carry.
    pub photo_files: Vec<(String, String)>,
}

/// Copies the live database at `db` into a new file `copy` with SQLite's online backup
/// API while the daemon keeps writing, and returns what the copy holds. The copy is one
/// consistent snapshot, a single file (no WAL beside it), and passed the integrity check.
pub fn snapshot(db: &Path, copy: &Path) -> anyhow::Result<Contents> {
    {
        let src = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {}", db.display()))?;
        src.busy_timeout(Duration::from_secs(10))?;
        let mut dst = Connection::open(copy)?;
        let b = rusqlite::backup::Backup::new(&src, &mut dst)?;
        // All pages in one step: one read transaction, one consistent snapshot, and no
        // restart when the daemon writes meanwhile.
        loop {
            match b.step(-1).context("copying the database")? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {}
            }
        }
    }
    // A backup is a single file: no WAL beside it.
    let dst = Connection::open(copy)?;
    dst.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    contents(&dst, copy)
}

/// Checks the integrity of a database copy (a backup's, before it is restored) and says
/// what it holds. `what` names it in errors.
pub fn inspect_copy(copy: &Path, what: &Path) -> anyhow::Result<Contents> {
    let c = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening {}", copy.display()))?;
    contents(&c, what)
}

fn contents(c: &Connection, what: &Path) -> anyhow::Result<Contents> {
    read_contents(c).with_context(|| format!("checking {}", what.display()))
}

fn read_contents(c: &Connection) -> anyhow::Result<Contents> {
    let r: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if r != "ok" {
        bail!("integrity check failed: {r}");
    }
    let n = |t: &str| -> rusqlite::Result<u64> {
        c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
    };
    let photo_files = c
        .prepare("SELECT show_id, name FROM photos ORDER BY show_id, name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Contents {
        guests: n("guests")?,
        shows: n("shows")?,
        photos: n("photos")?,
        photo_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::{Element, Energy, Language, NewGuest};
    use crate::store::Store;

    #[test]
    fn a_snapshot_is_one_checked_file_with_what_the_live_database_holds() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.db");
        let store = Store::open(&db).unwrap();
        store
            .add_guest(
                &NewGuest {
                    name: "Ana".into(),
                    email: "ana@example.org".into(),
                    energy: Energy::Lunar,
                    element: Element::Agua,
                    essence: "flor".into(),
                    language: Language::Es,
                },
                chrono::Utc::now(),
            )
            .unwrap();
        let copy = dir.path().join("copy.db");
        // The daemon's connection stays open meanwhile, as in production.
        let c = snapshot(&db, &copy).unwrap();
        assert_eq!((c.guests, c.shows, c.photos), (1, 0, 0));
        assert!(!dir.path().join("copy.db-wal").exists(), "a single file");
        assert_eq!(inspect_copy(&copy, &copy).unwrap(), c);
        drop(store);

        // A damaged copy is refused, naming it.
        let mut bytes = std::fs::read(&copy).unwrap();
        let len = bytes.len();
        for b in &mut bytes[len / 2..] {
            *b = 0x5a;
        }
        std::fs::write(&copy, bytes).unwrap();
        let e = inspect_copy(&copy, Path::new("backup/cosmos.db")).unwrap_err();
        assert!(format!("{e:#}").contains("backup/cosmos.db"), "{e:#}");
    }
}
