//! Cursor pagination (AdCP `core/pagination-request.json` / `-response.json`).
//!
//! Cursors are opaque to buyers. In-memory listings (catalog) page by offset; database listings
//! page by key (the last id returned), so that inserts between pages never hide an item.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::Error;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 100;

/// A page request as the buyer sent it: an opaque cursor and a size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageParams {
    pub cursor: Option<String>,
    pub max_results: Option<u32>,
}

impl PageParams {
    /// The requested size, checked against AdCP's 1..=100.
    ///
    /// # Errors
    /// `InvalidRequest` naming `pagination.max_results`.
    pub fn size(&self) -> Result<usize, Error> {
        match self.max_results {
            None => Ok(DEFAULT_PAGE_SIZE as usize),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n as usize),
            Some(_) => Err(Error::invalid("pagination.max_results", "max_results must be between 1 and 100")),
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present exactly when more items follow.
    pub next_cursor: Option<String>,
    /// Exact number of matching items across all pages, when known.
    pub total: Option<u64>,
}

/// A position in an in-memory listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPage {
    offset: usize,
    limit: usize,
}

impl OffsetPage {
    /// # Errors
    /// `InvalidRequest` for a cursor this agent did not issue or a bad size.
    pub fn parse(params: &PageParams) -> Result<OffsetPage, Error> {
        let limit = params.size()?;
        let offset = match &params.cursor {
            None => 0,
            Some(cursor) => decode(cursor, "o").and_then(|text| text.parse::<usize>().ok()).ok_or_else(bad_cursor)?,
        };
        Ok(OffsetPage { offset, limit })
    }

    pub fn slice<T>(&self, all: Vec<T>) -> Page<T> {
        let total = all.len();
        let items: Vec<T> = all.into_iter().skip(self.offset).take(self.limit).collect();
        let end = self.offset + items.len();
        let next_cursor = (end < total).then(|| encode("o", &end.to_string()));
        Page { items, next_cursor, total: Some(total as u64) }
    }
}

/// A position in a database listing ordered by a unique key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetPage {
    pub after: Option<String>,
    pub limit: usize,
}

impl KeysetPage {
    /// # Errors
    /// `InvalidRequest` for a cursor this agent did not issue or a bad size.
    pub fn parse(params: &PageParams) -> Result<KeysetPage, Error> {
        let limit = params.size()?;
        let after = match &params.cursor {
            None => None,
            Some(cursor) => Some(decode(cursor, "k").ok_or_else(bad_cursor)?),
        };
        Ok(KeysetPage { after, limit })
    }

    /// Builds the page from up to `limit + 1` fetched rows; the extra row only signals more.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String, total: Option<u64>) -> Page<T> {
        let has_more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let next_cursor = if has_more { rows.last().map(|last| encode("k", &key(last))) } else { None };
        Page { items: rows, next_cursor, total }
    }
}

fn encode(kind: &str, value: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{value}"))
}

fn decode(cursor: &str, kind: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(kind)?.strip_prefix(':').map(str::to_owned)
}

fn bad_cursor() -> Error {
    Error::invalid_with(
        "pagination.cursor",
        "cursor was not issued by this agent for this listing",
        "start again without a cursor",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_pages_walk_to_the_end() {
        let first = OffsetPage::parse(&PageParams { cursor: None, max_results: Some(2) }).unwrap();
        let page = first.slice(vec![1, 2, 3]);
        assert_eq!(page.items, vec![1, 2]);
        let cursor = page.next_cursor.expect("more items follow");
        let second = OffsetPage::parse(&PageParams { cursor: Some(cursor), max_results: Some(2) }).unwrap();
        let page = second.slice(vec![1, 2, 3]);
        assert_eq!(page.items, vec![3]);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn foreign_cursors_and_sizes_are_refused() {
        assert!(OffsetPage::parse(&PageParams { cursor: Some("garbage!".into()), max_results: None }).is_err());
        let keyset = encode("k", "acc_1");
        assert!(OffsetPage::parse(&PageParams { cursor: Some(keyset), max_results: None }).is_err());
        assert!(OffsetPage::parse(&PageParams { cursor: None, max_results: Some(0) }).is_err());
        assert!(OffsetPage::parse(&PageParams { cursor: None, max_results: Some(101) }).is_err());
    }
}
