//! A user's limits: the total, and per stream class ("3 streams, but only
//! 1 in 4K", "at most 2 on phones"), and where each comes from.
//!
//! A class is a name the operator configures (`STREAMLEASE_CLASSES`) with a
//! default limit, or `*`: exempt, counting against no limit at all. An
//! acquire names up to four classes; the lease then counts against the
//! user's total (unless one of its classes is exempt) and against each of
//! its classes. Each limit of a user is decided like the total: an admin
//! override, else the player's token, else the default.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Most classes configured.
pub const MAX_CLASSES: usize = 16;
/// Most classes one lease names.
pub const MAX_CLASSES_PER_LEASE: usize = 4;
/// Longest class name, in bytes.
pub const MAX_CLASS_NAME_LEN: usize = 32;
/// The name a 409 gives the total limit, so no class may take it.
pub const TOTAL: &str = "total";

/// A class name: 1–32 of `a-z 0-9 _ -`. The alphabet has none of the
/// separators the Redis store uses (`|`, `;`, `,`, `=`), so names go into
/// records and script arguments as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClassName(String);

impl ClassName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ClassName {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, String> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
        if s.is_empty() || s.len() > MAX_CLASS_NAME_LEN || !s.bytes().all(allowed) {
            return Err(format!("a class name is 1 to {MAX_CLASS_NAME_LEN} of a-z 0-9 _ -, got {s:?}"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for ClassName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::try_from(s.as_str())
    }
}

impl From<ClassName> for String {
    fn from(c: ClassName) -> String {
        c.0
    }
}

impl fmt::Display for ClassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the configuration says of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassDefault {
    /// At most this many leases of the class by default; 0 forbids it.
    Limit(u32),
    /// `*`: no limit of its own, and leases of the class do not count
    /// against the total (trailers, free content).
    Exempt,
}

/// The configured classes, in the order configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classes(Arc<[(ClassName, ClassDefault)]>);

impl Classes {
    /// Parses `STREAMLEASE_CLASSES`: `name=n` or `name=*`, comma-separated;
    /// `max_limit` bounds `n`.
    pub fn parse(spec: &str, max_limit: u32) -> Result<Self, String> {
        let mut classes: Vec<(ClassName, ClassDefault)> = Vec::new();
        for entry in spec.split(',').map(str::trim) {
            let Some((name, limit)) = entry.split_once('=') else {
                return Err(format!("{entry:?} is not name=limit or name=*"));
            };
            let name = ClassName::try_from(name.trim())?;
            if name.as_str() == TOTAL {
                return Err(format!("{TOTAL:?} names the total limit and cannot be a class"));
            }
            if classes.iter().any(|(known, _)| *known == name) {
                return Err(format!("class {name} is given twice"));
            }
            let default = match limit.trim() {
                "*" => ClassDefault::Exempt,
                n => match n.parse::<u32>() {
                    Ok(n) if n <= max_limit => ClassDefault::Limit(n),
                    _ => return Err(format!("the limit of class {name} is 0 to {max_limit} or *, got {n:?}")),
                },
            };
            classes.push((name, default));
        }
        if classes.len() > MAX_CLASSES {
            return Err(format!("at most {MAX_CLASSES} classes, got {}", classes.len()));
        }
        Ok(Self(classes.into()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(ClassName, ClassDefault)> {
        self.0.iter()
    }

    pub fn default_of(&self, class: &ClassName) -> Option<ClassDefault> {
        self.0.iter().find(|(name, _)| name == class).map(|(_, default)| *default)
    }

    /// The classes an acquire or a restore names: configured, once each, at
    /// most `MAX_CLASSES_PER_LEASE`. The error is for the player to read.
    pub fn check(&self, named: &[ClassName]) -> Result<(), String> {
        if named.len() > MAX_CLASSES_PER_LEASE {
            return Err(format!("a lease names at most {MAX_CLASSES_PER_LEASE} classes, got {}", named.len()));
        }
        for (i, class) in named.iter().enumerate() {
            if self.default_of(class).is_none() {
                return Err(format!("class {class} is not configured (STREAMLEASE_CLASSES)"));
            }
            if named[..i].contains(class) {
                return Err(format!("class {class} is named twice"));
            }
        }
        Ok(())
    }

    /// The classes an admin override states limits for: configured, and not
    /// exempt (exemption is the operator's, not a plan's).
    pub fn check_override(&self, limits: &Limits) -> Result<(), String> {
        for (class, _) in &limits.classes {
            match self.default_of(class) {
                None => return Err(format!("class {class} is not configured (STREAMLEASE_CLASSES)")),
                Some(ClassDefault::Exempt) => {
                    return Err(format!("class {class} is exempt (*): it has no limit to set"));
                }
                Some(ClassDefault::Limit(_)) => {}
            }
        }
        Ok(())
    }
}

/// A user's limits as one source states them (an admin override, or the
/// player's token): the total, and the classes it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub limit: u32,
    pub classes: Vec<(ClassName, u32)>,
}

impl Limits {
    pub fn total(limit: u32) -> Self {
        Self { limit, classes: Vec::new() }
    }

    pub fn of_class(&self, class: &ClassName) -> Option<u32> {
        self.classes.iter().find(|(name, _)| name == class).map(|(_, n)| *n)
    }

    /// Limits as JSON states them, in a token's claim or a `PUT …/limit`:
    /// a whole number (the total alone), or `{"limit": n, "classes":
    /// {"uhd": n}}`. The total is 1 to `max`, a class 0 to `max`; 7.0 counts
    /// as 7, as JSON has it. Other members are ignored. The error says what
    /// is wrong, for a 400.
    pub fn from_json(value: &serde_json::Value, max: u32) -> Result<Self, String> {
        let whole = |value: &serde_json::Value, least: u32| {
            value
                .as_u64()
                .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (least..=max).contains(n))
        };
        if let Some(limit) = whole(value, 1) {
            return Ok(Self::total(limit));
        }
        let Some(object) = value.as_object() else {
            return Err(format!("a limit is a whole number in 1..={max} or {{\"limit\": n, \"classes\": {{...}}}}"));
        };
        let limit = object.get("limit").and_then(|n| whole(n, 1));
        let limit = limit.ok_or_else(|| format!("limit must be a whole number in 1..={max}"))?;
        let mut limits = Self::total(limit);
        match object.get("classes") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(classes)) => {
                if classes.len() > MAX_CLASSES {
                    return Err(format!("at most {MAX_CLASSES} classes"));
                }
                for (name, n) in classes {
                    let class = ClassName::try_from(name.as_str())?;
                    let n = whole(n, 0).ok_or_else(|| format!("the limit of class {class} must be in 0..={max}"))?;
                    limits.classes.push((class, n));
                }
            }
            Some(_) => return Err("classes must be an object of class names to limits".into()),
        }
        Ok(limits)
    }
}

/// One class limit of a user, and what decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassLimit {
    pub class: ClassName,
    /// `None`: exempt, no limit.
    pub limit: Option<u32>,
    pub source: LimitSource,
}

