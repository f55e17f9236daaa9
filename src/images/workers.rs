//! A few long-lived threads for re-encoding pictures. Tokio's blocking pool hands each job to
//! whichever of its threads is free and keeps up to hundreds of them, and glibc's malloc gives
//! threads arenas of their own that keep the megabytes of a decoded picture after it is freed:
//! spread over the pool's threads, that memory added up to over 100 MB under an upload load. On
//! the same few threads, each picture reuses the memory the one before it freed. They start
//! with the first picture: a server that is never sent one, or a command that only moves stored
//! pictures, starts none.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;

use crate::domain_error::{DomainError, DomainResult};

type Job = Box<dyn FnOnce() + Send>;

pub(super) struct Workers {
    name: &'static str,
    count: usize,
    /// The threads' queue, once the first job started them.
    jobs: OnceLock<Sender<Job>>,
}

impl Workers {
    /// `count` threads (at least one) named `<name>-<n>`, started by the first job; they end
    /// when this is dropped.
    pub(super) fn new(name: &'static str, count: usize) -> Workers {
        Workers {
            name,
            count: count.max(1),
            jobs: OnceLock::new(),
        }
    }

    fn start(&self) -> Sender<Job> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..self.count {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("{}-{n}", self.name))
                .spawn(move || work_through(&queue))
                .expect("the system refused to start a thread");
        }
        jobs
    }

    /// Runs `work` on one of the threads and waits for its result without blocking the caller's
    /// async worker. A job that panics fails alone; its thread goes on.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> DomainResult<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (its request was dropped); nobody is left to tell.
            let _ = reply.send(work());
        });
        self.jobs
            .get_or_init(|| self.start())
            .send(job)
            .map_err(|_| DomainError::internal("the picture threads have stopped"))?;
        answer
            .await
            .map_err(|_| DomainError::internal("a picture job panicked"))
    }
}

/// Takes jobs until the sending side is dropped.
fn work_through(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_only_and_a_panic_fails_its_job_alone() {
        let workers = Workers::new("picture-test", 2);
        assert!(workers.jobs.get().is_none(), "started before any job");
        let mut names = HashSet::new();
        for _ in 0..20 {
            let name = workers
                .run(|| thread::current().name().map(str::to_owned))
                .await
                .unwrap();
            names.insert(name.unwrap());
        }
        assert!(!names.is_empty() && names.len() <= 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("picture-test-")));
        let failed = workers.run(|| -> u8 { panic!("a broken picture") }).await;
        assert!(failed.is_err());
        assert_eq!(workers.run(|| 6 * 7).await.unwrap(), 42);
    }
}
