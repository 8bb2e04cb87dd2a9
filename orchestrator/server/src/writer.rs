//! The saga log's group-commit writer: one task commits whatever is queued in one transaction,
//! in queue order, so a saga's appends stay in order and an awaited append also makes every
//! earlier one durable.
//!
//! Jobs someone waits on to go on — a new saga, a change of direction — are urgent and commit at
//! once, taking every queued lazy append (successes, a saga's end) along; lazy appends alone wait
//! up to `linger` for company. The queue is bounded ([`QUEUE_MAX`]): when the database falls
//! behind, sagas wait to log instead of the queue growing without limit.

use std::sync::Arc;
use std::time::Duration;

use hrmesh_saga_store::{Append, Created, DbErr, LogError, NewSaga};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::ports::LogPort;

/// Jobs waiting for the writer at most.
pub const QUEUE_MAX: usize = 4096;
/// Jobs in one transaction at most.
const BATCH_MAX: usize = 256;
/// How often the writer runs a batch again after a transient storage failure before it reports
/// the failure to the batch's waiters.
const WRITE_RETRIES: u32 = 3;

type AppendDone = oneshot::Sender<Result<(), LogError>>;

enum WriteJob {
    Create {
        new: NewSaga,
        done: oneshot::Sender<Result<Created, LogError>>,
    },
    Append {
        append: Append,
        urgent: bool,
        done: Option<AppendDone>,
    },
}

impl WriteJob {
    fn urgent(&self) -> bool {
        matches!(
            self,
            WriteJob::Create { .. } | WriteJob::Append { urgent: true, .. }
        )
    }
}

/// The handle sagas log through; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<WriteJob>,
}

fn stopped() -> LogError {
    LogError::Corrupt("the saga log writer stopped".into())
}

