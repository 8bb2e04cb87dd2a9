use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How failed deliveries are retried: exponential backoff with jitter, a cap, a limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Failed attempts before a delivery is dead-lettered.
    pub attempts_max: u32,
    pub base_ms: u64,
    pub cap_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts_max: 6,
            base_ms: 2_000,
            cap_ms: 10 * 60 * 1000,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failure: half of `base * 2^(failures-1)` (capped) fixed, the
    /// other half scaled by `jitter` in [0, 1), so retries spread out but never shrink below half.
    pub fn backoff(&self, failures: u32, jitter: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.cap_ms);
        let jitter = jitter.clamp(0.0, 1.0);
        let wait = ceiling / 2 + ((ceiling / 2) as f64 * jitter) as u64;
        Duration::milliseconds(wait as i64)
    }
}

/// Quiet hours in a recipient's time zone; start after end spans midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// IANA name, validated when the preferences are set.
    pub time_zone: String,
}

impl QuietHours {
    pub fn zone(&self) -> Option<Tz> {
        self.time_zone.parse().ok()
    }

    /// If `at` falls within quiet hours, the instant they end; None otherwise.
    pub fn release_time(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let zone = self.zone()?;
        let local = at.with_timezone(&zone);
        let time = local.time();
        let quiet = if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !quiet {
            return None;
        }
        let mut end_day = local.date_naive();
        if time >= self.end {
            end_day = end_day.succ_opt()?;
        }
        // earliest(): on a DST gap the end instant is the first valid one after it.
        let end = zone
            .from_local_datetime(&end_day.and_time(self.end))
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(end_day.and_time(self.end) + Duration::hours(1)))
                    .earliest()
            })?;
        Some(end.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn night(zone: &str) -> QuietHours {
        QuietHours {
            start: NaiveTime::from_hms_opt(22, 0, 0).expect("time"),
            end: NaiveTime::from_hms_opt(7, 0, 0).expect("time"),
            time_zone: zone.into(),
        }
    }

    #[test]
    fn quiet_hours_across_midnight_release_at_the_local_morning() {
        // 23:30 in Berlin (UTC+1 in winter) is 22:30 UTC; quiet until 07:00 Berlin = 06:00 UTC.
        assert_eq!(
            night("Europe/Berlin").release_time(utc("2026-01-15T22:30:00Z")),
            Some(utc("2026-01-16T06:00:00Z"))
        );
        // 05:00 Berlin, after midnight, releases the same morning.
        assert_eq!(
            night("Europe/Berlin").release_time(utc("2026-01-16T04:00:00Z")),
            Some(utc("2026-01-16T06:00:00Z"))
        );
        // 12:00 Berlin is not quiet.
        assert_eq!(
            night("Europe/Berlin").release_time(utc("2026-01-16T11:00:00Z")),
            None
        );
    }

    #[test]
    fn quiet_hours_follow_the_recipients_zone() {
        // 22:30 UTC is 17:30 in New York: not quiet there.
        assert_eq!(
            night("America/New_York").release_time(utc("2026-01-15T22:30:00Z")),
            None
        );
    }

    #[test]
    fn daytime_quiet_hours_do_not_span_midnight() {
        let lunch = QuietHours {
            start: NaiveTime::from_hms_opt(12, 0, 0).expect("t"),
            end: NaiveTime::from_hms_opt(13, 0, 0).expect("t"),
            time_zone: "UTC".into(),
        };
        assert_eq!(
            lunch.release_time(utc("2026-01-15T12:30:00Z")),
            Some(utc("2026-01-15T13:00:00Z"))
        );
        assert_eq!(lunch.release_time(utc("2026-01-15T13:00:00Z")), None);
    }

    proptest! {
        #[test]
        fn backoff_grows_stays_capped_and_never_below_half(failures in 1u32..40, jitter in 0.0f64..1.0) {
            let policy = RetryPolicy { attempts_max: 10, base_ms: 100, cap_ms: 60_000 };
            let wait = policy.backoff(failures, jitter).num_milliseconds() as u64;
            let ceiling = (100u64 << (failures - 1).min(30)).min(60_000);
            prop_assert!(wait >= ceiling / 2 && wait <= ceiling);
        }

        #[test]
        fn a_released_time_is_never_quiet(seconds in 0i64..(3 * 365 * 86_400)) {
            let at = utc("2026-01-01T00:00:00Z") + Duration::seconds(seconds);
            let quiet = night("Europe/Berlin");
            if let Some(release) = quiet.release_time(at) {
                prop_assert!(release > at);
                prop_assert_eq!(quiet.release_time(release), None);
            }
        }
    }
}
