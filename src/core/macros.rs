//! Creative macros: the AdCP 3.0 universal macros (`{CACHEBUSTER}`), the seed-era names
//! (`${DCO_GEO_CITY}`) as aliases, and the three seed tools over them: listing, validating
//! creative content against the vocabulary and a format's `supported_macros`, and substituting
//! values (the admin's preview of what a served creative would carry).
//!
//! Substitution is literal and single-pass: a substituted value is never scanned again.
//! Macros without a value are left in place and reported, as the ad server fills them at serve
//! time. VAST `[MACRO]` and ad-server `%%MACRO%%` tokens are not this vocabulary and pass
//! through untouched.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sha2::Digest;

use super::catalog::{Catalog, Format, FormatId};
use super::creatives::find_format;
use super::error::Error;
use super::tenancy::Tenant;

/// The seed's grouping of macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// Dynamic creative: geography, device, content, catalog items.
    Dco,
    /// Identifiers, cache busting, tracking.
    Measurement,
    /// Consent and privacy signals.
    Privacy,
}

pub const CATEGORIES: [Category; 3] = [Category::Dco, Category::Measurement, Category::Privacy];

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Dco => "dco",
            Category::Measurement => "measurement",
            Category::Privacy => "privacy",
        }
    }

    /// # Errors
    /// `INVALID_REQUEST` on `category` for anything but dco, measurement or privacy.
    pub fn parse(text: &str) -> Result<Category, Error> {
        CATEGORIES.into_iter().find(|c| c.as_str() == text).ok_or_else(|| {
            Error::invalid_with(
                "category",
                format!("unknown macro category {text:?}"),
                "use one of dco, measurement, privacy",
            )
        })
    }
}

/// Where a macro's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filled {
    /// The seller fills it (ids of the buy, package and creative, cache buster, time, click URL).
    Seller,
    /// The impression's context, at this dotted path (`geo.city`).
    Context(&'static str),
}

/// A macro of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacroDef {
    pub name: &'static str,
    pub category: Category,
    pub description: &'static str,
    pub filled: Filled,
}

