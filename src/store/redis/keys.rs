//! Redis key names. Every key of a user carries the hash tag `{user_id}`, so
//! each script touches one Redis Cluster slot.

use crate::domain::UserId;

#[derive(Debug, Clone)]
pub struct KeySpace {
    prefix: String,
}

/// The three keys of one user (see `lua/prelude.lua` for what they hold).
pub struct UserKeys {
    pub leases: String,
    pub ended: String,
    pub limit: String,
}

impl KeySpace {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// SCAN pattern matching every user's leases key (braces are literal in
    /// Redis globs, and the prefix alphabet has no glob characters).
    pub fn leases_pattern(&self) -> String {
        format!("{}:{{*}}:l", self.prefix)
    }

    /// The user whose leases key this is; `None` for anything else.
    pub fn user_of_leases_key(&self, key: &str) -> Option<UserId> {
        let inner = key.strip_prefix(&self.prefix)?.strip_prefix(":{")?.strip_suffix("}:l")?;
        UserId::try_from(inner).ok()
    }

    /// Held by the instance that takes the fleet's census.
    pub fn census_lock_key(&self) -> String {
        format!("{}:census:lock", self.prefix)
    }

    /// The last census summary, for every instance to publish.
    pub fn census_summary_key(&self) -> String {
        format!("{}:census:summary", self.prefix)
    }

    /// The key `/readyz` writes (with a TTL) to prove Redis takes writes.
    pub fn ready_key(&self) -> String {
        format!("{}:readyz", self.prefix)
    }

    pub fn user(&self, user: &UserId) -> UserKeys {
        let base = format!("{}:{{{}}}:", self.prefix, user);
        UserKeys { leases: format!("{base}l"), ended: format!("{base}e"), limit: format!("{base}limit") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_user_hash_tag() {
        let keys = KeySpace::new("sl").user(&UserId::try_from("alice").unwrap());
        assert_eq!(keys.leases, "sl:{alice}:l");
        assert_eq!(keys.ended, "sl:{alice}:e");
        assert_eq!(keys.limit, "sl:{alice}:limit");
    }

    #[test]
    fn a_leases_key_names_its_user() {
        let space = KeySpace::new("sl");
        assert_eq!(space.leases_pattern(), "sl:{*}:l");
        assert_eq!(space.user_of_leases_key("sl:{a:b@c}:l").unwrap().as_str(), "a:b@c");
        for foreign in ["sl:{alice}:e", "other:{alice}:l", "sl:{}:l", "sl:{a b}:l", "sl:alice:l"] {
            assert_eq!(space.user_of_leases_key(foreign), None, "{foreign}");
        }
    }
}
