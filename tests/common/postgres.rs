//! A real PostgreSQL for the store's tests: a private cluster (initdb in a temporary directory,
//! its own port, trust authentication on loopback) from the server binaries on this machine
//! (Debian's `postgresql` package; `.ci/run` installs it). Run as root, the cluster runs as the
//! `postgres` user, as PostgreSQL requires. Stopped and deleted when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_user: Option<&'static str>,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
fn binaries() -> PathBuf {
    if let Ok(dir) = std::env::var("KETAMINE_CDS_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).filter(|p| p.join("initdb").is_file()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "the store tests need a real PostgreSQL: install Debian's postgresql package \
             (apt-get install postgresql), or set KETAMINE_CDS_TEST_PG_BIN to the directory of initdb and pg_ctl"
        )
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// Creates and starts a cluster.
    pub fn start() -> Self {
        let bin = binaries();
        let dir = tempfile::tempdir().expect("temporary directory");
        let as_user = is_root().then_some("postgres");
        if let Some(user) = as_user {
            let status = Command::new("chown").arg("-R").arg(user).arg(dir.path()).status().expect("chown runs");
            assert!(status.success(), "chown of the cluster directory");
        }
        let port = super::free_port();
        let pg = Self { dir, bin, port, as_user };
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        pg.start_server();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// One of the cluster's tools, run as the cluster's user.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&program);
                c
            }
            None => Command::new(&program),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let output =
            self.command(tool).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{tool} runs: {e}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server (again, after [`Postgres::stop`]).
    pub fn start_server(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "30", "start"]);
    }

    /// Stops the server at once (connections are cut, as in an outage).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    /// Restarts the server with a fast shutdown (open transactions are rolled back, clients
    /// disconnected), as a failover does.
    pub fn restart_fast(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
        self.start_server();
    }

    /// A new, empty database on this cluster, by its URL.
    pub fn database(&self, name: &str) -> String {
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ],
        );
        self.url(name)
    }

    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
