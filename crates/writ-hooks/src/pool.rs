//! The server's side of the worker processes: a fixed number of slots behind one queue, each a
//! thread that owns one worker process (see [`crate::worker`]). A slot writes a job as one JSON
//! line and waits for one line back, at most the job's budget plus [`GRACE`]. A worker that
//! overruns that, whose pipe breaks or that exits is killed and reaped, and the slot starts a
//! new one (at once, so the next job finds it warm). The job that met the failure fails; no
//! other job does.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::worker::{Answer, RequestRef};
use crate::{Failure, Job, Outcome};

/// How long past its own budget a worker may take to answer before it is killed. The engine
/// stops JavaScript at the budget; this covers a loaded machine, and anything that does not
/// check the budget (a stuck native call) is what the kill is for.
pub const GRACE: Duration = Duration::from_millis(250);

type Reply = Box<dyn FnOnce(Result<Outcome, Failure>) + Send>;
type Queue = Arc<Mutex<Receiver<(Job, Reply)>>>;

/// The program (and arguments) that starts a worker process.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl WorkerCommand {
    /// `program hook-worker`: the `writ` binary's hidden worker mode.
    pub fn writ(program: impl Into<PathBuf>) -> Self {
        WorkerCommand {
            program: program.into(),
            args: vec!["hook-worker".into()],
        }
    }

    /// This very executable in worker mode (what `writ serve` uses): on Linux the running
    /// image itself (`/proc/self/exe`), so a binary replaced on disk by an upgrade still starts
    /// workers of its own version.
    pub fn current_exe() -> std::io::Result<Self> {
        if cfg!(target_os = "linux") {
            return Ok(Self::writ("/proc/self/exe"));
        }
        Ok(Self::writ(std::env::current_exe()?))
    }

    fn spawn(&self) -> std::io::Result<Process> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            // Nothing of the server's environment (database URL, key-encryption key) goes
            // to the worker: only the allocator's setting below.
            .env_clear()
            // The writ binary allocates with mimalloc, which by default reserves its arenas
            // 1 GiB of address space at a time: over the worker's RLIMIT_AS, which would leave
            // QuickJS no room. Small arenas keep the worker well inside it.
            .env("MIMALLOC_ARENA_RESERVE", "8MiB")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = channel();
        // Lines arrive on a thread so that the slot can wait with a deadline; it ends when the
        // worker's stdout closes (the worker exited or was killed).
        std::thread::Builder::new()
            .name("writ-hook-reader".into())
            .spawn(move || {
                let mut out = BufReader::new(stdout);
                // An answer longer than MAX_ANSWER ends the reading, as a broken pipe does: a
                // worker that went wrong cannot make the server buffer without end.
                while let Some(line) = read_line(&mut out, MAX_ANSWER) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Process {
            child,
            stdin,
            lines: rx,
        })
    }
}

/// The longest answer line read from a worker (claims are bounded far below this by the
/// token size limit).
pub const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// One line of at most `max` bytes (without its newline); `None` at the end of the stream, on
/// an error, on a line too long or not UTF-8.
fn read_line(r: &mut impl BufRead, max: u64) -> Option<String> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(max + 1).read_until(b'\n', &mut buf).ok()?;
    if n == 0 || buf.last() != Some(&b'\n') {
        return None;
    }
    buf.pop();
    String::from_utf8(buf).ok()
}

/// A running worker process.
struct Process {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Drop for Process {
    /// A worker is never left running or unreaped: its stdin closes (it exits on its own) and
    /// it is killed and waited for.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn kill(self) {
        drop(self)
    }

