//! Proposals (AdCP proposal mode): media plans this seller offers with the products of a brief.
//! A proposal splits a budget among products by percentage. The buyer refines it (a free-text
//! ask: drop a channel, shift a share to one), finalizes it (a draft becomes committed: prices
//! are fixed and the hold runs for [`COMMIT_HOLD`]) and buys it once with `create_media_buy`
//! (`proposal_id` plus `total_budget`), which turns each allocation into a package.
//!
//! The pure planning lives here; [`get_products`] and [`packages_for`] add the store.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, Channel, PricingOption, Product};
use super::discovery::{
    self, BuyingMode, ProductAnswer, ProductMatch, ProductQuery, ProposalAction, Refinement, RefinementOutcome,
    RefinementScope, RefinementStatus,
};
use super::error::Error;
use super::media_buy::PackageRequest;
use super::ports::Store;
use super::ranking::Ranker;
use super::tenancy::{Principal, Tenant};

/// How long a draft's indicative prices stand.
pub const DRAFT_TTL: Duration = Duration::days(7);
/// How long a committed proposal holds its prices.
pub const COMMIT_HOLD: Duration = Duration::hours(72);
/// The most products one proposal spreads over.
const MAX_ALLOCATIONS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Indicative prices; finalize before buying.
    Draft,
    /// Prices fixed until `expires_at`; buyable once.
    Committed,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Draft => "draft",
            ProposalStatus::Committed => "committed",
        }
    }
}

/// One buyer's proposal, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub proposal_id: String,
    pub tenant_id: String,
    pub principal_id: String,
    pub name: String,
    pub description: String,
    /// How the plan answers the brief.
    pub brief_alignment: String,
    pub status: ProposalStatus,
    /// Percentages are whole numbers that add up to 100.
    pub allocations: Vec<Allocation>,
    pub currency: String,
    pub budget: BudgetGuidance,
    pub expires_at: DateTime<Utc>,
    /// The buy made from it; a proposal is bought once.
    #[serde(default)]
    pub media_buy_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub product_id: String,
    pub pricing_option_id: String,
    pub percentage: u32,
    pub rationale: String,
    /// The price fixed when the proposal was committed.
    #[serde(default)]
    pub committed_price: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetGuidance {
    pub min: Option<f64>,
    pub recommended: Option<f64>,
    pub max: Option<f64>,
}

