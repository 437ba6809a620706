//! Demo.
use std::process::ExitCode;
use std::sync::Arc;
/// Placeholder until the demo mock shop lands.
pub async fn run_demo(_store: &Arc<dyn ferry_engine::store::Store>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