/// The AdCP 3.0.6 universal macros (`enums/universal-macro.json`), with the context path this
/// seller reads each one from when previewing.
pub const UNIVERSAL: [MacroDef; 69] = [
    MacroDef {
        name: "MEDIA_BUY_ID",
        category: Category::Measurement,
        description: "AdCP media buy identifier",
        filled: Filled::Seller,
    },
    MacroDef {
        name: "PACKAGE_ID",
        category: Category::Measurement,
        description: "AdCP package identifier",
        filled: Filled::Seller,
    },
    MacroDef {
        name: "CREATIVE_ID",
        category: Category::Measurement,
        description: "AdCP creative identifier",
        filled: Filled::Seller,
    },
    MacroDef {
        name: "CACHEBUSTER",
        category: Category::Measurement,
        description: "Random number to prevent caching",
        filled: Filled::Seller,
    },
    MacroDef {
        name: "TIMESTAMP",
        category: Category::Measurement,
        description: "Unix timestamp in milliseconds",
        filled: Filled::Seller,
    },
    MacroDef {
        name: "CLICK_URL",
        category: Category::Measurement,
        description: "Publisher's click tracking URL (auto-inserted by sales agent)",
        filled: Filled::Seller,
    },
    MacroDef {
        name: "GDPR",
        category: Category::Privacy,
        description: "GDPR applicability flag (1=applies, 0=doesn't apply)",
        filled: Filled::Context("privacy.gdpr"),
    },
    MacroDef {
        name: "GDPR_CONSENT",
        category: Category::Privacy,
        description: "IAB TCF 2.0 consent string",
        filled: Filled::Context("privacy.gdpr_consent"),
    },
    MacroDef {
        name: "US_PRIVACY",
        category: Category::Privacy,
        description: "US Privacy (CCPA) string",
        filled: Filled::Context("privacy.us_privacy"),
    },
    MacroDef {
        name: "GPP_STRING",
        category: Category::Privacy,
        description: "Global Privacy Platform consent string",
        filled: Filled::Context("privacy.gpp_string"),
    },
    MacroDef {
        name: "GPP_SID",
        category: Category::Privacy,
        description: "GPP Section ID(s) indicating applicable privacy framework sections",
        filled: Filled::Context("privacy.gpp_sid"),
    },
    MacroDef {
        name: "IP_ADDRESS",
        category: Category::Privacy,
        description: "User IP address (often masked for privacy, may return empty)",
        filled: Filled::Context("device.ip"),
    },
    MacroDef {
        name: "LIMIT_AD_TRACKING",
        category: Category::Privacy,
        description: "Limit Ad Tracking enabled (1=limited, 0=allowed)",
        filled: Filled::Context("device.lmt"),
    },
    MacroDef {
        name: "DEVICE_TYPE",
        category: Category::Dco,
        description: "Device category (mobile, tablet, desktop, ctv, dooh)",
        filled: Filled::Context("device.type"),
    },
    MacroDef {
        name: "OS",
        category: Category::Dco,
        description: "Operating system (iOS, Android, tvOS, Roku, etc.)",
        filled: Filled::Context("device.os"),
    },
    MacroDef {
        name: "OS_VERSION",
        category: Category::Dco,
        description: "OS version number",
        filled: Filled::Context("device.os_version"),
    },
    MacroDef {
        name: "DEVICE_MAKE",
        category: Category::Dco,
        description: "Device manufacturer",
        filled: Filled::Context("device.make"),
    },
    MacroDef {
        name: "DEVICE_MODEL",
        category: Category::Dco,
        description: "Device model identifier",
        filled: Filled::Context("device.model"),
    },
    MacroDef {
        name: "USER_AGENT",
        category: Category::Dco,
        description: "Full user agent string",
        filled: Filled::Context("device.user_agent"),
    },
    MacroDef {
        name: "APP_BUNDLE",
        category: Category::Dco,
        description: "App bundle ID (domain or numeric)",
        filled: Filled::Context("app.bundle"),
    },
    MacroDef {
        name: "APP_NAME",
        category: Category::Dco,
        description: "Human-readable app name",
        filled: Filled::Context("app.name"),
    },
    MacroDef {
        name: "COUNTRY",
        category: Category::Dco,
        description: "ISO 3166-1 alpha-2 country code",
        filled: Filled::Context("geo.country"),
    },
    MacroDef {
        name: "REGION",
        category: Category::Dco,
        description: "State/province/region code",
        filled: Filled::Context("geo.region"),
    },
    MacroDef { name: "CITY", category: Category::Dco, description: "City name", filled: Filled::Context("geo.city") },
    MacroDef {
        name: "ZIP",
        category: Category::Dco,
        description: "Postal code",
        filled: Filled::Context("geo.postal_code"),
    },
    MacroDef {
        name: "DMA",
        category: Category::Dco,
        description: "Nielsen DMA code (US TV markets)",
        filled: Filled::Context("geo.metro"),
    },
    MacroDef {
        name: "LAT",
        category: Category::Dco,
        description: "Latitude coordinate",
        filled: Filled::Context("geo.lat"),
    },
    MacroDef {
        name: "LONG",
        category: Category::Dco,
        description: "Longitude coordinate",
        filled: Filled::Context("geo.long"),
    },
    MacroDef {
        name: "DEVICE_ID",
        category: Category::Dco,
        description: "Mobile advertising ID (IDFA/AAID)",
        filled: Filled::Context("device.ifa"),
    },
    MacroDef {
        name: "DEVICE_ID_TYPE",
        category: Category::Dco,
        description: "Type of device ID (idfa, aaid)",
        filled: Filled::Context("device.ifa_type"),
    },
    MacroDef {
        name: "DOMAIN",
        category: Category::Dco,
        description: "Domain where ad is shown",
        filled: Filled::Context("site.domain"),
    },
    MacroDef {
        name: "PAGE_URL",
        category: Category::Dco,
        description: "Full page URL (encoded)",
        filled: Filled::Context("site.page"),
    },
    MacroDef {
        name: "REFERRER",
        category: Category::Dco,
        description: "HTTP referrer URL",
        filled: Filled::Context("site.referrer"),
    },
    MacroDef {
        name: "KEYWORDS",
        category: Category::Dco,
        description: "Page keywords (comma-separated)",
        filled: Filled::Context("site.keywords"),
    },
    MacroDef {
        name: "PLACEMENT_ID",
        category: Category::Measurement,
        description: "Global Placement ID (IAB standard)",
        filled: Filled::Context("placement.id"),
    },
    MacroDef {
        name: "FOLD_POSITION",
        category: Category::Dco,
        description: "Position relative to fold (above_fold, below_fold)",
        filled: Filled::Context("placement.fold_position"),
    },
    MacroDef {
        name: "AD_WIDTH",
        category: Category::Dco,
        description: "Ad slot width in pixels",
        filled: Filled::Context("placement.width"),
    },
    MacroDef {
        name: "AD_HEIGHT",
        category: Category::Dco,
        description: "Ad slot height in pixels",
        filled: Filled::Context("placement.height"),
    },
    MacroDef {
        name: "VIDEO_ID",
        category: Category::Dco,
        description: "Content video identifier",
        filled: Filled::Context("content.id"),
    },
    MacroDef {
        name: "VIDEO_TITLE",
        category: Category::Dco,
        description: "Content video title",
        filled: Filled::Context("content.title"),
    },
    MacroDef {
        name: "VIDEO_DURATION",
        category: Category::Dco,
        description: "Content duration in seconds",
        filled: Filled::Context("content.duration"),
    },
    MacroDef {
        name: "VIDEO_CATEGORY",
        category: Category::Dco,
        description: "IAB content category",
        filled: Filled::Context("content.category"),
    },
    MacroDef {
        name: "CONTENT_GENRE",
        category: Category::Dco,
        description: "Content genre (news, sports, comedy, etc.)",
        filled: Filled::Context("content.genre"),
    },
    MacroDef {
        name: "CONTENT_RATING",
        category: Category::Dco,
        description: "Content rating (G, PG, TV-14, etc.)",
        filled: Filled::Context("content.rating"),
    },
    MacroDef {
        name: "PLAYER_WIDTH",
        category: Category::Dco,
        description: "Video player width in pixels",
        filled: Filled::Context("player.width"),
    },
    MacroDef {
        name: "PLAYER_HEIGHT",
        category: Category::Dco,
        description: "Video player height in pixels",
        filled: Filled::Context("player.height"),
    },
    MacroDef {
        name: "POD_POSITION",
        category: Category::Dco,
        description: "Position within ad break",
        filled: Filled::Context("pod.position"),
    },
    MacroDef {
        name: "POD_SIZE",
        category: Category::Dco,
        description: "Total ads in the ad break",
        filled: Filled::Context("pod.size"),
    },
    MacroDef {
        name: "AD_BREAK_ID",
        category: Category::Dco,
        description: "Unique ad break identifier",
        filled: Filled::Context("pod.break_id"),
    },
    MacroDef {
        name: "STATION_ID",
        category: Category::Dco,
        description: "Radio station or podcast identifier",
        filled: Filled::Context("content.station_id"),
    },
    MacroDef {
        name: "COLLECTION_NAME",
        category: Category::Dco,
        description: "Program or collection name",
        filled: Filled::Context("content.collection_name"),
    },
    MacroDef {
        name: "INSTALLMENT_ID",
        category: Category::Dco,
        description: "Installment identifier (podcast episode, print issue, etc.)",
        filled: Filled::Context("content.installment_id"),
    },
    MacroDef {
        name: "AUDIO_DURATION",
        category: Category::Dco,
        description: "Audio content duration in seconds",
        filled: Filled::Context("content.duration"),
    },
    MacroDef {
        name: "TMPX",
        category: Category::Measurement,
        description: "TMP exposure token - HPKE-encrypted identity tokens for per-user exposure tracking",
        filled: Filled::Context("identity.tmpx"),
    },
    MacroDef {
        name: "AXEM",
        category: Category::Dco,
        description: "AXE contextual metadata (encoded blob)",
        filled: Filled::Context("context.axem"),
    },
    MacroDef {
        name: "CATALOG_ID",
        category: Category::Dco,
        description: "Buyer-defined catalog identifier from the catalog's catalog_id field",
        filled: Filled::Context("catalog.catalog_id"),
    },
    MacroDef {
        name: "SKU",
        category: Category::Dco,
        description: "Product SKU identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.sku"),
    },
    MacroDef {
        name: "GTIN",
        category: Category::Dco,
        description: "Global Trade Item Number for the catalog item being rendered",
        filled: Filled::Context("catalog.gtin"),
    },
    MacroDef {
        name: "OFFERING_ID",
        category: Category::Dco,
        description: "AdCP offering identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.offering_id"),
    },
    MacroDef {
        name: "JOB_ID",
        category: Category::Dco,
        description: "Job posting identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.job_id"),
    },
    MacroDef {
        name: "HOTEL_ID",
        category: Category::Dco,
        description: "Hotel property identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.hotel_id"),
    },
    MacroDef {
        name: "FLIGHT_ID",
        category: Category::Dco,
        description: "Flight route identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.flight_id"),
    },
    MacroDef {
        name: "VEHICLE_ID",
        category: Category::Dco,
        description: "Vehicle listing identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.vehicle_id"),
    },
    MacroDef {
        name: "LISTING_ID",
        category: Category::Dco,
        description: "Real estate listing identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.listing_id"),
    },
    MacroDef {
        name: "STORE_ID",
        category: Category::Dco,
        description: "Store location identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.store_id"),
    },
    MacroDef {
        name: "PROGRAM_ID",
        category: Category::Dco,
        description: "Education program identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.program_id"),
    },
    MacroDef {
        name: "DESTINATION_ID",
        category: Category::Dco,
        description: "Travel destination identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.destination_id"),
    },
    MacroDef {
        name: "CREATIVE_VARIANT_ID",
        category: Category::Measurement,
        description: "Seller-assigned creative variant identifier, passed through at serve time",
        filled: Filled::Context("creative.variant_id"),
    },
    MacroDef {
        name: "APP_ITEM_ID",
        category: Category::Dco,
        description: "Mobile app identifier for the catalog item being rendered",
        filled: Filled::Context("catalog.app_item_id"),
    },
];

