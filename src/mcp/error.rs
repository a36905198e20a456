//! The one place where domain errors become AdCP errors on MCP (DIGEST §4.3): a tool result with
//! `isError: true` whose structured content carries both `adcp_error` and `errors[]`, with the
//! caller's `context` echoed. Internal causes are logged, never sent.

use rmcp::model::CallToolResult;
use serde_json::{Map, Value, json};

use crate::core::Error;
use crate::core::proposals::ProposalProblem;

/// AdCP recovery classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Transient,
    Correctable,
    Terminal,
}

impl Recovery {
    fn as_str(self) -> &'static str {
        match self {
            Recovery::Transient => "transient",
            Recovery::Correctable => "correctable",
            Recovery::Terminal => "terminal",
        }
    }
}

/// Builds the AdCP error object (`core/error.json`) for a domain error.
pub fn adcp_error(error: &Error) -> Value {
    let (code, recovery, field, suggestion): (&str, Recovery, Option<String>, Option<String>) = match error {
        Error::InvalidRequest { field, suggestion, .. } => {
            ("INVALID_REQUEST", Recovery::Correctable, field.clone(), suggestion.clone())
        }
        Error::Unsupported { field, suggestion, .. } => {
            ("UNSUPPORTED_FEATURE", Recovery::Correctable, Some(field.clone()), Some(suggestion.clone()))
        }
        Error::VersionUnsupported { supported, .. } => (
            "VERSION_UNSUPPORTED",
            Recovery::Correctable,
            Some("adcp_major_version".to_owned()),
            Some(format!("send adcp_major_version {} or omit it", supported.last().copied().unwrap_or(3))),
        ),
        Error::AccountNotFound { field } => (
            "ACCOUNT_NOT_FOUND",
            Recovery::Terminal,
            field.clone(),
            Some("declare the account with sync_accounts or use an account_id from list_accounts".to_owned()),
        ),
        Error::AccountSetupRequired(_) => {
            ("ACCOUNT_SETUP_REQUIRED", Recovery::Correctable, Some("account".to_owned()), None)
        }
        Error::AccountPaymentRequired => {
            ("ACCOUNT_PAYMENT_REQUIRED", Recovery::Terminal, Some("account".to_owned()), None)
        }
        Error::AccountSuspended => ("ACCOUNT_SUSPENDED", Recovery::Terminal, Some("account".to_owned()), None),
        Error::PermissionDenied(_) => ("PERMISSION_DENIED", Recovery::Correctable, None, None),
        // Conflicts expose code and message only (security.mdx#idempotency).
        Error::IdempotencyConflict => ("IDEMPOTENCY_CONFLICT", Recovery::Correctable, None, None),
        Error::IdempotencyExpired => ("IDEMPOTENCY_EXPIRED", Recovery::Correctable, None, None),
        Error::IdempotencyInProgress => ("CONFLICT", Recovery::Transient, None, None),
        Error::InvalidState { .. } => ("INVALID_STATE", Recovery::Correctable, None, None),
        Error::NotCancellable { .. } => ("NOT_CANCELLABLE", Recovery::Correctable, None, None),
        Error::MediaBuyNotFound => (
            "MEDIA_BUY_NOT_FOUND",
            Recovery::Correctable,
            Some("media_buy_id".to_owned()),
            Some("use a media_buy_id from get_media_buys".to_owned()),
        ),
        Error::TaskNotFound { .. } => (
            "REFERENCE_NOT_FOUND",
            Recovery::Correctable,
            Some("task_id".to_owned()),
            Some("use the task_id a submitted response gave you, or list your tasks with tasks/list".to_owned()),
        ),
        Error::PackageNotFound { field, .. } => (
            "PACKAGE_NOT_FOUND",
            Recovery::Correctable,
            Some(field.clone()),
            Some("use a package_id of this media buy".to_owned()),
        ),
        Error::ProductNotFound { field, .. } => (
            "PRODUCT_NOT_FOUND",
            Recovery::Correctable,
            Some(field.clone()),
            Some("use a product_id from get_products".to_owned()),
        ),
        Error::ProductUnavailable { .. } => (
            "PRODUCT_UNAVAILABLE",
            Recovery::Correctable,
            None,
            Some("change the dates, widen the targeting or choose other products".to_owned()),
        ),
        Error::QuoteNotUsable { field, .. } => (
            "PACKAGE_NOT_FOUND",
            Recovery::Correctable,
            Some(field.clone()),
            Some("call get_avails and use the package ids it returns".to_owned()),
        ),
        Error::ProposalNotUsable { problem, .. } => {
            let (code, suggestion) = match problem {
                ProposalProblem::Unknown => (
                    "REFERENCE_NOT_FOUND",
                    "use a proposal_id that get_products gave you, or send a brief for proposals",
                ),
                ProposalProblem::Expired(_) | ProposalProblem::Repriced { .. } => (
                    "PROPOSAL_EXPIRED",
                    "finalize it again (get_products, buying_mode refine, action finalize), or send a new brief",
                ),
                ProposalProblem::NotCommitted => (
                    "PROPOSAL_NOT_COMMITTED",
                    "finalize it first: get_products with buying_mode refine and action finalize",
                ),
                ProposalProblem::Bought(_) => {
                    ("INVALID_STATE", "a proposal is bought once; manage that buy with update_media_buy")
                }
            };
            (code, Recovery::Correctable, Some("proposal_id".to_owned()), Some(suggestion.to_owned()))
        }
        Error::BudgetTooLow { field, minimum, currency, .. } => (
            "BUDGET_TOO_LOW",
            Recovery::Correctable,
            Some(field.clone()),
            Some(format!("raise the budget to at least {minimum} {currency}")),
        ),
        Error::PolicyViolation { field, .. } => ("POLICY_VIOLATION", Recovery::Correctable, Some(field.clone()), None),
        Error::TermsRejected { field, suggestion, .. } => {
            ("TERMS_REJECTED", Recovery::Correctable, Some(field.clone()), Some(suggestion.clone()))
        }
        Error::CreativeNotFound { .. } => (
            "CREATIVE_NOT_FOUND",
            Recovery::Correctable,
            None,
            Some("sync the creative with sync_creatives first".to_owned()),
        ),
        Error::CreativeRejected { .. } => ("CREATIVE_REJECTED", Recovery::Correctable, None, None),
        Error::CreativeDeadlineExceeded { .. } => ("CREATIVE_DEADLINE_EXCEEDED", Recovery::Correctable, None, None),
        Error::Conflict { .. } => (
            "CONFLICT",
            Recovery::Transient,
            Some("revision".to_owned()),
            Some("read the media buy again and retry with its current revision".to_owned()),
        ),
        Error::AdServerUnavailable(_) | Error::Store(_) => ("SERVICE_UNAVAILABLE", Recovery::Transient, None, None),
        Error::InputRequired { .. } => (
            "INVALID_REQUEST",
            Recovery::Correctable,
            None,
            Some(
                "this sandbox principal forced the input-required arm with comply_test_controller; send the \
                 create again"
                    .to_owned(),
            ),
        ),
        // The controller's own errors reach buyers only through its tool, which renders them
        // itself (`controller_error_result`); any other tool reports a missing reference.
        Error::UnknownScenario { .. } => ("INVALID_REQUEST", Recovery::Correctable, Some("scenario".to_owned()), None),
        Error::InvalidTransition { .. } => ("INVALID_STATE", Recovery::Correctable, None, None),
        Error::NotFound { .. } => ("REFERENCE_NOT_FOUND", Recovery::Correctable, None, None),
    };
    let message = match error {
        Error::Store(cause) => {
            tracing::error!(error = %cause, "storage failure answered as SERVICE_UNAVAILABLE");
            "the service is temporarily unavailable; retry shortly".to_owned()
        }
        other => other.to_string(),
    };
    let mut object = Map::new();
    object.insert("code".into(), code.into());
    object.insert("message".into(), message.into());
    if let Some(field) = field {
        object.insert("field".into(), field.into());
    }
    if let Some(suggestion) = suggestion {
        object.insert("suggestion".into(), suggestion.into());
    }
    if matches!(error, Error::IdempotencyInProgress | Error::Store(_) | Error::AdServerUnavailable(_)) {
        object.insert("retry_after".into(), 1.into());
    }
    if let Error::BudgetTooLow { minimum, currency, .. } = error {
        object.insert("details".into(), json!({ "minimum": minimum, "currency": currency }));
    }
    // A conflict says nothing beyond code and message about the request it collided with
    // (security.mdx#idempotency: the envelope keys are allow-listed).
    if !matches!(error, Error::IdempotencyConflict) {
        object.insert("recovery".into(), recovery.as_str().into());
    }
    Value::Object(object)
}

