//! AdCP 3.0 shapes of `sync_creatives` and `list_creatives`.

use super::wire_buying::time;
use serde_json::{Map, Value, json};

use super::error::adcp_error;
use crate::core::Error;
use crate::core::catalog::FormatId;
use crate::core::creative::{AssetInput, CreativeStatus, ValidationMode};
use crate::core::creatives::{
    CreativeOutcome, CreativeQuery, CreativeSort, CreativeUpload, ListedCreative, SyncCreatives,
};
use crate::core::media_buy::Verbatim;
use crate::core::pagination::Page;

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use super::super::wire::{Envelope, FormatIdRef, PaginationRequest};
    use super::super::wire_buying::schemas::AccountRefWire;

    /// One creative: its format and its assets keyed by the format's asset_id.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct CreativeWire {
        /// Your id for the creative; re-sending it updates the creative.
        pub creative_id: String,
        pub name: String,
        /// A format_id from list_creative_formats.
        pub format_id: FormatIdRef,
        /// Assets keyed by asset_id, each with its `asset_type` (image: url, width, height; video:
        /// url, width, height, duration_ms; audio: url, duration_ms; url: url; text: content).
        pub assets: Map<String, Value>,
        pub tags: Option<Vec<String>>,
        /// `archived` archives an approved creative; `approved` unarchives it.
        pub status: Option<String>,
    }

    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct AssignmentWire {
        pub creative_id: String,
        /// A package_id from create_media_buy or get_media_buys.
        pub package_id: String,
        pub weight: Option<f64>,
        pub placement_ids: Option<Vec<String>>,
    }

    /// Upload or update creatives (validated against their formats) and assign them to packages.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct SyncCreativesRequest {
        /// Unique key for this request (16-255 chars of A-Z a-z 0-9 _ . : -); reuse only to retry it.
        pub idempotency_key: Option<String>,
        pub account: Option<AccountRefWire>,
        pub creatives: Vec<CreativeWire>,
        /// Limit the sync to these creatives of the request (not with delete_missing).
        pub creative_ids: Option<Vec<String>>,
        pub assignments: Option<Vec<AssignmentWire>>,
        /// Archive your creatives that are not in this request.
        pub delete_missing: Option<bool>,
        /// Report what would happen without changing anything.
        pub dry_run: Option<bool>,
        /// `strict` (default) refuses any mismatch with the format; `lenient` only warns on sizes
        /// and file types.
        pub validation_mode: Option<String>,
        /// Where to push task status changes (`url`, optional `token` and `authentication`).
        pub push_notification_config: Option<Value>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct CreativeFiltersWire {
        pub statuses: Option<Vec<String>>,
        pub creative_ids: Option<Vec<String>>,
        pub name_contains: Option<String>,
        /// Creatives with all of these tags.
        pub tags: Option<Vec<String>>,
        /// Creatives with any of these tags.
        pub tags_any: Option<Vec<String>>,
        pub format_ids: Option<Vec<FormatIdRef>>,
        pub media_buy_ids: Option<Vec<String>>,
        pub assigned_to_packages: Option<Vec<String>>,
        pub unassigned: Option<bool>,
    }

    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct SortWire {
        /// created_date, updated_date, name, status or assignment_count.
        pub field: Option<String>,
        /// asc or desc.
        pub direction: Option<String>,
    }

    /// List your creative library with filters, sort and cursor pagination.
    #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
    pub struct ListCreativesRequest {
        pub account: Option<AccountRefWire>,
        pub filters: Option<CreativeFiltersWire>,
        pub sort: Option<SortWire>,
        pub pagination: Option<PaginationRequest>,
        /// Add each creative's package assignments.
        pub include_assignments: Option<bool>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

use schemas::*;

fn status(text: &str, field: &str) -> Result<CreativeStatus, Error> {
    CreativeStatus::parse(text).ok_or_else(|| {
        Error::invalid_with(
            field,
            format!("unknown creative status {text:?}"),
            "use processing, pending_review, approved, rejected or archived",
        )
    })
}

/// A stored `assets` object read back by asset id (nothing for text that is not an object).
pub fn assets(text: &str) -> Vec<(String, AssetInput)> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(assets)) => assets.iter().map(|(id, value)| (id.clone(), asset_input(value))).collect(),
        _ => Vec::new(),
    }
}

