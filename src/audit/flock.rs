//! The one platform call the audit log needs that std does not offer: an advisory exclusive
//! lock on the whole file (`flock(LOCK_EX)`), held while the previous line's hash is read and
//! the next entry written, so several Sentinels appending to one log keep one valid chain.
//! Every Sentinel takes it; other programs writing to the log are not held back by it.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};

/// The lock on a file, released when dropped (drop it before the file is closed).
pub struct Locked {
    fd: RawFd,
}

/// Waits for the exclusive lock on `file` (retrying when a signal interrupts the wait).
pub fn lock(file: &File) -> std::io::Result<Locked> {
    loop {
        // SAFETY: flock only reads the descriptor number, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(Locked {
                fd: file.as_raw_fd(),
            });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: the file is still open (the guard is dropped first). Closing the file would
        // release the lock too.
        unsafe { libc::flock(self.fd, libc::LOCK_UN) };
    }
}
