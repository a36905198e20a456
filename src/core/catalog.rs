//! The publisher's catalog: products, creative formats, properties and advertising policy.
//!
//! These types use AdCP 3.0 vocabulary and field names on purpose: a publisher authors its catalog
//! in the protocol's own terms (see `config/demo-catalog.toml`), the store keeps each entry as a
//! document, and discovery returns it. They derive serde for that reason only; core never names a
//! concrete format (no JSON here). Unknown fields are refused so that a typo in a catalog file is
//! an import error rather than silently lost data.

use serde::{Deserialize, Serialize};

/// A product id, unique within a tenant.
pub type ProductId = String;

/// The product id the AdCP compliance suite's universal storyboards (webhook emission,
/// idempotency) buy without discovering products first. Sandbox tenants accept it.
pub const PLACEHOLDER_PRODUCT: &str = "test-product";

/// Everything a tenant sells and how buyers may use it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default)]
    pub products: Vec<Product>,
    #[serde(default)]
    pub formats: Vec<Format>,
    #[serde(default)]
    pub properties: Vec<Property>,
    #[serde(default)]
    pub policy: AdvertisingPolicy,
    /// Each product's words as the keyword ranker reads them, computed once per loaded catalog.
    #[serde(skip)]
    pub ranking_words: Derived<std::collections::HashMap<String, super::ranking::ProductWords>>,
}

/// Data derived from a catalog and kept with it once computed; comparisons and clones of the
/// catalog ignore whether it was computed yet.
pub struct Derived<T>(std::sync::OnceLock<T>);

impl<T> Derived<T> {
    pub fn get_or_init(&self, compute: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(compute)
    }
}

impl<T> Default for Derived<T> {
    fn default() -> Self {
        Derived(std::sync::OnceLock::new())
    }
}

impl<T> Clone for Derived<T> {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

/// AdCP `core/product.json`, restricted to the fields this seller can honour, plus the
/// publisher-side `audience` used for ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub product_id: ProductId,
    pub name: String,
    pub description: String,
    pub publisher_properties: Vec<PublisherPropertySelector>,
    pub channels: Vec<Channel>,
    pub format_ids: Vec<FormatId>,
    pub delivery_type: DeliveryType,
    pub pricing_options: Vec<PricingOption>,
    pub reporting_capabilities: ReportingCapabilities,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusivity: Option<Exclusivity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_targeting_allowed: Option<bool>,
    /// Who the product reaches, in the publisher's own words. Not part of the AdCP product
    /// object; used by brief ranking and filters, and never sent on the wire as is.
    #[serde(default, skip_serializing_if = "Audience::is_empty")]
    pub audience: Audience,
    /// Typical deliverable impressions per day, used for forecasts and budget fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_impressions: Option<u64>,
}

/// Publisher-declared audience of a product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// ISO 3166-1 alpha-2 countries where the product delivers; empty means worldwide.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Contextual categories and interests (e.g. `technology`, `developers`).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Free keywords that help a brief find this product.
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl Audience {
    pub fn is_empty(&self) -> bool {
        self.countries.is_empty() && self.categories.is_empty() && self.keywords.is_empty()
    }
}

/// AdCP v3 channel taxonomy (`enums/channels.json`), restricted to what a publisher seller sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Display,
    Olv,
    Social,
    Search,
    Ctv,
    LinearTv,
    Radio,
    StreamingAudio,
    Podcast,
    Dooh,
    Ooh,
    Print,
    Cinema,
    Email,
    Gaming,
    RetailMedia,
    Influencer,
    Affiliate,
    ProductPlacement,
    SponsoredIntelligence,
}

/// Every channel of the taxonomy.
pub const ALL_CHANNELS: [Channel; 20] = [
    Channel::Display,
    Channel::Olv,
    Channel::Social,
    Channel::Search,
    Channel::Ctv,
    Channel::LinearTv,
    Channel::Radio,
    Channel::StreamingAudio,
    Channel::Podcast,
    Channel::Dooh,
    Channel::Ooh,
    Channel::Print,
    Channel::Cinema,
    Channel::Email,
    Channel::Gaming,
    Channel::RetailMedia,
    Channel::Influencer,
    Channel::Affiliate,
    Channel::ProductPlacement,
    Channel::SponsoredIntelligence,
];

impl Channel {
    /// Video and audio: ads that play, counted to completion.
    pub fn plays(self) -> bool {
        matches!(
            self,
            Channel::Ctv
                | Channel::LinearTv
                | Channel::Olv
                | Channel::StreamingAudio
                | Channel::Podcast
                | Channel::Radio
        )
    }

