//! Seed 001's `add_creative_assets`: which catalog format a seed asset (`format: "video"`, a
//! size, a duration) is, among the formats of the packages it is assigned to, and the
//! adaptations worth suggesting for it (the other formats of the same kind that the buy's
//! packages run). The creatives themselves go through `creatives::sync_creatives`;
//! `approve_adaptation` makes the adapted creative and puts it in the publisher's review queue.

use chrono::{DateTime, Utc};

use super::approval::{self, Wire};
use super::catalog::{AssetSpec, AssetType, Catalog, Format, FormatId};
use super::creative::{Creative, CreativeStatus};
use super::creatives::creative_audit;
use super::error::{Error, StoreError};
use super::media_buy::MediaBuy;
use super::ports::{Also, AuditEntry, Store};
use super::seed::media_kind;
use super::tasks::{self, NewTask, Operation, Priority, Task};
use super::tenancy::{Principal, Tenant};

/// What a seed asset says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedAsset {
    /// `video`, `audio`, `display`, `native`, or a format id.
    pub format: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// Package ids of the buy; empty: every live package.
    pub package_ids: Vec<String>,
}

/// The buy the assets are for, and the format each asset is.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetPlan {
    pub media_buy: MediaBuy,
    pub formats: Vec<FormatId>,
}

/// The format's main media slot (the image, video or audio file).
pub fn primary_slot(format: &Format) -> Option<&AssetSpec> {
    format
        .assets
        .iter()
        .find(|a| a.required && matches!(a.asset_type, AssetType::Image | AssetType::Video | AssetType::Audio))
}

fn within<T: PartialOrd + Copy>(value: Option<T>, min: Option<T>, max: Option<T>) -> bool {
    match value {
        None => true,
        Some(v) => min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m),
    }
}

/// Whether an asset of this size and duration fits the format's main slot.
fn fits(format: &Format, asset: &SeedAsset) -> bool {
    let Some(slot) = primary_slot(format) else { return false };
    let r = &slot.requirements;
    within(asset.width, r.min_width, r.max_width)
        && within(asset.height, r.min_height, r.max_height)
        && within(asset.duration_ms, r.min_duration_ms, r.max_duration_ms)
}

/// How a format is described in a suggestion: `display_300x250 (300x250)`, `ctv_30s (30 s)`.
fn describe(format: &Format) -> String {
    let Some(slot) = primary_slot(format) else { return format.format_id.id.clone() };
    let r = &slot.requirements;
    let mut parts = Vec::new();
    if let (Some(w), Some(h)) = (r.min_width.or(r.max_width), r.min_height.or(r.max_height)) {
        parts.push(format!("{w}x{h}"));
    }
    if let Some(ms) = r.max_duration_ms.or(r.min_duration_ms) {
        parts.push(format!("{} s", ms / 1000));
    }
    if parts.is_empty() {
        format.format_id.id.clone()
    } else {
        format!("{} ({})", format.format_id.id, parts.join(", "))
    }
}

/// The caller's buy and, for each asset, the format of its packages that it fits.
///
/// # Errors
/// `MediaBuyNotFound` for an unknown or foreign buy, `PackageNotFound` for an assignment to a
/// package not in it, `InvalidRequest` naming `assets[i].format` when no format of the packages
/// takes the asset (the suggestion lists those that would); storage.
pub async fn plan_assets<S: Store>(
    store: &S,
    catalog: &Catalog,
    principal: &Principal,
    media_buy_id: &str,
    assets: &[SeedAsset],
) -> Result<AssetPlan, Error> {
    let buy = store
        .media_buy(&principal.tenant_id, media_buy_id)
        .await?
        .filter(|b| b.principal_id == principal.principal_id)
        .ok_or(Error::MediaBuyNotFound)?;
    if assets.is_empty() {
        return Err(Error::invalid_with("assets", "no assets given", "send at least one asset"));
    }
    let mut formats = Vec::with_capacity(assets.len());
    for (index, asset) in assets.iter().enumerate() {
        let mut packages = Vec::new();
        for (position, package_id) in asset.package_ids.iter().enumerate() {
            let package = buy.package(package_id).ok_or_else(|| Error::PackageNotFound {
                package_id: package_id.clone(),
                field: format!("assets[{index}].package_assignments[{position}]"),
            })?;
            packages.push(package);
        }
        if packages.is_empty() {
            packages = buy.packages.iter().filter(|p| !p.is_canceled()).collect();
        }
        let mut candidates: Vec<&Format> = Vec::new();
        for format_id in packages.iter().flat_map(|p| &p.format_ids) {
            if let Some(format) = catalog.format(format_id)
                && !candidates.iter().any(|c| c.format_id == format.format_id)
            {
                candidates.push(format);
            }
        }
        let wanted = asset.format.to_lowercase();
        let chosen = candidates
            .iter()
            .find(|f| f.format_id.id == asset.format)
            .or_else(|| candidates.iter().find(|f| media_kind(f) == wanted && fits(f, asset)));
        match chosen {
            Some(format) => formats.push(format.format_id.clone()),
            None => {
                let accepted: Vec<String> = candidates.iter().map(|f| describe(f)).collect();
                let size = match (asset.width, asset.height, asset.duration_ms) {
                    (Some(w), Some(h), _) => format!(" {w}x{h}"),
                    (_, _, Some(ms)) => format!(" {} s", ms as f64 / 1000.0),
                    _ => String::new(),
                };
                return Err(Error::invalid_with(
                    format!("assets[{index}].format"),
                    format!("no format of the assigned packages takes a {}{size} asset", asset.format),
                    format!("the packages take: {}", accepted.join(", ")),
                ));
            }
        }
    }
    Ok(AssetPlan { media_buy: buy, formats })
}