/// `get_products` with proposals: the products of [`discovery::find_products`], plus, for an
/// authenticated buyer, new draft proposals in brief mode, or the proposals its refine entries
/// name in refine mode (updated by their asks, or finalized). Wholesale mode has none.
///
/// # Errors
/// As [`discovery::find_products`]; `ProposalNotUsable` when a refine entry names a proposal
/// whose time is over; storage.
pub async fn get_products<S: Store>(
    store: &S,
    catalog: &Catalog,
    ranker: &dyn Ranker,
    tenant: &Tenant,
    principal: Option<&Principal>,
    query: &ProductQuery,
    now: DateTime<Utc>,
) -> Result<(ProductAnswer, Vec<Proposal>), Error> {
    let mut answer = discovery::find_products(catalog, ranker, query).await?;
    let Some(principal) = principal else { return Ok((answer, vec![])) };
    let owner = Owner { tenant_id: &tenant.tenant_id, principal_id: &principal.principal_id };
    match &query.mode {
        BuyingMode::Wholesale => Ok((answer, vec![])),
        BuyingMode::Brief(brief) => {
            let mut proposals = plan(brief, &answer.products.items, catalog, &query.filters, &owner, now);
            // One read for the plans' own ids; only an id a live commitment holds costs more.
            let wanted: Vec<String> = proposals.iter().map(|p| p.proposal_id.clone()).collect();
            let mut held = store.proposals(owner.tenant_id, owner.principal_id, &wanted).await?;
            for proposal in &mut proposals {
                let mine = held.iter().position(|p| p.proposal_id == proposal.proposal_id).map(|i| held.swap_remove(i));
                let (id, stored) = match reusable(mine, now) {
                    Some(stored) => (proposal.proposal_id.clone(), stored),
                    None => free_id(store, &owner, &proposal.proposal_id, now).await?,
                };
                proposal.proposal_id = id;
                // The same brief again gets the same drafts back, unwritten while they stand for
                // more than half their time.
                match stored {
                    Some(stored) if stored.same_plan(proposal) && stored.expires_at - now > DRAFT_TTL / 2 => {
                        *proposal = stored;
                    }
                    _ => store.save_proposal(proposal).await?,
                }
            }
            Ok((answer, proposals))
        }
        BuyingMode::Refine(refinements) => {
            let mut proposals: Vec<Proposal> = Vec::new();
            let outcomes = answer.refinements.get_or_insert_with(Vec::new);
            for (index, refinement) in refinements.iter().enumerate() {
                let Refinement::Proposal { proposal_id, action, ask } = refinement else { continue };
                let (outcome, kept) = refine_one(
                    store,
                    catalog,
                    &answer.products.items,
                    &owner,
                    proposal_id,
                    *action,
                    ask.as_deref(),
                    now,
                )
                .await?;
                if let Some(slot) = outcomes.get_mut(index) {
                    *slot = outcome;
                }
                if let Some(kept) = kept {
                    proposals.retain(|p| p.proposal_id != kept.proposal_id);
                    proposals.push(kept);
                }
            }
            // Every allocation must point at a product of the answer.
            for proposal in &proposals {
                for allocation in &proposal.allocations {
                    if !answer.products.items.iter().any(|m| m.product.product_id == allocation.product_id)
                        && let Some(product) = catalog.product(&allocation.product_id)
                    {
                        answer.products.items.push(ProductMatch { product: product.clone(), relevance: None });
                    }
                }
            }
            Ok((answer, proposals))
        }
    }
}

struct Owner<'a> {
    tenant_id: &'a str,
    principal_id: &'a str,
}

/// Whether a plan may take the id of `stored` (the buyer's proposal under it, if any): yes when
/// there is none, when it is a draft (the same plan, newer: it is replaced; returned to compare)
/// or when it lapsed unbought; no when a live commitment or a buy holds it.
fn reusable(stored: Option<Proposal>, now: DateTime<Utc>) -> Option<Option<Proposal>> {
    match stored {
        None => Some(None),
        Some(old) if old.media_buy_id.is_none() && old.status == ProposalStatus::Draft => Some(Some(old)),
        Some(old) if old.media_buy_id.is_none() && old.expires_at <= now => Some(None),
        Some(_) => None,
    }
}

/// `wanted_2`, `wanted_3`... : the first id after `wanted` (which is held) that a new plan may
/// take (see [`reusable`]), with the draft stored under it if any.
async fn free_id<S: Store>(
    store: &S,
    owner: &Owner<'_>,
    wanted: &str,
    now: DateTime<Utc>,
) -> Result<(String, Option<Proposal>), Error> {
    for n in 2..100 {
        let id = format!("{wanted}_{n}");
        if let Some(stored) = reusable(store.proposal(owner.tenant_id, owner.principal_id, &id).await?, now) {
            return Ok((id, stored));
        }
    }
    Ok((format!("{wanted}_{}", uuid::Uuid::new_v4().simple()), None))
}

impl Proposal {
    /// Whether `other` offers the same plan (the same products, options, shares and guidance).
    fn same_plan(&self, other: &Proposal) -> bool {
        let shares = |p: &Proposal| {
            p.allocations
                .iter()
                .map(|a| (a.product_id.clone(), a.pricing_option_id.clone(), a.percentage))
                .collect::<Vec<_>>()
        };
        self.status == other.status
            && self.name == other.name
            && self.currency == other.currency
            && self.budget == other.budget
            && self.brief_alignment == other.brief_alignment
            && shares(self) == shares(other)
    }
}

