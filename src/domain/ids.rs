//! Validated identifiers: once a value has one of these types, it is safe to
//! put in a Redis key, a log line or a JSON body. Device names are free text
//! the viewer reads, checked for length and hidden characters only; the
//! Redis store escapes them.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest id we accept, in bytes. Bounds key sizes and per-lease memory.
pub const MAX_ID_LEN: usize = 128;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be 1 to {MAX_ID_LEN} bytes long, got {0}")]
    Length(usize),
    #[error("may contain only A-Z a-z 0-9 - _ . : @")]
    Charset,
    #[error("must not be made only of dots")]
    OnlyDots,
    #[error("must be a UUID")]
    NotUuid,
}

/// The id alphabet excludes `{`, `}`, `|` and `;` on purpose: `{` and `}` would
/// break the per-user Redis Cluster hash tag, and `|` and `;` separate fields
/// and records in what the Redis store keeps. Ids of dots alone (`.`, `..`)
/// are path segments to every URL library: a client that normalises
/// `/v1/users/../leases/{id}` would call another route.
fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() || s.len() > MAX_ID_LEN {
        return Err(IdError::Length(s.len()));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@');
    if !s.bytes().all(allowed) {
        return Err(IdError::Charset);
    }
    if s.bytes().all(|b| b == b'.') { Err(IdError::OnlyDots) } else { Ok(()) }
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                check_id(&s)?;
                Ok(Self(s))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                check_id(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The account that owns the limit.
    UserId
);
text_id!(
    /// What is being played; informational, shown back to players.
    StreamId
);
text_id!(
    /// The player's device; at most one lease per device and user.
    DeviceId
);

/// Most characters in a device name: room for "Living-room TV (Samsung)"
/// and the like, little enough for a chooser's row.
pub const MAX_DEVICE_NAME_CHARS: usize = 64;

/// Why a string is not a valid device name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceNameError {
    #[error("device_name must be 1 to {MAX_DEVICE_NAME_CHARS} characters long, got {0}")]
    Length(usize),
    #[error("device_name must not contain control or bidirectional formatting characters (U+{0:04X})")]
    Control(u32),
}

/// What the viewer calls the device ("Living-room TV"), shown in the
/// limit chooser. Free text, so any printable character: controls are
/// refused, and so are the bidirectional overrides and isolates, which
/// would let a name display as something other than what it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceName(String);

impl DeviceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceName {
    type Error = DeviceNameError;
    fn try_from(s: String) -> Result<Self, DeviceNameError> {
        let chars = s.chars().count();
        if chars == 0 || chars > MAX_DEVICE_NAME_CHARS {
            return Err(DeviceNameError::Length(chars));
        }
        let hidden = |c: char| {
            c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        };
        match s.chars().find(|&c| hidden(c)) {
            Some(c) => Err(DeviceNameError::Control(c.into())),
            None => Ok(Self(s)),
        }
    }
}

impl TryFrom<&str> for DeviceName {
    type Error = DeviceNameError;
    fn try_from(s: &str) -> Result<Self, DeviceNameError> {
        Self::try_from(s.to_owned())
    }
}

impl From<DeviceName> for String {
    fn from(name: DeviceName) -> String {
        name.0
    }
}

/// A lease's server-made id (UUID v4), always shown in hyphenated lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LeaseId(Uuid);

impl LeaseId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl TryFrom<&str> for LeaseId {
    type Error = IdError;
    fn try_from(s: &str) -> Result<Self, IdError> {
        Uuid::try_parse(s).map(Self).map_err(|_| IdError::NotUuid)
    }
}

impl TryFrom<String> for LeaseId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::try_from(s.as_str())
    }
}

impl From<LeaseId> for String {
    fn from(id: LeaseId) -> String {
        id.to_string()
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(UserId::try_from("Alice-01_x.y:z@example").is_ok());
        assert!(UserId::try_from("a".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_foreign_characters() {
        assert_eq!(UserId::try_from(""), Err(IdError::Length(0)));
        assert_eq!(UserId::try_from("a".repeat(129)), Err(IdError::Length(129)));
        for bad in ["a b", "a/b", "{a}", "a|b", "é", "a\n", "a%20"] {
            assert_eq!(UserId::try_from(bad), Err(IdError::Charset), "{bad:?}");
        }
        for dots in [".", "..", "..."] {
            assert_eq!(UserId::try_from(dots), Err(IdError::OnlyDots), "{dots:?}");
        }
        assert!(UserId::try_from(".a.").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_accepted_exactly_when_it_fits_the_alphabet(s in "\\PC{0,140}|[A-Za-z0-9._:@-]{0,140}|[.]{1,3}") {
            let fits = !s.is_empty()
                && s.len() <= MAX_ID_LEN
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
                && s.bytes().any(|b| b != b'.');
            proptest::prop_assert_eq!(UserId::try_from(s.as_str()).is_ok(), fits);
            proptest::prop_assert_eq!(LeaseId::try_from(s.as_str()).is_ok(), uuid::Uuid::try_parse(&s).is_ok());
        }
    }

    #[test]
    fn device_names_are_short_printable_text() {
        for good in ["TV", "Alice's iPad | living room; 2nd", "Télé du salon 📺", &"é".repeat(64)] {
            assert_eq!(DeviceName::try_from(good).map(String::from).as_deref(), Ok(good));
        }
        assert_eq!(DeviceName::try_from(""), Err(DeviceNameError::Length(0)));
        assert_eq!(DeviceName::try_from("a".repeat(65)), Err(DeviceNameError::Length(65)));
        for (bad, code) in
            [("a\nb", 0x0a), ("\u{7f}", 0x7f), ("a\u{85}", 0x85), ("\u{202E}vt", 0x202e), ("x\u{2066}", 0x2066)]
        {
            assert_eq!(DeviceName::try_from(bad), Err(DeviceNameError::Control(code)), "{bad:?}");
        }
    }

    #[test]
    fn lease_ids_are_uuids_shown_in_lower_case() {
        let id = LeaseId::try_from("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        assert_eq!(id.to_string(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert_eq!(LeaseId::try_from("nope"), Err(IdError::NotUuid));
    }
}
