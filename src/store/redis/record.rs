//! A lease record as the scripts keep it (`lua/codec.lua`, their one
//! reader and writer of it, documents the layout):
//! "lease_id|expires_at|acquired_at|stream_id|device_id", then
//! "|device_name" when the lease has a name. This is the service's one
//! reader of it, and the one writer of the name it carries.
//!
//! Ids cannot contain the separators `|` and `;`, but a device name is free
//! text: it travels to Redis with `%`, `|` and `;` percent-escaped, so the
//! scripts store and copy it without reading it.

use crate::domain::*;

/// The fields of a record: five, or six with a name.
fn fields(record: &str) -> Option<([&str; 5], Option<&str>)> {
    let mut parts = record.split('|');
    let fields = [parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?];
    let name = parts.next();
    parts.next().is_none().then_some((fields, name))
}

/// The lease a record holds; `None` when it does not read as one.
pub fn decode(record: &str) -> Option<Lease> {
    let ([id, expires_at, acquired_at, stream_id, device_id], name) = fields(record)?;
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
        acquired_at: acquired_at.parse().ok()?,
        expires_at: expires_at.parse().ok()?,
    })
}

/// When the lease of a record expires, read without decoding the rest
/// (the census reads every user's records).
pub fn expires_at(record: &str) -> Option<Millis> {
    fields(record).and_then(|([_, expires_at, ..], _)| expires_at.parse().ok())
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
    fn a_corrupt_name_is_none_not_a_panic() {
        for field in ["", "%", "%7", "%41", "a\u{1}", "%é1"] {
            assert_eq!(name_of(field), None, "{field:?}");
        }
    }

    #[test]
    fn records_have_five_fields_or_six() {
        assert_eq!(fields("a|1|2|s|d").map(|(_, n)| n), Some(None));
        assert_eq!(fields("a|1|2|s||TV").map(|(_, n)| n), Some(Some("TV")));
        assert_eq!(fields("a|1|2|s"), None);
        assert_eq!(fields("a|1|2|s|d|n|x"), None);
    }
}