    /// The AdCP wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Display => "display",
            Channel::Olv => "olv",
            Channel::Social => "social",
            Channel::Search => "search",
            Channel::Ctv => "ctv",
            Channel::LinearTv => "linear_tv",
            Channel::Radio => "radio",
            Channel::StreamingAudio => "streaming_audio",
            Channel::Podcast => "podcast",
            Channel::Dooh => "dooh",
            Channel::Ooh => "ooh",
            Channel::Print => "print",
            Channel::Cinema => "cinema",
            Channel::Email => "email",
            Channel::Gaming => "gaming",
            Channel::RetailMedia => "retail_media",
            Channel::Influencer => "influencer",
            Channel::Affiliate => "affiliate",
            Channel::ProductPlacement => "product_placement",
            Channel::SponsoredIntelligence => "sponsored_intelligence",
        }
    }

    /// Words a buyer might use in a brief for this channel.
    pub fn synonyms(self) -> &'static [&'static str] {
        match self {
            Channel::Display => &["display", "banner", "banners", "web", "rectangle", "leaderboard"],
            Channel::Olv => &["video", "olv", "pre-roll", "preroll", "instream", "online video"],
            Channel::Ctv => &["ctv", "connected tv", "tv", "streaming tv", "ott"],
            Channel::StreamingAudio => &["audio", "streaming audio", "music", "radio"],
            Channel::Podcast => &["podcast", "podcasts", "audio"],
            Channel::Radio => &["radio", "audio", "broadcast"],
            Channel::LinearTv => &["tv", "linear", "broadcast"],
            Channel::Social => &["social"],
            Channel::Search => &["search"],
            Channel::Dooh => &["dooh", "digital out of home", "billboard"],
            Channel::Ooh => &["ooh", "out of home", "billboard"],
            Channel::Print => &["print", "magazine", "newspaper"],
            Channel::Cinema => &["cinema"],
            Channel::Email => &["email", "newsletter"],
            Channel::Gaming => &["gaming", "games"],
            Channel::RetailMedia => &["retail"],
            Channel::Influencer => &["influencer"],
            Channel::Affiliate => &["affiliate"],
            Channel::ProductPlacement => &["product placement"],
            Channel::SponsoredIntelligence => &["sponsored intelligence"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryType {
    Guaranteed,
    NonGuaranteed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Exclusivity {
    None,
    Category,
    Exclusive,
}

/// A product's selector into the publisher's `adagents.json` properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherPropertySelector {
    pub publisher_domain: String,
    pub selection_type: SelectionType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub property_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub property_tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionType {
    All,
    ById,
    ByTag,
}

/// A creative format reference. `agent_url` names the agent that defines the format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatId {
    pub agent_url: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// AdCP pricing option (`core/pricing-option.json`), the variants this seller supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingOption {
    pub pricing_option_id: String,
    pub pricing_model: PricingModel,
    pub currency: String,
    /// Present means a fixed price; exclusive with `floor_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_price: Option<f64>,
    /// Auction minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_guidance: Option<PriceGuidance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_spend_per_package: Option<f64>,
}

impl PricingOption {
    pub fn is_fixed(&self) -> bool {
        self.fixed_price.is_some()
    }

    /// The price used for estimates: the fixed price, else the median guidance, else the floor.
    pub fn reference_price(&self) -> Option<f64> {
        self.fixed_price.or_else(|| self.price_guidance.as_ref().and_then(|g| g.p50)).or(self.floor_price)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingModel {
    Cpm,
    Vcpm,
    Cpc,
    Cpcv,
    FlatRate,
}

impl PricingModel {
    pub fn as_str(self) -> &'static str {
        match self {
            PricingModel::Cpm => "cpm",
            PricingModel::Vcpm => "vcpm",
            PricingModel::Cpc => "cpc",
            PricingModel::Cpcv => "cpcv",
            PricingModel::FlatRate => "flat_rate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceGuidance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p25: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p75: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
}

/// AdCP `reporting_capabilities`, required on every product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingCapabilities {
    pub available_reporting_frequencies: Vec<String>,
    pub expected_delay_minutes: u32,
    pub timezone: String,
    pub supports_webhooks: bool,
    pub available_metrics: Vec<String>,
    pub date_range_support: String,
}

/// AdCP `core/format.json`, the subset this seller validates creatives against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Format {
    pub format_id: FormatId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The channel the format is made for; used by filters and ranking, not sent on the wire.
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renders: Vec<Render>,
    pub assets: Vec<AssetSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_macros: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Render {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Dimensions>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
    #[serde(default = "px")]
    pub unit: String,
}

fn px() -> String {
    "px".to_owned()
}

/// One asset slot of a format (`item_type: individual`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetSpec {
    pub asset_id: String,
    pub asset_type: AssetType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_role: Option<String>,
    pub required: bool,
    #[serde(default, skip_serializing_if = "AssetRequirements::is_empty")]
    pub requirements: AssetRequirements,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetType {
    Image,
    Video,
    Audio,
    Text,
    Html,
    Vast,
    Daast,
    Url,
}

impl AssetType {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetType::Image => "image",
            AssetType::Video => "video",
            AssetType::Audio => "audio",
            AssetType::Text => "text",
            AssetType::Html => "html",
            AssetType::Vast => "vast",
            AssetType::Daast => "daast",
            AssetType::Url => "url",
        }
    }
}

/// Union of the image, video, audio and text requirement fields AdCP defines; which apply
/// depends on the asset type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetRequirements {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// File formats (image and audio), e.g. `png`, `mp3`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formats: Vec<String>,
    /// Video containers, e.g. `mp4`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size_kb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animation_allowed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_animation_duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_required: Option<bool>,
    /// Text assets only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl AssetRequirements {
    pub fn is_empty(&self) -> bool {
        *self == AssetRequirements::default()
    }
}

/// A publisher property (site, app, stream) from the publisher's `adagents.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Property {
    pub property_id: String,
    pub property_type: String,
    pub name: String,
    pub publisher_domain: String,
    #[serde(default)]
    pub identifiers: Vec<PropertyIdentifier>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_pageviews: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyIdentifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// What the publisher does not accept, and what it expects of creatives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvertisingPolicy {
    #[serde(default)]
    pub prohibited_categories: Vec<String>,
    #[serde(default)]
    pub creative_requirements: Option<String>,
    #[serde(default)]
    pub approval_sla_hours: Option<u32>,
}

impl Catalog {
    pub fn format(&self, format_id: &FormatId) -> Option<&Format> {
        self.formats.iter().find(|f| f.format_id.agent_url == format_id.agent_url && f.format_id.id == format_id.id)
    }

    pub fn product(&self, product_id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.product_id == product_id)
    }

    /// This catalog with the compliance suite's placeholder product added (sandbox tenants
    /// only; see [`PLACEHOLDER_PRODUCT`]): a copy of the first non-guaranteed product (else the
    /// first product) under the placeholder's id, priced at a fixed $5 CPM under the option ids
    /// the suite sends (`test-pricing`, `default`). `None` for an empty catalog.
    pub fn with_placeholder_product(&self) -> Option<Catalog> {
        let model = self
            .products
            .iter()
            .find(|p| p.delivery_type == DeliveryType::NonGuaranteed)
            .or_else(|| self.products.first())?;
        let currency = model.pricing_options.first().map_or_else(|| "USD".to_owned(), |o| o.currency.clone());
        let option = |id: &str| PricingOption {
            pricing_option_id: id.to_owned(),
            pricing_model: PricingModel::Cpm,
            currency: currency.clone(),
            fixed_price: Some(5.0),
            floor_price: None,
            price_guidance: None,
            min_spend_per_package: None,
        };
        let placeholder = Product {
            product_id: PLACEHOLDER_PRODUCT.to_owned(),
            name: "Test Product (sandbox placeholder)".to_owned(),
            description: format!("Sandbox stand-in for compliance flows, delivering like {}", model.name),
            pricing_options: vec![option("test-pricing"), option("default")],
            ..model.clone()
        };
        let mut catalog = self.clone();
        catalog.products.push(placeholder);
        Some(catalog)
    }

    /// Checks the invariants a catalog must hold before it is stored: unique ids, every product
    /// format defined, at least one pricing option, consistent pricing fields. Returns every
    /// problem found, each naming its place in the catalog.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for format in &self.formats {
            if !seen.insert((&format.format_id.agent_url, &format.format_id.id)) {
                problems.push(format!("formats: duplicate format id {}", format.format_id.id));
            }
            if !valid_format_id(&format.format_id.id) {
                problems.push(format!("formats: format id {:?} must match ^[a-zA-Z0-9_-]+$", format.format_id.id));
            }
        }
        let mut product_ids = std::collections::HashSet::new();
        for (index, product) in self.products.iter().enumerate() {
            let at = format!("products[{index}] ({})", product.product_id);
            if !product_ids.insert(&product.product_id) {
                problems.push(format!("{at}: duplicate product_id"));
            }
            if product.publisher_properties.is_empty() {
                problems.push(format!("{at}: publisher_properties must not be empty"));
            }
            if product.pricing_options.is_empty() {
                problems.push(format!("{at}: needs at least one pricing option"));
            }
            for format_id in &product.format_ids {
                if self.format(format_id).is_none() {
                    problems.push(format!("{at}: format {} is not defined in formats", format_id.id));
                }
            }
            let mut option_ids = std::collections::HashSet::new();
            for option in &product.pricing_options {
                if !option_ids.insert(&option.pricing_option_id) {
                    problems.push(format!("{at}: duplicate pricing_option_id {}", option.pricing_option_id));
                }
                if option.fixed_price.is_some() == option.floor_price.is_some() {
                    problems.push(format!(
                        "{at}: pricing option {} needs exactly one of fixed_price and floor_price",
                        option.pricing_option_id
                    ));
                }
                if option.currency.len() != 3 || !option.currency.chars().all(|c| c.is_ascii_uppercase()) {
                    problems.push(format!(
                        "{at}: pricing option {} currency must be an ISO 4217 code",
                        option.pricing_option_id
                    ));
                }
                let negative = [option.fixed_price, option.floor_price, option.min_spend_per_package]
                    .into_iter()
                    .flatten()
                    .any(|value| value < 0.0 || !value.is_finite());
                if negative {
                    problems.push(format!(
                        "{at}: pricing option {} has a negative or non-finite amount",
                        option.pricing_option_id
                    ));
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

fn valid_format_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