fn asset_input(value: &Value) -> AssetInput {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| value.get(key).and_then(Value::as_u64);
    AssetInput {
        asset_type: text("asset_type"),
        url: text("url"),
        width: number("width"),
        height: number("height"),
        duration_ms: number("duration_ms"),
        file_size_bytes: number("file_size_bytes"),
        format: text("format").or_else(|| text("container_format")),
        content: text("content"),
    }
}

impl SyncCreativesRequest {
    /// # Errors
    /// `InvalidRequest` for a missing account, bad statuses or modes.
    pub fn to_core(&self) -> Result<SyncCreatives, Error> {
        let account =
            self.account.as_ref().ok_or_else(|| Error::invalid("account", "account is required"))?.to_core()?;
        let validation_mode = match self.validation_mode.as_deref() {
            None | Some("strict") => ValidationMode::Strict,
            Some("lenient") => ValidationMode::Lenient,
            Some(other) => {
                return Err(Error::invalid("validation_mode", format!("unknown validation_mode {other:?}")));
            }
        };
        let mut creatives = Vec::with_capacity(self.creatives.len());
        for (index, c) in self.creatives.iter().enumerate() {
            creatives.push(CreativeUpload {
                creative_id: c.creative_id.clone(),
                name: c.name.clone(),
                format_id: FormatId::from(c.format_id.clone()),
                assets: c.assets.iter().map(|(id, value)| (id.clone(), asset_input(value))).collect(),
                assets_verbatim: Verbatim(Value::Object(c.assets.clone()).to_string()),
                tags: c.tags.clone().unwrap_or_default(),
                requested_status: c
                    .status
                    .as_deref()
                    .map(|s| status(s, &format!("creatives[{index}].status")))
                    .transpose()?,
            });
        }
        Ok(SyncCreatives {
            account,
            creatives,
            only: self.creative_ids.clone(),
            assignments: self
                .assignments
                .iter()
                .flatten()
                .map(|a| (a.creative_id.clone(), a.package_id.clone()))
                .collect(),
            delete_missing: self.delete_missing.unwrap_or(false),
            dry_run: self.dry_run.unwrap_or(false),
            validation_mode,
            push_notification: super::wire_buying::webhook(
                self.push_notification_config.as_ref(),
                "push_notification_config",
            )?,
        })
    }
}

pub fn sync_response(outcomes: &[CreativeOutcome], dry_run: bool, sandbox: bool) -> Map<String, Value> {
    let creatives: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let mut value = json!({ "creative_id": o.creative_id, "action": o.action.as_str() });
            if let Some(status) = o.status {
                value["status"] = json!(status.as_str());
            }
            if !o.errors.is_empty() {
                value["errors"] = o.errors.iter().map(adcp_error).collect::<Vec<_>>().into();
            }
            if !o.warnings.is_empty() {
                value["warnings"] = json!(o.warnings);
            }
            if !o.assigned_to.is_empty() {
                value["assigned_to"] = json!(o.assigned_to);
            }
            if !o.assignment_errors.is_empty() {
                let errors: Map<String, Value> = o
                    .assignment_errors
                    .iter()
                    .map(|(package, error)| (package.clone(), json!(error.to_string())))
                    .collect();
                value["assignment_errors"] = Value::Object(errors);
            }
            value
        })
        .collect();
    let mut body = Map::new();
    if dry_run {
        body.insert("dry_run".into(), true.into());
    }
    body.insert("creatives".into(), creatives.into());
    if sandbox {
        body.insert("sandbox".into(), true.into());
    }
    body
}

