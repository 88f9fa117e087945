//! The label values of the operation and store metrics, as enums: a label
//! cannot be misspelled, and each one's text is written once.

/// Declares a label enum: its variants, each one's text, and all of them.
macro_rules! label {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }
    };
}

label!(
    /// A lease operation: the `operation` of `streamlease_lease_operations_total`.
    Operation {
        Acquire => "acquire",
        Heartbeat => "heartbeat",
        Release => "release",
        Revoke => "revoke",
        // Leases ended by someone else's acquire, counted per lease.
        Evict => "evict",
        Terminate => "terminate",
    }
);

label!(
    /// How a lease operation ended: the `outcome` of
    /// `streamlease_lease_operations_total`.
    Outcome {
        Created => "created",
        Renewed => "renewed",
        Restored => "restored",
        Denied => "denied",
        NotFound => "not_found",
        Ended => "ended",
        Released => "released",
        AlreadyGone => "already_gone",
        Revoked => "revoked",
        Evicted => "evicted",
        Terminated => "terminated",
        StoreError => "store_error",
        // Answered in fail-open mode while the store was down.
        Degraded => "degraded",
        // Refused at once under overload, never sent to the store.
        Shed => "shed",
    }
);

label!(
    /// A call the service makes to the store: the `operation` of the store
    /// metrics.
    StoreCall {
        Acquire => "acquire",
        Heartbeat => "heartbeat",
        Release => "release",
        List => "list",
        Revoke => "revoke",
        GetLimit => "get_limit",
        SetLimit => "set_limit",
        Ping => "ping",
        Census => "census",
        CensusLock => "census_lock",
        CensusSummary => "census_summary",
        Withdraw => "withdraw",
    }
);

impl Operation {
    /// The outcomes this operation can have; each pair exists (at 0) from
    /// startup, so rates and alerts work before the first event.
    pub fn outcomes(self) -> &'static [Outcome] {
        use Outcome::*;
        match self {
            Operation::Acquire => &[Created, Renewed, Denied, StoreError, Degraded, Shed],
            Operation::Heartbeat => &[Renewed, Restored, Denied, NotFound, Ended, StoreError, Degraded, Shed],
            Operation::Release => &[Released, AlreadyGone, StoreError, Shed],
            Operation::Revoke => &[Revoked, StoreError, Shed],
            Operation::Evict => &[Evicted],
            Operation::Terminate => &[Terminated],
        }
    }
}
