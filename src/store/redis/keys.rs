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
}
