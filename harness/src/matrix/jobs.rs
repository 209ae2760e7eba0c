//! `harness matrix -j`: which rows run at once.
//!
//! Under TCG every vCPU of a QEMU is a host thread, so rows that together
//! ask for more vCPUs than the host has cores slow each other down, and a
//! slow row can meet its deadline or a patch budget where a lone one would
//! not. The default therefore packs rows by their vCPUs within the host's
//! cores (a row that alone asks for more runs alone); `-j N` asks for up to
//! N rows at once whatever their size. Rows start in table order: a row
//! that does not fit waits for running ones rather than being overtaken,
//! so the order a table is written in is the order it is started in.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

/// How many rows may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jobs {
    /// Rows whose vCPUs fit in this many host cores (at least one row).
    Cores(usize),
    /// Up to this many rows, whatever their vCPUs (`-j N`).
    Rows(usize),
}

impl Jobs {
    /// The default: the host's cores.
    pub fn auto() -> Jobs {
        Jobs::Cores(crate::request::host_cores())
    }

    /// Whether a row of `vcpus` may start while `rows` rows with `busy`
    /// vCPUs in all run.
    pub fn may_start(self, rows: usize, busy: usize, vcpus: usize) -> bool {
        match self {
            _ if rows == 0 => true,
            Jobs::Cores(cores) => busy + vcpus <= cores,
            Jobs::Rows(n) => rows < n,
        }
    }

    /// Whether at most one row ever runs.
    pub fn serial(self) -> bool {
        matches!(self, Jobs::Rows(1) | Jobs::Cores(0 | 1))
    }

    /// For people: `-j 3`, `within 8 cores`.
    pub fn label(self) -> String {
        match self {
            Jobs::Cores(c) => format!("rows within {c} host core(s)"),
            Jobs::Rows(n) => format!("up to {n} row(s) at once"),
        }
    }
}

