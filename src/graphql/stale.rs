//! Tells clients when a dossier came from the cache because DS failed: the response gets
//! `extensions.staleDossiers: [{"number": N, "ageSeconds": S}]`.
use std::sync::{Arc, Mutex};

use async_graphql::{
    async_trait,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest},
    Request, Response, ServerResult, Value,
};

/// The stale dossiers served to one request, filled by the resolvers.
#[derive(Clone, Default)]
pub struct StaleDossiers(Arc<Mutex<Vec<(i32, u64)>>>);

impl StaleDossiers {
    pub fn push(&self, number: i32, age_secs: u64) {
        let mut list = self.0.lock().expect("stale list lock");
        if !list.iter().any(|(n, _)| *n == number) {
            list.push((number, age_secs));
        }
    }
}

pub struct StaleReport;

impl ExtensionFactory for StaleReport {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(StaleReportExtension(StaleDossiers::default()))
    }
}

struct StaleReportExtension(StaleDossiers);

#[async_trait::async_trait]
impl Extension for StaleReportExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(self.0.clone())).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut resp = next.run(ctx, operation_name).await;
        let list = self.0 .0.lock().expect("stale list lock").clone();
        if !list.is_empty() {
            let items = list
                .into_iter()
                .map(|(number, age)| {
                    Value::from_json(serde_json::json!({"number": number, "ageSeconds": age}))
                        .unwrap_or(Value::Null)
                })
                .collect();
            resp.extensions
                .insert("staleDossiers".to_owned(), Value::List(items));
        }
        resp
    }
}
