//! The test SMTP server (aiosmtpd, tests/fixtures/smtp/server.py).

use std::process::{Command, Stdio};

/// The Python that has aiosmtpd, for the test SMTP server (tests/fixtures/smtp/server.py):
/// `$PATROL_TEST_PYTHON`, else `python3`, else `/usr/bin/python3`.
pub fn python_with_aiosmtpd() -> String {
    let mut candidates: Vec<String> = std::env::var("PATROL_TEST_PYTHON").into_iter().collect();
    candidates.extend(["python3".to_string(), "/usr/bin/python3".to_string()]);
    for c in &candidates {
        let ok = Command::new(c)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return c.clone();
        }
    }
    panic!(
        "no Python with aiosmtpd among {candidates:?}: run `apt-get install python3-aiosmtpd` \
         (or `pip install aiosmtpd`, see .ci/run), or set PATROL_TEST_PYTHON"
    );
}
