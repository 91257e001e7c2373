//! Room to breathe on a full disk: a ballast file (`disk-reserve`, 4 MiB) in the data
//! folder, made while there is room and released only when a host's (or technician's)
//! login cannot be written because the disk is full. The host can then always get in and
//! see why (the health report says the disk is full); the reserve is made again once the
//! disk has room above its floor.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The ballast's name in the data folder.
pub const FILE: &str = "disk-reserve";
/// Its size: room for many sessions and the WAL pages their writes need.
pub const BYTES: u64 = 4 * 1024 * 1024;

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Whether the reserve is in place.
pub fn present(data_dir: &Path) -> bool {
    std::fs::metadata(path(data_dir)).is_ok_and(|m| m.len() == BYTES)
}

/// Makes the reserve when it is missing and `free_bytes` leaves room for it above
/// `floor_bytes`. Written beside and renamed, so it is whole or absent. Returns whether
/// it was made now.
pub fn ensure(data_dir: &Path, free_bytes: u64, floor_bytes: u64) -> std::io::Result<bool> {
    if present(data_dir) || free_bytes < floor_bytes.saturating_add(2 * BYTES) {
        return Ok(false);
    }
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    let made = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        // Real blocks, not a sparse file: the space must be taken now to be given back.
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..(BYTES / chunk.len() as u64) {
            f.write_all(&chunk)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path(data_dir))
    })();
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    made.map(|()| true)
}

/// Gives the reserve back to the disk; returns whether there was one.
pub fn release(data_dir: &Path) -> bool {
    let _ = std::fs::remove_file(data_dir.join(format!("{FILE}.tmp")));
    std::fs::remove_file(path(data_dir)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_made_only_with_room_and_released_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !ensure(dir.path(), 3 * BYTES, 2 * BYTES).unwrap(),
            "no room above the floor"
        );
        assert!(!present(dir.path()));
        assert!(ensure(dir.path(), 10 * BYTES, BYTES).unwrap());
        assert!(present(dir.path()));
        assert!(
            !ensure(dir.path(), 10 * BYTES, BYTES).unwrap(),
            "already there"
        );
        assert!(release(dir.path()));
        assert!(!release(dir.path()));
    }
}