#[allow(clippy::too_many_arguments)]
async fn refine_one<S: Store>(
    store: &S,
    catalog: &Catalog,
    ranked: &[ProductMatch],
    owner: &Owner<'_>,
    proposal_id: &str,
    action: ProposalAction,
    ask: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(RefinementOutcome, Option<Proposal>), Error> {
    let outcome = |status, notes: String| RefinementOutcome {
        scope: RefinementScope::Proposal(proposal_id.to_owned()),
        status,
        notes,
    };
    let Some(mut proposal) = store.proposal(owner.tenant_id, owner.principal_id, proposal_id).await? else {
        return Ok((
            outcome(
                RefinementStatus::Unable,
                format!("You have no proposal {proposal_id}; send a brief to get proposals."),
            ),
            None,
        ));
    };
    if let Some(media_buy_id) = &proposal.media_buy_id {
        let notes = format!("Proposal {proposal_id} was bought as media buy {media_buy_id}; it no longer changes.");
        return Ok((outcome(RefinementStatus::Unable, notes), Some(proposal)));
    }
    if proposal.expires_at <= now && action != ProposalAction::Omit {
        return Err(Error::ProposalNotUsable {
            proposal_id: proposal_id.to_owned(),
            problem: ProposalProblem::Expired(proposal.expires_at),
        });
    }
    match action {
        ProposalAction::Omit => Ok((outcome(RefinementStatus::Applied, "Proposal left out.".to_owned()), None)),
        ProposalAction::Finalize => {
            if proposal.status == ProposalStatus::Committed {
                let notes = format!("Already committed; prices held until {}.", stamp(proposal.expires_at));
                return Ok((outcome(RefinementStatus::Applied, notes), Some(proposal)));
            }
            commit(&mut proposal, catalog, now)?;
            store.save_proposal(&proposal).await?;
            let notes = format!(
                "Committed: prices are firm and held until {}; buy it with create_media_buy.",
                stamp(proposal.expires_at)
            );
            Ok((outcome(RefinementStatus::Applied, notes), Some(proposal)))
        }
        ProposalAction::Include => {
            let Some(ask) = ask.filter(|a| !a.trim().is_empty()) else {
                return Ok((outcome(RefinementStatus::Applied, "Proposal kept as it is.".to_owned()), Some(proposal)));
            };
            if proposal.status == ProposalStatus::Committed {
                let notes =
                    "Committed proposals keep their plan; ask for new proposals with a brief to change it.".to_owned();
                return Ok((outcome(RefinementStatus::Unable, notes), Some(proposal)));
            }
            let (status, notes) = apply_ask(&mut proposal, ask, catalog, ranked);
            if status != RefinementStatus::Unable {
                proposal.updated_at = now;
                proposal.expires_at = now + DRAFT_TTL;
                store.save_proposal(&proposal).await?;
            }
            Ok((outcome(status, notes), Some(proposal)))
        }
    }
}

/// Why a proposal cannot be refined or bought.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProposalProblem {
    #[error("you have no such proposal")]
    /// No such proposal of the buyer.
    Unknown,
    /// Its prices lapsed at this time.
    #[error("it expired at {0}")]
    Expired(DateTime<Utc>),
    /// The publisher changed a price since the proposal was committed.
    #[error("the price of {product_id} changed since it was committed")]
    Repriced { product_id: String },
    /// A draft: finalize it first.
    #[error("it is a draft with indicative prices")]
    NotCommitted,
    /// Already bought as this media buy.
    #[error("it was bought already, as media buy {0}")]
    Bought(String),
}