/// `-j N`: a whole number from 1 up.
pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("`0`: wanted at least 1 row at once".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}`: wanted a whole number of rows, 1 or more")),
    }
}

/// What the pool tells its caller.
pub enum Event<R> {
    /// Item `i` started (a thread runs it now).
    Started(usize),
    /// Item `i` ended with `R`.
    Done(usize, R),
    /// Nothing happened for a while (a chance to redraw a display).
    Tick,
}

/// Runs `work(i)` for every `i` in `0..weights.len()` on threads, starting
/// them in order as `jobs` lets the weights fit, and hands each start and
/// end to `seen` on the calling thread, in the order they happen. Once
/// `stop` is set nothing more starts; those already running are waited
/// for. Returns how many were started.
pub fn run_pool<R: Send>(
    weights: &[usize],
    jobs: Jobs,
    stop: &AtomicBool,
    work: impl Fn(usize) -> R + Sync,
    mut seen: impl FnMut(Event<R>),
) -> usize {
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    let work = &work;
    std::thread::scope(|s| {
        let mut next = 0;
        let mut running: Vec<usize> = Vec::new();
        loop {
            while next < weights.len()
                && !stop.load(Ordering::Relaxed)
                && jobs.may_start(
                    running.len(),
                    running.iter().map(|&i| weights[i]).sum(),
                    weights[next],
                )
            {
                let (i, tx) = (next, tx.clone());
                s.spawn(move || {
                    // The receiver outlives every worker (it is dropped
                    // after the scope), so the send cannot fail.
                    let _ = tx.send((i, work(i)));
                });
                running.push(i);
                seen(Event::Started(i));
                next += 1;
            }
            if running.is_empty() {
                return next;
            }
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok((i, r)) => {
                    running.retain(|&j| j != i);
                    seen(Event::Done(i, r));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => seen(Event::Tick),
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("`tx` is held here"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{atomic::AtomicUsize, Mutex};

    #[test]
    fn rows_are_packed_by_their_vcpus_within_the_cores() {
        let j = Jobs::Cores(2);
        assert!(
            j.may_start(0, 0, 8),
            "a row bigger than the host runs alone"
        );
        assert!(j.may_start(1, 1, 1), "two 1-CPU rows share 2 cores");
        assert!(!j.may_start(1, 1, 2), "a 2-CPU row waits for a 1-CPU one");
        assert!(!j.may_start(1, 8, 1));
        let r = Jobs::Rows(3);
        assert!(r.may_start(2, 200, 64), "-j N counts rows, not vCPUs");
        assert!(!r.may_start(3, 3, 1));
        assert!(Jobs::Rows(1).serial() && Jobs::Cores(1).serial() && !Jobs::Cores(2).serial());
    }

    #[test]
    fn a_bad_job_count_is_named() {
        assert_eq!(parse_jobs("4"), Ok(4));
        assert!(parse_jobs("0").unwrap_err().contains("at least 1"));
        assert!(parse_jobs("-1").unwrap_err().contains("`-1`"));
        assert!(parse_jobs("two").unwrap_err().contains("`two`"));
    }

    /// Runs `weights` with `jobs`, each item sleeping a little, and
    /// returns the most vCPUs and rows ever running at once and the order
    /// items started in.
    fn exercise(weights: &[usize], jobs: Jobs) -> (usize, usize, Vec<usize>, Vec<usize>) {
        let busy = AtomicUsize::new(0);
        let rows = AtomicUsize::new(0);
        let peak = Mutex::new((0, 0));
        let mut started = Vec::new();
        let mut done = Vec::new();
        let n = run_pool(
            weights,
            jobs,
            &AtomicBool::new(false),
            |i| {
                let b = busy.fetch_add(weights[i], Ordering::SeqCst) + weights[i];
                let r = rows.fetch_add(1, Ordering::SeqCst) + 1;
                {
                    let mut p = peak.lock().unwrap();
                    *p = (p.0.max(b), p.1.max(r));
                }
                std::thread::sleep(Duration::from_millis(20 + 7 * (i as u64 % 3)));
                busy.fetch_sub(weights[i], Ordering::SeqCst);
                rows.fetch_sub(1, Ordering::SeqCst);
                i * 10
            },
            |e| match e {
                Event::Started(i) => started.push(i),
                Event::Done(i, r) => {
                    assert_eq!(r, i * 10, "a result comes back with its own index");
                    done.push(i)
                }
                Event::Tick => {}
            },
        );
        assert_eq!(n, weights.len());
        let (b, r) = *peak.lock().unwrap();
        (b, r, started, done)
    }

    #[test]
    fn the_pool_never_runs_more_than_it_may_and_runs_everything_once() {
        let w = [1, 1, 2, 1, 4, 1, 1, 1];
        let (busy, _, started, mut done) = exercise(&w, Jobs::Cores(2));
        assert!(
            busy <= 4,
            "only the 4-CPU row alone may exceed 2 cores: {busy}"
        );
        assert_eq!(
            started,
            (0..w.len()).collect::<Vec<_>>(),
            "started in order"
        );
        done.sort();
        assert_eq!(done, (0..w.len()).collect::<Vec<_>>());
        let (_, rows, _, _) = exercise(&w, Jobs::Rows(3));
        assert!(rows <= 3, "{rows} rows at once with -j 3");
        let (_, rows, started, done) = exercise(&w, Jobs::Rows(1));
        assert_eq!(rows, 1);
        assert_eq!(started, done, "-j 1 ends each row before the next");
        let (_, rows, _, _) = exercise(&[1; 6], Jobs::Cores(2));
        assert_eq!(rows, 2, "1-CPU rows on 2 cores run in pairs");
    }

    #[test]
    fn a_stop_starts_nothing_more_and_waits_for_the_running() {
        let stop = AtomicBool::new(false);
        let finished = AtomicUsize::new(0);
        let n = run_pool(
            &[1; 10],
            Jobs::Rows(2),
            &stop,
            |i| {
                if i == 1 {
                    stop.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(10));
                finished.fetch_add(1, Ordering::SeqCst);
            },
            |_| {},
        );
        assert!(n < 10, "started {n} of 10 after the stop");
        assert_eq!(
            finished.load(Ordering::SeqCst),
            n,
            "every started item ended"
        );
    }
}
