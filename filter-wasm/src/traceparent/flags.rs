//! The `trace-flags` field: `sampled`, `random`, and the bits version `00`
//! does not define. <https://www.w3.org/TR/trace-context-2/#trace-flags>

/// The 8-bit `trace-flags` field.
/// <https://www.w3.org/TR/trace-context-2/#trace-flags>
///
/// Holds the bits as received; [`TraceFlags::known`] keeps only the flags
/// version `00` defines, as required before propagating.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraceFlags(pub(super) u8);

// === impl TraceFlags ===

impl TraceFlags {
    /// The caller may have recorded trace data.
    /// <https://www.w3.org/TR/trace-context-2/#sampled-flag>
    pub const SAMPLED: Self = Self(0x01);

    /// The rightmost 7 bytes of the trace-id are random (Level 2).
    /// <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>
    pub const RANDOM: Self = Self(0x02);

    /// The flags version `00` defines; all other bits are unknown.
    /// <https://www.w3.org/TR/trace-context-2/#other-flags>
    const KNOWN_MASK: u8 = Self::SAMPLED.0 | Self::RANDOM.0;

    /// Flags from the raw byte, unknown bits included.
    pub const fn from_u8(bits: u8) -> Self {
        Self(bits)
    }

    /// The raw byte.
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// Whether the sampled flag is set.
    /// <https://www.w3.org/TR/trace-context-2/#sampled-flag>
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the random trace-id flag is set.
    /// <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with the sampled flag set to `sampled`.
    /// <https://www.w3.org/TR/trace-context-2/#sampled-flag>
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED.0)
        } else {
            Self(self.0 & !Self::SAMPLED.0)
        }
    }

    /// Only the flags version `00` defines (sampled and random): the others
    /// are unknown, and "vendors MUST set those to zero" when propagating.
    /// <https://www.w3.org/TR/trace-context-2/#other-flags>
    #[must_use]
    pub const fn known(self) -> Self {
        Self(self.0 & Self::KNOWN_MASK)
    }
}
