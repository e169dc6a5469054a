//! The terminal of `sentinel approvals watch`: one keypress at a time, not echoed (termios
//! non-canonical mode; signals stay on, so Ctrl-C still stops it), the previous mode restored
//! when [`RawMode`] is dropped, and keys typed ahead discarded before a new call is shown.
//! Platform code (Unix termios), kept to this one small module.

use std::io;
use std::os::unix::io::RawFd;

/// The terminal on `fd` in single-key mode until dropped.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Switches the terminal on `fd` to single keys without echo.
    pub fn enter(fd: RawFd) -> io::Result<RawMode> {
        // SAFETY: termios is a plain C struct that tcgetattr fills; fd is only read from.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: raw is a valid termios derived from the terminal's own.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { fd, saved })
    }

    /// Throws away what was typed and not read yet.
    pub fn discard_typed_ahead(&self) {
        // SAFETY: tcflush on our terminal descriptor has no memory-safety preconditions.
        unsafe {
            libc::tcflush(self.fd, libc::TCIFLUSH);
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the termios read from the same descriptor in `enter`.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}
