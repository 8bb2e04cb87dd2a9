//! The ledger's gRPC server: `hrmesh.ledger.v1.LedgerService` over the core [`Ledger`] and the
//! sea-orm store, plus two background workers: the sweeper that expires undecided holds and the
//! accrual worker that applies every policy's accrual rule and carry-over cap up to today.
//!
//! Handlers are thin: parse the request into a domain command (every violation named), call the
//! core, convert the answer. Only this crate knows both tonic and the ledger.

mod convert;
pub mod events;
mod notices;

pub use notices::{ExpiryNotices, NoticeRun};

use std::time::Duration;

use anyhow::Context;
use hrmesh_domain::{Clock, EmployeeId, SystemClock, Violations};
use hrmesh_ledger_core::{Ledger, LedgerError, LedgerStore, Rejection};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::auth::{ActingRule, ActorType, IdentityConfig, Principal, TokenSource, principal};
use hrmesh_mesh::config::CommonConfig;
use hrmesh_mesh::events::Events;
use hrmesh_mesh::server::{RunningServer, ServeSpec};
use hrmesh_mesh::status::{self, Refused};
use hrmesh_proto::common::ErrorReason;
use hrmesh_proto::ledger as pb;
use hrmesh_proto::ledger::ledger_service_server::{LedgerService, LedgerServiceServer};
use hrmesh_storage::audit::{AuditLog, AuditSource};
use hrmesh_storage::outbox::OutboxSource;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tonic::{Code, Request, Response, Status};

/// Default port of the ledger service.
pub const DEFAULT_PORT: u16 = 50052;
/// Pending holds expired per sweeper transaction batch.
const SWEEP_BATCH_MAX: u32 = 500;

/// The ledger's configuration (see `hrmesh serve ledger --help`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    /// How often undecided holds past their expiry are expired, in seconds.
    pub hold_sweep_interval_secs: u64,
    /// How often scheduled accruals and carry-over expiries are applied up to today, in seconds;
    /// the first run is at start, so a run missed while the service was down is caught up then.
    /// 0 turns the worker off (RunAccruals still works).
    pub accrual_run_interval_secs: u64,
    /// The notification service employees are told through when their hold expires
    /// (http://host:port); none tells nobody.
    pub notification_url: Option<String>,
    /// How those notifications are signed (the `[identity]` table).
    pub identity: IdentityConfig,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            common: CommonConfig::new("ledger", DEFAULT_PORT),
            hold_sweep_interval_secs: 60,
            accrual_run_interval_secs: 3600,
            notification_url: None,
            identity: IdentityConfig::new("hrmesh-ledger", &["hrmesh-notification"]),
        }
    }
}

impl LedgerConfig {
    /// The database URL: the configured one, or `<data_dir>/ledger.sqlite`.
    pub fn database_url(&self) -> String {
        self.common.database_url("ledger")
    }
}

/// Maps a ledger failure to its gRPC status with google.rpc details.
pub fn to_status(error: LedgerError) -> Status {
    status::to_status(error, refused)
}

