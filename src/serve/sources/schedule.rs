//! Schedule expressions as EventBridge reads them: `rate(N unit)` and the
//! six-field `cron(minutes hours day-of-month month day-of-week year)`,
//! in UTC. <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html>

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `rate(5 minutes)`: every period, the first one period after start.
    Rate(Duration),
    /// `cron(...)`: the minutes that match.
    Cron(Cron),
}

/// The six fields of a cron expression, each as the values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    /// `None`: `?` or `*` (any day of the month).
    days_of_month: Option<Vec<u32>>,
    months: Vec<u32>,
    /// 1 = Sunday .. 7 = Saturday; `None`: `?` or `*`.
    days_of_week: Option<Vec<u32>>,
    years: Option<Vec<u32>>,
}

/// Parses `expression`; the error says what serve cannot run.
pub fn parse(expression: &str) -> Result<Expression, String> {
    let e = expression.trim();
    if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut parts = inner.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("`{e}` is not `rate(VALUE UNIT)`"));
        };
        let n: u64 = n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{e}`: the rate must be a positive whole number"))?;
        let unit = match unit {
            "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            other => return Err(format!("`{e}`: unknown unit `{other}`")),
        };
        return Ok(Expression::Rate(Duration::from_secs(n * unit)));
    }
    if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        return cron(inner).map(Expression::Cron);
    }
    if e.starts_with("at(") {
        return Err(format!(
            "`{e}` is a one-time schedule: serve runs recurring ones only"
        ));
    }
    Err(format!("`{e}` is neither rate(...) nor cron(...)"))
}

fn cron(inner: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "`cron({inner})` has {} fields, not 6 (minutes hours day-of-month month day-of-week year)",
            fields.len()
        ));
    }
    for f in &fields {
        if f.contains(['L', 'W', '#']) && !f.chars().all(|c| c.is_ascii_uppercase() || c == ',') {
            return Err(format!(
                "`cron({inner})`: serve does not evaluate L, W or # in cron fields"
            ));
        }
    }
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let any = |f: &str| f == "?" || f == "*";
    Ok(Cron {
        minutes: field(fields[0], 0, 59, &[])?,
        hours: field(fields[1], 0, 23, &[])?,
        days_of_month: if any(fields[2]) {
            None
        } else {
            Some(field(fields[2], 1, 31, &[])?)
        },
        months: field(fields[3], 1, 12, &MONTHS)?,
        days_of_week: if any(fields[4]) {
            None
        } else {
            Some(field(fields[4], 1, 7, &DAYS)?)
        },
        years: if any(fields[5]) {
            None
        } else {
            Some(field(fields[5], 1970, 2199, &[])?)
        },
    })
}

/// The values one field allows: `*`, `a`, `a-b`, `a/n`, `*/n`, `a-b/n`,
/// lists of those; `names` (JAN.., SUN..) count from `min`.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(min + i as u32);
        }
        s.parse::<u32>()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| format!("`{s}` is not a value from {min} to {max}"))
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("`{part}`: bad step"))?,
            ),
            None => (part, 1),
        };
        let (from, to) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { max } else { a })
        };
        if from > to {
            return Err(format!("`{part}`: the range runs backwards"));
        }
        out.extend((from..=to).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Year, month (1-12), day (1-31) of `days` since 1970-01-01
/// (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl Cron {
    fn matches(&self, minute_of_epoch: i64) -> bool {
        let days = minute_of_epoch.div_euclid(1440);
        let in_day = minute_of_epoch.rem_euclid(1440);
        let (y, m, d) = civil(days);
        // 1970-01-01 was a Thursday (5 in cron's 1 = Sunday numbering).
        let dow = ((days + 4).rem_euclid(7) + 1) as u32;
        self.minutes.contains(&((in_day % 60) as u32))
            && self.hours.contains(&((in_day / 60) as u32))
            && self.months.contains(&m)
            && self.days_of_month.as_ref().is_none_or(|v| v.contains(&d))
            && self.days_of_week.as_ref().is_none_or(|v| v.contains(&dow))
            && self
                .years
                .as_ref()
                .is_none_or(|v| u32::try_from(y).is_ok_and(|y| v.contains(&y)))
    }

    /// The first matching minute after `after`, within five years.
    pub fn next(&self, after: SystemTime) -> Option<SystemTime> {
        let secs = after.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
        let start = secs.div_euclid(60) + 1;
        (start..start + 5 * 366 * 1440)
            .find(|m| self.matches(*m))
            .map(|m| UNIX_EPOCH + Duration::from_secs(m as u64 * 60))
    }
}

impl Expression {
    /// When it fires next, after `after` (a rate: one period later).
    pub fn next(&self, after: SystemTime) -> Option<SystemTime> {
        match self {
            Expression::Rate(d) => Some(after + *d),
            Expression::Cron(c) => c.next(after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn rates() {
        assert_eq!(
            parse("rate(1 hour)"),
            Ok(Expression::Rate(Duration::from_secs(3600)))
        );
        assert_eq!(
            parse("rate(5 minutes)"),
            Ok(Expression::Rate(Duration::from_secs(300)))
        );
        assert!(parse("rate(0 minutes)").is_err());
        assert!(parse("rate(1 fortnight)").is_err());
        assert!(parse("at(2026-01-01T00:00:00)").is_err());
    }

    #[test]
    fn cron_next_times() {
        // 2026-12-01T20:45:00Z is a Tuesday.
        let now = at(1_796_157_900);
        let every_15 = parse("cron(0/15 * * * ? *)").unwrap();
        assert_eq!(every_15.next(now), Some(at(1_796_158_800))); // 21:00
        let daily = parse("cron(30 6 * * ? *)").unwrap();
        assert_eq!(daily.next(now), Some(at(1_796_193_000))); // 12-02 06:30
        let weekdays = parse("cron(0 9 ? * MON-FRI *)").unwrap();
        assert_eq!(weekdays.next(now), Some(at(1_796_202_000))); // Wed 12-02 09:00
        let sundays = parse("cron(0 0 ? * SUN *)").unwrap();
        assert_eq!(sundays.next(now), Some(at(1_796_515_200))); // Sun 12-06 00:00
        assert!(parse("cron(0 0 L * ? *)").is_err());
        assert!(parse("cron(0 0 * *)").is_err());
    }
}
