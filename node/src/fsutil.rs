//! Durable file writes. A file the node creates is either absent or complete on disk: it is
//! written under a temporary name, fsynced, renamed into place and its directory fsynced, so a
//! crash or `kill -9` at any moment never leaves a half-written config, genesis or key.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Permissions for secret files: read and write by the owner only.
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Permissions for ordinary files.
pub const PUBLIC_FILE_MODE: u32 = 0o644;

/// Writes `bytes` to `path`, which must not exist yet, durably and atomically, with `mode`.
pub fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    if path.exists() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} already exists", path.display())));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| io::Error::other(format!("{} has no file name", path.display())))?;
    let temporary = dir.join(format!(".{}.tmp", file_name.to_string_lossy()));
    // A leftover temporary file is from a crash before the rename: it was never the real file.
    let _ = fs::remove_file(&temporary);
    {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    // The rename is what makes the file visible; hard_link + remove would refuse to replace a
    // file created concurrently, so check again right before.
    if path.exists() {
        let _ = fs::remove_file(&temporary);
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} already exists", path.display())));
    }
    fs::rename(&temporary, path)?;
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its parents, then fsyncs it so the entry survives a crash.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_once_with_the_given_mode_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        write_new_file(&path, b"one", SECRET_FILE_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let err = write_new_file(&path, b"two", SECRET_FILE_MODE).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one", "the first file is untouched");
        assert!(!dir.path().join(".secret.json.tmp").exists());
    }
}