/// A seed-era macro name: an alias of a universal macro, or a macro of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedMacro {
    pub name: &'static str,
    /// The universal macro it stands for, when 3.0 has one.
    pub universal: Option<&'static str>,
    pub category: Category,
    pub description: &'static str,
    pub path: &'static str,
}

/// The seed's macros (seed 001, "Creative Macros"), with their nearest 3.0 equivalents.
pub const SEED: [SeedMacro; 18] = [
    seed("DCO_USER_SEGMENT", None, Category::Dco, "User segment for personalization", "user.segment"),
    seed("DCO_GEO_CITY", Some("CITY"), Category::Dco, "City name", "geo.city"),
    seed("DCO_GEO_REGION", Some("REGION"), Category::Dco, "State/region", "geo.region"),
    seed("DCO_WEATHER", None, Category::Dco, "Current weather", "weather.condition"),
    seed("DCO_TIME_OF_DAY", None, Category::Dco, "Morning/afternoon/evening", "time.day_part"),
    seed("DCO_DEVICE_TYPE", Some("DEVICE_TYPE"), Category::Dco, "Device category", "device.type"),
    seed(
        "DCO_CONTENT_CATEGORY",
        Some("VIDEO_CATEGORY"),
        Category::Dco,
        "Adjacent content category",
        "content.category",
    ),
    seed("MEASURE_IMPRESSION_ID", None, Category::Measurement, "Unique impression ID", "impression.id"),
    seed(
        "MEASURE_TIMESTAMP",
        Some("TIMESTAMP"),
        Category::Measurement,
        "Unix timestamp (milliseconds)",
        "time.timestamp",
    ),
    seed("MEASURE_PAGE_URL", Some("PAGE_URL"), Category::Measurement, "Current page URL", "site.page"),
    seed("MEASURE_APP_BUNDLE", Some("APP_BUNDLE"), Category::Measurement, "Mobile app bundle", "app.bundle"),
    seed("MEASURE_USER_ID", None, Category::Measurement, "Hashed user ID", "user.id_hash"),
    seed("MEASURE_LAT_LONG", None, Category::Measurement, "Geo coordinates", "geo.lat_long"),
    seed("MEASURE_POSTAL_CODE", Some("ZIP"), Category::Measurement, "ZIP/postal code", "geo.postal_code"),
    seed("MEASURE_CONTENT_ID", Some("VIDEO_ID"), Category::Measurement, "Content identifier", "content.id"),
    seed("MEASURE_AD_SLOT", Some("PLACEMENT_ID"), Category::Measurement, "Ad placement ID", "placement.id"),
    seed("PRIVACY_CONSENT", Some("GDPR_CONSENT"), Category::Privacy, "User consent status", "privacy.gdpr_consent"),
    seed("PRIVACY_DO_NOT_TRACK", Some("LIMIT_AD_TRACKING"), Category::Privacy, "DNT signal", "device.lmt"),
];

