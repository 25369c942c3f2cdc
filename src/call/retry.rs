//! What to do after each call for a card: `Attempts::after` turns the classified answer into
//! the next step (done with an outcome, wait and call again, or stop the run), and `Backoff`
//! says how long to wait. What an answer means is decided by `classify`.

use std::time::Duration;

use rand::Rng;

use super::classify::Disposition;
use crate::card::shown;
use crate::control::StopReason;
use crate::outcome::Outcome;
use crate::vendor;

/// 10011 answers say "not now", not "not this card", so they do not use up `--max-attempts`;
/// this cap only keeps a row from waiting forever on a key whose rate is far below ours.
const MAX_THROTTLED_PER_ROW: u32 = 50;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// The ceiling of the wait after the `failures`-th failed call (1-based): `base * 2^(n-1)`,
    /// capped at `max`.
    pub(crate) fn ceiling(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Full jitter (`random(0, ceiling)`): when many rows fail together, as they do when the
    /// data source has a bad minute, their retries spread out instead of arriving in waves.
    pub(crate) fn wait(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(failures);
        if ceiling.is_zero() {
            return ceiling;
        }
        Duration::from_nanos(
            rng.random_range(0..=ceiling.as_nanos().min(u128::from(u64::MAX)) as u64),
        )
    }
}

/// How often a card is called and how long to wait between calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Calls per card at most, the first included (10011 answers aside).
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
}

/// After a call, what the worker does next.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    /// The card has its result.
    Done(Outcome),
    /// Call again after this wait.
    Wait(Duration),
    /// The whole run must stop; the card gets no result.
    Stop(StopReason),
}

