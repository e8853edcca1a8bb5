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

    #[test]
    fn every_unit_and_its_long_forms() {
        for (input, want) in [
            ("7d", Duration::days(7)),
            ("7day", Duration::days(7)),
            ("7days", Duration::days(7)),
            ("36h", Duration::hours(36)),
            ("1hour", Duration::hours(1)),
            ("2hours", Duration::hours(2)),
            ("90m", Duration::minutes(90)),
            ("5min", Duration::minutes(5)),
            ("6w", Duration::weeks(6)),
            ("1week", Duration::weeks(1)),
            ("2weeks", Duration::weeks(2)),
            ("2y", Duration::days(730)),
            ("1year", Duration::days(365)),
            ("3years", Duration::days(3 * 365)),
            ("0", Duration::ZERO),
            ("  30d ", Duration::days(30)),
        ] {
            assert_eq!(parse("--x", input).unwrap(), want, "{input:?}");
        }
    }

    #[test]
    fn refusals_name_the_flag_and_say_what_to_write() {
        for bad in [
            "",
            "d",
            "30 d",
            "30D",
            "1.5d",
            "-5d",
            "+5",
            "30s",
            "3mo",
            "ten",
            "99999999999999999999",
        ] {
            let e = parse("--valid-for", bad).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("--valid-for") && msg.contains("not a duration"),
                "{bad:?}: {msg}"
            );
            assert!(
                e.hint().is_some_and(|h| h.contains("90d")),
                "{bad:?}: {e:?}"
            );
        }
    }

    #[test]
    fn at_most_a_century() {
        assert_eq!(parse("--x", "36600d").unwrap(), Duration::days(36_600));
        assert!(parse("--x", "36601d").is_err());
        assert!(parse("--x", "36601").is_err());
        // The cap is on the number, so no unit can overflow `time::Duration`.
        assert_eq!(
            parse("--x", "36600y").unwrap(),
            Duration::days(36_600 * 365)
        );
        assert!(parse_days("--days", "36600y").is_ok());
    }

    #[test]
    fn days_must_be_whole() {
        assert_eq!(parse_days("--days", "48h").unwrap(), 2);
        assert_eq!(parse_days("--days", "2w").unwrap(), 14);
        assert_eq!(parse_days("--days", "0").unwrap(), 0);
        for bad in ["25h", "90m", "1min"] {
            let e = parse_days("--days", bad).unwrap_err();
            assert!(e.to_string().contains("whole number of days"), "{bad}: {e}");
        }
    }
}
