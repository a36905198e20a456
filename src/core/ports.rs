//! The ports core needs from the outside world: persistence and time. Core calls them; the
//! `store` module and the binary provide them. Nothing here performs IO itself.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::booking::BookingRecord;
use super::catalog::Catalog;
use super::creative::{Creative, CreativeStatus};
use super::error::StoreError;
use super::feedback::{Feedback, ProductRecord};
use super::idempotency::{IdempotencyRecord, IdempotencyScope};
use super::media_buy::{MediaBuy, MediaBuyStatus};
use super::notify::{Notification, OutboxRecord};
use super::proposals::Proposal;
use super::reconcile::PlatformStatus;
use super::reporting::ReportSchedule;
use super::tasks::{Priority, Task, TaskState, TaskStatus};
use super::tenancy::{Account, AccountKey, AccountStatus, Principal, Tenant};

/// Source of the current time; injected so that tests control it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A page request over an ordered listing: items strictly after `after`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: usize,
}

/// Which accounts a listing may return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFilter {
    pub tenant_id: String,
    /// `None` lists every account of the tenant (admins).
    pub owner_principal_id: Option<String>,
    pub status: Option<AccountStatus>,
    pub sandbox: Option<bool>,
}

/// Which media buys a listing may return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBuyFilter {
    pub tenant_id: String,
    /// `None` lists every principal's buys (admins).
    pub principal_id: Option<String>,
    pub account_id: Option<String>,
    /// Empty means every status.
    pub statuses: Vec<MediaBuyStatus>,
    /// Empty means every buy.
    pub media_buy_ids: Vec<String>,
}

/// One entry of a buy's change history (AdCP `history[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub revision: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub summary: String,
    pub package_id: Option<String>,
}

/// A creative assigned to a package of a buy.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub creative_id: String,
    pub media_buy_id: String,
    pub package_id: String,
    pub assigned_at: DateTime<Utc>,
}

/// A response to store under an idempotency key in the same transaction as the write that
/// produced it, so that the effect and its replay record commit together or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedResponse {
    pub scope: IdempotencyScope,
    pub request_hash: String,
    pub response: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Writes that commit in the same transaction as the write they accompany, or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Also {
    /// The response stored under the request's idempotency key; written first, so that a taken
    /// key (`StoreError::KeyTaken`) costs nothing else.
    pub seal: Option<SealedResponse>,
    /// A task this write decides: stored only if the task is still at its expected revision
    /// (`StoreError::TaskChanged` and nothing written otherwise).
    pub task: Option<TaskWrite>,
    /// A new task to store with the write.
    pub new_task: Option<Task>,
    /// The buy's delivery-report schedule, set up (or restarted, keeping its sequence) with
    /// the write.
    pub reports: Option<ReportSchedule>,
    pub audit: Vec<AuditEntry>,
    /// Buyer notifications of the change (the webhook outbox, see `core::notify`).
    pub events: Vec<Notification>,
    /// The proposal the write buys: recorded only if no buy was made from it before
    /// (`StoreError::ProposalTaken` and nothing written otherwise).
    pub accept_proposal: Option<ProposalAcceptance>,
    /// Buys whose booking must be planned again (a creative they serve changed): marked behind
    /// the buy's revision, so the booking sync takes them up.
    pub rebook: Vec<String>,
}

/// A proposal bought by a new media buy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposalAcceptance {
    pub tenant_id: String,
    pub principal_id: String,
    pub proposal_id: String,
    pub media_buy_id: String,
}

impl Also {
    pub fn sealed(seal: Option<SealedResponse>) -> Also {
        Also { seal, ..Also::default() }
    }
}

/// A task replacing the stored one at `expected_revision`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskWrite {
    pub task: Task,
    pub expected_revision: i64,
}

/// One entry of the audit log: who changed what, when, from what to what.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub tenant_id: String,
    pub at: DateTime<Utc>,
    /// The principal (or `system:<worker>`) that made the change.
    pub actor: String,
    /// `media_buy`, `task` or `creative`.
    pub object_type: String,
    pub object_id: String,
    /// What happened: `created`, `status_changed`, `assigned`, `resolved`, `escalated`, ...
    pub action: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub detail: Option<String>,
}

/// Which audit entries a listing returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    pub tenant_id: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub actor: Option<String>,
}

