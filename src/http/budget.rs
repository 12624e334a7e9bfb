//! A memory bound for hook calls: request bodies (by Content-Length, or the body limit when it
//! is not given) draw on a budget of bytes before they are read, and give it back when the call
//! is answered. Calls beyond the budget wait their turn with their bodies unread, so sixteen
//! 5 MiB records arriving at once cost a few records' worth of memory, not sixteen; small calls
//! are not held up by each other. A body larger than the whole budget cannot occur: the budget
//! is never below the body limit.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use super::AppState;

/// Budget unit: permits are KiB, so that any budget fits the semaphore's `u32` requests.
const UNIT: usize = 1024;

#[derive(Debug)]
pub struct BodyBudget {
    permits: Semaphore,
    /// Permits of the largest body accepted (the whole budget at most).
    largest: u32,
}

impl BodyBudget {
    /// A budget of `bytes` (raised to `max_body_bytes` if below it).
    pub fn new(bytes: usize, max_body_bytes: usize) -> Self {
        let largest = units(max_body_bytes);
        Self { permits: Semaphore::new(units(bytes).max(largest) as usize), largest }
    }

    /// Waits for room for a body of `length` bytes (unknown: the largest accepted). A length
    /// over the body limit reserves nothing: that body is refused (413) without being read.
    pub async fn reserve(&self, length: Option<usize>) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let wanted = match length {
            Some(n) if units(n) > self.largest => return None,
            Some(n) => units(n).max(1),
            None => self.largest,
        };
        // The semaphore is never closed, so acquiring only waits.
        self.permits.acquire_many(wanted).await.ok()
    }

    /// KiB of the budget free right now (for tests and metrics).
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
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(Some(1)));
        assert!(third.await.is_err(), "a full budget makes the next call wait");
        drop(a);
        let small = budget.reserve(Some(2048)).await;
        assert_eq!(budget.available_kib(), 5 * 1024 - 2);
        drop((b, small));
        assert_eq!(budget.available_kib(), 10 * 1024);
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
