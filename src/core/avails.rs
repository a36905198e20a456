//! Seed 001's `get_avails` and the seed form of `create_media_buy`.
//!
//! `get_avails` asks the ad server for an availability forecast per product (the `AdServer`
//! port), prices it with the product's CPM option, splits the budget, and keeps each answer as a
//! [`Quote`] whose id the seed calls a `package_id`. A seed-form `create_media_buy` names those
//! quotes; [`quoted_packages`] turns them into ordinary AdCP 3.0 package requests (product,
//! pricing option, budget scaled to `total_budget`, flight), and the package the buy makes from a
//! quote keeps the quote's id, so the seed client's package ids hold from avails to delivery.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::accounts::AccountRef;
use super::catalog::{Catalog, PricingModel, PricingOption, Product};
use super::delivery::{AdServer, ForecastRequest, ForecastTargeting};
use super::error::Error;
use super::media_buy::Verbatim;
use super::ports::{AccountFilter, PageRequest, Store};
use super::tenancy::{AccountKey, AccountStatus, Principal, Tenant};

/// How long a quote can be bought.
pub const QUOTE_LIFETIME_HOURS: i64 = 72;
/// Products per `get_avails` call.
pub const MAX_PRODUCTS: usize = 20;

/// One product's availability and price for a flight and targeting, as `get_avails` answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The seed's `package_id`; the package a buy makes from this quote gets this id.
    pub quote_id: String,
    pub tenant_id: String,
    pub principal_id: String,
    pub product_id: String,
    pub pricing_option_id: String,
    pub name: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub impressions: u64,
    pub cpm: f64,
    pub total_cost: f64,
    /// Share of the targeted inventory still unsold when quoted.
    pub availability: f64,
    /// The seed targeting overlay as sent.
    pub targeting: Option<Verbatim>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What `get_avails` asks.
#[derive(Debug, Clone, PartialEq)]
pub struct AvailsRequest {
    pub product_ids: Vec<String>,
    pub start_date: NaiveDate,
    /// Last day of the flight (inclusive).
    pub end_date: NaiveDate,
    pub budget: Option<f64>,
    pub targeting: ForecastTargeting,
    /// The seed targeting overlay as sent (kept with the quotes).
    pub overlay: Option<Verbatim>,
    /// The same targeting as the AdCP overlay the bought packages will carry.
    pub line_overlay: Option<Verbatim>,
}

/// A product `get_avails` could not quote, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    pub product_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Avails {
    pub quotes: Vec<Quote>,
    pub unavailable: Vec<Unavailable>,
    pub total_cost: f64,
    pub total_impressions: u64,
    /// Total cost over the requested budget.
    pub budget_utilization: Option<f64>,
}

/// The CPM option a quote prices with: a fixed price first, else the auction's reference price.
fn cpm_option(product: &Product) -> Option<(&PricingOption, f64)> {
    let cpm = |o: &&PricingOption| o.pricing_model == PricingModel::Cpm;
    let fixed = product.pricing_options.iter().filter(cpm).find(|o| o.is_fixed());
    fixed
        .or_else(|| product.pricing_options.iter().find(cpm))
        .and_then(|o| o.reference_price().filter(|p| *p > 0.0).map(|p| (o, p)))
}

fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// A package name for a quote: the product and where it is targeted.
fn quote_name(product: &Product, targeting: &ForecastTargeting) -> String {
    let places = if !targeting.regions.is_empty() { &targeting.regions } else { &targeting.countries };
    if places.is_empty() { product.name.clone() } else { format!("{} - {}", product.name, places.join("/")) }
}