/// A suggested adaptation of a creative to another format the buy runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptation {
    /// `adapt_<format id>`: with the creative id, names the adaptation.
    pub adaptation_id: String,
    pub format_id: FormatId,
    pub name: String,
    pub description: String,
    pub changes_summary: Vec<String>,
    pub rationale: String,
}

/// The adaptations worth suggesting for a creative in `format_id`: every other format of the
/// same kind that the buy's live packages run, with what would change and which packages it
/// would reach.
pub fn adaptations(catalog: &Catalog, buy: &MediaBuy, format_id: &FormatId) -> Vec<Adaptation> {
    let Some(source) = catalog.format(format_id) else { return Vec::new() };
    let kind = media_kind(source);
    let mut found: Vec<Adaptation> = Vec::new();
    for package in buy.packages.iter().filter(|p| !p.is_canceled()) {
        for target_id in &package.format_ids {
            let Some(target) = catalog.format(target_id) else { continue };
            if target.format_id == source.format_id || media_kind(target) != kind {
                continue;
            }
            if let Some(existing) = found.iter_mut().find(|a| a.format_id == target.format_id) {
                existing.rationale.push_str(&format!(", {}", package.package_id));
                continue;
            }
            found.push(Adaptation {
                adaptation_id: format!("adapt_{}", target.format_id.id),
                format_id: target.format_id.clone(),
                name: format!("{} version", target.name),
                description: target.description.clone().unwrap_or_else(|| target.name.clone()),
                changes_summary: changes(source, target),
                rationale: format!("The buy also runs {} in package {}", target.format_id.id, package.package_id),
            });
        }
    }
    for adaptation in &mut found {
        if adaptation.rationale.contains(", ") {
            adaptation.rationale = adaptation.rationale.replacen(" in package ", " in packages ", 1);
        }
    }
    found
}

/// What adapting a creative from one format's main slot to another's would change.
fn changes(source: &Format, target: &Format) -> Vec<String> {
    let (Some(from), Some(to)) = (primary_slot(source), primary_slot(target)) else { return Vec::new() };
    let (from, to) = (&from.requirements, &to.requirements);
    let mut out = Vec::new();
    let size = |r: &super::catalog::AssetRequirements| (r.min_width.or(r.max_width), r.min_height.or(r.max_height));
    if let ((Some(fw), Some(fh)), (Some(tw), Some(th))) = (size(from), size(to))
        && (fw, fh) != (tw, th)
    {
        out.push(format!("Resize from {fw}x{fh} to {tw}x{th}"));
    }
    if let (Some(fd), Some(td)) = (from.max_duration_ms, to.max_duration_ms)
        && fd != td
    {
        out.push(format!("{} from {} s to {} s", if td < fd { "Cut" } else { "Extend" }, fd / 1000, td / 1000));
    }
    if from.aspect_ratio != to.aspect_ratio
        && let Some(ratio) = &to.aspect_ratio
    {
        out.push(format!("Reframe to {ratio}"));
    }
    if out.is_empty() {
        out.push(format!("Re-encode to the {} specification", target.format_id.id));
    }
    out
}

/// What `approve_adaptation` did.
#[derive(Debug, Clone, PartialEq)]
pub enum AdaptationOutcome {
    /// Declined: nothing was made.
    Declined,
    /// The adapted creative: new, in review by the publisher (with its review task), or the one
    /// an earlier approval made.
    Approved { creative: Box<Creative>, task: Option<Box<Task>>, changes: Vec<String> },
}

/// The format an adaptation id (`adapt_<format id>`) names, if it is one a creative in `source`
/// could be adapted to.
fn adaptation_target<'a>(catalog: &'a Catalog, source: &Format, adaptation_id: &str) -> Option<&'a Format> {
    let id = adaptation_id.strip_prefix("adapt_")?;
    catalog
        .formats
        .iter()
        .find(|f| f.format_id.id == id)
        .filter(|f| f.format_id != source.format_id && media_kind(f) == media_kind(source))
}

