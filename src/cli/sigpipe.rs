//! A client command whose output goes to a pipe that closes early (`rollama list | head -1`,
//! `rollama run m "…" | head -3`) ends quietly at its next write, as Go's `ollama` does,
//! instead of panicking in `println!` on `EPIPE` (Rust starts with SIGPIPE ignored). Sockets
//! are unaffected: std and tokio write to them with `MSG_NOSIGNAL`.
#![allow(unsafe_code)]

/// Puts SIGPIPE back to its default action (end the process).
pub fn restore_default() {
    // SAFETY: `signal` with `SIG_DFL` installs no handler code; changing a disposition is
    // process-wide and atomic, so other threads running at the time are not affected in
    // any way beyond the new disposition itself.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