/// The packages `create_media_buy` makes of a committed proposal for `total_budget`: one per
/// allocation, its share of the budget rounded to cents (the last takes the remainder), at the
/// committed price.
///
/// # Errors
/// `ProposalNotUsable` for an unknown, draft, expired, repriced or bought proposal;
/// `InvalidRequest` for a budget in another currency; storage.
pub async fn packages_for<S: Store>(
    store: &S,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    proposal_id: &str,
    total_budget: (f64, &str),
    now: DateTime<Utc>,
) -> Result<Vec<PackageRequest>, Error> {
    let refuse = |problem| Error::ProposalNotUsable { proposal_id: proposal_id.to_owned(), problem };
    let proposal = store
        .proposal(&tenant.tenant_id, &principal.principal_id, proposal_id)
        .await?
        .ok_or_else(|| refuse(ProposalProblem::Unknown))?;
    if let Some(media_buy_id) = &proposal.media_buy_id {
        return Err(refuse(ProposalProblem::Bought(media_buy_id.clone())));
    }
    if proposal.status != ProposalStatus::Committed {
        return Err(refuse(ProposalProblem::NotCommitted));
    }
    if proposal.expires_at <= now {
        return Err(refuse(ProposalProblem::Expired(proposal.expires_at)));
    }
    let (amount, currency) = total_budget;
    if !currency.eq_ignore_ascii_case(&proposal.currency) {
        return Err(Error::invalid_with(
            "total_budget.currency",
            format!("proposal {proposal_id} is priced in {}, not {currency}", proposal.currency),
            format!("send total_budget in {}", proposal.currency),
        ));
    }
    if !(amount.is_finite() && amount > 0.0) {
        return Err(Error::invalid_with(
            "total_budget.amount",
            "total_budget.amount must be a positive number",
            "send the amount to spend on the whole proposal",
        ));
    }
    let cents = (amount * 100.0).round() as i64;
    let mut left = cents;
    let mut packages = Vec::with_capacity(proposal.allocations.len());
    for (index, allocation) in proposal.allocations.iter().enumerate() {
        let (_, option) = priced(catalog, &allocation.product_id, &allocation.pricing_option_id)
            .ok_or_else(|| refuse(ProposalProblem::Repriced { product_id: allocation.product_id.clone() }))?;
        if allocation.committed_price.is_some() && allocation.committed_price != option.reference_price() {
            return Err(refuse(ProposalProblem::Repriced { product_id: allocation.product_id.clone() }));
        }
        let share = if index + 1 == proposal.allocations.len() {
            left
        } else {
            (cents * i64::from(allocation.percentage)) / 100
        };
        left -= share;
        packages.push(PackageRequest {
            bid_price: if option.is_fixed() { None } else { allocation.committed_price.or(option.floor_price) },
            ..PackageRequest::new(&allocation.product_id, &allocation.pricing_option_id, share as f64 / 100.0)
        });
    }
    Ok(packages)
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn priced<'a>(
    catalog: &'a Catalog,
    product_id: &str,
    pricing_option_id: &str,
) -> Option<(&'a Product, &'a PricingOption)> {
    let product = catalog.product(product_id)?;
    let option = product.pricing_options.iter().find(|o| o.pricing_option_id == pricing_option_id)?;
    Some((product, option))
}

/// Commits a draft: the prices of its pricing options are fixed and held for [`COMMIT_HOLD`].
fn commit(proposal: &mut Proposal, catalog: &Catalog, now: DateTime<Utc>) -> Result<(), Error> {
    for allocation in &mut proposal.allocations {
        let (_, option) = priced(catalog, &allocation.product_id, &allocation.pricing_option_id).ok_or_else(|| {
            Error::ProposalNotUsable {
                proposal_id: proposal.proposal_id.clone(),
                problem: ProposalProblem::Repriced { product_id: allocation.product_id.clone() },
            }
        })?;
        allocation.committed_price = option.reference_price();
    }
    proposal.status = ProposalStatus::Committed;
    proposal.expires_at = now + COMMIT_HOLD;
    proposal.updated_at = now;
    Ok(())
}