/// Every limit of a user: the total and one per configured class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLimits {
    pub total: UserLimit,
    pub classes: Vec<ClassLimit>,
}

impl UserLimits {
    /// Each limit from the override if it states it, else the token, else
    /// the configured default. An exempt class stays exempt whatever either
    /// says: exemption is the operator's, not a plan's.
    pub fn decide(default_limit: u32, classes: &Classes, overridden: Option<&Limits>, token: Option<&Limits>) -> Self {
        let total = match (overridden, token) {
            (Some(o), _) => UserLimit { limit: o.limit, source: LimitSource::Override },
            (None, Some(t)) => UserLimit { limit: t.limit, source: LimitSource::Token },
            (None, None) => UserLimit { limit: default_limit, source: LimitSource::Default },
        };
        let classes = classes
            .iter()
            .map(|(class, default)| {
                let (limit, source) = match *default {
                    ClassDefault::Exempt => (None, LimitSource::Default),
                    ClassDefault::Limit(n) => match (overridden.and_then(|o| o.of_class(class)), token) {
                        (Some(o), _) => (Some(o), LimitSource::Override),
                        (None, Some(t)) if t.of_class(class).is_some() => (t.of_class(class), LimitSource::Token),
                        _ => (Some(n), LimitSource::Default),
                    },
                };
                ClassLimit { class: class.clone(), limit, source }
            })
            .collect();
        Self { total, classes }
    }

