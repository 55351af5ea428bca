//! What the command's tests share: a finished command's exit code and its
//! output as text, for assertions that quote it when they fail.

use std::process::Command;

/// Runs `cmd` to its end: its exit code (none if a signal ended it), its
/// stdout and its stderr.
pub fn output(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