/// `get_avails`: forecasts and prices each product for the flight and targeting, splits the
/// budget evenly across the products that have inventory, and stores the quotes.
///
/// # Errors
/// `InvalidRequest` (no products, too many, dates, budget), `ProductNotFound`, `Unsupported`
/// (a product sold other than by CPM), `ProductUnavailable` when no product has inventory,
/// `AdServerUnavailable`, storage.
#[allow(clippy::too_many_arguments)]
pub async fn get_avails<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    catalog: &Catalog,
    tenant: &Tenant,
    principal: &Principal,
    request: &AvailsRequest,
    now: DateTime<Utc>,
) -> Result<Avails, Error> {
    if request.product_ids.is_empty() {
        return Err(Error::invalid_with(
            "product_ids",
            "name at least one product",
            "use product ids from list_products",
        ));
    }
    if request.product_ids.len() > MAX_PRODUCTS {
        return Err(Error::invalid_with(
            "product_ids",
            format!("at most {MAX_PRODUCTS} products per call, got {}", request.product_ids.len()),
            "split the products over several calls",
        ));
    }
    let today = now.date_naive();
    if request.start_date < today {
        return Err(Error::invalid_with(
            "start_date",
            format!("start_date {} is in the past", request.start_date),
            format!("use {today} or later"),
        ));
    }
    if request.end_date < request.start_date {
        return Err(Error::invalid_with(
            "end_date",
            "end_date is before start_date",
            "give the last day of the flight, on or after start_date",
        ));
    }
    if let Some(budget) = request.budget
        && !(budget.is_finite() && budget > 0.0)
    {
        return Err(Error::invalid_with(
            "budget",
            "budget must be a positive amount",
            "give the budget as a number, e.g. 50000",
        ));
    }
    let midnight = |day: NaiveDate| Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default());
    let start = midnight(request.start_date).max(now);
    let end = midnight(request.end_date.succ_opt().unwrap_or(request.end_date));
    let mut priced = Vec::new();
    let mut unavailable = Vec::new();
    for (index, product_id) in request.product_ids.iter().enumerate() {
        let field = format!("product_ids[{index}]");
        let product = catalog
            .product(product_id)
            .ok_or_else(|| Error::ProductNotFound { product_id: product_id.clone(), field: field.clone() })?;
        let (option, cpm) = cpm_option(product).ok_or_else(|| Error::Unsupported {
            message: format!("product {product_id} is not sold by CPM; get_avails quotes CPM products"),
            field: field.clone(),
            suggestion: "buy it with create_media_buy in the AdCP 3.0 form".to_owned(),
        })?;
        let countries = &product.audience.countries;
        if !request.targeting.countries.is_empty()
            && !countries.is_empty()
            && !request.targeting.countries.iter().any(|c| countries.contains(c))
        {
            unavailable.push(Unavailable {
                product_id: product_id.clone(),
                reason: format!("delivers only in {}", countries.join(", ")),
            });
            continue;
        }
        let forecast = ad_server
            .forecast(&ForecastRequest {
                product_id: product_id.clone(),
                channel: product.channels.first().copied(),
                daily_impressions: product.daily_impressions,
                start,
                end,
                targeting: request.targeting.clone(),
                overlay: request.line_overlay.as_ref().map(|o| o.0.clone()),
                formats: product.format_ids.clone(),
            })
            .await
            .map_err(|e| Error::AdServerUnavailable(e.to_string()))?;
        if forecast.available == 0 {
            unavailable.push(Unavailable {
                product_id: product_id.clone(),
                reason: "no inventory left for this flight and targeting".to_owned(),
            });
            continue;
        }
        priced.push((product, option, cpm, forecast));
    }
    let share = request.budget.map(|b| b / priced.len() as f64);
    let mut quotes = Vec::with_capacity(priced.len());
    for (product, option, cpm, forecast) in priced {
        let impressions = match share {
            Some(share) => ((share / cpm * 1000.0).floor() as u64).min(forecast.available),
            None => forecast.available,
        };
        let total_cost = cents(impressions as f64 * cpm / 1000.0);
        if let Some(minimum) = option.min_spend_per_package
            && total_cost < minimum
        {
            unavailable.push(Unavailable {
                product_id: product.product_id.clone(),
                reason: format!(
                    "{impressions} impressions ({total_cost:.2} {}) are available, below the minimum spend of {minimum:.2}",
                    option.currency
                ),
            });
            continue;
        }
        quotes.push(Quote {
            quote_id: format!("pkg_{}", uuid::Uuid::new_v4().simple()),
            tenant_id: tenant.tenant_id.clone(),
            principal_id: principal.principal_id.clone(),
            product_id: product.product_id.clone(),
            pricing_option_id: option.pricing_option_id.clone(),
            name: quote_name(product, &request.targeting),
            start_time: start,
            end_time: end,
            impressions,
            cpm,
            total_cost,
            availability: (forecast.availability() * 100.0).round() / 100.0,
            targeting: request.overlay.clone(),
            created_at: now,
            expires_at: now + Duration::hours(QUOTE_LIFETIME_HOURS),
        });
    }
    if quotes.is_empty() {
        return Err(no_availability(&unavailable));
    }
    store.insert_quotes(&quotes).await?;
    let total_cost = cents(quotes.iter().fold(0.0, |sum, q| sum + q.total_cost));
    let total_impressions = quotes.iter().map(|q| q.impressions).sum();
    let budget_utilization = request.budget.map(|b| (total_cost / b * 1000.0).round() / 1000.0);
    Ok(Avails { quotes, unavailable, total_cost, total_impressions, budget_utilization })
}

