//! Reading a paged store list whole, for the short lists a page shows in full (a role's
//! permissions, a user's roles — bounded by Auth0's limits).

use writ_store::{Page, Paged, StoreError};

/// Every page of a paged store read (at most 100 pages of 100).
pub(crate) async fn all_pages<T, F, Fut>(mut f: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Paged<T>, StoreError>>,
{
    let mut out = Vec::new();
    for page in 0..100 {
        let p = f(Page {
            page,
            per_page: 100,
        })
        .await?;
        let n = p.items.len();
        out.extend(p.items);
        if n < 100 || out.len() as i64 >= p.total {
            break;
        }
    }
    Ok(out)
}
