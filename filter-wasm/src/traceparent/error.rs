//! Why a `traceparent` value is rejected.

/// Why a `traceparent` value was rejected. Every variant means the header
/// is treated as absent and the trace restarts.
/// <https://www.w3.org/TR/trace-context-2/#versioning-of-traceparent>
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    /// Version `00` must be exactly 55 characters; a later version at least
    /// 55 (shorter values cannot be parsed at all).
    /// <https://www.w3.org/TR/trace-context-2/#versioning-of-traceparent>
    #[error(
        "traceparent is {len} characters long; version 00 must be exactly 55, later versions at least 55"
    )]
    Length {
        /// The length of the rejected value, in bytes.
        len: usize,
    },
    /// The version is not two lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#version>
    #[error("traceparent version is not two lowercase hex digits")]
    Version,
    /// The version is `ff`, which is invalid in every version of the spec.
    /// <https://www.w3.org/TR/trace-context-2/#version>
    #[error("traceparent version ff is invalid")]
    UnsupportedVersion,
    /// A `-` was expected at byte offset `at` (2, 35 or 52).
    /// <https://www.w3.org/TR/trace-context-2/#traceparent-header-field-values>
    #[error("traceparent has no `-` separator at offset {at}")]
    Separator {
        /// The byte offset where a `-` was required.
        at: usize,
    },
    /// The trace-id is not 32 lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#trace-id>
    #[error("traceparent trace-id is not 32 lowercase hex digits")]
    TraceId,
    /// The trace-id is all zeros.
    /// <https://www.w3.org/TR/trace-context-2/#trace-id>
    #[error("traceparent trace-id is all zeros")]
    ZeroTraceId,
    /// The parent-id is not 16 lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#parent-id>
    #[error("traceparent parent-id is not 16 lowercase hex digits")]
    ParentId,
    /// The parent-id is all zeros.
    /// <https://www.w3.org/TR/trace-context-2/#parent-id>
    #[error("traceparent parent-id is all zeros")]
    ZeroParentId,
    /// The trace-flags are not two lowercase hex digits.
    /// <https://www.w3.org/TR/trace-context-2/#trace-flags>
    #[error("traceparent trace-flags are not two lowercase hex digits")]
    Flags,
    /// In a later version, the flags are followed by something other than
    /// the end of the value or a `-` (for example the `,` that joins two
    /// `traceparent` headers).
    /// <https://www.w3.org/TR/trace-context-2/#versioning-of-traceparent>
    #[error("traceparent trace-flags are followed by something other than `-` or the end")]
    TrailingData,
}