fn no_availability(unavailable: &[Unavailable]) -> Error {
    Error::ProductUnavailable {
        message: format!(
            "no availability for the requested criteria: {}",
            unavailable.iter().map(|u| format!("{}: {}", u.product_id, u.reason)).collect::<Vec<_>>().join("; ")
        ),
    }
}

/// How far a seed-form `total_budget` may exceed what its quotes cost: the quotes' impressions
/// are what the forecast found available, so a much larger budget would oversell.
pub const MAX_BUDGET_OVER_QUOTE: f64 = 0.10;

/// One package of a seed-form buy, from a quote.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotedPackage {
    pub quote: Quote,
    /// The quote's cost scaled to the buy's `total_budget`.
    pub budget: f64,
    /// `None`: the quoted start has passed, start as soon as possible.
    pub start_time: Option<DateTime<Utc>>,
}

/// The packages a seed-form `create_media_buy` names: the caller's unexpired quotes, with their
/// costs scaled so that they add up to `total_budget` (when given).
///
/// # Errors
/// `PackageNotFound` for an unknown, foreign or expired quote, or one a buy already used;
/// `InvalidRequest` for no packages, a repeated one or a bad `total_budget`; storage.
pub async fn quoted_packages<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    quote_ids: &[String],
    total_budget: Option<f64>,
    now: DateTime<Utc>,
) -> Result<Vec<QuotedPackage>, Error> {
    if quote_ids.is_empty() {
        return Err(Error::invalid_with("packages", "name at least one package", "use package ids from get_avails"));
    }
    if let Some(budget) = total_budget
        && !(budget.is_finite() && budget > 0.0)
    {
        return Err(Error::invalid_with(
            "total_budget",
            "total_budget must be a positive amount",
            "give the budget as a number, or omit it to buy the quotes as priced",
        ));
    }
    let mut quotes = Vec::with_capacity(quote_ids.len());
    for (index, id) in quote_ids.iter().enumerate() {
        let field = format!("packages[{index}]");
        if quote_ids[..index].contains(id) {
            return Err(Error::invalid_with(
                field,
                format!("package {id} is named twice"),
                "name each get_avails package once",
            ));
        }
        let quote = usable_quote(store, tenant, principal, id, &field).await?;
        if quote.expires_at <= now {
            return Err(Error::QuoteNotUsable {
                quote_id: id.clone(),
                field,
                reason: format!("its quote expired at {}", quote.expires_at.format("%Y-%m-%d %H:%M UTC")),
            });
        }
        quotes.push(quote);
    }
    let quoted = cents(quotes.iter().fold(0.0, |sum, q| sum + q.total_cost));
    if let Some(budget) = total_budget
        && budget > quoted * (1.0 + MAX_BUDGET_OVER_QUOTE)
    {
        return Err(Error::invalid_with(
            "total_budget",
            format!(
                "total_budget {budget:.2} is more than the quoted packages can deliver ({quoted:.2}, plus {:.0}%)",
                MAX_BUDGET_OVER_QUOTE * 100.0
            ),
            "ask get_avails for a larger budget or broader targeting, or lower total_budget",
        ));
    }
    let factor = match total_budget {
        Some(budget) if quoted > 0.0 => budget / quoted,
        _ => 1.0,
    };
    let mut packages: Vec<QuotedPackage> = quotes
        .into_iter()
        .map(|quote| QuotedPackage {
            budget: cents(quote.total_cost * factor),
            start_time: (quote.start_time > now).then_some(quote.start_time),
            quote,
        })
        .collect();
    // Rounding to cents must not change the total the buyer asked for.
    if let Some(budget) = total_budget {
        let others = packages.iter().rev().skip(1).fold(0.0, |sum, p| sum + p.budget);
        if let Some(last) = packages.last_mut() {
            last.budget = cents(budget - others);
        }
    }
    Ok(packages)
}