/// The calls made for one card so far.
#[derive(Debug)]
pub(crate) struct Attempts<'a> {
    policy: &'a RetryPolicy,
    calls: u32,
    failures: u32,
    throttled: u32,
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(policy: &'a RetryPolicy) -> Attempts<'a> {
        Attempts {
            policy,
            calls: 0,
            failures: 0,
            throttled: 0,
        }
    }

    /// Counts a call about to be made; true when it is a retry.
    pub(crate) fn start_call(&mut self) -> bool {
        self.calls += 1;
        self.calls > 1
    }

    /// The step after the answer to the latest call.
    pub(crate) fn after(&mut self, disposition: Disposition, rng: &mut impl Rng) -> Next {
        let attempts = self.calls;
        match disposition {
            Disposition::Ok { flags, orderid } => Next::Done(Outcome::ok(flags, orderid, attempts)),
            Disposition::Invalid { code, .. } => {
                let mut outcome = Outcome::rejected_by_vendor(attempts);
                outcome.error_code = Some(code);
                Next::Done(outcome)
            }
            Disposition::RowError { code, reason } => Next::Done(Outcome::error(
                Some(code),
                format!("unknown error code {code} from the API: {}", shown(&reason)),
                attempts,
            )),
            // The vendor's words go into the advice and the summary: shown as outside text.
            Disposition::Abort { code, reason } => Next::Stop(StopReason::Refused {
                code,
                reason: shown(&reason),
            }),
            Disposition::Untrusted { host, why } => Next::Stop(StopReason::Untrusted { host, why }),
            Disposition::Stop { code, reason } => Next::Stop(StopReason::Quota {
                code,
                reason: shown(&reason),
            }),
            Disposition::Throttle => {
                self.throttled += 1;
                if self.throttled >= MAX_THROTTLED_PER_ROW {
                    return Next::Done(Outcome::error(
                        Some(vendor::RATE_LIMITED),
                        format!(
                            "the API said the rate is too high ({}) {} times; lower --rate",
                            vendor::RATE_LIMITED,
                            self.throttled
                        ),
                        attempts,
                    ));
                }
                Next::Wait(self.policy.backoff.wait(self.throttled, rng))
            }
            Disposition::Retry { code, what } => {
                self.failures += 1;
                if self.failures >= self.policy.max_attempts {
                    let plural = if attempts == 1 { "attempt" } else { "attempts" };
                    return Next::Done(Outcome::error(
                        code,
                        format!("{what} after {attempts} {plural}"),
                        attempts,
                    ));
                }
                Next::Wait(self.policy.backoff.wait(self.failures, rng))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Flags, Reason, Status};

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        backoff: Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
    };

    fn retry() -> Disposition {
        Disposition::Retry {
            code: Some(271901),
            what: "data source timeout (271901)".into(),
        }
    }

    fn call(attempts: &mut Attempts<'_>, disposition: Disposition) -> Next {
        attempts.start_call();
        attempts.after(disposition, &mut rand::rng())
    }

    #[test]
    fn ceiling_doubles_up_to_the_maximum() {
        let b = Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        };
        assert_eq!(b.ceiling(1), Duration::from_millis(500));
        assert_eq!(b.ceiling(2), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(2));
        assert_eq!(b.ceiling(7), Duration::from_secs(30));
        assert_eq!(b.ceiling(1000), Duration::from_secs(30));
    }

    #[test]
    fn waits_stay_within_the_ceiling_and_spread_out() {
        let b = POLICY.backoff;
        let mut rng = rand::rng();
        let waits: Vec<Duration> = (0..200).map(|_| b.wait(3, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(400)));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(
            distinct.len() > 150,
            "full jitter should rarely repeat a wait"
        );
        assert!(waits.iter().any(|w| *w < Duration::from_millis(200)));
    }

    #[test]
    fn failures_wait_until_the_last_attempt_then_fail_the_row() {
        let mut attempts = Attempts::new(&POLICY);
        assert!(
            matches!(call(&mut attempts, retry()), Next::Wait(w) if w <= Duration::from_millis(100))
        );
        assert!(
            matches!(call(&mut attempts, retry()), Next::Wait(w) if w <= Duration::from_millis(200))
        );
        match call(&mut attempts, retry()) {
            Next::Done(outcome) => {
                assert_eq!(outcome.status, Status::Error);
                assert_eq!(outcome.error_code, Some(271901));
                assert_eq!(
                    outcome.error,
                    "data source timeout (271901) after 3 attempts"
                );
                assert_eq!(outcome.attempts, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn success_after_a_retry_counts_both_calls() {
        let mut attempts = Attempts::new(&POLICY);
        assert!(!attempts.start_call());
        assert!(matches!(
            attempts.after(retry(), &mut rand::rng()),
            Next::Wait(_)
        ));
        assert!(attempts.start_call());
        let ok = Disposition::Ok {
            flags: Flags(1),
            orderid: "JH1".into(),
        };
        assert_eq!(
            attempts.after(ok, &mut rand::rng()),
            Next::Done(Outcome::ok(Flags(1), "JH1".into(), 2))
        );
    }

    #[test]
    fn throttling_uses_no_attempt_but_is_capped() {
        let mut attempts = Attempts::new(&POLICY);
        for _ in 1..MAX_THROTTLED_PER_ROW {
            assert!(matches!(
                call(&mut attempts, Disposition::Throttle),
                Next::Wait(_)
            ));
        }
        match call(&mut attempts, Disposition::Throttle) {
            Next::Done(outcome) => {
                assert_eq!(outcome.error_code, Some(10011));
                assert!(outcome.error.contains("lower --rate"), "{}", outcome.error);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_and_quota_stop_the_run() {
        let mut attempts = Attempts::new(&POLICY);
        let refused = Disposition::Abort {
            code: 10001,
            reason: "bad key".into(),
        };
        assert!(matches!(
            call(&mut attempts, refused),
            Next::Stop(StopReason::Refused { code: 10001, .. })
        ));
        let quota = Disposition::Stop {
            code: 10012,
            reason: "quota".into(),
        };
        assert!(matches!(
            call(&mut attempts, quota),
            Next::Stop(StopReason::Quota { code: 10012, .. })
        ));
    }

    #[test]
    fn vendor_rejection_is_invalid_and_unknown_codes_fail_masked() {
        let mut attempts = Attempts::new(&POLICY);
        let rejected = Disposition::Invalid {
            code: 271902,
            reason: "bad card".into(),
        };
        match call(&mut attempts, rejected) {
            Next::Done(o) => {
                assert_eq!(
                    (o.status, o.reason),
                    (Status::Invalid, Some(Reason::VendorRejected))
                );
            }
            other => panic!("{other:?}"),
        }
        let unknown = Disposition::RowError {
            code: 99,
            reason: "card 6222024332181964 odd\r\n=1+1".into(),
        };
        match call(&mut attempts, unknown) {
            Next::Done(o) => assert_eq!(
                o.error,
                "unknown error code 99 from the API: card 622202******1964 odd\\r\\n=1+1"
            ),
            other => panic!("{other:?}"),
        }
    }
}