/// A rejection's code, reason (from [`pb::LedgerErrorReason`]) and facts. Every rejection is
/// FAILED_PRECONDITION but an existing policy (ALREADY_EXISTS) and a record of another employee
/// than the request names (PERMISSION_DENIED, never naming the owner).
fn refused(rejection: Rejection) -> Refused {
    use pb::LedgerErrorReason as Reason;
    let reason = |reason: Reason, metadata| Refused::precondition(reason.as_str_name(), metadata);
    match rejection {
        Rejection::PolicyExists { policy_id } => Refused {
            code: Code::AlreadyExists,
            reason: ErrorReason::ResourceAlreadyExists.as_str_name(),
            metadata: vec![("policy_id", policy_id)],
        },
        Rejection::InsufficientBalance {
            available,
            requested,
        } => reason(
            Reason::InsufficientBalance,
            vec![
                ("available", available.to_string()),
                ("requested", requested.to_string()),
            ],
        ),
        Rejection::DayAlreadyTaken { date, hold_id } => reason(
            Reason::DayAlreadyTaken,
            vec![("date", date.to_string()), ("hold_id", hold_id)],
        ),
        Rejection::HoldAlreadyResolved { hold_id, state } => reason(
            Reason::HoldAlreadyResolved,
            vec![("hold_id", hold_id), ("state", state.as_str().to_owned())],
        ),
        Rejection::HoldExpired {
            hold_id,
            expired_at,
        } => reason(
            Reason::HoldExpired,
            vec![
                ("hold_id", hold_id),
                ("expire_time", expired_at.to_rfc3339()),
            ],
        ),
        Rejection::EntryAlreadyReversed {
            entry_id,
            reversal_entry_id,
        } => reason(
            Reason::EntryAlreadyReversed,
            vec![
                ("entry_id", entry_id.to_string()),
                ("reversal_entry_id", reversal_entry_id.to_string()),
            ],
        ),
        Rejection::EntryNotReversible { entry_id, kind } => reason(
            Reason::EntryNotReversible,
            vec![
                ("entry_id", entry_id.to_string()),
                ("kind", kind.as_str().to_owned()),
            ],
        ),
        Rejection::AssignmentOverlaps { assignment_id } => reason(
            Reason::AssignmentOverlaps,
            vec![("assignment_id", assignment_id)],
        ),
        Rejection::AccrualsFrozen {
            freeze_id,
            reference,
            start_date,
            end_date,
        } => reason(
            Reason::AccrualsFrozen,
            vec![
                ("freeze_id", freeze_id),
                ("reference", reference),
                ("start_date", start_date.to_string()),
                ("end_date", end_date.to_string()),
            ],
        ),
        Rejection::FreezeOverlaps { freeze_id } => {
            reason(Reason::FreezeOverlaps, vec![("freeze_id", freeze_id)])
        }
        Rejection::FreezeNotExtendable { freeze_id, why } => reason(
            Reason::FreezeNotExtendable,
            vec![("freeze_id", freeze_id), ("why", why)],
        ),
        Rejection::AssignmentStartsLater {
            assignment_id,
            effective_from,
        } => reason(
            Reason::AssignmentStartsLater,
            vec![
                ("assignment_id", assignment_id),
                ("effective_from", effective_from.to_string()),
            ],
        ),
        Rejection::RecordOfAnotherEmployee { record, record_id } => Refused {
            code: Code::PermissionDenied,
            reason: Reason::RecordOfAnotherEmployee.as_str_name(),
            metadata: vec![
                ("record", record.as_str().to_owned()),
                ("record_id", record_id),
            ],
        },
    }
}

