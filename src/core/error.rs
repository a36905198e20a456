//! The domain error: every reason a core operation refuses, in AdCP's vocabulary but with no
//! wire format. Transports map it to their error shapes in exactly one place each.

/// Why a store operation failed, as core needs to know it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or foreign-key rule refused the write.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// The database could not be reached or answered with an error.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// The idempotency key of a sealed write was used meanwhile; nothing was written.
    #[error("idempotency key already used")]
    KeyTaken,
    /// The task a write decides was changed meanwhile; nothing was written.
    #[error("task changed concurrently")]
    TaskChanged,
    /// The proposal a write buys was bought meanwhile; nothing was written.
    #[error("proposal already bought")]
    ProposalTaken,
    /// Stored data could not be read back (corrupt row or incompatible document).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// A refusal of a core operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule; `field` is a JSONPath-lite location.
    #[error("{message}")]
    InvalidRequest { message: String, field: Option<String>, suggestion: Option<String> },
    /// The request asks for something this seller does not offer.
    #[error("{message}")]
    Unsupported { message: String, field: String, suggestion: String },
    /// The caller asked for a protocol major version this agent does not speak.
    #[error("AdCP major version {requested} is not supported; this agent supports {supported:?}")]
    VersionUnsupported { requested: i64, supported: Vec<u32> },
    /// The referenced account does not exist or is not the caller's (indistinguishable on purpose).
    #[error("account not found")]
    AccountNotFound { field: Option<String> },
    /// The account exists but cannot buy yet (pending approval).
    #[error("{0}")]
    AccountSetupRequired(String),
    /// The account owes payment; new spend is blocked.
    #[error("account is awaiting payment; new spend is blocked")]
    AccountPaymentRequired,
    /// The account is suspended; only reads are allowed.
    #[error("account is suspended")]
    AccountSuspended,
    /// Authenticated, but the operation needs a right the principal does not have.
    #[error("{0}")]
    PermissionDenied(String),
    /// The same idempotency key was used with a different request.
    #[error("idempotency key was already used with a different request")]
    IdempotencyConflict,
    /// The key was seen but its replay window is over.
    #[error("idempotency key has expired; send the request with a new key")]
    IdempotencyExpired,
    /// Another request with the same idempotency key is still running.
    #[error("a request with this idempotency key is still in progress")]
    IdempotencyInProgress,
    /// The operation is not allowed in the resource's current state.
    #[error("{message}")]
    InvalidState { message: String },
    /// The buy cannot be canceled (already canceled, or refused by contract).
    #[error("{message}")]
    NotCancellable { message: String },
    #[error("media buy not found")]
    MediaBuyNotFound,
    /// The task does not exist or is not the caller's (indistinguishable on purpose).
    #[error("task {task_id} not found")]
    TaskNotFound { task_id: String },
    #[error("package {package_id} not found in this media buy")]
    PackageNotFound { package_id: String, field: String },
    #[error("product {product_id} not found")]
    ProductNotFound { product_id: String, field: String },
    /// No inventory for the requested flight and targeting.
    #[error("{message}")]
    ProductUnavailable { message: String },
    /// A seed-era package id (a `get_avails` quote) that cannot be bought: unknown, foreign,
    /// expired or already used.
    #[error("package {quote_id} cannot be bought: {reason}")]
    QuoteNotUsable { quote_id: String, field: String, reason: String },
    /// A proposal that cannot be refined or bought (see `ProposalProblem`).
    #[error("proposal {proposal_id} cannot be used: {problem}")]
    ProposalNotUsable { proposal_id: String, problem: super::proposals::ProposalProblem },
    #[error("{message}")]
    BudgetTooLow { message: String, field: String, minimum: f64, currency: String },
    #[error("{message}")]
    PolicyViolation { message: String, field: String },
    /// The buyer's measurement terms or performance standards cannot be honoured.
    #[error("{message}")]
    TermsRejected { message: String, field: String, suggestion: String },
    /// The creative is not in the caller's library (foreign ids answer the same).
    #[error("creative {creative_id} not found")]
    CreativeNotFound { creative_id: String },
    /// The creative was rejected in review and cannot be assigned.
    #[error("creative {creative_id} was rejected in review; fix it and sync it again")]
    CreativeRejected { creative_id: String },
    /// Creatives can no longer change for this buy.
    #[error("the creative deadline {deadline} has passed")]
    CreativeDeadlineExceeded { deadline: chrono::DateTime<chrono::Utc> },
    /// The buyer's `revision` is not the current one: someone else changed the resource.
    #[error("{message}")]
    Conflict { message: String },
    /// The ad server could not answer; the operation may be retried.
    #[error("ad server unavailable: {0}")]
    AdServerUnavailable(String),
    /// A sandbox principal forced the create's input-required arm (`comply_test_controller`).
    #[error("{message}")]
    InputRequired { message: String },
    /// The sandbox test controller does not know the scenario.
    #[error("unknown scenario {scenario}")]
    UnknownScenario { scenario: String },
    /// The sandbox test controller cannot move `entity` from `from` to `to`.
    #[error("{entity} cannot move from {from} to {to}")]
    InvalidTransition { entity: &'static str, from: String, to: String },
    /// The sandbox test controller found no such entity.
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidRequest { message: message.into(), field: Some(field.into()), suggestion: None }
    }

    pub fn invalid_with(field: impl Into<String>, message: impl Into<String>, suggestion: impl Into<String>) -> Error {
        Error::InvalidRequest {
            message: message.into(),
            field: Some(field.into()),
            suggestion: Some(suggestion.into()),
        }
    }
}
