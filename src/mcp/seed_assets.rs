//! Seed 001's `add_creative_assets`: seed assets (a kind, a media URL, a click URL, a size or a
//! duration, package assignments) become AdCP 3.0 creatives in the format of their packages that
//! they fit, synced and assigned by the ordinary `sync_creatives` path (validation, review
//! policy, idempotency), and answered as `asset_statuses` with suggested adaptations.

use serde_json::{Map, Value, json};

use super::args::Args;
use super::{Call, SalesAgent, required};
use crate::core::Error;
use crate::core::catalog::{AssetType, Catalog, Format, FormatId};
use crate::core::media_buy::MediaBuy;
use crate::core::seed_assets::{self, AdaptationOutcome, SeedAsset};

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;

    use super::super::wire::Envelope;

    /// One creative asset (seed 001).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct SeedAssetWire {
        pub creative_id: String,
        pub name: String,
        /// video, audio, display, or a format id of the buy's packages.
        pub format: String,
        /// The media file (image, video or audio).
        pub media_url: String,
        /// Landing page.
        pub click_url: Option<String>,
        /// Duration in milliseconds (video and audio).
        pub duration: Option<u64>,
        pub width: Option<u32>,
        pub height: Option<u32>,
        /// Package ids of the buy to run in; omitted: every package that takes the format.
        pub package_assignments: Option<Vec<String>>,
    }

    /// What to change in the adapted creative.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AdaptationModifications {
        /// The adapted creative's name.
        pub name: Option<String>,
    }

    /// Seed 001 `approve_adaptation`: accept or decline an adaptation add_creative_assets
    /// suggested.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct ApproveAdaptationRequest {
        pub creative_id: String,
        pub adaptation_id: String,
        pub approve: bool,
        pub modifications: Option<AdaptationModifications>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Seed 001 `add_creative_assets`: upload creative assets for a media buy and assign them to
    /// its packages.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct AddCreativeAssetsRequest {
        pub media_buy_id: String,
        pub assets: Vec<SeedAssetWire>,
        /// Optional: makes a retry safe (the same key and request replays the first answer).
        pub idempotency_key: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

/// The AdCP 3.0 assets of a seed asset in `format`: the media file in the main slot (with its
/// size and duration), the click URL in the clickthrough slot when the format has one.
fn adcp_assets(asset: &schemas::SeedAssetWire, format: &Format) -> Map<String, Value> {
    let mut assets = Map::new();
    let main = seed_assets::primary_slot(format);
    for slot in &format.assets {
        let is_main = main.is_some_and(|m| m.asset_id == slot.asset_id);
        let value = match slot.asset_type {
            AssetType::Image | AssetType::Video | AssetType::Audio if is_main => {
                let mut media = json!({ "asset_type": slot.asset_type.as_str(), "url": asset.media_url });
                if let (Some(w), Some(h)) = (asset.width, asset.height)
                    && slot.asset_type != AssetType::Audio
                {
                    media["width"] = json!(w);
                    media["height"] = json!(h);
                }
                if let Some(ms) = asset.duration
                    && slot.asset_type != AssetType::Image
                {
                    media["duration_ms"] = json!(ms);
                }
                media
            }
            AssetType::Url if slot.asset_role.as_deref() == Some("clickthrough") => match &asset.click_url {
                Some(url) => json!({ "asset_type": "url", "url": url }),
                None => continue,
            },
            _ => continue,
        };
        assets.insert(slot.asset_id.clone(), value);
    }
    assets
}

fn adaptation_values(catalog: &Catalog, buy: &MediaBuy, format_id: &FormatId) -> Vec<Value> {
    seed_assets::adaptations(catalog, buy, format_id)
        .into_iter()
        .map(|a| {
            json!({
                "adaptation_id": a.adaptation_id,
                "format_id": a.format_id.id,
                "name": a.name,
                "description": a.description,
                "changes_summary": a.changes_summary,
                "rationale": a.rationale,
            })
        })
        .collect()
}

/// The seed status of a creative from its AdCP 3.0 sync outcome.
fn asset_status(outcome: Option<&Value>) -> (&'static str, Value) {
    let Some(outcome) = outcome else { return ("rejected", json!("not processed")) };
    let errors: Vec<String> = outcome
        .get("errors")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).map(str::to_owned).collect())
        .unwrap_or_default();
    if !errors.is_empty() {
        return ("rejected", json!(errors.join("; ")));
    }
    let status = match outcome.get("status").and_then(Value::as_str) {
        Some("approved") => "approved",
        Some("rejected") => "rejected",
        _ => "pending_review",
    };
    (status, Value::Null)
}

