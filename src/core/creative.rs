//! Creatives: the library status machine (DIGEST §5.3) and validation of a creative against its
//! format's asset requirements. Pure; the service in `creatives` does the IO.

use chrono::{DateTime, Utc};

use super::catalog::{AssetRequirements, AssetSpec, AssetType, Format, FormatId};
use super::error::Error;
use super::media_buy::Verbatim;

/// AdCP `enums/creative-status.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreativeStatus {
    Processing,
    PendingReview,
    Approved,
    Rejected,
    Archived,
}

pub const ALL_CREATIVE_STATUSES: [CreativeStatus; 5] = [
    CreativeStatus::Processing,
    CreativeStatus::PendingReview,
    CreativeStatus::Approved,
    CreativeStatus::Rejected,
    CreativeStatus::Archived,
];

impl CreativeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CreativeStatus::Processing => "processing",
            CreativeStatus::PendingReview => "pending_review",
            CreativeStatus::Approved => "approved",
            CreativeStatus::Rejected => "rejected",
            CreativeStatus::Archived => "archived",
        }
    }

    pub fn parse(text: &str) -> Option<CreativeStatus> {
        ALL_CREATIVE_STATUSES.into_iter().find(|s| s.as_str() == text)
    }
}

/// Whether the library may move a creative from `from` to `to`. Staying put is always allowed.
pub fn creative_transition_allowed(from: CreativeStatus, to: CreativeStatus) -> bool {
    use CreativeStatus as C;
    if from == to {
        return true;
    }
    match (from, to) {
        (C::Processing, C::PendingReview | C::Rejected) => true,
        (C::PendingReview, C::Approved | C::Rejected) => true,
        (C::Approved, C::Archived | C::PendingReview | C::Rejected) => true,
        (C::Archived, C::Approved | C::PendingReview) => true,
        (C::Rejected, C::Processing) => true,
        (C::Processing, C::Approved | C::Archived | C::Processing) => false,
        (C::PendingReview, C::Processing | C::Archived | C::PendingReview) => false,
        (C::Approved, C::Processing | C::Approved) => false,
        (C::Archived, C::Processing | C::Rejected | C::Archived) => false,
        (C::Rejected, C::PendingReview | C::Approved | C::Archived | C::Rejected) => false,
    }
}

/// How a tenant reviews new or changed creatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewPolicy {
    /// Valid creatives are approved on upload.
    AutoApprove,
    /// Creatives wait in `pending_review` for publisher ops.
    Human,
    /// Creatives in these formats, or from these principals, are approved on upload; the rest
    /// wait for publisher ops.
    Rules { auto_approve_formats: Vec<String>, auto_approve_principals: Vec<String> },
}

impl ReviewPolicy {
    /// The status a valid new or changed creative starts in.
    pub fn initial_status(&self, principal_id: &str, format_id: &FormatId) -> CreativeStatus {
        let trusted = match self {
            ReviewPolicy::AutoApprove => true,
            ReviewPolicy::Human => false,
            ReviewPolicy::Rules { auto_approve_formats, auto_approve_principals } => {
                auto_approve_formats.iter().any(|f| f == &format_id.id)
                    || auto_approve_principals.iter().any(|p| p == principal_id)
            }
        };
        if trusted { CreativeStatus::Approved } else { CreativeStatus::PendingReview }
    }
}

/// A creative in the library.
#[derive(Debug, Clone, PartialEq)]
pub struct Creative {
    pub creative_id: String,
    pub tenant_id: String,
    pub principal_id: String,
    pub account_id: String,
    pub name: String,
    pub format_id: FormatId,
    /// The `assets` object as the buyer sent it.
    pub assets: Verbatim,
    pub tags: Vec<String>,
    pub status: CreativeStatus,
    pub rejection_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One asset of an uploaded creative, the parts validation reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetInput {
    pub asset_type: Option<String>,
    pub url: Option<String>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub duration_ms: Option<u64>,
    pub file_size_bytes: Option<u64>,
    /// Image format or media container as declared (`png`, `mp4`).
    pub format: Option<String>,
    pub content: Option<String>,
}

/// Strict refuses any mismatch; lenient refuses only missing or mistyped assets and reports the
/// rest as warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationMode {
    Strict,
    Lenient,
}

