//! A network fault in front of the real ledger: a gRPC proxy that forwards every call, metadata
//! and all, and for the methods it is told to loses the answer — the ledger applied the call, the
//! orchestrator hears UNAVAILABLE. So a saga step can be made to land without its saga learning
//! it, as a dropped connection would, and the saga's handling of that (give up going forward,
//! learn what landed by re-driving the call, undo it) runs against the real participant.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use hrmesh_proto::common as cpb;
use hrmesh_proto::ledger::ledger_service_server::{LedgerService, LedgerServiceServer};
use tonic::transport::Channel;

use super::*;

/// Which answers are lost, and how many calls each method forwarded.
#[derive(Clone, Default)]
pub struct Faults {
    lost: Arc<Mutex<HashSet<&'static str>>>,
    forwarded: Arc<Mutex<std::collections::HashMap<&'static str, usize>>>,
}

impl Faults {
    /// From now on the answers of `method` (e.g. "append_entries") are lost.
    pub fn lose_answers_of(&self, method: &'static str) {
        self.lost.lock().expect("faults").insert(method);
    }

    /// From now on every answer gets through.
    pub fn heal(&self) {
        self.lost.lock().expect("faults").clear();
    }

    /// How many calls of `method` reached the ledger.
    pub fn forwarded(&self, method: &str) -> usize {
        self.forwarded
            .lock()
            .expect("faults")
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    fn answer<T>(
        &self,
        method: &'static str,
        answer: Result<tonic::Response<T>, Status>,
    ) -> Result<tonic::Response<T>, Status> {
        *self
            .forwarded
            .lock()
            .expect("faults")
            .entry(method)
            .or_default() += 1;
        if self.lost.lock().expect("faults").contains(method) {
            return Err(Status::unavailable(format!(
                "the answer of {method} was lost on the way back"
            )));
        }
        answer
    }
}

struct Proxy {
    upstream: LedgerServiceClient<Channel>,
    faults: Faults,
}

macro_rules! forward {
    ($($method:ident($request:ty) -> $response:ty;)*) => {
        #[tonic::async_trait]
        impl LedgerService for Proxy {
            $(
                async fn $method(
                    &self,
                    request: tonic::Request<$request>,
                ) -> Result<tonic::Response<$response>, Status> {
                    let (metadata, _, message) = request.into_parts();
                    let answer = self
                        .upstream
                        .clone()
                        .$method(tonic::Request::from_parts(
                            metadata,
                            Default::default(),
                            message,
                        ))
                        .await;
                    self.faults.answer(stringify!($method), answer)
                }
            )*
        }
    };
}

forward! {
    create_policy(lpb::CreatePolicyRequest) -> lpb::Policy;
    get_policy(lpb::GetPolicyRequest) -> lpb::Policy;
    assign_policy(lpb::AssignPolicyRequest) -> lpb::Assignment;
    assign_policies(lpb::AssignPoliciesRequest) -> lpb::AssignPoliciesResponse;
    list_assignments(lpb::ListAssignmentsRequest) -> lpb::ListAssignmentsResponse;
    append_entries(lpb::AppendEntriesRequest) -> lpb::AppendEntriesResponse;
    hold_days(lpb::HoldDaysRequest) -> lpb::Hold;
    post_hold(lpb::PostHoldRequest) -> lpb::Hold;
    void_hold(lpb::VoidHoldRequest) -> lpb::Hold;
    get_hold(lpb::GetHoldRequest) -> lpb::Hold;
    reverse_entry(lpb::ReverseEntryRequest) -> lpb::Entry;
    get_balance(lpb::GetBalanceRequest) -> lpb::Balance;
    list_entries(lpb::ListEntriesRequest) -> lpb::ListEntriesResponse;
    list_balances(lpb::ListBalancesRequest) -> lpb::ListBalancesResponse;
    run_accruals(lpb::RunAccrualsRequest) -> lpb::RunAccrualsResponse;
    freeze_accruals(lpb::FreezeAccrualsRequest) -> lpb::Freeze;
    unfreeze_accruals(lpb::UnfreezeAccrualsRequest) -> lpb::UnfreezeAccrualsResponse;
    extend_freeze(lpb::ExtendFreezeRequest) -> lpb::ExtendFreezeResponse;
    list_freezes(lpb::ListFreezesRequest) -> lpb::ListFreezesResponse;
    end_assignments(lpb::EndAssignmentsRequest) -> lpb::EndAssignmentsResponse;
    reopen_assignments(lpb::ReopenAssignmentsRequest) -> lpb::ReopenAssignmentsResponse;
    erase_personal_data(cpb::ErasePersonalDataRequest) -> cpb::Erasure;
    list_audit_events(cpb::ListAuditEventsRequest) -> cpb::ListAuditEventsResponse;
}

/// Serves a proxy of the (plaintext) ledger at `ledger_url` on a port of its own until the test
/// ends; answers its URL. Runs inside the test's runtime.
fn serve(ledger_url: &str, faults: Faults) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("addr");
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    let upstream = LedgerServiceClient::new(
        Channel::from_shared(ledger_url.to_owned())
            .expect("the ledger's URL")
            .connect_lazy(),
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LedgerServiceServer::new(Proxy { upstream, faults }))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

/// The mesh on `backend` with the orchestrator calling the ledger through a proxy whose faults
/// the test sets. Forward steps give up after three rounds; compensations, with no circuit
/// breaker to wait out, keep going until they are done.
pub async fn mesh_with_lossy_ledger(backend: Backend) -> (Mesh, Faults) {
    let faults = Faults::default();
    let proxied = faults.clone();
    let mesh = Mesh::start_tuned(backend, Options::default(), move |config| {
        config.ledger_url = serve(&config.ledger_url, proxied);
        config.forward_rounds = 3;
        config.compensation_rounds = 1_000;
        config.resilience.breaker_min_calls = 1_000;
    })
    .await;
    (mesh, faults)
}