fn adaptation_response(outcome: &AdaptationOutcome) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("success".into(), true.into());
    match outcome {
        AdaptationOutcome::Declined => {
            body.insert("message".into(), "Adaptation declined; nothing was created".into());
        }
        AdaptationOutcome::Approved { creative, task, changes } => {
            body.insert(
                "new_creative".into(),
                json!({
                    "creative_id": creative.creative_id,
                    "format_id": creative.format_id.id,
                    "name": creative.name,
                    "changes_summary": changes,
                }),
            );
            body.insert(
                "status".into(),
                json!({ "creative_id": creative.creative_id, "status": creative.status.as_str() }),
            );
            let message = match task {
                Some(task) => {
                    body.insert("task_id".into(), task.task_id.clone().into());
                    "Adaptation approved: the publisher produces the adapted creative and reviews it before it can run"
                }
                None => "Adaptation already approved: this is the creative it made",
            };
            body.insert("message".into(), message.into());
        }
    }
    body
}

impl SalesAgent {
    pub(super) async fn approve_adaptation(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: schemas::ApproveAdaptationRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let catalog = self.app.catalog(tenant).await?;
        let outcome = seed_assets::decide_adaptation(
            self.app.db(),
            &catalog,
            tenant,
            principal,
            &request.creative_id,
            &request.adaptation_id,
            request.approve,
            request.modifications.as_ref().and_then(|m| m.name.as_deref()),
            &super::wire_tasks::Deferred,
            self.app.clock().now(),
        )
        .await?;
        Ok(adaptation_response(&outcome))
    }

    pub(super) async fn add_creative_assets(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: schemas::AddCreativeAssetsRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let catalog = self.app.catalog(tenant).await?;
        let wanted: Vec<SeedAsset> = request
            .assets
            .iter()
            .map(|a| SeedAsset {
                format: a.format.clone(),
                width: a.width,
                height: a.height,
                duration_ms: a.duration,
                package_ids: a.package_assignments.clone().unwrap_or_default(),
            })
            .collect();
        let plan = seed_assets::plan_assets(self.app.db(), &catalog, principal, &request.media_buy_id, &wanted).await?;
        let buy = &plan.media_buy;
        let mut creatives = Vec::with_capacity(request.assets.len());
        let mut assignments = Vec::new();
        for ((asset, format_id), seed) in request.assets.iter().zip(&plan.formats).zip(&wanted) {
            let format = catalog.format(format_id).ok_or_else(|| Error::invalid("assets", "format vanished"))?;
            creatives.push(json!({
                "creative_id": asset.creative_id,
                "name": asset.name,
                "format_id": format_id,
                "assets": adcp_assets(asset, format),
            }));
            let packages: Vec<&str> = if seed.package_ids.is_empty() {
                buy.packages
                    .iter()
                    .filter(|p| !p.is_canceled() && p.format_ids.contains(format_id))
                    .map(|p| p.package_id.as_str())
                    .collect()
            } else {
                seed.package_ids.iter().map(String::as_str).collect()
            };
            for package_id in packages {
                assignments.push(json!({ "creative_id": asset.creative_id, "package_id": package_id }));
            }
        }
        let mut sync = super::seed_buying::adcp_request_from(&call.args.0, &[]);
        sync.insert("account".into(), json!({ "account_id": buy.account_id }));
        sync.insert("creatives".into(), creatives.into());
        sync.insert("assignments".into(), assignments.into());
        let synced = self
            .sync_creatives(Call { args: Args(sync), principal: call.principal.clone(), hooks: call.hooks })
            .await?;
        let outcomes: Vec<Value> = synced.get("creatives").and_then(Value::as_array).cloned().unwrap_or_default();
        let statuses: Vec<Value> = request
            .assets
            .iter()
            .zip(&plan.formats)
            .map(|(asset, format_id)| {
                let outcome = outcomes.iter().find(|o| o["creative_id"] == json!(asset.creative_id));
                let (status, feedback) = asset_status(outcome);
                json!({
                    "creative_id": asset.creative_id,
                    "status": status,
                    "format_id": format_id.id,
                    "platform_id": Value::Null,
                    "review_feedback": feedback,
                    "assigned_to": outcome.and_then(|o| o.get("assigned_to")).cloned().unwrap_or_else(|| json!([])),
                    "suggested_adaptations": if status == "rejected" { Vec::new() } else { adaptation_values(&catalog, buy, format_id) },
                })
            })
            .collect();
        let mut body = Map::new();
        body.insert("media_buy_id".into(), buy.media_buy_id.clone().into());
        body.insert("asset_statuses".into(), statuses.into());
        if let Some(task_id) = synced.get("task_id") {
            body.insert("task_id".into(), task_id.clone());
            body.insert("detail".into(), "Creatives wait for publisher review; poll tasks/get with the task_id".into());
        }
        Ok(body)
    }
}