/// What validation found: problems that refuse the creative, and warnings that do not.
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<Error>,
    pub warnings: Vec<String>,
}

/// Checks a creative's assets against its format. `at` is the creative's place in the request
/// (`creatives[2]`); every finding names its field under it.
pub fn validate_assets(format: &Format, assets: &[(String, AssetInput)], mode: ValidationMode, at: &str) -> Findings {
    let mut findings = Findings::default();
    for spec in format.assets.iter().filter(|spec| spec.required) {
        if !assets.iter().any(|(id, _)| id == &spec.asset_id) {
            findings.errors.push(Error::invalid_with(
                format!("{at}.assets.{}", spec.asset_id),
                format!(
                    "format {} requires asset {} ({})",
                    format.format_id.id,
                    spec.asset_id,
                    spec.asset_type.as_str()
                ),
                "list_creative_formats shows each format's assets and requirements",
            ));
        }
    }
    for (asset_id, asset) in assets {
        let field = format!("{at}.assets.{asset_id}");
        let Some(spec) = format.assets.iter().find(|spec| &spec.asset_id == asset_id) else {
            let message = format!("format {} has no asset {asset_id}", format.format_id.id);
            match mode {
                ValidationMode::Strict => findings.errors.push(Error::invalid(field, message)),
                ValidationMode::Lenient => findings.warnings.push(message),
            }
            continue;
        };
        if let Some(declared) = &asset.asset_type
            && declared != spec.asset_type.as_str()
        {
            findings.errors.push(Error::invalid(
                format!("{field}.asset_type"),
                format!("asset {asset_id} must be {}, not {declared}", spec.asset_type.as_str()),
            ));
            continue;
        }
        for problem in requirement_problems(spec, asset) {
            match mode {
                ValidationMode::Strict => findings.errors.push(Error::invalid(field.clone(), problem)),
                ValidationMode::Lenient => findings.warnings.push(format!("{asset_id}: {problem}")),
            }
        }
    }
    findings
}

fn requirement_problems(spec: &AssetSpec, asset: &AssetInput) -> Vec<String> {
    let r: &AssetRequirements = &spec.requirements;
    let mut problems = Vec::new();
    let needs_url = matches!(spec.asset_type, AssetType::Image | AssetType::Video | AssetType::Audio | AssetType::Url);
    match (&asset.url, needs_url) {
        (None, true) => problems.push("url is required".to_owned()),
        (Some(url), _) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            problems.push(format!("url {url:?} must be http(s)"));
        }
        _ => {}
    }
    if spec.asset_type == AssetType::Vast && asset.url.is_none() && asset.content.is_none() {
        problems.push("a VAST asset needs url or content".to_owned());
    }
    if spec.asset_type == AssetType::Text {
        match (&asset.content, r.max_length) {
            (None, _) => problems.push("content is required".to_owned()),
            (Some(content), Some(max)) if content.chars().count() > max as usize => {
                problems.push(format!("text is {} characters; at most {max}", content.chars().count()));
            }
            _ => {}
        }
    }
    let bound = |value: Option<u64>, min: Option<u64>, max: Option<u64>, what: &str, problems: &mut Vec<String>| {
        if let Some(value) = value
            && (min.is_some_and(|min| value < min) || max.is_some_and(|max| value > max))
        {
            let range = match (min, max) {
                (Some(min), Some(max)) if min == max => format!("exactly {min}"),
                (Some(min), Some(max)) => format!("{min} to {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("at most {max}"),
                (None, None) => String::new(),
            };
            problems.push(format!("{what} {value} must be {range}"));
        }
    };
    bound(asset.width, r.min_width.map(u64::from), r.max_width.map(u64::from), "width", &mut problems);
    bound(asset.height, r.min_height.map(u64::from), r.max_height.map(u64::from), "height", &mut problems);
    bound(asset.duration_ms, r.min_duration_ms, r.max_duration_ms, "duration_ms", &mut problems);
    if let (Some(size), Some(max_kb)) = (asset.file_size_bytes, r.max_file_size_kb)
        && size > u64::from(max_kb) * 1024
    {
        problems.push(format!("file is {size} bytes; at most {max_kb} KB"));
    }
    let allowed: &[String] = if r.containers.is_empty() { &r.formats } else { &r.containers };
    if !allowed.is_empty() {
        let declared = asset.format.clone().or_else(|| asset.url.as_deref().and_then(extension));
        if let Some(declared) = declared {
            let declared = declared.to_ascii_lowercase();
            let same =
                |a: &str| a == declared || (a == "jpg" && declared == "jpeg") || (a == "jpeg" && declared == "jpg");
            if !allowed.iter().any(|a| same(a)) {
                problems.push(format!("file type {declared} is not accepted; use {}", allowed.join(", ")));
            }
        }
    }
    problems
}

