//! Product and format discovery over a tenant's catalog (AdCP `get_products`,
//! `list_creative_formats`). Pure functions of the catalog and the query.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::catalog::{AssetType, Catalog, Channel, DeliveryType, Exclusivity, Format, FormatId, Product};
use super::error::Error;
use super::feedback::ProductRecord;
use super::pagination::{OffsetPage, Page, PageParams};
use super::ranking::Ranker;

/// How the buyer is asking (AdCP `buying_mode`).
#[derive(Debug, Clone, PartialEq)]
pub enum BuyingMode {
    /// Rank by a natural-language brief.
    Brief(String),
    /// The raw catalog, in catalog order.
    Wholesale,
    /// Adjust an earlier answer; each entry gets an outcome in the same order.
    Refine(Vec<Refinement>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Refinement {
    Request {
        ask: String,
    },
    Product {
        product_id: String,
        action: ProductAction,
        ask: Option<String>,
    },
    /// Handled by `core::proposals`; discovery leaves its outcome for that to fill in.
    Proposal {
        proposal_id: String,
        action: ProposalAction,
        ask: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalAction {
    /// Keep it, changed by the ask if there is one.
    Include,
    /// Leave it out of the answer.
    Omit,
    /// Commit a draft: firm prices, held for a while.
    Finalize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductAction {
    Include,
    Omit,
    MoreLikeThis,
}

/// The outcome of one refinement, echoed in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct RefinementOutcome {
    pub scope: RefinementScope,
    pub status: RefinementStatus,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RefinementScope {
    Request,
    Product(String),
    Proposal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefinementStatus {
    Applied,
    Partial,
    Unable,
}

/// Product filters (AdCP `core/product-filters.json`, the ones this seller applies).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductFilters {
    pub delivery_type: Option<DeliveryType>,
    pub exclusivity: Option<Exclusivity>,
    pub is_fixed_price: Option<bool>,
    pub format_ids: Vec<FormatId>,
    pub standard_formats_only: bool,
    pub channels: Vec<Channel>,
    pub countries: Vec<String>,
    pub budget_range: Option<BudgetRange>,
    pub min_exposures: Option<u64>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRange {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuery {
    pub mode: BuyingMode,
    pub filters: ProductFilters,
    pub preferred_delivery_types: Vec<DeliveryType>,
    pub page: PageParams,
    /// Buyers' feedback per product, which ranking takes into account.
    pub records: std::sync::Arc<HashMap<String, ProductRecord>>,
}

/// One product in an answer, with why it was chosen when a brief was given.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductMatch {
    pub product: Product,
    pub relevance: Option<Relevance>,
}

/// Why a product was chosen for a brief.
#[derive(Debug, Clone, PartialEq)]
pub struct Relevance {
    /// For the buyer to read (AdCP `brief_relevance`).
    pub text: String,
    /// The brief's signals the product matches, one phrase each (seed `match_reasons`).
    pub reasons: Vec<String>,
    /// Higher is better; positive when the product fits the brief more than it misses it.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductAnswer {
    pub products: Page<ProductMatch>,
    /// Present only in refine mode, one per refinement, same order.
    pub refinements: Option<Vec<RefinementOutcome>>,
}

/// Answers a product query: filter, rank or refine, paginate.
///
/// # Errors
/// `InvalidRequest` for an empty brief, contradictory filters or a bad cursor.
pub async fn find_products(
    catalog: &Catalog,
    ranker: &dyn Ranker,
    query: &ProductQuery,
) -> Result<ProductAnswer, Error> {
    let filters = &query.filters;
    if let (Some(start), Some(end)) = (filters.start_date, filters.end_date)
        && end < start
    {
        return Err(Error::invalid("filters.end_date", "filters.end_date is before filters.start_date"));
    }
    if let Some(range) = &filters.budget_range
        && let (Some(min), Some(max)) = (range.min, range.max)
        && max < min
    {
        return Err(Error::invalid("filters.budget_range", "budget_range.max is below budget_range.min"));
    }
    let mut candidates: Vec<&Product> =
        catalog.products.iter().filter(|product| matches_filters(product, filters)).collect();
    let page = OffsetPage::parse(&query.page)?;

    let (ordered, refinements) = match &query.mode {
        BuyingMode::Wholesale => {
            order_by_preference(&mut candidates, &query.preferred_delivery_types);
            (candidates.into_iter().map(|p| (p, None)).collect::<Vec<_>>(), None)
        }
        BuyingMode::Brief(brief) => {
            if brief.trim().is_empty() {
                return Err(Error::invalid_with(
                    "brief",
                    "brief mode needs a non-empty brief",
                    "describe the campaign, or use buying_mode \"wholesale\" for the whole catalog",
                ));
            }
            (rank(ranker, brief, catalog, &candidates, &query.preferred_delivery_types, &query.records).await, None)
        }
        BuyingMode::Refine(refinements) => {
            if refinements.is_empty() {
                return Err(Error::invalid("refine", "refine mode needs at least one refine entry"));
            }
            let (ordered, outcomes) = refine(ranker, catalog, &candidates, refinements, &query.records).await;
            (ordered, Some(outcomes))
        }
    };
    let matches: Vec<ProductMatch> =
        ordered.into_iter().map(|(product, relevance)| ProductMatch { product: product.clone(), relevance }).collect();
    Ok(ProductAnswer { products: page.slice(matches), refinements })
}

async fn rank<'a>(
    ranker: &dyn Ranker,
    brief: &str,
    catalog: &'a Catalog,
    candidates: &[&'a Product],
    preferred: &[DeliveryType],
    records: &HashMap<String, ProductRecord>,
) -> Vec<(&'a Product, Option<Relevance>)> {
    let rankings = ranker.rank(brief, catalog, candidates).await;
    let mut scored: Vec<(&Product, Relevance)> = candidates
        .iter()
        .filter_map(|product| {
            rankings.iter().find(|r| r.product_id == product.product_id).map(|r| {
                let (bonus, note) = record_bonus(records.get(&product.product_id));
                let mut reasons = r.reasons.clone();
                let text = match note {
                    Some(note) => {
                        if bonus > 0.0 {
                            reasons.push(note.trim_end_matches('.').to_owned());
                        }
                        format!("{} {note}", r.relevance)
                    }
                    None => r.relevance.clone(),
                };
                let score = r.score + preference_bonus(product, preferred) + bonus;
                (*product, Relevance { text, reasons, score })
            })
        })
        .collect();
    scored.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then_with(|| a.0.product_id.cmp(&b.0.product_id)));
    scored.into_iter().map(|(product, relevance)| (product, Some(relevance))).collect()
}

/// Buyers' feedback moves a product by up to two points: a mean index of 1.5 or more (half
/// again better than expected) adds two, 0.5 or less takes two away; one report counts half.
fn record_bonus(record: Option<&ProductRecord>) -> (f64, Option<String>) {
    let Some(record) = record else {
        return (0.0, None);
    };
    let weight = if record.reports >= 2 { 1.0 } else { 0.5 };
    let bonus = ((record.mean_index - 1.0) * 4.0).clamp(-2.0, 2.0) * weight;
    let verdict = if record.mean_index >= 1.05 {
        "above"
    } else if record.mean_index <= 0.95 {
        "below"
    } else {
        "in line with"
    };
    let note = format!(
        "Buyer feedback: performing {verdict} expectations (index {:.2} over {} report{}).",
        record.mean_index,
        record.reports,
        if record.reports == 1 { "" } else { "s" }
    );
    (bonus, Some(note))
}

fn preference_bonus(product: &Product, preferred: &[DeliveryType]) -> f64 {
    if preferred.first() == Some(&product.delivery_type) { 0.25 } else { 0.0 }
}

fn order_by_preference(candidates: &mut [&Product], preferred: &[DeliveryType]) {
    if preferred.is_empty() {
        return;
    }
    let rank_of =
        |product: &Product| preferred.iter().position(|d| *d == product.delivery_type).unwrap_or(preferred.len());
    candidates.sort_by_key(|product| rank_of(product));
}

/// Applies refinements in order. Product-scope entries act on the candidate set; request-scope
/// asks re-rank it like a brief; proposal-scope entries get the outcome an anonymous caller
/// sees, which `core::proposals` replaces for a buyer.
async fn refine<'a>(
    ranker: &dyn Ranker,
    catalog: &'a Catalog,
    candidates: &[&'a Product],
    refinements: &[Refinement],
    records: &HashMap<String, ProductRecord>,
) -> (Vec<(&'a Product, Option<Relevance>)>, Vec<RefinementOutcome>) {
    let mut included: Vec<&Product> = Vec::new();
    let mut omitted: HashSet<&str> = HashSet::new();
    let mut similar_to: Vec<&Product> = Vec::new();
    let mut asks: Vec<&str> = Vec::new();
    let mut outcomes = Vec::with_capacity(refinements.len());
    for refinement in refinements {
        let outcome = match refinement {
            Refinement::Request { ask } => {
                asks.push(ask);
                RefinementOutcome {
                    scope: RefinementScope::Request,
                    status: RefinementStatus::Applied,
                    notes: "Products re-ranked against the ask.".to_owned(),
                }
            }
            Refinement::Product { product_id, action, ask } => {
                let scope = RefinementScope::Product(product_id.clone());
                match catalog.product(product_id) {
                    None => RefinementOutcome {
                        scope,
                        status: RefinementStatus::Unable,
                        notes: format!("No product {product_id} in this catalog."),
                    },
                    Some(product) => {
                        if let Some(ask) = ask {
                            asks.push(ask);
                        }
                        match action {
                            ProductAction::Include => {
                                included.push(product);
                                RefinementOutcome {
                                    scope,
                                    status: RefinementStatus::Applied,
                                    notes: "Product kept in the selection.".to_owned(),
                                }
                            }
                            ProductAction::Omit => {
                                omitted.insert(product.product_id.as_str());
                                RefinementOutcome {
                                    scope,
                                    status: RefinementStatus::Applied,
                                    notes: "Product removed from the selection.".to_owned(),
                                }
                            }
                            ProductAction::MoreLikeThis => {
                                similar_to.push(product);
                                RefinementOutcome {
                                    scope,
                                    status: RefinementStatus::Applied,
                                    notes: "Added products on the same channels and audience.".to_owned(),
                                }
                            }
                        }
                    }
                }
            }
            Refinement::Proposal { proposal_id, .. } => RefinementOutcome {
                scope: RefinementScope::Proposal(proposal_id.clone()),
                status: RefinementStatus::Unable,
                notes: "Proposals belong to a buyer: authenticate to refine one.".to_owned(),
            },
        };
        outcomes.push(outcome);
    }

    // Product-scope includes narrow the selection to those products; otherwise all candidates.
    let mut selection: Vec<&Product> =
        if included.is_empty() && similar_to.is_empty() { candidates.to_vec() } else { included.clone() };
    for anchor in &similar_to {
        if !selection.iter().any(|p| p.product_id == anchor.product_id) {
            selection.push(anchor);
        }
        for product in candidates {
            let similar = product.channels.iter().any(|c| anchor.channels.contains(c))
                && product.delivery_type == anchor.delivery_type;
            if similar && !selection.iter().any(|p| p.product_id == product.product_id) {
                selection.push(product);
            }
        }
    }
    selection.retain(|p| !omitted.contains(p.product_id.as_str()));
    if asks.is_empty() {
        return (selection.into_iter().map(|p| (p, None)).collect(), outcomes);
    }
    let brief = asks.join(". ");
    (rank(ranker, &brief, catalog, &selection, &[], records).await, outcomes)
}

fn matches_filters(product: &Product, filters: &ProductFilters) -> bool {
    if filters.delivery_type.is_some_and(|d| d != product.delivery_type) {
        return false;
    }
    if let Some(exclusivity) = filters.exclusivity
        && product.exclusivity.unwrap_or(Exclusivity::None) != exclusivity
    {
        return false;
    }
    if let Some(fixed) = filters.is_fixed_price
        && !product.pricing_options.iter().any(|o| o.is_fixed() == fixed)
    {
        return false;
    }
    if !filters.format_ids.is_empty()
        && !product.format_ids.iter().any(|id| filters.format_ids.iter().any(|f| same_format(f, id)))
    {
        return false;
    }
    if filters.standard_formats_only && product.format_ids.iter().any(|id| id.agent_url != STANDARD_FORMATS_AGENT) {
        return false;
    }
    if !filters.channels.is_empty() && !product.channels.iter().any(|c| filters.channels.contains(c)) {
        return false;
    }
    if !filters.countries.is_empty() && !product.audience.countries.is_empty() {
        let wanted = filters.countries.iter().map(|c| c.to_ascii_uppercase());
        if !wanted.into_iter().any(|c| product.audience.countries.contains(&c)) {
            return false;
        }
    }
    if let Some(range) = &filters.budget_range {
        let affordable = product.pricing_options.iter().any(|option| {
            option.currency.eq_ignore_ascii_case(&range.currency)
                && range.max.is_none_or(|max| option.min_spend_per_package.unwrap_or(0.0) <= max)
        });
        if !affordable {
            return false;
        }
    }
    if let Some(min_exposures) = filters.min_exposures {
        let days = match (filters.start_date, filters.end_date) {
            (Some(start), Some(end)) => (end - start).num_days().max(1) as u64,
            _ => 30,
        };
        if let Some(daily) = product.daily_impressions
            && daily.saturating_mul(days) < min_exposures
        {
            return false;
        }
    }
    true
}

/// The agent that defines AdCP's standard formats.
pub const STANDARD_FORMATS_AGENT: &str = "https://creative.adcontextprotocol.org";

/// Format ids match on agent and id; `agent_url` is compared exactly, as the spec requires.
pub fn same_format(a: &FormatId, b: &FormatId) -> bool {
    a.agent_url == b.agent_url && a.id == b.id
}

/// Format filters (AdCP `list_creative_formats` request).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FormatQuery {
    pub format_ids: Vec<FormatId>,
    pub asset_types: Vec<AssetType>,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub min_width: Option<u32>,
    pub min_height: Option<u32>,
    pub is_responsive: Option<bool>,
    pub name_search: Option<String>,
    pub page: PageParams,
}

/// Lists formats matching the query, in catalog order.
///
/// # Errors
/// `InvalidRequest` for a bad cursor.
pub fn find_formats(catalog: &Catalog, query: &FormatQuery) -> Result<Page<Format>, Error> {
    let page = OffsetPage::parse(&query.page)?;
    let needle = query.name_search.as_ref().map(|s| s.to_lowercase());
    let matching: Vec<Format> = catalog
        .formats
        .iter()
        .filter(|format| {
            (query.format_ids.is_empty() || query.format_ids.iter().any(|id| same_format(id, &format.format_id)))
                && (query.asset_types.is_empty()
                    || format.assets.iter().any(|a| query.asset_types.contains(&a.asset_type)))
                && needle.as_ref().is_none_or(|n| {
                    format.name.to_lowercase().contains(n)
                        || format.description.as_ref().is_some_and(|d| d.to_lowercase().contains(n))
                })
                && query.is_responsive.is_none_or(|responsive| !responsive)
                && dimensions_match(format, query)
        })
        .cloned()
        .collect();
    Ok(page.slice(matching))
}

fn dimensions_match(format: &Format, query: &FormatQuery) -> bool {
    let bounded = query.max_width.is_some()
        || query.max_height.is_some()
        || query.min_width.is_some()
        || query.min_height.is_some();
    if !bounded {
        return true;
    }
    format.renders.iter().filter_map(|r| r.dimensions.as_ref()).any(|d| {
        query.max_width.is_none_or(|m| d.width <= m)
            && query.max_height.is_none_or(|m| d.height <= m)
            && query.min_width.is_none_or(|m| d.width >= m)
            && query.min_height.is_none_or(|m| d.height >= m)
    })
}
