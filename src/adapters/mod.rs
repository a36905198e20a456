//! Adapters to the outside world: ad servers (implementations of `core::delivery::AdServer`)
//! and buyers' webhook receivers (`core::notify::Sender`). An adapter talks to its peer and
//! nothing else: it never touches the store and is never called inside a database transaction.

/// `Booker` for an adapter whose `async fn book(&self, buy, booking, op)` applies one operation.
macro_rules! booker_by_book {
    ($adapter:ty) => {
        impl crate::core::booking::Booker for $adapter {
            fn apply<'a>(
                &'a self,
                buy: &'a crate::core::media_buy::MediaBuy,
                booking: &'a crate::core::booking::Booking,
                op: &'a crate::core::booking::AdServerOp,
            ) -> std::pin::Pin<
                Box<
                    dyn std::future::Future<
                            Output = Result<crate::core::booking::Applied, crate::core::booking::AdServerError>,
                        > + Send
                        + 'a,
                >,
            > {
                Box::pin(self.book(buy, booking, op))
            }
        }
    };
}

pub mod gam;
pub mod google_auth;
pub mod http;
pub mod kevel;
pub mod mock;
pub mod soap;
pub mod triton;
pub mod webhook;

use std::sync::Arc;

use crate::core::delivery::AdServer;

/// An ad server that only pretends, for one request's `X-Dry-Run`, and the platform calls it
/// would have made.
pub struct Rehearsal {
    pub ad_server: Arc<dyn AdServer>,
    calls: Box<dyn Fn() -> Vec<String> + Send + Sync>,
}

impl Rehearsal {
    /// The calls made so far, in order.
    pub fn calls(&self) -> Vec<String> {
        (self.calls)()
    }

    /// The in-process mock: what it would book, by operation.
    pub fn mock() -> Rehearsal {
        let mock = mock::MockAdServer::new();
        let ledger = mock.clone();
        Rehearsal { ad_server: Arc::new(mock), calls: Box::new(move || ledger.calls()) }
    }

    /// A Kevel adapter in dry-run: the HTTP calls, with their payloads.
    pub fn kevel(live: &kevel::Kevel) -> Rehearsal {
        Rehearsal::recorded(|recorder| Arc::new(live.rehearsal(recorder)))
    }

    /// A GAM adapter in dry-run: the SOAP calls, with their envelopes.
    pub fn gam(live: &gam::Gam) -> Rehearsal {
        Rehearsal::recorded(|recorder| Arc::new(live.rehearsal(recorder)))
    }

    /// A Triton adapter in dry-run: the HTTP calls, with their payloads.
    pub fn triton(live: &triton::Triton) -> Rehearsal {
        Rehearsal::recorded(|recorder| Arc::new(live.rehearsal(recorder)))
    }

    fn recorded(twin: impl FnOnce(http::Recorder) -> Arc<dyn AdServer>) -> Rehearsal {
        let recorder = http::Recorder::default();
        let calls = recorder.clone();
        Rehearsal {
            ad_server: twin(recorder),
            calls: Box::new(move || calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()),
        }
    }
}
