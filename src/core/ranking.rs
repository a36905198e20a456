//! Ranking products against a natural-language brief.
//!
//! The default [`KeywordRanker`] is deterministic and offline: it reads the brief for channels,
//! audience words, countries, formats and a budget, scores each product on those signals and
//! explains the score in words (AdCP `brief_relevance`). Ties break on `product_id`, so the same
//! brief over the same catalog always gives the same order. [`Ranker`] is the seam for another
//! strategy (an LLM re-ranker, say), which would live outside core and be configured at startup.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use super::catalog::{Catalog, Channel, PricingModel, Product};

/// What a ranker produces for one product.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub product_id: String,
    /// Higher is better; only the order matters.
    pub score: f64,
    /// Why the product fits (or does not fit) the brief, for the buyer to read.
    pub relevance: String,
    /// The brief's signals the product matches, one phrase each (seed `match_reasons`).
    pub reasons: Vec<String>,
}

/// A ranking strategy. Implementations must be deterministic for a given input.
pub trait Ranker: Send + Sync {
    fn rank<'a>(
        &'a self,
        brief: &'a str,
        catalog: &'a Catalog,
        products: &'a [&'a Product],
    ) -> Pin<Box<dyn Future<Output = Vec<Ranking>> + Send + 'a>>;
}

/// The built-in ranker: keyword and rule based, no network.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeywordRanker;

impl Ranker for KeywordRanker {
    fn rank<'a>(
        &'a self,
        brief: &'a str,
        catalog: &'a Catalog,
        products: &'a [&'a Product],
    ) -> Pin<Box<dyn Future<Output = Vec<Ranking>> + Send + 'a>> {
        let parsed = BriefSignals::parse(brief);
        let rankings = products.iter().map(|product| score_product(&parsed, catalog, product)).collect();
        Box::pin(std::future::ready(rankings))
    }
}

/// The signals read from a brief.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BriefSignals {
    /// Lowercase words (stems) of the brief, stop words removed.
    pub terms: BTreeSet<String>,
    pub channels: BTreeSet<Channel>,
    pub countries: BTreeSet<String>,
    /// Budget in the brief's currency units, when it names one.
    pub budget: Option<f64>,
    /// Ad sizes such as `300x250`.
    pub sizes: BTreeSet<(u32, u32)>,
    /// Durations in seconds such as `30s`.
    pub durations: BTreeSet<u64>,
}

const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "the",
    "for",
    "to",
    "of",
    "in",
    "on",
    "at",
    "with",
    "by",
    "our",
    "we",
    "us",
    "ad",
    "ads",
    "campaign",
    "targeting",
    "target",
    "budget",
    "want",
    "looking",
    "reach",
    "need",
    "buy",
    "run",
    "using",
    "across",
    "from",
    "that",
    "this",
    "is",
    "are",
    "be",
    "or",
    "per",
    "over",
    "about",
    "around",
];

const COUNTRIES: &[(&str, &str)] = &[
    ("us", "US"),
    ("usa", "US"),
    ("america", "US"),
    ("american", "US"),
    ("uk", "GB"),
    ("gb", "GB"),
    ("britain", "GB"),
    ("british", "GB"),
    ("canada", "CA"),
    ("canadian", "CA"),
    ("germany", "DE"),
    ("german", "DE"),
    ("france", "FR"),
    ("french", "FR"),
    ("australia", "AU"),
    ("australian", "AU"),
];

impl BriefSignals {
    pub fn parse(brief: &str) -> BriefSignals {
        let lower = brief.to_lowercase();
        let mut signals = BriefSignals::default();
        for channel in ALL_CHANNELS {
            if channel.synonyms().iter().any(|synonym| contains_phrase(&lower, synonym)) {
                signals.channels.insert(channel);
            }
        }
        if contains_phrase(&lower, "united states") {
            signals.countries.insert("US".to_owned());
        }
        if contains_phrase(&lower, "united kingdom") {
            signals.countries.insert("GB".to_owned());
        }
        // Country codes are read from the original text so that the pronoun "us" is not the US.
        for raw in brief.split(|c: char| !c.is_ascii_alphanumeric()) {
            let word = raw.to_lowercase();
            if let Some((_, code)) = COUNTRIES.iter().find(|(name, _)| *name == word) {
                let is_code = word.len() <= 3;
                if !is_code || raw.chars().all(|c| c.is_ascii_uppercase()) {
                    signals.countries.insert((*code).to_owned());
                }
            }
        }
        signals.budget = parse_budget(&lower);
        for token in lower.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
            if let Some((w, h)) = token.split_once('x')
                && let (Ok(w), Ok(h)) = (w.parse::<u32>(), h.parse::<u32>())
            {
                signals.sizes.insert((w, h));
            }
            if let Some(seconds) = token.strip_suffix('s').or_else(|| token.strip_suffix("sec"))
                && let Ok(seconds) = seconds.parse::<u64>()
                && (1..=120).contains(&seconds)
            {
                signals.durations.insert(seconds);
            }
        }
        for word in lower.split(|c: char| !c.is_alphanumeric()) {
            if word.len() < 2 || STOP_WORDS.contains(&word) || word.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            signals.terms.insert(stem(word));
        }
        signals
    }
}

