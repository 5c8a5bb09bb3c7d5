//! Starting the servers under test as real processes on loopback, and reading their CPU time
//! and resident memory from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::wire::Framing;

#[derive(Debug, Clone)]
pub struct Target {
    /// `ours`, `y-websocket`, `hocuspocus`.
    pub name: String,
    pub framing: Framing,
    /// URL path before the document name.
    pub path: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Our server: takes `--data FILE`, speaks the durable-ack extension on `?ext=1`.
    pub ours: bool,
}

impl Target {
    pub fn ours(bin: &Path) -> Target {
        Target {
            name: "ours".into(),
            framing: Framing::Yjs,
            path: "/sync/",
            program: bin.to_owned(),
            args: vec![
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--max-connections".into(),
                "30000".into(),
                // Every bench client connects from 127.0.0.1, up to 10,000 of them to one
                // document, and writers send far above a typist's rate: lift those limits.
                "--max-connections-per-ip".into(),
                "30000".into(),
                "--max-connections-per-doc".into(),
                "30000".into(),
                "--max-messages-per-second".into(),
                "0".into(),
                // Replaying the trace at bench rates jumps the cursor far more often than a
                // person (each jump is a position check).
                "--max-position-checks-per-second".into(),
                "0".into(),
                "--log".into(),
                "warn".into(),
            ],
            cwd: None,
            ours: true,
        }
    }

    pub fn node(name: &str, framing: Framing, peers_dir: &Path, script: &str) -> Target {
        Target {
            name: name.into(),
            framing,
            path: "/",
            program: "node".into(),
            args: vec!["--max-old-space-size=6144".into(), script.into()],
            cwd: Some(peers_dir.to_owned()),
            ours: false,
        }
    }
}

pub struct Running {
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

/// Starts `target` (ours with `data` as its SQLite file, fresh under `tmp` if None) and waits
/// for its `listening on http://ADDR` line.
pub async fn start(
    target: &Target,
    tmp: &Path,
    data: Option<&Path>,
    extra: &[&str],
) -> anyhow::Result<Running> {
    static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::fs::create_dir_all(tmp)?;
    let mut cmd = Command::new(&target.program);
    cmd.args(&target.args);
    if target.ours {
        let data = data.map_or_else(|| tmp.join(format!("ours-{n}.sqlite3")), Path::to_owned);
        cmd.arg("--data").arg(data);
    }
    cmd.args(extra);
    if let Some(cwd) = &target.cwd {
        cmd.current_dir(cwd);
    }
    let log = std::fs::File::create(tmp.join(format!("{}-{n}.log", target.name)))?;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", target.program.display()))?;
    let pid = child.id().context("no pid")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.trim().strip_prefix("listening on http://") {
                return Ok::<_, anyhow::Error>(rest.trim_end_matches('/').parse::<SocketAddr>()?);
            }
        }
        bail!("{} exited before listening", target.name)
    })
    .await
    .with_context(|| format!("{} did not start within 30 s", target.name))??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Running { child, pid, addr })
}

impl Running {
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }

    /// SIGTERM, then wait (up to `limit`) for a clean exit.
    pub async fn terminate(mut self, limit: Duration) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                self.kill().await;
                bail!("server did not stop within {limit:?}")
            }
        }
    }

    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid).unwrap_or(f64::NAN)
    }

    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid).unwrap_or(0)
    }
}

/// utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// VmRSS of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the kernel's peak-RSS mark of a process (`echo 5 > /proc/PID/clear_refs`), so that
/// VmHWM afterwards is the peak since now. False if the kernel refused.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// VmHWM of a process (peak resident memory since start or since `reset_peak_rss`), in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