/// Draft proposals for a brief, from its ranked products (the best first): a balanced plan over
/// up to three products on different channels, and a plan focused on the best product's
/// channel when that differs. Ids name the plan and the quarter the brief or the filters give
/// (`balanced_reach_q2`).
fn plan(
    brief: &str,
    ranked: &[ProductMatch],
    catalog: &Catalog,
    filters: &discovery::ProductFilters,
    owner: &Owner<'_>,
    now: DateTime<Utc>,
) -> Vec<Proposal> {
    let fitting: Vec<&ProductMatch> =
        ranked.iter().filter(|m| m.relevance.as_ref().is_none_or(|r| r.score > 0.0)).collect();
    let Some(first) = fitting.iter().find_map(|m| m.product.pricing_options.first()) else { return vec![] };
    let currency = first.currency.clone();
    let priced: Vec<(&ProductMatch, &PricingOption)> = fitting
        .iter()
        .filter_map(|m| m.product.pricing_options.iter().find(|o| o.currency == currency).map(|o| (*m, o)))
        .collect();
    if priced.is_empty() {
        return vec![];
    }
    let quarter = quarter(brief)
        .or_else(|| filters.start_date.map(|d| d.month0() / 3 + 1))
        .map(|q| format!("_q{q}"))
        .unwrap_or_default();
    let period = if quarter.is_empty() { String::new() } else { format!(" ({})", quarter[1..].to_uppercase()) };
    let recommended = budget_in(brief).or_else(|| filters.budget_range.as_ref().and_then(|b| b.max));

    let mut balanced: Vec<(&ProductMatch, &PricingOption)> = Vec::new();
    let mut channels: HashSet<Channel> = HashSet::new();
    for &(m, o) in &priced {
        if balanced.len() < MAX_ALLOCATIONS && m.product.channels.first().is_none_or(|c| channels.insert(*c)) {
            balanced.push((m, o));
        }
    }
    for &(m, o) in &priced {
        if balanced.len() < MAX_ALLOCATIONS
            && !balanced.iter().any(|(b, _)| b.product.product_id == m.product.product_id)
        {
            balanced.push((m, o));
        }
    }
    let draft = |id: String, name: String, description: String, picks: &[(&ProductMatch, &PricingOption)]| {
        let weights: Vec<f64> =
            picks.iter().map(|(m, _)| m.relevance.as_ref().map_or(1.0, |r| r.score.max(0.5))).collect();
        let percentages = whole_percentages(&weights);
        let allocations: Vec<Allocation> = picks
            .iter()
            .zip(percentages)
            .map(|((m, o), percentage)| Allocation {
                product_id: m.product.product_id.clone(),
                pricing_option_id: o.pricing_option_id.clone(),
                percentage,
                rationale: m.relevance.as_ref().map_or_else(|| m.product.description.clone(), |r| r.text.clone()),
                committed_price: None,
            })
            .collect();
        let reasons: Vec<String> = picks
            .iter()
            .filter_map(|(m, _)| m.relevance.as_ref())
            .flat_map(|r| r.reasons.iter().cloned())
            .fold(Vec::new(), |mut acc, reason| {
                if !acc.contains(&reason) {
                    acc.push(reason);
                }
                acc
            });
        let mut proposal = Proposal {
            proposal_id: id,
            tenant_id: owner.tenant_id.to_owned(),
            principal_id: owner.principal_id.to_owned(),
            name,
            description,
            brief_alignment: if reasons.is_empty() {
                "The products that fit the brief best.".to_owned()
            } else {
                format!("Matches the brief on: {}.", reasons.join("; "))
            },
            status: ProposalStatus::Draft,
            allocations,
            currency: currency.clone(),
            budget: BudgetGuidance::default(),
            expires_at: now + DRAFT_TTL,
            media_buy_id: None,
            created_at: now,
            updated_at: now,
        };
        proposal.budget = guidance(&proposal, catalog, recommended, filters);
        proposal
    };
    let mut proposals = vec![draft(
        format!("balanced_reach{quarter}"),
        format!("Balanced Reach Plan{period}"),
        format!("The brief's best products across {} channel(s), weighted by fit.", channels.len().max(1)),
        &balanced,
    )];
    if let Some(channel) = priced[0].0.product.channels.first().copied() {
        let focused: Vec<(&ProductMatch, &PricingOption)> = priced
            .iter()
            .filter(|(m, _)| m.product.channels.contains(&channel))
            .take(MAX_ALLOCATIONS)
            .copied()
            .collect();
        let same = focused.len() == balanced.len()
            && focused.iter().all(|(m, _)| balanced.iter().any(|(b, _)| b.product.product_id == m.product.product_id));
        if !same {
            proposals.push(draft(
                format!("focused_{}{quarter}", channel.as_str()),
                format!("Focused {} Plan{period}", channel_label(channel)),
                format!("The whole budget on {}, where the brief fits best.", channel_label(channel)),
                &focused,
            ));
        }
    }
    proposals
}

