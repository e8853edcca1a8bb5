//! Durations as users type them: `90d`, `12h`, `1y`, `6w`, or a plain number (days).

use time::Duration;

use crate::error::{Error, Result};

/// Parses a duration; a plain number means days.
pub fn parse(flag: &'static str, s: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(
            flag,
            s,
            "not a duration",
            "write it as 90d, 12h, 6w, 1y or a number of days",
        )
    };
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "d"),
    };
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n > 100 * 366 {
        return Err(bad());
    }
    Ok(match unit {
        "d" | "day" | "days" => Duration::days(n),
        "h" | "hour" | "hours" => Duration::hours(n),
        "m" | "min" => Duration::minutes(n),
        "w" | "week" | "weeks" => Duration::weeks(n),
        "y" | "year" | "years" => Duration::days(n * 365),
        _ => return Err(bad()),
    })
}

/// Parses `--days`: a whole number of days (`30`, `30d`, `1y`); hours must make whole days.
pub fn parse_days(flag: &'static str, s: &str) -> Result<u32> {
    let d = parse(flag, s)?;
    if d.whole_seconds() % 86_400 != 0 || d.whole_days() < 0 {
        return Err(Error::invalid(
            flag,
            s,
            "must be a whole number of days",
            "give days, e.g. --days 90",
        ));
    }
    u32::try_from(d.whole_days())
        .map_err(|_| Error::invalid(flag, s, "too large", "give days, e.g. --days 90"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(parse_days("--days", "30").unwrap(), 30);
        assert_eq!(parse_days("--days", "30d").unwrap(), 30);
        assert_eq!(parse_days("--days", "1y").unwrap(), 365);
        assert_eq!(parse("--x", "12h").unwrap(), Duration::hours(12));
        assert!(parse_days("--days", "12h").is_err());
        assert!(parse_days("--days", "-1").is_err());
        assert!(parse_days("--days", "abc").is_err());
    }
}