/// Which tasks a listing returns. Tasks list in creation order (ids are time-ordered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFilter {
    pub tenant_id: String,
    /// `None` lists every principal's tasks (publisher ops).
    pub principal_id: Option<String>,
    /// Empty means every state.
    pub states: Vec<TaskState>,
    /// Empty means every AdCP status.
    pub statuses: Vec<TaskStatus>,
    /// Empty means every type; matches the seed type or the deferred operation's name.
    pub task_types: Vec<String>,
    pub priority: Option<Priority>,
    /// Only open tasks due at or before this instant.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only tasks due after this instant (not yet overdue).
    pub due_after: Option<DateTime<Utc>>,
    /// Empty means every task.
    pub task_ids: Vec<String>,
    /// Only tasks that defer a buyer operation (what buyers see through `tasks/list`).
    pub deferred_only: bool,
    pub newest_first: bool,
}

/// Outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key was free and is now held by the caller until `complete` or `release`.
    Claimed,
    /// The key is already known.
    Existing(IdempotencyRecord),
}

/// Persistence for everything core owns. Implemented for SQLite and Postgres in `store`.
/// Every method is one atomic unit: it either happens entirely or not at all.
pub trait Store: Clone + Send + Sync + 'static {
    /// Checks the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates or updates a tenant's settings.
    fn upsert_tenant(&self, tenant: &Tenant) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn insert_principal(
        &self,
        principal: &Principal,
        token_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The active (not revoked) principal whose token hashes to `token_hash`.
    fn principal_by_token_hash(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<(Principal, String)>, StoreError>> + Send;

    fn list_principals(&self, tenant_id: &str) -> impl Future<Output = Result<Vec<Principal>, StoreError>> + Send;

    /// Revokes a principal's token; returns whether it existed.
    fn revoke_principal(
        &self,
        tenant_id: &str,
        principal_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The catalog version (bumped on every catalog change; `None` when never imported) and the
    /// feedback generation (bumped by every `insert_feedback`) of a tenant, in one read: what
    /// caches of both check per request.
    fn tenant_versions(&self, tenant_id: &str) -> impl Future<Output = Result<(Option<i64>, i64), StoreError>> + Send;

    /// The tenant's catalog with its version.
    fn load_catalog(&self, tenant_id: &str) -> impl Future<Output = Result<(i64, Catalog), StoreError>> + Send;

    /// Replaces the tenant's whole catalog in one transaction; returns the new version. With
    /// `expected_version`, only if the stored version is still that one (`Conflict` otherwise,
    /// and nothing written).
    fn replace_catalog(
        &self,
        tenant_id: &str,
        catalog: &Catalog,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    fn account_by_key(
        &self,
        tenant_id: &str,
        owner_principal_id: &str,
        key: &AccountKey,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    fn account_by_id(
        &self,
        tenant_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Inserts or updates (by `account_id`) each account, all in one transaction.
    fn save_accounts(&self, accounts: &[Account]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Accounts matching `filter` ordered by `account_id`, after the page cursor.
    fn list_accounts(
        &self,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;

    fn count_accounts(&self, filter: &AccountFilter) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Takes the key if free; otherwise returns what is stored under it.
    fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        request_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Stores the response of a claimed key; replays return it from now on.
    fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        response: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Frees a claimed key (the operation failed, so a retry must run again).
    fn release_idempotency_key(&self, scope: &IdempotencyScope) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What is stored under a key, if anything (a read; claims nothing).
    fn idempotency_record(
        &self,
        scope: &IdempotencyScope,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;

    /// Stores a completed response under a free key. `KeyTaken` when the key is already used.
    fn seal_idempotency_key(&self, sealed: &SealedResponse) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes up to `limit` bookings that are behind their buy (`wanted_revision >
    /// synced_revision`), not refused, due by `now` and not held by another worker, oldest due
    /// first, and holds them until `until` (one write for the batch). Concurrent claims never
    /// return the same booking.
    fn claim_bookings(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<BookingRecord>, StoreError>> + Send;

    /// Stores everything of `record` but its wanted revision (which only buy writes move).
    fn save_booking(&self, record: &BookingRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn booking(
        &self,
        tenant_id: &str,
        media_buy_id: &str,
    ) -> impl Future<Output = Result<Option<BookingRecord>, StoreError>> + Send;

    /// The bookings of these buys of the tenant (those that have one), in no particular order.
    fn bookings(
        &self,
        tenant_id: &str,
        media_buy_ids: &[String],
    ) -> impl Future<Output = Result<Vec<BookingRecord>, StoreError>> + Send;

    /// The tenant's bookings in sync and not leased whose platform status is due (never read,
    /// or due at or before `now`), longest due first, at most `limit`.
    fn bookings_to_reconcile(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<BookingRecord>, StoreError>> + Send;

    /// Records what the platform said of a booked buy (`None`: nothing to record; the last
    /// status read stays) and when to ask again.
    fn record_platform_status(
        &self,
        media_buy_id: &str,
        status: Option<&PlatformStatus>,
        next_check: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores what a real ad server reported of a booked buy, in one transaction: its days from
    /// `reported.since` on replace those stored, and the booking remembers `as_of`.
    fn record_platform_delivery(
        &self,
        tenant_id: &str,
        media_buy_id: &str,
        reported: &super::delivery::Reported,
        as_of: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The days stored for these buys of the tenant, with each day's buy, in no particular order.
    fn platform_delivery(
        &self,
        tenant_id: &str,
        media_buy_ids: &[String],
    ) -> impl Future<Output = Result<Vec<(String, super::delivery::ReportedDay)>, StoreError>> + Send;

    /// Stores a new buy with its first history entries and `also` in one transaction, and asks
    /// for its booking (see `core::booking`). `KeyTaken` or `TaskChanged` (and nothing written)
    /// as [`Also`] says.
    fn insert_media_buy(
        &self,
        media_buy: &MediaBuy,
        history: &[HistoryEntry],
        also: &Also,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn media_buy(
        &self,
        tenant_id: &str,
        media_buy_id: &str,
    ) -> impl Future<Output = Result<Option<MediaBuy>, StoreError>> + Send;

    /// Replaces a buy if its stored revision is still `expected_revision`, appending history,
    /// writing `also` and asking for the booking of the new revision in the same transaction.
    /// Returns false (and changes nothing) when someone else changed it; `KeyTaken` or
    /// `TaskChanged` as [`Also`] says.
    fn update_media_buy(
        &self,
        media_buy: &MediaBuy,
        expected_revision: i64,
        history: &[HistoryEntry],
        also: &Also,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a new task with `also` (a task write in `also` is ignored) in one transaction.
    fn insert_task(&self, task: &Task, also: &Also) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces a task if its stored revision is still `expected_revision`, with `also` (a task
    /// write in `also` is ignored). Returns false (and writes nothing) when someone else changed it.
    fn save_task(
        &self,
        task: &Task,
        expected_revision: i64,
        also: &Also,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn task(&self, tenant_id: &str, task_id: &str) -> impl Future<Output = Result<Option<Task>, StoreError>> + Send;

    /// Tasks matching `filter` in id order (reversed when `newest_first`), after the cursor.
    fn list_tasks(
        &self,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Vec<Task>, StoreError>> + Send;

    fn count_tasks(&self, filter: &TaskFilter) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Audit entries matching `filter`, newest first, after the cursor (an entry's sequence).
    fn audit_log(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Vec<(i64, AuditEntry)>, StoreError>> + Send;

    /// Takes up to `limit` of the tenant's undelivered, not given-up events that are due by
    /// `now` and not held by another worker, oldest first, and holds them until `until`.
    /// Concurrent claims never return the same event.
    fn claim_notifications(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxRecord>, StoreError>> + Send;

    /// Stores an event's delivery state (attempts, next attempt, lease, outcome).
    fn save_notification(&self, record: &OutboxRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The tenant's events, oldest first, at most `limit`.
    fn notifications(
        &self,
        tenant_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxRecord>, StoreError>> + Send;

    /// Buys of the tenant whose next delivery report is due at `now`, or that ended without
    /// their final report, with their schedules; at most `limit`.
    fn reports_due(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(MediaBuy, ReportSchedule)>, StoreError>> + Send;

    /// Advances a report schedule still at `expected_sequence`, with `also` (the report's
    /// notification). Returns false (and writes nothing) when another worker advanced it.
    fn save_report(
        &self,
        schedule: &ReportSchedule,
        expected_sequence: i64,
        also: &Also,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn report_schedule(
        &self,
        tenant_id: &str,
        media_buy_id: &str,
    ) -> impl Future<Output = Result<Option<ReportSchedule>, StoreError>> + Send;

    /// An active (not revoked) principal of the tenant.
    fn principal(
        &self,
        tenant_id: &str,
        principal_id: &str,
    ) -> impl Future<Output = Result<Option<Principal>, StoreError>> + Send;

    /// Buys matching `filter` ordered by id, after the page cursor.
    fn list_media_buys(
        &self,
        filter: &MediaBuyFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Vec<MediaBuy>, StoreError>> + Send;

    fn count_media_buys(&self, filter: &MediaBuyFilter) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The most recent `limit` history entries of a buy, newest first.
    fn media_buy_history(
        &self,
        media_buy_id: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, StoreError>> + Send;

    /// Inserts or updates creatives (by tenant, principal and creative_id) with `also`, in one
    /// transaction (`KeyTaken` or `TaskChanged` and nothing written as [`Also`] says).
    fn save_creatives(
        &self,
        creatives: &[Creative],
        also: &Also,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creatives of any principal of the tenant, with this id and/or in this status, oldest
    /// first, at most `limit`.
    fn find_creatives(
        &self,
        tenant_id: &str,
        creative_id: Option<&str>,
        status: Option<CreativeStatus>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Creative>, StoreError>> + Send;

    /// Every creative of a principal, oldest first.
    fn creatives(
        &self,
        tenant_id: &str,
        principal_id: &str,
    ) -> impl Future<Output = Result<Vec<Creative>, StoreError>> + Send;

    /// Every assignment of a principal's creatives to packages.
    fn assignments(
        &self,
        tenant_id: &str,
        principal_id: &str,
    ) -> impl Future<Output = Result<Vec<Assignment>, StoreError>> + Send;

    /// The buy a package belongs to.
    fn media_buy_id_for_package(
        &self,
        tenant_id: &str,
        package_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Buys whose flight start (pending_start) or end (any live status) is at or before `now`.
    fn media_buys_due(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MediaBuy>, StoreError>> + Send;

    /// Keeps `get_avails` quotes.
    fn insert_quotes(&self, quotes: &[super::avails::Quote]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One quote of the tenant, whoever asked for it.
    fn quote(
        &self,
        tenant_id: &str,
        quote_id: &str,
    ) -> impl Future<Output = Result<Option<super::avails::Quote>, StoreError>> + Send;

    fn insert_feedback(&self, feedback: &[Feedback]) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Sandbox tenants' `comply_test_controller` state (see `core::sandbox`).

    /// Records a seeded fixture under its key unless the key is taken; `None` when it was
    /// recorded, else the fixture stored under the key before.
    fn seed_fixture(
        &self,
        tenant_id: &str,
        fixture_key: &str,
        fixture: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Stores a buyer's proposal, replacing the stored one of the same id unless that one was
    /// bought.
    fn save_proposal(&self, proposal: &Proposal) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A buyer's proposal, with the buy made from it if any.
    fn proposal(
        &self,
        tenant_id: &str,
        principal_id: &str,
        proposal_id: &str,
    ) -> impl Future<Output = Result<Option<Proposal>, StoreError>> + Send;

    /// Those of `proposal_ids` the buyer has, in one read (in no particular order).
    fn proposals(
        &self,
        tenant_id: &str,
        principal_id: &str,
        proposal_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Proposal>, StoreError>> + Send;

    /// Keeps (replaces) a product seeded before it has a pricing option.
    fn save_pending_product(
        &self,
        tenant_id: &str,
        product: &super::catalog::Product,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn pending_product(
        &self,
        tenant_id: &str,
        product_id: &str,
    ) -> impl Future<Output = Result<Option<super::catalog::Product>, StoreError>> + Send;

    /// Replaces the principal's forced create arm.
    fn save_forced_arm(&self, arm: &super::sandbox::ForcedArm) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes and returns the principal's forced create arm, if any (one caller gets it).
    fn take_forced_arm(
        &self,
        tenant_id: &str,
        principal_id: &str,
    ) -> impl Future<Output = Result<Option<super::sandbox::ForcedArm>, StoreError>> + Send;

    /// Replaces a buy's simulated delivery.
    fn save_simulated_delivery(
        &self,
        simulated: &super::sandbox::SimulatedDelivery,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The simulated delivery of these buys (those that have one).
    fn simulated_delivery(
        &self,
        tenant_id: &str,
        media_buy_ids: &[String],
    ) -> impl Future<Output = Result<Vec<super::sandbox::SimulatedDelivery>, StoreError>> + Send;

    /// Mean performance index and report count per product of a tenant.
    fn product_records(
        &self,
        tenant_id: &str,
    ) -> impl Future<Output = Result<std::collections::HashMap<String, ProductRecord>, StoreError>> + Send;
}
