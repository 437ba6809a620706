//! The apalis worker: takes `RunFlow` jobs and hands them to [`Runtime::execute_run`].

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use tracing::{info, warn};

use super::{JobQueue, RunFlow, Runtime};

/// The job handler: thin, and never an error. apalis retries failed jobs at once without
/// backoff; recovery is ours (leases, reaper), so failures are logged and the job is done.
async fn handle(job: RunFlow, rt: Data<Arc<Runtime>>) -> Result<(), BoxDynError> {
    match rt.execute_run_detached(job.run_id).await {
        Ok(Some(summary)) => info!(
            run_id = summary.run_id,
            status = summary.status.as_str(),
            "Run finished."
        ),
        Ok(None) => {}
        Err(e) => warn!(run_id = job.run_id, error = %e, "Run failed to execute."),
    }
    Ok(())
}

/// Runs this process's worker until the runtime shuts down.
pub async fn run_workers(rt: Arc<Runtime>) -> anyhow::Result<()> {
    let name = rt.worker_id.clone();
    let concurrency = rt.settings.concurrency;
    let stop = {
        let rt = rt.clone();
        async move {
            rt.stopped().await;
            Ok::<(), std::io::Error>(())
        }
    };
    info!(worker = %name, "Worker started.");
    match rt.queue.clone() {
        JobQueue::Sqlite(storage) => {
            WorkerBuilder::new(name)
                .backend(storage)
                .concurrency(concurrency)
                .data(rt.clone())
                .build(handle)
                .run_until(stop)
                .await?
        }
        JobQueue::Postgres(storage) => {
            WorkerBuilder::new(name)
                .backend(storage)
                .concurrency(concurrency)
                .data(rt.clone())
                .build(handle)
                .run_until(stop)
                .await?
        }
    }
    Ok(())
}
