//! A lease record as the scripts keep it (`lua/codec.lua`, their one
//! reader and writer of it, documents the layout):
//! "lease_id|expires_at|acquired_at|stream_id|device_id", then
//! "|device_name" when the lease has a name, or "|device_name|classes" when
//! it has classes. This is the service's one reader of it, and the one
//! writer of the name and classes it carries.
//!
//! Ids cannot contain the separators `|` and `;`, but a device name is free
//! text: it travels to Redis with `%`, `|` and `;` percent-escaped, so the
//! scripts store and copy it without reading it.

use crate::domain::*;

/// The fields of a record: five, six with a name, seven with classes (the
/// name then may be empty).
fn fields(record: &str) -> Option<([&str; 5], Option<&str>, &str)> {
    let mut parts = record.split('|');
    let fields = [parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?];
    let (name, classes) = match (parts.next(), parts.next()) {
        (None, _) => (None, ""),
        (Some(""), None) | (Some(_), Some("")) => return None,
        (Some(name), None) => (Some(name), ""),
        (Some(name), Some(classes)) => ((!name.is_empty()).then_some(name), classes),
    };
    parts.next().is_none().then_some((fields, name, classes))
}

/// The lease a record holds; `None` when it does not read as one.
pub fn decode(record: &str) -> Option<Lease> {
    let ([id, expires_at, acquired_at, stream_id, device_id], name, classes) = fields(record)?;
    Some(Lease {
        lease_id: LeaseId::try_from(id).ok()?,
        stream_id: StreamId::try_from(stream_id).ok()?,
        device_id: match device_id {
            "" => None,
            device => Some(DeviceId::try_from(device).ok()?),
        },
        device_name: match name {
            None => None,
            Some(name) => Some(name_of(name)?),
        },
        classes: match classes {
            "" => Vec::new(),
            classes => classes.split(',').map(|c| ClassName::try_from(c).ok()).collect::<Option<_>>()?,
        },
        acquired_at: acquired_at.parse().ok()?,
        expires_at: expires_at.parse().ok()?,
    })
}

/// When the lease of a record expires, and its classes ("a,b", "" for
/// none), read without decoding the rest (the census reads every user's
/// records).
pub fn expiry_and_classes(record: &str) -> Option<(Millis, &str)> {
    fields(record).and_then(|([_, expires_at, ..], _, classes)| Some((expires_at.parse().ok()?, classes)))
}

/// A lease's classes as the scripts take them: "a,b", "" for none.
pub fn classes_arg(classes: &[ClassName]) -> String {
    let names: Vec<&str> = classes.iter().map(ClassName::as_str).collect();
    names.join(",")
}

/// The class limits the scripts apply where no override states one: each
/// configured class as "name=n" (the token's limit, else the default) or
/// "name=*" (exempt), joined by ','; "" when no class is configured (see
/// `class_limits` in `lua/prelude.lua`).
pub fn class_limits_arg(classes: &Classes, token: Option<&Limits>) -> String {
    let mut arg = String::new();
    for (class, default) in classes.iter() {
        if !arg.is_empty() {
            arg.push(',');
        }
        let limit = match (default, token.and_then(|t| t.of_class(class))) {
            (ClassDefault::Exempt, _) => "*".to_owned(),
            (_, Some(n)) | (&ClassDefault::Limit(n), None) => n.to_string(),
        };
        arg.push_str(&format!("{class}={limit}"));
    }
    arg
}

/// A limit override as stored: the total, then ";class=n,..." when it
/// states class limits ("4", "4;uhd=2,mobile=0").
pub fn encode_override(limits: &Limits) -> String {
    let mut stored = limits.limit.to_string();
    for (i, (class, n)) in limits.classes.iter().enumerate() {
        stored.push(if i == 0 { ';' } else { ',' });
        stored.push_str(&format!("{class}={n}"));
    }
    stored
}

/// The override `encode_override` stored; `None` when it does not read as one.
pub fn decode_override(stored: &str) -> Option<Limits> {
    let (total, classes) = stored.split_once(';').unwrap_or((stored, ""));
    let mut limits = Limits::total(total.parse().ok()?);
    for entry in classes.split(',').filter(|e| !e.is_empty()) {
        let (class, n) = entry.split_once('=')?;
        limits.classes.push((ClassName::try_from(class).ok()?, n.parse().ok()?));
    }
    Some(limits)
}

/// A device name as the scripts take it; `''` for none.
pub fn name_arg(name: Option<&DeviceName>) -> String {
    let Some(name) = name else { return String::new() };
    let mut escaped = String::with_capacity(name.as_str().len());
    for c in name.as_str().chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '|' => escaped.push_str("%7C"),
            ';' => escaped.push_str("%3B"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The device name a record holds, unescaped; `None` when it does not read
/// back as one (a corrupt record).
fn name_of(field: &str) -> Option<DeviceName> {
    let mut name = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('%') {
        name.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        name.push(match escape {
            "%25" => '%',
            "%7C" => '|',
            "%3B" => ';',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    name.push_str(rest);
    DeviceName::try_from(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_goes_through_the_record_and_back() {
        for text in ["TV", "50% | Alice; den", "%7C%", "📺 salon"] {
            let name = DeviceName::try_from(text).unwrap();
            let arg = name_arg(Some(&name));
            assert!(!arg.contains('|') && !arg.contains(';'), "{arg:?}");
            assert_eq!(name_of(&arg), Some(name));
        }
        assert_eq!(name_arg(None), "");
    }

    #[test]
    fn an_override_goes_through_the_store_and_back() {
        let uhd = ClassName::try_from("uhd").unwrap();
        for limits in [Limits::total(4), Limits { limit: 4, classes: vec![(uhd, 0)] }] {
            assert_eq!(decode_override(&encode_override(&limits)), Some(limits));
        }
        assert_eq!(encode_override(&Limits::total(4)), "4", "the form from before classes");
        for bad in ["", "x", "4;uhd", "4;uhd=x", "4;UHD=1", "-1"] {
            assert_eq!(decode_override(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_corrupt_name_is_none_not_a_panic() {
        for field in ["", "%", "%7", "%41", "a\u{1}", "%é1"] {
            assert_eq!(name_of(field), None, "{field:?}");
        }
    }

    #[test]
    fn records_have_five_fields_or_six_or_seven() {
        assert_eq!(fields("a|1|2|s|d").map(|(_, n, c)| (n, c)), Some((None, "")));
        assert_eq!(fields("a|1|2|s||TV").map(|(_, n, c)| (n, c)), Some((Some("TV"), "")));
        assert_eq!(fields("a|1|2|s|d|TV|uhd,hd").map(|(_, n, c)| (n, c)), Some((Some("TV"), "uhd,hd")));
        assert_eq!(fields("a|1|2|s|d||uhd").map(|(_, n, c)| (n, c)), Some((None, "uhd")));
        for bad in ["a|1|2|s", "a|1|2|s|d|", "a|1|2|s|d|n|", "a|1|2|s|d|n|x|y"] {
            assert_eq!(fields(bad), None, "{bad:?}");
        }
    }
}
