//! Partial calendar dates as JSON Resume writes them: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
//!
//! The schema's pattern only constrains digits (`[0-1][0-9]` would let month 19 through), so the
//! constructor also checks that the month exists and the day exists in that month.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A date with optional month and day, e.g. `2020`, `2020-03`, `2020-03-14`.
///
/// Ordering is chronological, with a less precise date sorting before a more precise one that
/// starts in it (`2020` < `2020-01` < `2020-01-01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartialDate {
    year: u16,
    month: Option<u8>,
    day: Option<u8>,
}

/// Why a string is not a [`PartialDate`]; the Display text is meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("expected a date as YYYY, YYYY-MM or YYYY-MM-DD")]
    Format,
    #[error("year must be between 1000 and 2999")]
    Year,
    #[error("month must be between 01 and 12")]
    Month,
    #[error("day must be between 01 and {max} for that month")]
    Day { max: u8 },
}

impl PartialDate {
    /// Parses the three forms the schema allows; anything else (spaces, times, `2020-3`) is refused.
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = bytes.get(range)?;
            part.iter().try_fold(0u16, |acc, b| {
                b.is_ascii_digit().then(|| acc * 10 + u16::from(b - b'0'))
            })
        };
        let dash = |at: usize| bytes.get(at) == Some(&b'-');
        let (year, month, day) = match bytes.len() {
            4 => (digits(0..4), None, None),
            7 if dash(4) => (digits(0..4), Some(digits(5..7)), None),
            10 if dash(4) && dash(7) => (digits(0..4), Some(digits(5..7)), Some(digits(8..10))),
            _ => return Err(DateError::Format),
        };
        let year = year.ok_or(DateError::Format)?;
        let month = month.map(|m| m.ok_or(DateError::Format)).transpose()?;
        let day = day.map(|d| d.ok_or(DateError::Format)).transpose()?;
        if !(1000..=2999).contains(&year) {
            return Err(DateError::Year);
        }
        let month = match month {
            Some(m @ 1..=12) => Some(m as u8),
            Some(_) => return Err(DateError::Month),
            None => None,
        };
        let day = match (month, day) {
            (Some(m), Some(d)) => {
                let max = days_in_month(year, m);
                if d == 0 || d > u16::from(max) {
                    return Err(DateError::Day { max });
                }
                Some(d as u8)
            }
            _ => None,
        };
        Ok(Self { year, month, day })
    }

    pub fn year(&self) -> u16 {
        self.year
    }

    /// 1-12 when the date names a month.
    pub fn month(&self) -> Option<u8> {
        self.month
    }

    /// 1-31 when the date names a day.
    pub fn day(&self) -> Option<u8> {
        self.day
    }

    /// The date for people, as precise as it was given: `2020`, `Mar 2020`, `14 Mar 2020`.
    pub fn human(&self) -> String {
        let month_name = |m: u8| MONTHS[usize::from(m - 1)];
        match (self.month, self.day) {
            (Some(m), Some(d)) => format!("{d} {} {}", month_name(m), self.year),
            (Some(m), None) => format!("{} {}", month_name(m), self.year),
            _ => self.year.to_string(),
        }
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The ISO form, exactly as the schema writes it (so it round-trips the source text).
impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        Ok(())
    }
}

impl FromStr for PartialDate {
    type Err = DateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A span of time for display, e.g. `Dec 2013 – Dec 2014` or `Mar 2020 – present`.
///
/// `None` when there is no start date: an end date alone reads better as a plain date, which
/// callers can format with [`PartialDate::human`] themselves.
pub fn period(start: Option<&PartialDate>, end: Option<&PartialDate>) -> Option<String> {
    let start = start?;
    Some(match end {
        Some(end) if end == start => start.human(),
        Some(end) => format!("{} – {}", start.human(), end.human()),
        None => format!("{} – present", start.human()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_forms_and_displays_them_as_given() {
        for text in ["2020", "2020-03", "2020-03-14", "1999-12-31", "2024-02-29"] {
            let date = PartialDate::parse(text).expect(text);
            assert_eq!(date.to_string(), text);
        }
    }

    #[test]
    fn human_form_follows_precision() {
        assert_eq!(PartialDate::parse("2020").unwrap().human(), "2020");
        assert_eq!(PartialDate::parse("2020-03").unwrap().human(), "Mar 2020");
        assert_eq!(
            PartialDate::parse("2020-03-14").unwrap().human(),
            "14 Mar 2020"
        );
        assert_eq!(
            PartialDate::parse("2020-12-01").unwrap().human(),
            "1 Dec 2020"
        );
    }

    #[test]
    fn refuses_impossible_months_and_days() {
        assert_eq!(PartialDate::parse("2020-00"), Err(DateError::Month));
        assert_eq!(PartialDate::parse("2020-13"), Err(DateError::Month));
        assert_eq!(PartialDate::parse("2020-19-01"), Err(DateError::Month));
        assert_eq!(
            PartialDate::parse("2020-04-31"),
            Err(DateError::Day { max: 30 })
        );
        assert_eq!(
            PartialDate::parse("2023-02-29"),
            Err(DateError::Day { max: 28 })
        );
        assert_eq!(
            PartialDate::parse("1900-02-29"),
            Err(DateError::Day { max: 28 })
        );
        assert!(PartialDate::parse("2000-02-29").is_ok());
        assert_eq!(
            PartialDate::parse("2020-01-00"),
            Err(DateError::Day { max: 31 })
        );
    }

    #[test]
    fn refuses_other_shapes() {
        for text in [
            "",
            "20",
            "02020",
            "2020-3",
            "2020-03-4",
            "2020/03",
            "2020-03-14T00:00",
            " 2020",
            "２０２０",
            "2020-0a",
            "+202",
            "2020--1",
        ] {
            assert_eq!(PartialDate::parse(text), Err(DateError::Format), "{text:?}");
        }
        assert_eq!(PartialDate::parse("0999"), Err(DateError::Year));
        assert_eq!(PartialDate::parse("3000-01"), Err(DateError::Year));
    }

    #[test]
    fn orders_chronologically() {
        let d = |t| PartialDate::parse(t).unwrap();
        assert!(d("2019-12-31") < d("2020"));
        assert!(d("2020") < d("2020-01"));
        assert!(d("2020-02") < d("2020-10-01"));
    }

    #[test]
    fn period_reads_naturally() {
        let d = |t| PartialDate::parse(t).unwrap();
        assert_eq!(
            period(Some(&d("2013-12")), Some(&d("2014-12"))).as_deref(),
            Some("Dec 2013 – Dec 2014")
        );
        assert_eq!(
            period(Some(&d("2020")), None).as_deref(),
            Some("2020 – present")
        );
        assert_eq!(
            period(Some(&d("2016-08-24")), Some(&d("2016-08-24"))).as_deref(),
            Some("24 Aug 2016")
        );
        assert_eq!(period(None, Some(&d("2020"))), None);
    }
}