/// The caller's quote `quote_id` if no buy was made from it yet. (Expiry is checked when a
/// buy is asked for, not when a held one is approved later.)
///
/// # Errors
/// `QuoteNotUsable` naming `field` for an unknown, foreign or already bought quote; storage.
pub async fn usable_quote<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
    quote_id: &str,
    field: &str,
) -> Result<Quote, Error> {
    let refuse = |reason: &str| Error::QuoteNotUsable {
        quote_id: quote_id.to_owned(),
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let quote = store
        .quote(&tenant.tenant_id, quote_id)
        .await?
        .filter(|q| q.principal_id == principal.principal_id)
        .ok_or_else(|| refuse("it is not a get_avails package of yours"))?;
    if store.media_buy_id_for_package(&tenant.tenant_id, quote_id).await?.is_some() {
        return Err(refuse("a media buy was already made from it"));
    }
    Ok(quote)
}

/// The account a seed-form request acts for when it names none, and its brand domain: the
/// caller's only active account; with none in a sandbox tenant, the implicit
/// `<principal>.principal.invalid` one (provisioned on first use like any sandbox account).
///
/// # Errors
/// `InvalidRequest` naming `account` when the caller has several accounts or none outside a
/// sandbox; storage.
pub async fn default_account<S: Store>(
    store: &S,
    tenant: &Tenant,
    principal: &Principal,
) -> Result<(AccountRef, String), Error> {
    let filter = AccountFilter {
        tenant_id: tenant.tenant_id.clone(),
        owner_principal_id: Some(principal.principal_id.clone()),
        status: Some(AccountStatus::Active),
        sandbox: None,
    };
    let accounts = store.list_accounts(&filter, &PageRequest { after: None, limit: 2 }).await?;
    match accounts.as_slice() {
        [only] => Ok((AccountRef::Id(only.account_id.clone()), only.key.brand_domain.clone())),
        [] if tenant.sandbox => {
            let domain = format!("{}.principal.invalid", principal.principal_id.to_lowercase().replace('_', "-"));
            let key =
                AccountKey { brand_domain: domain.clone(), brand_id: None, operator: domain.clone(), sandbox: false };
            Ok((AccountRef::Key(key), domain))
        }
        [] => Err(Error::invalid_with(
            "account",
            "you have no active account with this publisher",
            "set one up with sync_accounts, then name it as account {\"account_id\": ...}",
        )),
        _ => Err(Error::invalid_with(
            "account",
            "you have several accounts; say which one this buy is for",
            "add account {\"account_id\": ...} from list_accounts",
        )),
    }
}