/// Budget guidance: the recommended amount (from the brief or the filters), and the least that
/// gives every allocation its product's minimum spend.
fn guidance(
    proposal: &Proposal,
    catalog: &Catalog,
    recommended: Option<f64>,
    filters: &discovery::ProductFilters,
) -> BudgetGuidance {
    let min = proposal
        .allocations
        .iter()
        .filter_map(|a| {
            let (_, option) = priced(catalog, &a.product_id, &a.pricing_option_id)?;
            let spend = option.min_spend_per_package?;
            (a.percentage > 0).then(|| spend * 100.0 / f64::from(a.percentage))
        })
        .fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.max(v))))
        .map(|v| v.ceil());
    BudgetGuidance {
        min: min.or_else(|| filters.budget_range.as_ref().and_then(|b| b.min)),
        recommended,
        max: filters.budget_range.as_ref().and_then(|b| b.max),
    }
}

/// Whole percentages proportional to `weights` that add up to 100 (largest remainders win).
fn whole_percentages(weights: &[f64]) -> Vec<u32> {
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || total <= 0.0 {
        return vec![];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w * 100.0 / total).collect();
    let mut whole: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let short = 100 - whole.iter().sum::<u32>();
    for &i in order.iter().cycle().take(short as usize) {
        whole[i] += 1;
    }
    whole
}

/// The quarter a brief names (`Q2`, `q3 flight`).
fn quarter(brief: &str) -> Option<u32> {
    let bytes = brief.as_bytes();
    (0..bytes.len().saturating_sub(1)).find_map(|i| {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let ends_word = bytes.get(i + 2).is_none_or(|b| !b.is_ascii_alphanumeric());
        (starts_word && ends_word && bytes[i].eq_ignore_ascii_case(&b'q') && (b'1'..=b'4').contains(&bytes[i + 1]))
            .then(|| u32::from(bytes[i + 1] - b'0'))
    })
}

/// The budget a brief states in dollars: `$50K`, `$1.5M`, `$25,000`.
fn budget_in(brief: &str) -> Option<f64> {
    let (_, rest) = brief.split_once('$')?;
    let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.').collect();
    let value: f64 = number.replace(',', "").trim_end_matches('.').parse().ok()?;
    let scale = match rest[number.len()..].chars().next() {
        Some('k' | 'K') => 1_000.0,
        Some('m' | 'M') => 1_000_000.0,
        _ => 1.0,
    };
    Some(value * scale)
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Olv => "Online Video",
        Channel::Ctv => "CTV",
        Channel::Display => "Display",
        Channel::StreamingAudio => "Streaming Audio",
        Channel::Podcast => "Podcast",
        Channel::Dooh => "Digital Out-of-Home",
        _ => channel.as_str(),
    }
}

