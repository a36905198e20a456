//! Buyers' proposals (see `core::proposals`): filter columns plus the proposal as a JSON
//! document. The buy made from a proposal is recorded in its own column by the transaction
//! that stores the buy ([`accept_proposal!`]), so a proposal is bought at most once.

use super::{Db, backend, corrupt, to_document};
use crate::core::StoreError;
use crate::core::proposals::Proposal;

/// Stores a proposal (replacing the stored one unless that was bought meanwhile).
pub(super) async fn save(db: &Db, proposal: &Proposal) -> Result<(), StoreError> {
    let document = to_document(proposal)?;
    on_writer!(db, |pool| {
        sqlx::query(
            "insert into proposals (tenant_id, principal_id, proposal_id, status, expires_at, media_buy_id,
                updated_at, document)
             values ($1, $2, $3, $4, $5, null, $6, $7)
             on conflict (tenant_id, principal_id, proposal_id) do update set status = excluded.status,
                expires_at = excluded.expires_at, updated_at = excluded.updated_at, document = excluded.document
             where proposals.media_buy_id is null",
        )
        .bind(&proposal.tenant_id)
        .bind(&proposal.principal_id)
        .bind(&proposal.proposal_id)
        .bind(proposal.status.as_str())
        .bind(proposal.expires_at)
        .bind(proposal.updated_at)
        .bind(&document)
        .execute(pool)
        .await
        .map_err(backend)?;
        Ok(())
    })
}

pub(super) async fn get(
    db: &Db,
    tenant_id: &str,
    principal_id: &str,
    proposal_id: &str,
) -> Result<Option<Proposal>, StoreError> {
    Ok(get_many(db, tenant_id, principal_id, &[proposal_id.to_owned()]).await?.pop())
}

pub(super) async fn get_many(
    db: &Db,
    tenant_id: &str,
    principal_id: &str,
    proposal_ids: &[String],
) -> Result<Vec<Proposal>, StoreError> {
    if proposal_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Option<String>)> = on_pool!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new("select document, media_buy_id from proposals where tenant_id = ");
        query.push_bind(tenant_id).push(" and principal_id = ").push_bind(principal_id).push(" and proposal_id");
        super::push_in(&mut query, proposal_ids);
        query.build_query_as().fetch_all(pool).await.map_err(backend)
    })?;
    rows.into_iter()
        .map(|(document, media_buy_id)| {
            let mut proposal: Proposal = serde_json::from_str(&document).map_err(corrupt)?;
            proposal.media_buy_id = media_buy_id;
            Ok(proposal)
        })
        .collect()
}

/// Inside transaction `$tx`: records that `$accepted` (a `ProposalAcceptance`) was bought,
/// unless it was bought before: then rolls back and returns `ProposalTaken`.
macro_rules! accept_proposal {
    ($tx:ident, $accepted:expr) => {{
        if let Some(accepted) = $accepted {
            let accepted: &crate::core::ports::ProposalAcceptance = accepted;
            let done = sqlx::query(
                "update proposals set media_buy_id = $1
                 where tenant_id = $2 and principal_id = $3 and proposal_id = $4 and media_buy_id is null",
            )
            .bind(&accepted.media_buy_id)
            .bind(&accepted.tenant_id)
            .bind(&accepted.principal_id)
            .bind(&accepted.proposal_id)
            .execute(&mut *$tx)
            .await
            .map_err(backend)?
            .rows_affected();
            if done != 1 {
                $tx.rollback().await.map_err(backend)?;
                return Err(StoreError::ProposalTaken);
            }
        }
    }};
}
pub(super) use accept_proposal;