const fn seed(
    name: &'static str,
    universal: Option<&'static str>,
    category: Category,
    description: &'static str,
    path: &'static str,
) -> SeedMacro {
    SeedMacro { name, universal, category, description, path }
}

pub fn universal(name: &str) -> Option<&'static MacroDef> {
    UNIVERSAL.iter().find(|m| m.name == name)
}

pub fn seed_macro(name: &str) -> Option<&'static SeedMacro> {
    SEED.iter().find(|m| m.name == name)
}

/// A known macro name resolved: the name formats list it under (the universal macro a seed name
/// stands for, else the name itself) and where its value comes from.
fn resolve(name: &str) -> Option<(&'static str, Filled)> {
    if let Some(def) = universal(name) {
        return Some((def.name, def.filled));
    }
    let seed = seed_macro(name)?;
    Some(match seed.universal.and_then(universal) {
        Some(def) => (def.name, def.filled),
        None => (seed.name, Filled::Context(seed.path)),
    })
}

/// A macro as listed by `get_creative_macros`.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroInfo {
    pub name: &'static str,
    /// `{NAME}` for universal macros, `${NAME}` for seed-only ones.
    pub syntax: String,
    pub category: Category,
    pub description: &'static str,
    pub filled: Filled,
    /// Seed names that stand for this macro.
    pub aliases: Vec<&'static str>,
    /// The catalog's formats that support it.
    pub formats: Vec<FormatId>,
}