/// The permission each method needs (checked by the mesh layer before the handler runs). Callers
/// that are neither services nor ledger.admin holders also act only for some employees, checked
/// by the handler: holds for themselves or those they manage, posts for those they manage, voids
/// of their own holds or those they manage; entries are appended and reversed, accruals run,
/// frozen and unfrozen, and assignments ended and reopened by admins only.
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("/hrmesh.ledger.v1.LedgerService/CreatePolicy", ADMIN),
    ("/hrmesh.ledger.v1.LedgerService/GetPolicy", READ),
    ("/hrmesh.ledger.v1.LedgerService/AssignPolicy", ADMIN),
    ("/hrmesh.ledger.v1.LedgerService/ListAssignments", READ),
    ("/hrmesh.ledger.v1.LedgerService/AssignPolicies", ADMIN),
    ("/hrmesh.ledger.v1.LedgerService/AppendEntries", CREATE),
    ("/hrmesh.ledger.v1.LedgerService/HoldDays", CREATE),
    ("/hrmesh.ledger.v1.LedgerService/PostHold", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/VoidHold", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/GetHold", READ),
    ("/hrmesh.ledger.v1.LedgerService/ReverseEntry", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/GetBalance", READ),
    ("/hrmesh.ledger.v1.LedgerService/ListEntries", READ),
    ("/hrmesh.ledger.v1.LedgerService/ListBalances", READ),
    ("/hrmesh.ledger.v1.LedgerService/RunAccruals", CREATE),
    ("/hrmesh.ledger.v1.LedgerService/FreezeAccruals", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/UnfreezeAccruals", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/ExtendFreeze", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/ListFreezes", READ),
    ("/hrmesh.ledger.v1.LedgerService/EndAssignments", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/ReopenAssignments", UPDATE),
    ("/hrmesh.ledger.v1.LedgerService/ErasePersonalData", ADMIN),
    ("/hrmesh.ledger.v1.LedgerService/ListAuditEvents", ADMIN),
    ("/hrmesh.events.v1.EventService/ListEvents", READ),
    ("/hrmesh.events.v1.EventService/WatchEvents", READ),
];
const CREATE: &str = "ledger.create";
const READ: &str = "ledger.read";
const UPDATE: &str = "ledger.update";
/// Also lets a caller read every employee's records.
const ADMIN: &str = "ledger.admin";

/// The tonic service: a thin adapter over [`Ledger`].
pub struct LedgerGrpc<S, C> {
    ledger: Ledger<S, C>,
    audit: AuditLog,
}

impl<S, C> LedgerGrpc<S, C> {
    pub fn new(ledger: Ledger<S, C>, audit: AuditLog) -> Self {
        Self { ledger, audit }
    }
}

/// Services and admins act for anyone: no record needs loading to tell.
fn acts_for_anyone(caller: &Principal) -> bool {
    caller.actor == ActorType::System || caller.has(ADMIN)
}

impl<S: LedgerStore, C: Clock> LedgerGrpc<S, C> {
    /// Whether `caller` may decide the hold `hold_id` under `rule`. The employee the request
    /// names stands for the hold's employee (the store refuses, in the write transaction, a hold
    /// of anyone else); only without one is the hold loaded to learn whose it is.
    async fn may_decide_hold(
        &self,
        caller: &Principal,
        hold_id: &str,
        expected_employee: Option<&EmployeeId>,
        rule: ActingRule,
    ) -> Result<(), Status> {
        if acts_for_anyone(caller) {
            return Ok(());
        }
        let employee = match expected_employee {
            Some(employee) => employee.clone(),
            None => {
                self.ledger
                    .get_hold(hold_id)
                    .await
                    .map_err(to_status)?
                    .employee_id
            }
        };
        caller.check_act(employee.as_str(), ADMIN, rule)
    }
}

fn respond<T, U>(
    result: Result<T, LedgerError>,
    convert: impl FnOnce(T) -> U,
) -> Result<Response<U>, Status> {
    result
        .map(|value| Response::new(convert(value)))
        .map_err(to_status)
}

#[tonic::async_trait]
impl<S: LedgerStore, C: Clock> LedgerService for LedgerGrpc<S, C> {
    async fn create_policy(
        &self,
        request: Request<pb::CreatePolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let command = convert::create_policy(request.into_inner()).map_err(to_status)?;
        respond(self.ledger.create_policy(command).await, convert::policy)
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let policy_id =
            convert::policy_id("policy_id", &request.get_ref().policy_id).map_err(to_status)?;
        respond(self.ledger.get_policy(&policy_id).await, convert::policy)
    }

    async fn assign_policy(
        &self,
        request: Request<pb::AssignPolicyRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        let command = convert::assign_policy(request.into_inner()).map_err(to_status)?;
        respond(
            self.ledger.assign_policy(command).await,
            convert::assignment,
        )
    }

    async fn assign_policies(
        &self,
        request: Request<pb::AssignPoliciesRequest>,
    ) -> Result<Response<pb::AssignPoliciesResponse>, Status> {
        let command = convert::assign_policies(request.into_inner()).map_err(to_status)?;
        respond(self.ledger.assign_policies(command).await, |assignments| {
            pb::AssignPoliciesResponse {
                assignments: assignments.into_iter().map(convert::assignment).collect(),
            }
        })
    }

    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let (employee_id, after, page_size) =
            convert::list_assignments(request.get_ref()).map_err(to_status)?;
        let page = self
            .ledger
            .list_assignments(&employee_id, after.as_deref(), page_size)
            .await;
        respond(page, |page| pb::ListAssignmentsResponse {
            assignments: page.items.into_iter().map(convert::assignment).collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        })
    }

    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::append_entries(request.into_inner()).map_err(to_status)?;
        // Accruals and adjustments are HR's and the services' business, nobody else's.
        caller.check_act(command.request_id.as_str(), ADMIN, ActingRule::Admin)?;
        respond(self.ledger.append_entries(command).await, |entries| {
            pb::AppendEntriesResponse {
                entries: entries.into_iter().map(convert::entry).collect(),
            }
        })
    }

    async fn hold_days(
        &self,
        request: Request<pb::HoldDaysRequest>,
    ) -> Result<Response<pb::Hold>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::hold_days(request.into_inner()).map_err(to_status)?;
        caller.check_act(
            command.employee_id.as_str(),
            ADMIN,
            ActingRule::SelfOrManager,
        )?;
        respond(self.ledger.hold_days(command).await, convert::hold)
    }

    async fn post_hold(
        &self,
        request: Request<pb::PostHoldRequest>,
    ) -> Result<Response<pb::Hold>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::post_hold(request.into_inner()).map_err(to_status)?;
        // Approving time off is the manager's decision.
        self.may_decide_hold(
            &caller,
            &command.hold_id,
            command.expected_employee.as_ref(),
            ActingRule::Manager,
        )
        .await?;
        respond(self.ledger.post_hold(command).await, convert::hold)
    }

    async fn void_hold(
        &self,
        request: Request<pb::VoidHoldRequest>,
    ) -> Result<Response<pb::Hold>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::void_hold(request.into_inner()).map_err(to_status)?;
        // Withdrawn by the employee or rejected by their manager.
        self.may_decide_hold(
            &caller,
            &command.hold_id,
            command.expected_employee.as_ref(),
            ActingRule::SelfOrManager,
        )
        .await?;
        respond(self.ledger.void_hold(command).await, convert::hold)
    }

    async fn get_hold(
        &self,
        request: Request<pb::GetHoldRequest>,
    ) -> Result<Response<pb::Hold>, Status> {
        let mut v = Violations::default();
        let hold_id = convert::hold_id("hold_id", &request.get_ref().hold_id, &mut v);
        let hold_id = v
            .finish(hold_id)
            .map_err(|v| to_status(LedgerError::Invalid(v)))?
            .unwrap_or_default();
        let hold = self.ledger.get_hold(&hold_id).await.map_err(to_status)?;
        principal(&request)?.check_read(hold.employee_id.as_str(), ADMIN)?;
        Ok(Response::new(convert::hold(hold)))
    }

    async fn reverse_entry(
        &self,
        request: Request<pb::ReverseEntryRequest>,
    ) -> Result<Response<pb::Entry>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::reverse_entry(request.into_inner()).map_err(to_status)?;
        caller.check_act(&command.entry_id.to_string(), ADMIN, ActingRule::Admin)?;
        respond(self.ledger.reverse_entry(command).await, convert::entry)
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let (employee_id, policy_id, as_of) =
            convert::balance_query(request.get_ref()).map_err(to_status)?;
        respond(
            self.ledger.balance(employee_id, policy_id, as_of).await,
            convert::balance,
        )
    }

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let (filter, after, page_size) =
            convert::list_entries(request.get_ref()).map_err(to_status)?;
        respond(
            self.ledger.list_entries(filter, after, page_size).await,
            |page| pb::ListEntriesResponse {
                entries: page.items.into_iter().map(convert::entry).collect(),
                next_page_token: page.next_after.unwrap_or_default(),
            },
        )
    }

    async fn list_balances(
        &self,
        request: Request<pb::ListBalancesRequest>,
    ) -> Result<Response<pb::ListBalancesResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let employee_id = convert::employee_id("employee_id", &request.get_ref().employee_id)
            .map_err(to_status)?;
        respond(self.ledger.balances(employee_id).await, |balances| {
            pb::ListBalancesResponse {
                balances: balances.into_iter().map(convert::balance).collect(),
            }
        })
    }

    async fn run_accruals(
        &self,
        request: Request<pb::RunAccrualsRequest>,
    ) -> Result<Response<pb::RunAccrualsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::run_accruals(request.into_inner()).map_err(to_status)?;
        caller.check_act(command.request_id.as_str(), ADMIN, ActingRule::Admin)?;
        respond(
            self.ledger.run_accruals(command).await,
            convert::accrual_run,
        )
    }

    async fn freeze_accruals(
        &self,
        request: Request<pb::FreezeAccrualsRequest>,
    ) -> Result<Response<pb::Freeze>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::freeze_accruals(request.into_inner()).map_err(to_status)?;
        caller.check_act(command.employee_id.as_str(), ADMIN, ActingRule::Admin)?;
        respond(self.ledger.freeze_accruals(command).await, convert::freeze)
    }

    async fn unfreeze_accruals(
        &self,
        request: Request<pb::UnfreezeAccrualsRequest>,
    ) -> Result<Response<pb::UnfreezeAccrualsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::unfreeze_accruals(request.into_inner()).map_err(to_status)?;
        caller.check_act(command.request_id.as_str(), ADMIN, ActingRule::Admin)?;
        respond(self.ledger.unfreeze_accruals(command).await, |freezes| {
            pb::UnfreezeAccrualsResponse {
                freezes: freezes.into_iter().map(convert::freeze).collect(),
            }
        })
    }

    async fn extend_freeze(
        &self,
        request: Request<pb::ExtendFreezeRequest>,
    ) -> Result<Response<pb::ExtendFreezeResponse>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::extend_freeze(request.into_inner()).map_err(to_status)?;
        caller.check_act(command.request_id.as_str(), ADMIN, ActingRule::Admin)?;
        respond(self.ledger.extend_freeze(command).await, |freezes| {
            pb::ExtendFreezeResponse {
                freezes: freezes.into_iter().map(convert::freeze).collect(),
            }
        })
    }

    async fn list_freezes(
        &self,
        request: Request<pb::ListFreezesRequest>,
    ) -> Result<Response<pb::ListFreezesResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let (employee_id, policy_id) =
            convert::list_freezes(request.get_ref()).map_err(to_status)?;
        respond(
            self.ledger
                .list_freezes(&employee_id, policy_id.as_ref())
                .await,
            |freezes| pb::ListFreezesResponse {
                freezes: freezes.into_iter().map(convert::freeze).collect(),
            },
        )
    }

    async fn end_assignments(
        &self,
        request: Request<pb::EndAssignmentsRequest>,
    ) -> Result<Response<pb::EndAssignmentsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::end_assignments(request.into_inner()).map_err(to_status)?;
        caller.check_act(command.employee_id.as_str(), ADMIN, ActingRule::Admin)?;
        respond(
            self.ledger.end_assignments(command).await,
            convert::ended_assignments,
        )
    }

    async fn erase_personal_data(
        &self,
        request: Request<hrmesh_proto::common::ErasePersonalDataRequest>,
    ) -> Result<Response<hrmesh_proto::common::Erasure>, Status> {
        let command =
            hrmesh_mesh::crypto::erase_request(request.into_inner()).map_err(to_status)?;
        respond(
            self.ledger.erase_personal_data(command).await,
            hrmesh_mesh::crypto::erasure,
        )
    }

    async fn reopen_assignments(
        &self,
        request: Request<pb::ReopenAssignmentsRequest>,
    ) -> Result<Response<pb::ReopenAssignmentsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let command = convert::reopen_assignments(request.into_inner()).map_err(to_status)?;
        caller.check_act(command.employee_id.as_str(), ADMIN, ActingRule::Admin)?;
        respond(
            self.ledger.reopen_assignments(command).await,
            |assignments| pb::ReopenAssignmentsResponse {
                assignments: assignments.into_iter().map(convert::assignment).collect(),
            },
        )
    }

    async fn list_audit_events(
        &self,
        request: Request<hrmesh_proto::common::ListAuditEventsRequest>,
    ) -> Result<Response<hrmesh_proto::common::ListAuditEventsResponse>, Status> {
        hrmesh_mesh::audit::list_rpc(&self.audit, request).await
    }
}