    fn class(&self, class: &ClassName) -> Option<&ClassLimit> {
        self.classes.iter().find(|c| c.class == *class)
    }

    /// Whether a lease of `classes` counts against the total: unless one of
    /// them is exempt. A class no longer configured counts like none.
    pub fn counts_toward_total(&self, classes: &[ClassName]) -> bool {
        !classes.iter().any(|c| self.class(c).is_some_and(|c| c.limit.is_none()))
    }

    /// The limits a lease of `classes` counts against: its limited classes
    /// in its order, then the total. Refusals name the first that is full,
    /// and evictions go in this order, since ending a lease of a class also
    /// frees a slot of the total.
    pub fn bounds(&self, classes: &[ClassName]) -> Vec<LimitClass> {
        let mut bounds: Vec<LimitClass> = classes
            .iter()
            .filter(|c| self.class(c).is_some_and(|c| c.limit.is_some()))
            .map(|c| LimitClass::Class(c.clone()))
            .collect();
        if self.counts_toward_total(classes) {
            bounds.push(LimitClass::Total);
        }
        bounds
    }

    /// The value of a bound and what decided it.
    pub fn of(&self, bound: &LimitClass) -> UserLimit {
        match bound {
            LimitClass::Total => self.total,
            LimitClass::Class(class) => match self.class(class) {
                Some(ClassLimit { limit: Some(limit), source, .. }) => UserLimit { limit: *limit, source: *source },
                // `bounds` names only limited classes.
                _ => UserLimit { limit: u32::MAX, source: LimitSource::Default },
            },
        }
    }