/// The file extension of a URL's path, if it has one.
fn extension(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    let (_, extension) = last.rsplit_once('.')?;
    (!extension.is_empty() && extension.len() <= 5).then(|| extension.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::catalog::{AssetRequirements, AssetSpec};

    fn banner() -> Format {
        Format {
            format_id: FormatId {
                agent_url: "a".into(),
                id: "display_300x250".into(),
                width: None,
                height: None,
                duration_ms: None,
            },
            name: "Medium rectangle".into(),
            description: None,
            channel: crate::core::catalog::Channel::Display,
            renders: vec![],
            assets: vec![
                AssetSpec {
                    asset_id: "image".into(),
                    asset_type: AssetType::Image,
                    asset_role: None,
                    required: true,
                    requirements: AssetRequirements {
                        min_width: Some(300),
                        max_width: Some(300),
                        min_height: Some(250),
                        max_height: Some(250),
                        formats: vec!["jpg".into(), "png".into()],
                        max_file_size_kb: Some(150),
                        ..AssetRequirements::default()
                    },
                },
                AssetSpec {
                    asset_id: "click_url".into(),
                    asset_type: AssetType::Url,
                    asset_role: None,
                    required: true,
                    requirements: AssetRequirements::default(),
                },
            ],
            supported_macros: vec![],
        }
    }

    fn image(width: u64, url: &str) -> (String, AssetInput) {
        let asset = AssetInput {
            asset_type: Some("image".into()),
            url: Some(url.into()),
            width: Some(width),
            height: Some(250),
            ..AssetInput::default()
        };
        ("image".into(), asset)
    }

    fn click() -> (String, AssetInput) {
        (
            "click_url".into(),
            AssetInput {
                asset_type: Some("url".into()),
                url: Some("https://x.example".into()),
                ..AssetInput::default()
            },
        )
    }

    #[test]
    fn a_matching_creative_passes() {
        let findings = validate_assets(
            &banner(),
            &[image(300, "https://cdn.example/a.png"), click()],
            ValidationMode::Strict,
            "creatives[0]",
        );
        assert!(findings.errors.is_empty() && findings.warnings.is_empty(), "{findings:?}");
    }

    #[test]
    fn problems_name_their_asset() {
        let findings = validate_assets(
            &banner(),
            &[image(320, "https://cdn.example/a.gif")],
            ValidationMode::Strict,
            "creatives[1]",
        );
        let fields: Vec<String> = findings
            .errors
            .iter()
            .map(|e| match e {
                Error::InvalidRequest { field, .. } => field.clone().unwrap_or_default(),
                other => other.to_string(),
            })
            .collect();
        assert!(fields.contains(&"creatives[1].assets.click_url".to_owned()), "{fields:?}");
        assert_eq!(fields.iter().filter(|f| *f == "creatives[1].assets.image").count(), 2, "width and file type");
        let lenient = validate_assets(
            &banner(),
            &[image(320, "https://cdn.example/a.gif"), click()],
            ValidationMode::Lenient,
            "c",
        );
        assert!(lenient.errors.is_empty());
        assert_eq!(lenient.warnings.len(), 2);
    }

    #[test]
    fn the_library_follows_the_spec_graph() {
        use CreativeStatus as C;
        assert!(creative_transition_allowed(C::PendingReview, C::Approved));
        assert!(creative_transition_allowed(C::Approved, C::Archived));
        assert!(creative_transition_allowed(C::Archived, C::Approved));
        assert!(creative_transition_allowed(C::Rejected, C::Processing));
        assert!(!creative_transition_allowed(C::Archived, C::Processing));
        assert!(!creative_transition_allowed(C::Processing, C::Approved));
        assert_eq!(extension("https://cdn.example/x/banner.PNG?v=2"), Some("PNG".into()));
        assert_eq!(extension("https://cdn.example/x/banner"), None);
    }
}