/// The vocabulary, optionally narrowed to a category and to the macros `format` supports.
pub fn list(catalog: &Catalog, category: Option<Category>, format: Option<&Format>) -> Vec<MacroInfo> {
    let supporting = |name: &str| -> Vec<FormatId> {
        catalog
            .formats
            .iter()
            .filter(|f| f.supported_macros.iter().any(|m| m == name))
            .map(|f| f.format_id.clone())
            .collect()
    };
    let universal = UNIVERSAL.iter().map(|m| MacroInfo {
        name: m.name,
        syntax: format!("{{{}}}", m.name),
        category: m.category,
        description: m.description,
        filled: m.filled,
        aliases: SEED.iter().filter(|s| s.universal == Some(m.name)).map(|s| s.name).collect(),
        formats: supporting(m.name),
    });
    let seed_only = SEED.iter().filter(|s| s.universal.is_none()).map(|s| MacroInfo {
        name: s.name,
        syntax: format!("${{{}}}", s.name),
        category: s.category,
        description: s.description,
        filled: Filled::Context(s.path),
        aliases: Vec::new(),
        formats: supporting(s.name),
    });
    universal
        .chain(seed_only)
        .filter(|m| category.is_none_or(|c| m.category == c))
        .filter(|m| format.is_none_or(|f| f.supported_macros.iter().any(|s| s == m.name)))
        .collect()
}

/// A macro token found in creative content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub name: String,
    /// Byte range of the whole token, delimiters included.
    pub start: usize,
    pub end: usize,
}

/// The `{NAME}` and `${NAME}` tokens of `content` (NAME: A-Z, 0-9, _), in order, and the
/// positions of `${` openings that never close.
pub fn tokens(content: &str) -> (Vec<Token>, Vec<usize>) {
    let bytes = content.as_bytes();
    let mut found = Vec::new();
    let mut unclosed = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        let dollar = i > 0 && bytes[i - 1] == b'$';
        let mut j = i + 1;
        while j < bytes.len() && (bytes[j].is_ascii_uppercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_') {
            j += 1;
        }
        if j > i + 1 && j < bytes.len() && bytes[j] == b'}' {
            let start = if dollar { i - 1 } else { i };
            found.push(Token { name: content[i + 1..j].to_owned(), start, end: j + 1 });
            i = j + 1;
        } else {
            if dollar {
                unclosed.push(i - 1);
            }
            i += 1;
        }
    }
    (found, unclosed)
}

/// What `validate_creative_macros` says of some content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MacroCheck {
    /// Every macro used, once, in order of first use.
    pub found: Vec<String>,
    /// Names that are neither universal, seed-era nor one of the format's own macros.
    pub unknown: Vec<String>,
    /// Known macros the given format does not support.
    pub unsupported: Vec<String>,
    /// Context paths the impression must provide to fill the macros.
    pub context_fields: Vec<&'static str>,
    pub warnings: Vec<String>,
}