    /// The reason a worker that closed its pipe is gone.
    fn died(mut self) -> String {
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(s) => format!("the hook worker process died ({s})"),
            Err(e) => format!("the hook worker process died ({e})"),
        }
    }

    fn run(self, job: &Job) -> (Option<Process>, Result<Outcome, Failure>) {
        let mut me = self;
        let request = RequestRef {
            key: &job.key,
            code: &job.code,
            trigger: job.trigger,
            event: &job.event,
            secrets: &job.secrets,
            timeout_ms: job.timeout.as_millis() as u64,
        };
        let mut line = match serde_json::to_vec(&request) {
            Ok(l) => l,
            Err(e) => return (Some(me), Err(Failure(format!("the job is not JSON: {e}")))),
        };
        line.push(b'\n');
        if me
            .stdin
            .write_all(&line)
            .and_then(|_| me.stdin.flush())
            .is_err()
        {
            let why = me.died();
            return (None, Err(Failure(why)));
        }
        match me.lines.recv_timeout(job.timeout + GRACE) {
            Ok(answer) => {
                let result = serde_json::from_str::<Answer>(&answer)
                    .map_err(|e| Failure(format!("the hook worker's answer is not JSON: {e}")))
                    .and_then(Answer::into_result);
                (Some(me), result)
            }
            Err(RecvTimeoutError::Timeout) => {
                me.kill();
                (
                    None,
                    Err(Failure(format!(
                        "the hook ran past its time limit ({} ms); its worker process was killed",
                        job.timeout.as_millis()
                    ))),
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                let why = me.died();
                (None, Err(Failure(why)))
            }
        }
    }
}

/// Warm worker processes behind one queue.
pub struct Pool {
    tx: Sender<(Job, Reply)>,
    pids: Arc<Mutex<Vec<Option<u32>>>>,
}

impl Pool {
    /// A pool of `workers` slots (at least one), each starting its process at once.
    pub fn new(workers: usize, command: WorkerCommand) -> Pool {
        let (tx, rx) = channel::<(Job, Reply)>();
        let rx = Arc::new(Mutex::new(rx));
        let n = workers.max(1);
        let pids = Arc::new(Mutex::new(vec![None; n]));
        for i in 0..n {
            let (rx, command, pids) = (rx.clone(), command.clone(), pids.clone());
            let _ = std::thread::Builder::new()
                .name(format!("writ-hook-{i}"))
                .spawn(move || slot(i, rx, command, pids));
        }
        Pool { tx, pids }
    }

    /// Queues `job`; `reply` is called once with its result, on a slot's thread.
    pub fn submit(&self, job: Job, reply: impl FnOnce(Result<Outcome, Failure>) + Send + 'static) {
        // With no slot left nothing runs the job: the caller's own timeout reports it.
        let _ = self.tx.send((job, Box::new(reply)));
    }

    /// The process ids of the running workers (for checks and diagnostics).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pids
            .lock()
            .map(|p| p.iter().flatten().copied().collect())
            .unwrap_or_default()
    }
}

fn slot(i: usize, rx: Queue, command: WorkerCommand, pids: Arc<Mutex<Vec<Option<u32>>>>) {
    let start = |pids: &Mutex<Vec<Option<u32>>>| {
        let p = command.spawn();
        if let Ok(mut ids) = pids.lock() {
            ids[i] = p.as_ref().ok().map(|p| p.child.id());
        }
        p
    };
    let mut process = start(&pids).ok();
    loop {
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((job, reply)) = next else { return };
        let p = match process.take() {
            Some(p) => p,
            None => match start(&pids) {
                Ok(p) => p,
                Err(e) => {
                    reply(Err(Failure(format!(
                        "the hook worker process could not start: {e}"
                    ))));
                    continue;
                }
            },
        };
        let (kept, result) = p.run(&job);
        if kept.is_none()
            && let Ok(mut ids) = pids.lock()
        {
            ids[i] = None;
        }
        reply(result);
        // A worker that failed is replaced before the next job arrives.
        process = match kept {
            Some(p) => Some(p),
            None => start(&pids).ok(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded() {
        let mut r = std::io::Cursor::new(b"ab\ncdef\ng".to_vec());
        assert_eq!(read_line(&mut r, 3).as_deref(), Some("ab"));
        // Four bytes before the newline: too long, the stream is done.
        assert_eq!(read_line(&mut r, 3), None);
        let mut r = std::io::Cursor::new(b"tail-without-newline".to_vec());
        assert_eq!(read_line(&mut r, 100), None);
    }
}