/// The channels a word of an ask names.
fn channels_named(text: &str) -> Vec<Channel> {
    const WORDS: [(&str, &[Channel]); 12] = [
        ("connected tv", &[Channel::Ctv]),
        ("ctv", &[Channel::Ctv]),
        ("online video", &[Channel::Olv]),
        ("video", &[Channel::Olv]),
        ("olv", &[Channel::Olv]),
        ("display", &[Channel::Display]),
        ("banner", &[Channel::Display]),
        ("audio", &[Channel::StreamingAudio, Channel::Podcast, Channel::Radio]),
        ("podcast", &[Channel::Podcast]),
        ("dooh", &[Channel::Dooh]),
        ("out-of-home", &[Channel::Dooh, Channel::Ooh]),
        ("social", &[Channel::Social]),
    ];
    let text = text.to_lowercase();
    let mut found: Vec<(usize, &[Channel])> = Vec::new();
    for (word, channels) in WORDS {
        if let Some(at) = text.find(word)
            && !found.iter().any(|(f, _)| *f <= at && at < f + 12)
        {
            found.push((at, channels));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.first().map(|(_, c)| c.to_vec()).unwrap_or_default()
}

/// Applies a free-text ask to a draft: sentences that drop a channel ("drop the display
/// product", optionally "redistribute that budget to video") go first, then sentences that
/// shift a share to a channel ("shift 60% of budget to CTV"), adding the best product of that
/// channel when the plan has none. Other sentences are reported as not understood.
fn apply_ask(
    proposal: &mut Proposal,
    ask: &str,
    catalog: &Catalog,
    ranked: &[ProductMatch],
) -> (RefinementStatus, String) {
    let sentences: Vec<String> =
        ask.split(['.', ';', '\n']).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    let mut done: Vec<String> = Vec::new();
    let mut not_done: Vec<String> = Vec::new();
    let mut work = proposal.allocations.clone();
    let is_drop = |s: &str| {
        ["drop ", "remove ", "exclude ", "cut "].iter().any(|v| s.starts_with(v) || s.contains(&format!(" {v}")))
    };
    for sentence in sentences.iter().filter(|s| is_drop(s)) {
        let (what, to) = match sentence.split_once(" to ") {
            Some((what, to)) => (what, Some(to)),
            None => (sentence.as_str(), None),
        };
        let dropped = channels_named(what);
        let on = |a: &Allocation, channels: &[Channel]| {
            catalog.product(&a.product_id).is_some_and(|p| p.channels.iter().any(|c| channels.contains(c)))
        };
        let freed: u32 = work.iter().filter(|a| on(a, &dropped)).map(|a| a.percentage).sum();
        if dropped.is_empty() || freed == 0 {
            not_done.push(format!("\"{sentence}\": the plan has nothing on that channel"));
            continue;
        }
        if work.iter().all(|a| on(a, &dropped)) {
            not_done.push(format!("\"{sentence}\": that would leave the plan empty"));
            continue;
        }
        work.retain(|a| !on(a, &dropped));
        let target = to.map(channels_named).unwrap_or_default();
        let receivers: Vec<usize> = (0..work.len()).filter(|&i| target.is_empty() || on(&work[i], &target)).collect();
        let receivers = if receivers.is_empty() { (0..work.len()).collect() } else { receivers };
        let weights: Vec<f64> = receivers.iter().map(|&i| f64::from(work[i].percentage.max(1))).collect();
        let total: f64 = weights.iter().sum();
        let mut given = 0;
        for (k, &i) in receivers.iter().enumerate() {
            let add =
                if k + 1 == receivers.len() { freed - given } else { (f64::from(freed) * weights[k] / total) as u32 };
            work[i].percentage += add;
            given += add;
        }
        done.push(format!("dropped {} and moved its {freed}%", dropped[0].as_str()));
    }
    for sentence in sentences.iter().filter(|s| !is_drop(s)) {
        let share = sentence
            .split_once('%')
            .and_then(|(before, _)| before.rsplit(|c: char| !c.is_ascii_digit()).next()?.parse::<u32>().ok())
            .filter(|s| *s > 0 && *s < 100);
        let target = sentence.split_once(" to ").map(|(_, to)| channels_named(to)).unwrap_or_default();
        let (Some(share), false) = (share, target.is_empty()) else {
            not_done.push(format!("\"{sentence}\": not understood"));
            continue;
        };
        let on = |a: &Allocation| {
            catalog.product(&a.product_id).is_some_and(|p| p.channels.iter().any(|c| target.contains(c)))
        };
        if !work.iter().any(on) {
            let best = ranked
                .iter()
                .map(|m| &m.product)
                .chain(catalog.products.iter())
                .find(|p| p.channels.iter().any(|c| target.contains(c)))
                .and_then(|p| p.pricing_options.iter().find(|o| o.currency == proposal.currency).map(|o| (p, o)));
            let Some((product, option)) = best else {
                not_done.push(format!("\"{sentence}\": this catalog has no {} product", target[0].as_str()));
                continue;
            };
            work.push(Allocation {
                product_id: product.product_id.clone(),
                pricing_option_id: option.pricing_option_id.clone(),
                percentage: 0,
                rationale: format!("Added for the buyer's ask: {}", product.description),
                committed_price: None,
            });
        }
        if work.iter().all(on) {
            not_done.push(format!("\"{sentence}\": every product of the plan is on that channel already"));
            continue;
        }
        let inside: Vec<f64> = work.iter().map(|a| if on(a) { f64::from(a.percentage.max(1)) } else { 0.0 }).collect();
        let outside: Vec<f64> = work.iter().map(|a| if on(a) { 0.0 } else { f64::from(a.percentage.max(1)) }).collect();
        let (sum_in, sum_out): (f64, f64) = (inside.iter().sum(), outside.iter().sum());
        let weights: Vec<f64> = inside
            .iter()
            .zip(&outside)
            .map(|(i, o)| i / sum_in * f64::from(share) + o / sum_out * f64::from(100 - share))
            .collect();
        for (allocation, percentage) in work.iter_mut().zip(whole_percentages(&weights)) {
            allocation.percentage = percentage;
        }
        done.push(format!("{share}% now on {}", target[0].as_str()));
    }
    work.retain(|a| a.percentage > 0);
    let status = match (done.is_empty(), not_done.is_empty()) {
        (true, _) => RefinementStatus::Unable,
        (false, true) => RefinementStatus::Applied,
        (false, false) => RefinementStatus::Partial,
    };
    if status != RefinementStatus::Unable {
        proposal.allocations = work;
        let base = proposal.brief_alignment.split(" Refined: ").next().unwrap_or_default().to_owned();
        proposal.brief_alignment = format!("{base} Refined: {}.", done.join("; "));
    }
    let mut notes = if done.is_empty() { "Plan unchanged".to_owned() } else { format!("Applied: {}", done.join("; ")) };
    if !not_done.is_empty() {
        notes.push_str(&format!(". Not applied: {}", not_done.join("; ")));
    }
    notes.push('.');
    (status, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_add_up_to_100() {
        assert_eq!(whole_percentages(&[1.0, 1.0, 1.0]), vec![34, 33, 33]);
        assert_eq!(whole_percentages(&[3.0, 1.0]), vec![75, 25]);
        assert_eq!(whole_percentages(&[2.0]), vec![100]);
        assert!(whole_percentages(&[]).is_empty());
    }

    #[test]
    fn briefs_name_quarters_and_budgets() {
        assert_eq!(quarter("Q2 flight, $50K budget"), Some(2));
        assert_eq!(quarter("run in q4"), Some(4));
        assert_eq!(quarter("Q5 or Q22 or FAQ2"), None);
        assert_eq!(budget_in("Q2 flight, $50K budget"), Some(50_000.0));
        assert_eq!(budget_in("about $1.5M"), Some(1_500_000.0));
        assert_eq!(budget_in("$25,000."), Some(25_000.0));
        assert_eq!(budget_in("no money"), None);
    }

    #[test]
    fn asks_name_channels() {
        assert_eq!(channels_named("Shift 60% of budget to CTV"), vec![Channel::Ctv]);
        assert_eq!(channels_named("the display product"), vec![Channel::Display]);
        assert_eq!(channels_named("connected tv"), vec![Channel::Ctv]);
        assert!(channels_named("more reach").is_empty());
    }
}