impl MacroCheck {
    pub fn valid(&self) -> bool {
        self.unknown.is_empty() && self.unsupported.is_empty()
    }
}

/// Checks creative content against the vocabulary and, when given, a format's macros.
pub fn validate(content: &str, format: Option<&Format>) -> MacroCheck {
    let (found, unclosed) = tokens(content);
    let mut check = MacroCheck::default();
    for position in unclosed {
        check.warnings.push(format!("unclosed macro opening \"${{\" at byte {position}"));
    }
    for token in found {
        if check.found.contains(&token.name) {
            continue;
        }
        let name = token.name;
        let format_own = format.is_some_and(|f| f.supported_macros.contains(&name));
        match seed_macro(&name).map(|seed| seed.universal) {
            Some(Some(u)) => check.warnings.push(format!("{name} is a seed-era name; AdCP 3.0 calls it {{{u}}}")),
            Some(None) => check.warnings.push(format!("{name} is a seed-era macro with no AdCP 3.0 equivalent")),
            None => {}
        }
        let resolved = resolve(&name);
        match (resolved, format) {
            (None, _) if !format_own => check.unknown.push(name.clone()),
            (Some((canonical, _)), Some(format))
                if !format_own && !format.supported_macros.iter().any(|m| m == canonical) =>
            {
                check.unsupported.push(name.clone());
            }
            _ => {}
        }
        if let Some((_, Filled::Context(path))) = resolved
            && !check.context_fields.contains(&path)
        {
            check.context_fields.push(path);
        }
        check.found.push(name);
    }
    check
}

/// The ids the seller fills in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SellerValues {
    pub media_buy_id: Option<String>,
    pub package_id: Option<String>,
    pub creative_id: Option<String>,
    pub click_url: Option<String>,
}

/// The result of a substitution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Processed {
    pub content: String,
    /// Macros replaced, once each, in order of first use.
    pub replaced: Vec<String>,
    /// Macros left in place for want of a value.
    pub unresolved: Vec<String>,
}

/// Replaces each macro of `content` with its value: `overrides` by macro name first, then the
/// seller's own values, then the impression `context` (dotted path to value). `TIMESTAMP` is
/// `now` in milliseconds; `CACHEBUSTER` is ten digits derived from `now` and the content.
pub fn process(
    content: &str,
    context: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    seller: &SellerValues,
    now: DateTime<Utc>,
) -> Processed {
    let (found, _) = tokens(content);
    let mut out = Processed::default();
    let mut cursor = 0;
    for token in found {
        let value = value_of(&token.name, content, context, overrides, seller, now);
        out.content.push_str(&content[cursor..token.start]);
        match value {
            Some(value) => {
                out.content.push_str(&value);
                if !out.replaced.contains(&token.name) {
                    out.replaced.push(token.name);
                }
            }
            None => {
                out.content.push_str(&content[token.start..token.end]);
                if !out.unresolved.contains(&token.name) {
                    out.unresolved.push(token.name);
                }
            }
        }
        cursor = token.end;
    }
    out.content.push_str(&content[cursor..]);
    out
}

fn value_of(
    name: &str,
    content: &str,
    context: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    seller: &SellerValues,
    now: DateTime<Utc>,
) -> Option<String> {
    if let Some(value) = overrides.get(name) {
        return Some(value.clone());
    }
    match resolve(name)? {
        (_, Filled::Context(path)) => context.get(path).cloned(),
        ("MEDIA_BUY_ID", Filled::Seller) => seller.media_buy_id.clone(),
        ("PACKAGE_ID", Filled::Seller) => seller.package_id.clone(),
        ("CREATIVE_ID", Filled::Seller) => seller.creative_id.clone(),
        ("CLICK_URL", Filled::Seller) => seller.click_url.clone(),
        ("TIMESTAMP", Filled::Seller) => Some(now.timestamp_millis().to_string()),
        ("CACHEBUSTER", Filled::Seller) => {
            let digest = sha2::Sha256::digest(format!("{}|{content}", now.timestamp_nanos_opt().unwrap_or_default()));
            let number = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 10_000_000_000;
            Some(format!("{number:010}"))
        }
        (_, Filled::Seller) => None,
    }
}