/// The tool result for a failed call.
pub fn error_result(error: &Error, context: Option<&Value>) -> CallToolResult {
    let object = adcp_error(error);
    let mut body = json!({ "adcp_error": object.clone(), "errors": [object] });
    if let Some(context) = context {
        body["context"] = context.clone();
    }
    CallToolResult::structured_error(body)
}

/// The tool result for a failed call of a seed-era tool: the seed's error format
/// (`{"error": {code, message, field, suggestion}}`) with the same code and words as the AdCP
/// error.
pub fn seed_error_result(error: &Error, context: Option<&Value>) -> CallToolResult {
    let object = adcp_error(error);
    let mut seed = Map::new();
    for key in ["code", "message", "field", "suggestion"] {
        if let Some(value) = object.get(key) {
            seed.insert(key.into(), value.clone());
        }
    }
    let mut body = json!({ "error": seed });
    if let Some(context) = context {
        body["context"] = context.clone();
    }
    CallToolResult::structured_error(body)
}

/// The tool result for a failed `comply_test_controller` call: the controller's error arm
/// (`{success: false, error, error_detail, current_state?}`), with `isError: true` and the
/// caller's `context` echoed.
pub fn controller_error_result(error: &Error, context: Option<&Value>) -> CallToolResult {
    let (code, current_state) = match error {
        Error::UnknownScenario { .. } => ("UNKNOWN_SCENARIO", None),
        Error::InvalidRequest { .. } | Error::VersionUnsupported { .. } => ("INVALID_PARAMS", None),
        Error::InvalidTransition { from, .. } => ("INVALID_TRANSITION", Some(Value::from(from.clone()))),
        Error::NotFound { .. }
        | Error::MediaBuyNotFound
        | Error::TaskNotFound { .. }
        | Error::CreativeNotFound { .. }
        | Error::AccountNotFound { .. } => ("NOT_FOUND", Some(Value::Null)),
        Error::InvalidState { .. } | Error::NotCancellable { .. } | Error::Conflict { .. } => ("INVALID_STATE", None),
        Error::PermissionDenied(_) => ("FORBIDDEN", None),
        _ => ("INTERNAL_ERROR", None),
    };
    let detail = match error {
        Error::Store(cause) => {
            tracing::error!(error = %cause, "storage failure answered as INTERNAL_ERROR");
            "the service is temporarily unavailable; retry shortly".to_owned()
        }
        Error::InvalidRequest { message, field: Some(field), .. } => format!("{field}: {message}"),
        other => other.to_string(),
    };
    let mut body = json!({ "success": false, "error": code, "error_detail": detail });
    if let Some(state) = current_state {
        body["current_state"] = state;
    }
    if let Some(context) = context {
        body["context"] = context.clone();
    }
    CallToolResult::structured_error(body)
}