/// A running ledger: the gRPC server, the hold-expiry sweeper and the accrual worker.
pub struct LedgerServer {
    pub server: RunningServer,
    sweeper: JoinHandle<()>,
    accruer: Option<JoinHandle<()>>,
    events: Events,
    /// The job that moves data keys to the keyring's current version (a store of its own only).
    rewrap: Option<hrmesh_mesh::crypto::Rewrap>,
    /// The job that archives records past their retention (a store of its own only).
    retention: Option<JoinHandle<()>>,
}

impl LedgerServer {
    /// Opens the configured database (migrating it), starts the sweeper and serves on
    /// `config.common.listen`, with the system clock.
    pub async fn start(config: &LedgerConfig) -> anyhow::Result<Self> {
        let keyring = config.common.keyring()?;
        let store = SeaLedgerStore::open(&config.database_url(), events::encode, keyring)
            .await
            .with_context(|| {
                format!(
                    "opening the ledger database {}",
                    hrmesh_storage::db::redact(&config.database_url())
                )
            })?;
        let rewrap = (config.common.crypto.rewrap_interval_secs > 0).then(|| {
            hrmesh_mesh::crypto::Rewrap::start(
                store.vault().clone(),
                std::sync::Arc::new(store.connection().clone()),
                Duration::from_secs(config.common.crypto.rewrap_interval_secs),
            )
        });
        let retention = config.common.retention.start(
            "ledger",
            &config.common,
            store.record_kinds(),
            std::sync::Arc::new(store.connection().clone()),
            SystemClock,
        )?;
        let mut server = Self::start_with(store, SystemClock, config).await?;
        server.rewrap = rewrap;
        server.retention = retention;
        Ok(server)
    }

