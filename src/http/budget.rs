//! A memory bound for hook calls: request bodies (by Content-Length, or the body limit when it
//! is not given) draw on a budget of bytes before they are read, and give it back when the call
//! is answered. Calls beyond the budget wait their turn with their bodies unread, so sixteen
//! 5 MiB records arriving at once cost a few records' worth of memory, not sixteen; small calls
//! are not held up by each other. A body larger than the whole budget cannot occur: the budget
//! is never below the body limit.
//!
//! Small bodies (up to [`SMALL_BODY`], an ordinary order-sign call) draw on a budget of their
//! own ([`SMALL_BUDGET`]): large bodies trickled in slowly, which hold the large budget for as
//! long as they take, can never make an ordinary call wait.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use super::AppState;

/// Budget unit: permits are KiB, so that any budget fits the semaphore's `u32` requests.
const UNIT: usize = 1024;

/// Bodies up to this size (by Content-Length) draw on the small-body budget.
pub const SMALL_BODY: usize = 1024 * 1024;

/// The small-body budget: four of the largest small bodies, or many ordinary calls, at once.
pub const SMALL_BUDGET: usize = 4 * SMALL_BODY;

#[derive(Debug)]
pub struct BodyBudget {
    permits: Semaphore,
    /// Permits of the largest body accepted (the whole budget at most).
    largest: u32,
    small: Semaphore,
}

impl BodyBudget {
    /// A budget of `bytes` (raised to `max_body_bytes` if below it), and the small-body budget.
    pub fn new(bytes: usize, max_body_bytes: usize) -> Self {
        let largest = units(max_body_bytes);
        Self {
            permits: Semaphore::new(units(bytes).max(largest) as usize),
            largest,
            small: Semaphore::new(units(SMALL_BUDGET) as usize),
        }
    }

    /// Waits for room for a body of `length` bytes (unknown: the largest accepted). A length
    /// over the body limit reserves nothing: that body is refused (413) without being read.
    pub async fn reserve(&self, length: Option<usize>) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let wanted = match length {
            Some(n) if units(n) > self.largest => return None,
            Some(n) => units(n).max(1),
            None => self.largest,
        };
        let pool = match length {
            Some(n) if n <= SMALL_BODY => &self.small,
            _ => &self.permits,
        };
        // The semaphores are never closed, so acquiring only waits.
        pool.acquire_many(wanted).await.ok()
    }

    /// KiB of the (large-body) budget free right now (for tests and metrics).
    pub fn available_kib(&self) -> usize {
        self.permits.available_permits()
    }
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX >> 4)
}

/// Middleware: holds a share of the budget for the whole call.
pub async fn wait_for_budget(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let _permit = state.body_budget.reserve(super::body::content_length(&request)).await;
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_bodies_wait_small_ones_pass() {
        let budget = BodyBudget::new(10 * 1024 * 1024, 5 * 1024 * 1024);
        let a = budget.reserve(Some(5 * 1024 * 1024)).await;
        let b = budget.reserve(None).await;
        assert_eq!(budget.available_kib(), 0);
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(Some(2 * 1024 * 1024)));
        assert!(third.await.is_err(), "a full budget makes the next large call wait");
        drop(a);
        let two_mib = budget.reserve(Some(2 * 1024 * 1024)).await;
        assert_eq!(budget.available_kib(), 5 * 1024 - 2 * 1024);
        drop((b, two_mib));
        assert_eq!(budget.available_kib(), 10 * 1024);
    }

    #[tokio::test]
    async fn small_bodies_never_wait_for_large_ones() {
        let budget = BodyBudget::new(10 * 1024 * 1024, 5 * 1024 * 1024);
        let _large = (budget.reserve(Some(5 * 1024 * 1024)).await, budget.reserve(Some(5 * 1024 * 1024)).await);
        assert_eq!(budget.available_kib(), 0, "the large budget is full");
        let small = tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(Some(200 * 1024)));
        assert!(small.await.is_ok_and(|p| p.is_some()), "an ordinary call is not held up");
    }

    #[tokio::test]
    async fn budget_is_never_below_the_body_limit_and_oversized_bodies_reserve_nothing() {
        let budget = BodyBudget::new(1024, 4 * 1024 * 1024);
        assert_eq!(budget.available_kib(), 4 * 1024);
        let whole = budget.reserve(None).await;
        assert_eq!(budget.available_kib(), 0);
        assert!(budget.reserve(Some(usize::MAX)).await.is_none(), "refused unread, never waits");
        drop(whole);
    }
}