impl Writer {
    /// Starts the writer task over `log`.
    pub fn start(log: Arc<dyn LogPort>, linger: Duration) -> (Self, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE_MAX);
        let task = tokio::spawn(write_loop(log, queue, linger));
        (Self { jobs }, task)
    }

    /// Creates a saga, sharing its flush with queued appends.
    pub async fn create(&self, new: NewSaga) -> Result<Created, LogError> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(WriteJob::Create { new, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Queues `append`; with `wait`, answers once it is committed (or refused).
    pub async fn append(&self, append: Append, urgent: bool, wait: bool) -> Result<(), LogError> {
        if !wait {
            self.jobs
                .send(WriteJob::Append {
                    append,
                    urgent,
                    done: None,
                })
                .await
                .map_err(|_| stopped())?;
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(WriteJob::Append {
                append,
                urgent,
                done: Some(done),
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn next_batch(
    jobs: &mut mpsc::Receiver<WriteJob>,
    linger: Duration,
) -> Option<Vec<WriteJob>> {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    if jobs.recv_many(&mut batch, BATCH_MAX).await == 0 {
        return None;
    }
    let linger_until = Instant::now() + linger;
    while batch.len() < BATCH_MAX && !batch.iter().any(WriteJob::urgent) {
        let room = BATCH_MAX - batch.len();
        match tokio::time::timeout_at(linger_until, jobs.recv_many(&mut batch, room)).await {
            Ok(received) if received > 0 => {}
            _ => break,
        }
    }
    Some(batch)
}

/// A batch's appends with consecutive appends of one saga merged into one (one UPDATE, one
/// INSERT of all its events); every job waiting on them gets the merged answer.
#[derive(Default)]
struct Merged {
    creates: Vec<NewSaga>,
    created_done: Vec<oneshot::Sender<Result<Created, LogError>>>,
    appends: Vec<Append>,
    appended_done: Vec<Vec<(String, Option<AppendDone>)>>,
}

fn merge(batch: Vec<WriteJob>) -> Merged {
    let mut m = Merged::default();
    for job in batch {
        match job {
            WriteJob::Create { new, done } => {
                m.creates.push(new);
                m.created_done.push(done);
            }
            WriteJob::Append { append, done, .. } => {
                let waiter = (append.saga_id.clone(), done);
                let merged = m.appends.iter_mut().enumerate().rev().find(|(_, earlier)| {
                    earlier.saga_id == append.saga_id
                        && earlier.fence == append.fence
                        && earlier.after + earlier.events.len() as u64 == append.after
                });
                match merged {
                    Some((index, earlier)) => {
                        earlier.events.extend(append.events);
                        earlier.state = append.state;
                        earlier.reason = append.reason;
                        earlier.owner = append.owner;
                        earlier.lease_until = append.lease_until;
                        earlier.now = append.now;
                        m.appended_done[index].push(waiter);
                    }
                    None => {
                        m.appends.push(append);
                        m.appended_done.push(vec![waiter]);
                    }
                }
            }
        }
    }
    m
}

async fn write_loop(log: Arc<dyn LogPort>, mut jobs: mpsc::Receiver<WriteJob>, linger: Duration) {
    while let Some(batch) = next_batch(&mut jobs, linger).await {
        let m = merge(batch);
        // A deadlock or serialisation failure (PostgreSQL, against the lease renewal's updates)
        // rolled the whole batch back: nothing of it applied, so it is safe to run again.
        let mut retries = 0;
        let outcome = loop {
            match log.commit(&m.creates, &m.appends).await {
                Err(error) if error.is_transient() && retries < WRITE_RETRIES => {
                    retries += 1;
                    tracing::warn!(%error, retries, "saga log write failed; writing the batch again");
                    tokio::time::sleep(Duration::from_millis(5 << retries)).await;
                }
                outcome => break outcome,
            }
        };
        match outcome {
            Ok((created, appended)) => {
                for (done, result) in m.created_done.into_iter().zip(created) {
                    let _ = done.send(result);
                }
                for (waiters, result) in m.appended_done.into_iter().zip(appended) {
                    for (saga_id, done) in waiters {
                        let result = result
                            .as_ref()
                            .map(|_| ())
                            .map_err(|_| LogError::LostLease {
                                saga_id: saga_id.clone(),
                            });
                        match done {
                            Some(done) => {
                                let _ = done.send(result);
                            }
                            None => {
                                if let Err(error) = result {
                                    tracing::warn!(%saga_id, %error, "saga log append refused");
                                }
                            }
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "saga log write failed");
                let failed = || LogError::Db(DbErr::Custom(error.to_string()));
                for done in m.created_done {
                    let _ = done.send(Err(failed()));
                }
                for (_, done) in m.appended_done.into_iter().flatten() {
                    if let Some(done) = done {
                        let _ = done.send(Err(failed()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration as Span, Utc};
    use hrmesh_saga_core::{Event, SagaState, StepOutput};
    use hrmesh_saga_store::{Append, Fence};

    use super::*;

    fn succeeded(step: usize, at: DateTime<Utc>, after: u64) -> WriteJob {
        WriteJob::Append {
            append: Append {
                saga_id: "s-1".into(),
                fence: Fence::Owner("r-1".into()),
                after,
                events: vec![(
                    at,
                    Event::StepSucceeded {
                        step,
                        output: StepOutput::Notified {
                            notification_id: format!("n-{step}"),
                        },
                    },
                )],
                state: SagaState::Running,
                reason: String::new(),
                owner: Some("r-1".into()),
                lease_until: Some(at + Span::seconds(10)),
                now: at,
            },
            urgent: false,
            done: None,
        }
    }

    #[test]
    fn merged_appends_keep_each_events_own_time() {
        let first = Utc::now();
        let second = first + Span::milliseconds(7);
        let merged = merge(vec![succeeded(0, first, 0), succeeded(1, second, 1)]);
        assert_eq!(merged.appends.len(), 1);
        let append = &merged.appends[0];
        let times: Vec<_> = append.events.iter().map(|(at, _)| *at).collect();
        assert_eq!(times, [first, second]);
        assert_eq!(append.now, second);
        assert_eq!(merged.appended_done[0].len(), 2);
    }
}