const ALL_CHANNELS: [Channel; 20] = [
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

/// A crude English stemmer: enough to match "developers" with "developer" and "enthusiasts"
/// with "enthusiast", without merging unrelated words.
pub fn stem(word: &str) -> String {
    let word = word.to_lowercase();
    for suffix in ["ies", "es", "s"] {
        if let Some(base) = word.strip_suffix(suffix)
            && base.len() >= 3
            && !word.ends_with("ss")
        {
            return match suffix {
                "ies" => format!("{base}y"),
                "es" if base.ends_with(['x', 'z']) || base.ends_with("ch") || base.ends_with("sh") => base.to_owned(),
                "es" => format!("{base}e"),
                _ => base.to_owned(),
            };
        }
    }
    word
}

fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    haystack.match_indices(phrase).any(|(start, _)| {
        let end = start + phrase.len();
        let before = haystack[..start].chars().next_back();
        let after = haystack[end..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Reads "$5000", "$5,000", "5k", "$2.5m", "5000 usd" or "budget of 5000".
fn parse_budget(lower: &str) -> Option<f64> {
    let tokens: Vec<&str> = lower.split_whitespace().collect();
    for (index, token) in tokens.iter().enumerate() {
        let token = token.trim_matches(|c: char| matches!(c, ',' | '.' | ';' | '(' | ')'));
        let next = tokens.get(index + 1).copied().unwrap_or("");
        let previous = if index > 0 { tokens[index - 1] } else { "" };
        let money_context = token.starts_with('$')
            || token.starts_with('€')
            || token.starts_with('£')
            || matches!(next, "usd" | "dollars" | "eur" | "gbp")
            || previous == "budget"
            || previous == "of" && index >= 2 && tokens[index - 2] == "budget";
        if !money_context {
            continue;
        }
        let number = token.trim_start_matches(['$', '€', '£']).replace(',', "");
        let (digits, multiplier) = match number.chars().last() {
            Some('k') => (&number[..number.len() - 1], 1_000.0),
            Some('m') => (&number[..number.len() - 1], 1_000_000.0),
            _ => (number.as_str(), 1.0),
        };
        if let Ok(value) = digits.parse::<f64>()
            && value.is_finite()
            && value > 0.0
        {
            return Some(value * multiplier);
        }
    }
    None
}

/// A product's words, stemmed: from its audience categories and keywords, and from its name and
/// description.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductWords {
    pub audience: BTreeSet<String>,
    pub text: BTreeSet<String>,
}

impl ProductWords {
    pub fn of(product: &Product) -> ProductWords {
        let audience = product
            .audience
            .categories
            .iter()
            .chain(&product.audience.keywords)
            .flat_map(|phrase| phrase.split(|c: char| !c.is_alphanumeric()).map(stem).collect::<Vec<_>>())
            .filter(|w| !w.is_empty())
            .collect();
        let text = format!("{} {}", product.name, product.description)
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 2)
            .map(stem)
            .collect();
        ProductWords { audience, text }
    }
}

/// The words of every product of the catalog, computed on first use and kept with it.
fn words_of(catalog: &Catalog) -> &std::collections::HashMap<String, ProductWords> {
    catalog
        .ranking_words
        .get_or_init(|| catalog.products.iter().map(|p| (p.product_id.clone(), ProductWords::of(p))).collect())
}

fn score_product(brief: &BriefSignals, catalog: &Catalog, product: &Product) -> Ranking {
    let mut score = 0.0;
    let mut reasons: Vec<String> = Vec::new();
    let mut concerns: Vec<String> = Vec::new();

    if !brief.channels.is_empty() {
        let matched: Vec<&str> =
            product.channels.iter().filter(|c| brief.channels.contains(c)).map(|c| c.as_str()).collect();
        if matched.is_empty() {
            score -= 4.0;
            concerns.push(format!(
                "sells {} rather than the requested channel",
                join(product.channels.iter().map(|c| c.as_str()))
            ));
        } else {
            score += 4.0;
            reasons.push(format!("{} channel", join(matched.iter().copied())));
        }
    }

    let computed;
    let words = match words_of(catalog).get(&product.product_id) {
        Some(words) => words,
        None => {
            // A product outside the catalog (a caller's own list): read it now.
            computed = ProductWords::of(product);
            &computed
        }
    };
    let audience_words = &words.audience;
    let audience_hits: Vec<&String> = brief.terms.iter().filter(|t| audience_words.contains(*t)).collect();
    if !audience_hits.is_empty() {
        score += 2.0 * audience_hits.len() as f64;
        reasons.push(format!("audience matches {}", join(audience_hits.iter().map(|s| s.as_str()))));
    }

    let text_words = &words.text;
    let text_hits = brief.terms.iter().filter(|t| text_words.contains(*t) && !audience_words.contains(*t)).count();
    score += 0.5 * text_hits as f64;

    if !brief.countries.is_empty() {
        let countries = &product.audience.countries;
        if countries.is_empty() || brief.countries.iter().all(|c| countries.contains(c)) {
            score += 1.0;
            reasons.push(format!("delivers in {}", join(brief.countries.iter().map(String::as_str))));
        } else {
            score -= 3.0;
            concerns.push(format!("delivers only in {}", join(countries.iter().map(String::as_str))));
        }
    }

    let formats: Vec<_> = product.format_ids.iter().filter_map(|id| catalog.format(id)).collect();
    for &(width, height) in &brief.sizes {
        let fits = formats.iter().any(|format| {
            format.renders.iter().any(|r| r.dimensions.as_ref().is_some_and(|d| d.width == width && d.height == height))
        });
        if fits {
            score += 1.0;
            reasons.push(format!("{width}x{height} format"));
        }
    }
    for &seconds in &brief.durations {
        let fits = formats
            .iter()
            .any(|format| format.assets.iter().any(|a| a.requirements.max_duration_ms == Some(seconds * 1000)));
        if fits {
            score += 1.0;
            reasons.push(format!("{seconds}s format"));
        }
    }

    if let Some(budget) = brief.budget {
        let cheapest_minimum = product
            .pricing_options
            .iter()
            .map(|option| option.min_spend_per_package.unwrap_or(0.0))
            .fold(f64::INFINITY, f64::min);
        if cheapest_minimum > budget {
            score -= 5.0;
            concerns.push(format!("minimum spend {} exceeds the {} budget", money(cheapest_minimum), money(budget)));
        } else {
            score += 1.0;
            let cpm = product
                .pricing_options
                .iter()
                .filter(|o| o.pricing_model == PricingModel::Cpm && o.min_spend_per_package.unwrap_or(0.0) <= budget)
                .filter_map(|o| o.reference_price())
                .fold(f64::INFINITY, f64::min);
            if cpm.is_finite() && cpm > 0.0 {
                let impressions = (budget / cpm * 1000.0).round() as u64;
                reasons.push(format!(
                    "{} buys about {} impressions at {} CPM",
                    money(budget),
                    thousands(impressions),
                    money(cpm)
                ));
            } else {
                reasons.push(format!("fits a {} budget", money(budget)));
            }
        }
    }

    let relevance = match (reasons.is_empty(), concerns.is_empty()) {
        (true, true) => "No specific match with the brief; listed for completeness.".to_owned(),
        (false, true) => format!("Matches the brief: {}.", reasons.join("; ")),
        (true, false) => format!("Weak match: {}.", concerns.join("; ")),
        (false, false) => format!("Partly matches: {}; but {}.", reasons.join("; "), concerns.join("; ")),
    };
    Ranking { product_id: product.product_id.clone(), score, relevance, reasons }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn money(amount: f64) -> String {
    if amount.fract() == 0.0 { format!("${}", thousands(amount as u64)) } else { format!("${amount:.2}") }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_brief() {
        let signals = BriefSignals::parse("display ads targeting US tech enthusiasts, developers, $5000 budget");
        assert!(signals.channels.contains(&Channel::Display));
        assert_eq!(signals.countries.iter().collect::<Vec<_>>(), vec!["US"]);
        assert_eq!(signals.budget, Some(5000.0));
        assert!(signals.terms.contains("developer"));
        assert!(signals.terms.contains("enthusiast"));
        assert!(signals.terms.contains("tech"));
    }

    #[test]
    fn lowercase_us_is_a_pronoun_not_a_country() {
        let signals = BriefSignals::parse("help us reach runners");
        assert!(signals.countries.is_empty());
    }

    #[test]
    fn reads_budget_forms() {
        assert_eq!(parse_budget("a $5,000 test"), Some(5000.0));
        assert_eq!(parse_budget("$2.5m flight"), Some(2_500_000.0));
        assert_eq!(parse_budget("budget of 7500"), Some(7500.0));
        assert_eq!(parse_budget("spend 300 usd"), Some(300.0));
        assert_eq!(parse_budget("300x250 banners"), None);
    }

    #[test]
    fn reads_sizes_and_durations() {
        let signals = BriefSignals::parse("300x250 and 728x90 banners plus a 30s spot");
        assert!(signals.sizes.contains(&(300, 250)));
        assert!(signals.sizes.contains(&(728, 90)));
        assert!(signals.durations.contains(&30));
    }

    #[test]
    fn stems_plurals() {
        assert_eq!(stem("developers"), "developer");
        assert_eq!(stem("categories"), "category");
        assert_eq!(stem("boxes"), "box");
        assert_eq!(stem("business"), "business");
    }
}