    /// Like [`LedgerServer::start`], over a given store and clock (tests control time this way).
    pub async fn start_with<
        S: LedgerStore + AuditSource + OutboxSource + Clone,
        C: Clock + Clone,
    >(
        store: S,
        clock: C,
        config: &LedgerConfig,
    ) -> anyhow::Result<Self> {
        let events = Events::start("ledger", ADMIN, &store, &config.common.events);
        let (mesh, audit) = hrmesh_mesh::mesh::layer(
            "ledger",
            PERMISSIONS,
            &config.common.auth,
            store.audit_store(),
        )
        .await?;
        let ledger = Ledger::new(store, clock.clone());
        let notices = match &config.notification_url {
            Some(url) => {
                let token = TokenSource::identity(&config.identity, &["notification.create"])
                    .await
                    .context("the ledger's identity")?;
                Some(ExpiryNotices::new(url, config, token)?)
            }
            None => None,
        };
        let sweeper = tokio::spawn(sweep_expired_holds(
            ledger.clone(),
            Duration::from_secs(config.hold_sweep_interval_secs.max(1)),
            notices,
        ));
        let accruer = (config.accrual_run_interval_secs > 0).then(|| {
            tokio::spawn(run_accruals_periodically(
                ledger.clone(),
                clock.clone(),
                Duration::from_secs(config.accrual_run_interval_secs),
            ))
        });
        let spec = ServeSpec {
            routes: tonic::service::Routes::new(LedgerServiceServer::new(LedgerGrpc::new(
                ledger, audit,
            )))
            .add_service(events.service()),
            service_names: vec![
                <LedgerServiceServer<LedgerGrpc<S, C>> as tonic::server::NamedService>::NAME,
                hrmesh_mesh::events::SERVICE_NAME,
            ],
            descriptor_sets: vec![hrmesh_proto::FILE_DESCRIPTOR_SET],
            cors_allowed_origins: config.common.cors_allowed_origins.clone(),
            mesh,
            dependencies: Vec::new(),
            tls: config.common.tls.clone(),
            site: None,
        };
        let server = RunningServer::start(config.common.listen, spec).await?;
        tracing::info!(addr = %server.addr, "ledger serving");
        Ok(Self {
            server,
            sweeper,
            accruer,
            events,
            rewrap: None,
            retention: None,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// Stops the workers, drains in-flight calls and stops the server, then the event relay.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.sweeper.abort();
        for job in self.accruer.into_iter().chain(self.retention) {
            job.abort();
        }
        let stopped = self.server.stop().await;
        self.events.stop().await;
        if let Some(rewrap) = self.rewrap {
            rewrap.stop().await;
        }
        stopped
    }
}

async fn sweep_expired_holds<S: LedgerStore, C: Clock>(
    ledger: Ledger<S, C>,
    every: Duration,
    notices: Option<ExpiryNotices>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        sweep_once(&ledger, notices.as_ref()).await;
    }
}

/// Expires what is due, then tells the employees of expired holds not told yet.
async fn sweep_once<S: LedgerStore, C: Clock>(
    ledger: &Ledger<S, C>,
    notices: Option<&ExpiryNotices>,
) {
    // Drain what is due in bounded batches; a failure waits for the next tick.
    loop {
        match ledger.expire_due_holds(SWEEP_BATCH_MAX).await {
            Ok(expired) if expired > 0 => tracing::info!(expired, "expired undecided holds"),
            Ok(_) => break,
            Err(err) => {
                tracing::warn!(error = %hrmesh_domain::error::report(&err), "expiring holds failed; retrying at the next tick");
                break;
            }
        }
    }
    if let Some(notices) = notices {
        match notices.run_once(ledger).await {
            Ok(run) if run.sent + run.failed > 0 => {
                tracing::info!(sent = run.sent, failed = run.failed, "hold expiry notices")
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %hrmesh_domain::error::report(&err), "expiry notices failed; retrying at the next tick")
            }
        }
    }
}

/// Applies accruals up to today at start and then every `every`. A failed run is logged and the
/// next tick tries again; a run repeats nothing (each period accrues once), so an interrupted one
/// is simply finished by the next.
async fn run_accruals_periodically<S: LedgerStore, C: Clock>(
    ledger: Ledger<S, C>,
    clock: C,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = clock.now();
        let mut ignored = Violations::default();
        let Some(request_id) = hrmesh_domain::RequestId::parse(
            "request_id",
            &format!("accrual-run:{}", now.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
            &mut ignored,
        ) else {
            continue;
        };
        let command = hrmesh_ledger_core::RunAccruals {
            request_id,
            up_to: now.date_naive(),
            scope: hrmesh_ledger_core::AccrualScope {
                employee_id: None,
                policy_id: None,
            },
        };
        match ledger.run_accruals(command).await {
            Ok(run) if run.accruals + run.expiries > 0 => tracing::info!(
                accounts = run.accounts,
                accruals = run.accruals,
                expiries = run.expiries,
                "applied scheduled accruals"
            ),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %hrmesh_domain::error::report(&err), "the accrual run failed; retrying at the next tick")
            }
        }
    }
}
