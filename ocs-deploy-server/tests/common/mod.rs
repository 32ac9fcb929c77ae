//! What the server's test binaries share: running `ocs-deploy-server`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `ocs-deploy-server serve` on loopback ports chosen by the system; killed when dropped.
pub(crate) struct Serving {
    child: Child,
    /// The plain HTTP listener's address.
    pub(crate) http: String,
    /// The HTTPS listener's address.
    pub(crate) https: String,
    /// The files listener's address, when started with `--files`.
    #[allow(dead_code)] // Not every test binary starts a files listener.
    pub(crate) files: Option<String>,
}

impl Serving {
    /// Starts the server on `data` and reads the addresses it prints.
    pub(crate) fn start(data: &Path) -> Self {
        Self::start_with(data, &[])
    }

    /// As [`start`](Self::start), with more `serve` arguments.
    pub(crate) fn start_with(data: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ocs-deploy-server"))
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut addr = |scheme: &str| {
            let line = lines
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("no {scheme} address line"));
            line.strip_prefix(&format!("{scheme} "))
                .unwrap_or_else(|| panic!("{scheme} address line: {line}"))
                .to_owned()
        };
        let http = addr("http");
        let https = addr("https");
        let files = extra.contains(&"--files").then(|| addr("files"));
        Self {
            child,
            http,
            https,
            files,
        }
    }

    /// Asks for a graceful shutdown (SIGTERM) and checks the server exits with success.
    #[allow(dead_code)] // Not every test binary stops its server this way.
    pub(crate) fn stop(&mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let exit = self.child.wait().expect("the server exits");
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
