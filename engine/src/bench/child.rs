//! `eddy run` as a child process, measured by the kernel: one process per
//! workload, so its peak resident memory is that workload's alone.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::BenchError;

/// What the kernel reports about a child that has exited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChildUsage {
    /// `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// Peak resident set size (`ru_maxrss`), in bytes.
    pub peak_rss_bytes: u64,
    /// User plus system CPU time.
    pub cpu: Duration,
}

/// The `eddy run` command line for `rules` with `auth` read from `input`
/// (a path, or `-` for stdin), derived events to `output` (`-`: stdout),
/// on `workers` pipelines.
pub fn eddy_run(
    rules: &[&Path],
    workers: usize,
    input: &str,
    output: &str,
    dead_letter: &Path,
) -> Result<Command, BenchError> {
    let exe = std::env::current_exe().map_err(BenchError::CurrentExe)?;
    let mut command = Command::new(exe);
    command
        .arg("run")
        .args(rules)
        .arg("--input")
        .arg(format!("auth={input}"))
        .arg("--output")
        .arg(output)
        .arg("--dead-letter")
        .arg(dead_letter)
        .arg("--workers")
        .arg(workers.to_string());
    Ok(command)
}

/// A finished throughput run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    pub wall: Duration,
    pub usage: ChildUsage,
}

/// Runs `command` to its end with stdin and stdout closed and stderr to
/// `stderr_path`; fails unless it exits 0.
pub fn run_to_end(
    label: &str,
    mut command: Command,
    stderr_path: &Path,
) -> Result<Timed, BenchError> {
    let stderr = File::create(stderr_path).map_err(|e| BenchError::io("create", stderr_path, e))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let started = Instant::now();
    let child = command.spawn().map_err(BenchError::Spawn)?;
    let memory = MemoryWatch::start(&child);
    let usage = wait_with_usage(&child, memory).map_err(BenchError::Wait)?;
    let wall = started.elapsed();
    expect_success(label, usage, stderr_path)?;
    Ok(Timed { wall, usage })
}

/// Fails with the child's stderr unless it exited 0.
pub fn expect_success(
    label: &str,
    usage: ChildUsage,
    stderr_path: &Path,
) -> Result<(), BenchError> {
    if usage.exit_code == Some(0) {
        return Ok(());
    }
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    Err(BenchError::ChildFailed {
        workload: label.to_string(),
        exit_code: usage.exit_code,
        stderr: PathBuf::from(stderr_path),
        last_lines: stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | "),
    })
}

/// Follows a child's peak memory while it runs.
///
/// `wait4`'s `ru_maxrss` alone is not enough: Linux carries the parent's
/// peak over into a child spawned with a shared address space (as
/// `posix_spawn` does), so a child of a bench process that once held a lot
/// would report the parent's peak. The child's own `VmHWM` (in
/// `/proc/PID/status`, for the address space it `exec`ed into) is sampled
/// every few milliseconds instead, and `ru_maxrss` is used when it is above
/// the bench process's own peak, which makes it the child's.
pub struct MemoryWatch {
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<u64>>,
}

/// How often the child's `VmHWM` is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);

impl MemoryWatch {
    pub fn start(child: &Child) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let status = format!("/proc/{}/status", child.id());
        let stopped = Arc::clone(&stop);
        let sampler = thread::Builder::new()
            .name("eddy-bench-rss".into())
            .spawn(move || {
                let mut peak = 0;
                while !stopped.load(Ordering::Acquire) {
                    peak = peak.max(vm_hwm(&status).unwrap_or(0));
                    thread::sleep(SAMPLE_EVERY);
                }
                peak
            })
            .ok();
        MemoryWatch { stop, sampler }
    }

    /// The sampled peak; call after the child has exited.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.sampler
            .take()
            .and_then(|sampler| sampler.join().ok())
            .unwrap_or(0)
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// CPU time (user and system) of the calling thread so far.
pub fn thread_cpu() -> Duration {
    // SAFETY: `rusage` is plain old data, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live local.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// `VmHWM` of the process whose status file is `status`, in bytes.
fn vm_hwm(status: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// Waits for `child` with `wait4`, which also returns its resource usage
/// (std's `Child::wait` does not). The child is reaped: do not wait on it
/// again.
pub fn wait_with_usage(child: &Child, memory: MemoryWatch) -> io::Result<ChildUsage> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other("child pid out of range"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals; `pid` is our own child,
        // not yet reaped (nothing else waits on it).
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if waited == pid {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let sampled = memory.finish();
    // Linux reports kilobytes.
    let max_rss = (usage.ru_maxrss.max(0) as u64) * 1024;
    let own_peak = vm_hwm("/proc/self/status").unwrap_or(u64::MAX);
    let peak_rss_bytes = if max_rss > own_peak { max_rss } else { sampled };
    let exit_code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(ChildUsage {
        exit_code,
        peak_rss_bytes,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
    })
}

/// The lines of a file (derived events written by a child).
pub fn count_lines(path: &Path) -> Result<u64, BenchError> {
    let bytes = std::fs::read(path).map_err(|e| BenchError::io("read", path, e))?;
    Ok(bytes.iter().filter(|&&b| b == b'\n').count() as u64)
}