impl ListCreativesRequest {
    /// # Errors
    /// `InvalidRequest` for unknown statuses or sort fields.
    pub fn to_core(&self) -> Result<CreativeQuery, Error> {
        let filters = self.filters.clone().unwrap_or_default();
        let statuses = filters
            .statuses
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, s)| status(s, &format!("filters.statuses[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let (sort, descending) = match &self.sort {
            None => (CreativeSort::CreatedDate, false),
            Some(sort) => {
                let field = match sort.field.as_deref().unwrap_or("created_date") {
                    "created_date" => CreativeSort::CreatedDate,
                    "updated_date" => CreativeSort::UpdatedDate,
                    "name" => CreativeSort::Name,
                    "status" => CreativeSort::Status,
                    "assignment_count" => CreativeSort::AssignmentCount,
                    other => {
                        return Err(Error::invalid("sort.field", format!("cannot sort by {other:?}")));
                    }
                };
                let descending = match sort.direction.as_deref() {
                    None | Some("asc") => false,
                    Some("desc") => true,
                    Some(other) => {
                        return Err(Error::invalid("sort.direction", format!("unknown direction {other:?}")));
                    }
                };
                (field, descending)
            }
        };
        Ok(CreativeQuery {
            statuses,
            creative_ids: filters.creative_ids.unwrap_or_default(),
            name_contains: filters.name_contains,
            tags: filters.tags.unwrap_or_default(),
            tags_any: filters.tags_any.unwrap_or_default(),
            format_ids: filters.format_ids.unwrap_or_default().into_iter().map(FormatId::from).collect(),
            media_buy_ids: filters.media_buy_ids.unwrap_or_default(),
            assigned_to_packages: filters.assigned_to_packages.unwrap_or_default(),
            unassigned: filters.unassigned,
            sort,
            descending,
            page: self.pagination.clone().into(),
        })
    }
}

fn sort_name(sort: CreativeSort) -> &'static str {
    match sort {
        CreativeSort::CreatedDate => "created_date",
        CreativeSort::UpdatedDate => "updated_date",
        CreativeSort::Name => "name",
        CreativeSort::Status => "status",
        CreativeSort::AssignmentCount => "assignment_count",
    }
}

pub fn list_response(
    page: &Page<ListedCreative>,
    query: &CreativeQuery,
    include_assignments: bool,
) -> Map<String, Value> {
    let creatives: Vec<Value> = page
        .items
        .iter()
        .map(|listed| {
            let c = &listed.creative;
            let mut value = json!({
                "creative_id": c.creative_id,
                "name": c.name,
                "format_id": c.format_id,
                "status": c.status.as_str(),
                "created_date": time(c.created_at),
                "updated_date": time(c.updated_at),
                "assets": serde_json::from_str::<Value>(&c.assets.0).unwrap_or_else(|_| json!({})),
            });
            if !c.tags.is_empty() {
                value["tags"] = json!(c.tags);
            }
            if let Some(reason) = &c.rejection_reason {
                value["rejection_reason"] = json!(reason);
            }
            if include_assignments {
                value["assignments"] = json!({
                    "assignment_count": listed.assignments.len(),
                    "assigned_packages": listed
                        .assignments
                        .iter()
                        .map(|a| json!({
                            "package_id": a.package_id,
                            "media_buy_id": a.media_buy_id,
                            "assigned_date": time(a.assigned_at),
                        }))
                        .collect::<Vec<_>>(),
                });
            }
            value
        })
        .collect();
    let total = page.total.unwrap_or(page.items.len() as u64);
    let mut pagination = json!({ "has_more": page.next_cursor.is_some(), "total_count": total });
    if let Some(cursor) = &page.next_cursor {
        pagination["cursor"] = json!(cursor);
    }
    let mut body = Map::new();
    body.insert(
        "query_summary".into(),
        json!({
            "total_matching": total,
            "returned": page.items.len(),
            "sort_applied": { "field": sort_name(query.sort), "direction": if query.descending { "desc" } else { "asc" } },
        }),
    );
    body.insert("pagination".into(), pagination);
    body.insert("creatives".into(), creatives.into());
    body
}