fn format_of<'a>(
    catalog: &'a Catalog,
    tenant: &Tenant,
    format_id: Option<&FormatId>,
) -> Result<Option<&'a Format>, Error> {
    let Some(format_id) = format_id else { return Ok(None) };
    find_format(catalog, tenant, format_id).map(Some).ok_or_else(|| {
        Error::invalid_with(
            "format_id",
            format!("format {} is not offered by this seller", format_id.id),
            "list the formats with list_creative_formats",
        )
    })
}

fn content_of(content: &str) -> Result<&str, Error> {
    if content.trim().is_empty() {
        return Err(Error::invalid_with(
            "creative_content",
            "creative_content is empty",
            "send the creative's HTML, VAST or URL text with its macros",
        ));
    }
    Ok(content)
}

/// `get_creative_macros`: the vocabulary, narrowed by category and format.
///
/// # Errors
/// An unknown category or format (`INVALID_REQUEST`).
pub fn get_creative_macros(
    catalog: &Catalog,
    tenant: &Tenant,
    category: Option<&str>,
    format_id: Option<&FormatId>,
) -> Result<Vec<MacroInfo>, Error> {
    let category = category.map(Category::parse).transpose()?;
    let format = format_of(catalog, tenant, format_id)?;
    Ok(list(catalog, category, format))
}

/// `validate_creative_macros`: the macros of some content against the vocabulary and a format.
///
/// # Errors
/// Empty content or an unknown format (`INVALID_REQUEST`).
pub fn validate_creative_macros(
    catalog: &Catalog,
    tenant: &Tenant,
    content: &str,
    format_id: Option<&FormatId>,
) -> Result<MacroCheck, Error> {
    let content = content_of(content)?;
    let format = format_of(catalog, tenant, format_id)?;
    Ok(validate(content, format))
}

/// `process_creative_macros` (admin): the content as an impression with `context` would carry it.
///
/// # Errors
/// Empty content (`INVALID_REQUEST`).
pub fn process_creative_macros(
    content: &str,
    context: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    seller: &SellerValues,
    now: DateTime<Utc>,
) -> Result<Processed, Error> {
    Ok(process(content_of(content)?, context, overrides, seller, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_take_both_syntaxes_and_leave_other_dialects_alone() {
        let (found, unclosed) = tokens("a ${DCO_GEO_CITY} b {CACHEBUSTER} [TIMESTAMP] %%WIDTH%% {lower} ${OPEN");
        let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["DCO_GEO_CITY", "CACHEBUSTER"]);
        assert_eq!(found[0].start, 2, "the $ belongs to the token");
        assert_eq!(unclosed.len(), 1);
    }

    #[test]
    fn the_universal_table_is_the_3_0_6_enum() {
        assert_eq!(UNIVERSAL.len(), 69);
        assert!(universal("IMPRESSION_ID").is_none(), "3.1 only");
        for seed in SEED {
            if let Some(u) = seed.universal {
                assert!(universal(u).is_some(), "{} maps to a universal macro", seed.name);
            }
        }
    }

    #[test]
    fn substitution_is_single_pass_and_leaves_unknown_values_in_place() {
        let context = BTreeMap::from([("geo.city".to_owned(), "San Francisco ${DCO_WEATHER}".to_owned())]);
        let now = DateTime::parse_from_rfc3339("2026-04-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let seller = SellerValues { media_buy_id: Some("mb_1".into()), ..SellerValues::default() };
        let out = process(
            "<p>${DCO_GEO_CITY} {CITY} ${DCO_WEATHER}</p><img src=\"t?b={MEDIA_BUY_ID}&ts={TIMESTAMP}&cb={CACHEBUSTER}\">",
            &context,
            &BTreeMap::new(),
            &seller,
            now,
        );
        assert!(
            out.content.starts_with("<p>San Francisco ${DCO_WEATHER} San Francisco ${DCO_WEATHER} ${DCO_WEATHER}</p>")
        );
        assert!(out.content.contains("b=mb_1&ts=1775001600000&cb="));
        assert_eq!(out.replaced, ["DCO_GEO_CITY", "CITY", "MEDIA_BUY_ID", "TIMESTAMP", "CACHEBUSTER"]);
        assert_eq!(out.unresolved, ["DCO_WEATHER"]);
        let cachebuster = out.content.rsplit("cb=").next().unwrap().trim_end_matches("\">");
        assert_eq!(cachebuster.len(), 10);
        assert!(cachebuster.chars().all(|c| c.is_ascii_digit()));
    }
}