    /// Whether a lease of `classes` counts against `bound`.
    pub fn counts_against(&self, classes: &[ClassName], bound: &LimitClass) -> bool {
        match bound {
            LimitClass::Total => self.counts_toward_total(classes),
            LimitClass::Class(class) => classes.contains(class),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    Default,
    /// The player's token carried it (`STREAMLEASE_JWT_LIMIT_CLAIM`).
    Token,
    Override,
}

impl LimitSource {
    /// Where a limit came from, given whether the store's override decided
    /// it and whether the token stated it: override, then token, then the
    /// default.
    pub fn of(overridden: bool, token_states_it: bool) -> Self {
        match (overridden, token_states_it) {
            (true, _) => LimitSource::Override,
            (false, true) => LimitSource::Token,
            (false, false) => LimitSource::Default,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLimit {
    pub limit: u32,
    pub source: LimitSource,
}

/// Which limit refused: the total, or a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitClass {
    Total,
    Class(ClassName),
}

impl LimitClass {
    pub fn as_str(&self) -> &str {
        match self {
            LimitClass::Total => TOTAL,
            LimitClass::Class(class) => class.as_str(),
        }
    }
}

impl Serialize for LimitClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str) -> ClassName {
        ClassName::try_from(name).unwrap()
    }

    #[test]
    fn the_configuration_reads_limits_and_exemptions_in_order() {
        let classes = Classes::parse("uhd=1, mobile=2,trailer=*,live=0", 1000).unwrap();
        let read: Vec<_> = classes.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        assert_eq!(
            read,
            [
                ("uhd", ClassDefault::Limit(1)),
                ("mobile", ClassDefault::Limit(2)),
                ("trailer", ClassDefault::Exempt),
                ("live", ClassDefault::Limit(0))
            ]
        );
        let seventeen: Vec<String> = (0..17).map(|i| format!("c{i}=1")).collect();
        for bad in [
            "",
            "uhd",
            "uhd=",
            "uhd=-1",
            "uhd=1001",
            "UHD=1",
            "u hd=1",
            "uhd=1,uhd=2",
            "total=1",
            "a234567890123456789012345678901234=1",
            &seventeen.join(","),
        ] {
            assert!(Classes::parse(bad, 1000).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_acquire_names_configured_classes_once_each_at_most_four() {
        let classes = Classes::parse("a=1,b=1,c=1,d=1,e=1", 1000).unwrap();
        assert!(classes.check(&[class("a"), class("e")]).is_ok());
        assert!(classes.check(&[class("a"), class("a")]).is_err());
        assert!(classes.check(&[class("x")]).is_err());
        assert!(classes.check(&["a", "b", "c", "d", "e"].map(class)).is_err());
    }

    #[test]
    fn each_limit_comes_from_the_override_else_the_token_else_the_default() {
        let classes = Classes::parse("uhd=1,mobile=2,trailer=*", 1000).unwrap();
        let overridden = Limits { limit: 5, classes: vec![(class("uhd"), 2)] };
        let token = Limits { limit: 4, classes: vec![(class("uhd"), 3), (class("mobile"), 0), (class("trailer"), 1)] };
        let limits = UserLimits::decide(3, &classes, Some(&overridden), Some(&token));
        assert_eq!(limits.total, UserLimit { limit: 5, source: LimitSource::Override });
        let by_class: Vec<_> = limits.classes.iter().map(|c| (c.class.as_str(), c.limit, c.source)).collect();
        assert_eq!(
            by_class,
            [
                ("uhd", Some(2), LimitSource::Override),
                ("mobile", Some(0), LimitSource::Token),
                ("trailer", None, LimitSource::Default)
            ]
        );
        let plain = UserLimits::decide(3, &classes, None, None);
        assert_eq!(plain.of(&LimitClass::Class(class("mobile"))), UserLimit { limit: 2, source: LimitSource::Default });
    }

    #[test]
    fn limits_read_from_json_as_a_number_or_an_object() {
        use serde_json::json;
        assert_eq!(Limits::from_json(&json!(4), 1000), Ok(Limits::total(4)));
        assert_eq!(Limits::from_json(&json!(7.0), 1000), Ok(Limits::total(7)));
        let object = json!({"limit": 4, "classes": {"uhd": 0}, "plan": "premium"});
        assert_eq!(Limits::from_json(&object, 1000), Ok(Limits { limit: 4, classes: vec![(class("uhd"), 0)] }));
        for bad in [
            json!(0),
            json!(1001),
            json!("2"),
            json!({}),
            json!({"limit": 0}),
            json!({"limit": 2, "classes": []}),
            json!({"limit": 2, "classes": {"UHD": 1}}),
            json!({"limit": 2, "classes": {"uhd": -1}}),
            json!({"limit": 2, "classes": {"uhd": 1.5}}),
        ] {
            assert!(Limits::from_json(&bad, 1000).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_exempt_class_frees_its_leases_from_the_total() {
        let classes = Classes::parse("uhd=1,trailer=*", 1000).unwrap();
        let limits = UserLimits::decide(3, &classes, None, None);
        assert_eq!(limits.bounds(&[class("uhd")]), [LimitClass::Class(class("uhd")), LimitClass::Total]);
        assert_eq!(limits.bounds(&[class("trailer")]), []);
        assert_eq!(limits.bounds(&[class("uhd"), class("trailer")]), [LimitClass::Class(class("uhd"))]);
        assert_eq!(limits.bounds(&[class("gone")]), [LimitClass::Total], "a class no longer configured");
    }
}
