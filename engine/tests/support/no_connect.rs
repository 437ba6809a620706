//! A `Connect` for tests whose runs never execute (API tests): connecting is an error.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::connector::ConnectorInstance;
use ferry_engine::flow::Flow;
use ferry_engine::runtime::Connect;

pub(crate) struct NoConnect;

#[async_trait]
impl Connect for NoConnect {
    async fn connect(
        &self,
        _: &Flow,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Arc<dyn ConnectorInstance>> {
        anyhow::bail!("connection `{name}`: runs do not execute in this test")
    }
    fn resolve(&self, text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
}