/// `approve_adaptation`: declining makes nothing; approving makes the adapted creative
/// `<creative_id>_<format id>` in the target format, from the source creative's assets, and puts
/// it in the publisher's review queue (a person produces and checks the adapted media before it
/// can run). Approving twice gives the same creative.
///
/// # Errors
/// `CreativeNotFound` for an unknown or foreign creative; `InvalidRequest` naming
/// `adaptation_id` for an adaptation that does not apply to it; storage.
#[allow(clippy::too_many_arguments)]
pub async fn decide_adaptation<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    creative_id: &str,
    adaptation_id: &str,
    approve: bool,
    name: Option<&str>,
    wire: &dyn Wire,
    now: DateTime<Utc>,
) -> Result<AdaptationOutcome, Error> {
    let library = store.creatives(&tenant.tenant_id, &principal.principal_id).await?;
    let source = library
        .iter()
        .find(|c| c.creative_id == creative_id)
        .ok_or_else(|| Error::CreativeNotFound { creative_id: creative_id.to_owned() })?;
    let source_format = catalog.format(&source.format_id).ok_or_else(|| Error::InvalidState {
        message: format!("format {} is no longer offered", source.format_id.id),
    })?;
    let target = adaptation_target(catalog, source_format, adaptation_id).ok_or_else(|| {
        Error::invalid_with(
            "adaptation_id",
            format!("{adaptation_id} is not an adaptation of creative {creative_id}"),
            "use an adaptation_id that add_creative_assets suggested for this creative",
        )
    })?;
    if !approve {
        return Ok(AdaptationOutcome::Declined);
    }
    let changes = changes(source_format, target);
    let derived_id = format!("{creative_id}_{}", target.format_id.id);
    if let Some(existing) = library.iter().find(|c| c.creative_id == derived_id) {
        return Ok(AdaptationOutcome::Approved { creative: Box::new(existing.clone()), task: None, changes });
    }
    let creative = Creative {
        creative_id: derived_id.clone(),
        tenant_id: tenant.tenant_id.clone(),
        principal_id: principal.principal_id.clone(),
        account_id: source.account_id.clone(),
        name: name.map_or_else(|| format!("{} - {}", source.name, target.name), str::to_owned),
        format_id: target.format_id.clone(),
        assets: source.assets.clone(),
        tags: vec!["adaptation".to_owned(), format!("adapted_from:{creative_id}")],
        status: CreativeStatus::PendingReview,
        rejection_reason: None,
        created_at: now,
        updated_at: now,
    };
    let task = tasks::open(
        &tenant.tenant_id,
        NewTask {
            task_type: "creative_adaptation".to_owned(),
            operation: Some(Operation::SyncCreatives),
            principal_id: Some(principal.principal_id.clone()),
            media_buy_id: None,
            creative_ids: vec![derived_id.clone()],
            priority: Priority::Medium,
            description: format!(
                "Produce and review {derived_id}: creative {creative_id} of {} adapted to {}",
                principal.principal_id, target.format_id.id
            ),
            detail: Some(changes.join("; ")),
            due_in: tenant.approvals.due_in,
            request: None,
            push_notification: None,
        },
        now,
    );
    let mut audit = vec![creative_audit(
        &creative,
        &principal.principal_id,
        None,
        Some(format!("adapted from {creative_id}")),
        now,
    )];
    audit.push(AuditEntry {
        tenant_id: tenant.tenant_id.clone(),
        at: now,
        actor: principal.principal_id.clone(),
        object_type: "task".to_owned(),
        object_id: task.task_id.clone(),
        action: "created".to_owned(),
        before: None,
        after: Some(task.description.clone()),
        detail: task.detail.clone(),
    });
    let events = approval::ops_notice(tenant, wire, &task, "New task", now);
    let also = Also { new_task: Some(task.clone()), audit, events: events.into_iter().collect(), ..Also::default() };
    match store.save_creatives(std::slice::from_ref(&creative), &also).await {
        Ok(()) => Ok(AdaptationOutcome::Approved { creative: Box::new(creative), task: Some(Box::new(task)), changes }),
        // A concurrent approval made it first: answer with that one.
        Err(StoreError::Conflict(_)) => {
            let made = store.creatives(&tenant.tenant_id, &principal.principal_id).await?;
            let creative = made
                .into_iter()
                .find(|c| c.creative_id == derived_id)
                .ok_or_else(|| Error::Conflict { message: format!("creative {derived_id} is being made; retry") })?;
            Ok(AdaptationOutcome::Approved { creative: Box::new(creative), task: None, changes })
        }
        Err(error) => Err(error.into()),
    }
}
