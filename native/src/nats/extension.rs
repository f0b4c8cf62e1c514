//! The CloudEvents distributed-tracing extension: the context an event
//! was created in, as the `traceparent` / `tracestate` extension attributes.
//! <https://github.com/cloudevents/spec/blob/main/cloudevents/extensions/distributed-tracing.md>

use cloudevents::Event;
use cloudevents::event::ExtensionValue;

use crate::{TRACEPARENT, TRACESTATE};

/// The event's creation context (distributed-tracing extension): its
/// `traceparent` extension and, if non-empty, `tracestate`. Binary
/// `ce-traceparent` headers and structured top-level `traceparent` members
/// both land here. Values are returned as carried; parse them before use.
pub fn creation_context(event: &Event) -> Option<(String, Option<String>)> {
    let (traceparent, tracestate) = creation_fields(event)?;
    Some((traceparent.to_owned(), tracestate.map(str::to_owned)))
}

/// [`creation_context`], borrowed from the event.
pub(crate) fn creation_fields(event: &Event) -> Option<(&str, Option<&str>)> {
    let text = |name| match event.extension(name)? {
        ExtensionValue::String(s) if !s.is_empty() => Some(s.as_str()),
        _ => None,
    };
    Some((text(TRACEPARENT)?, text(TRACESTATE)))
}

/// Records the creation context on an event that carries none; returns
/// whether it did. An existing `traceparent` is the context the event was
/// created in and is never overwritten (distributed-tracing extension).
/// A stale `tracestate` without a `traceparent` is replaced (or removed).
pub fn set_creation_context_if_absent(
    event: &mut Event,
    traceparent: &str,
    tracestate: Option<&str>,
) -> bool {
    if event.extension(TRACEPARENT).is_some() {
        return false;
    }
    event.set_extension(TRACEPARENT, traceparent);
    match tracestate.filter(|s| !s.is_empty()) {
        Some(ts) => event.set_extension(TRACESTATE, ts),
        None => {
            event.remove_extension(TRACESTATE);
        }
    }
    true
}
/// Records the span in `cx` as the creation context of an event that
/// carries none ([`set_creation_context_if_absent`]); formats the span's
/// fields only when the event needs them and moves them into it.
pub(crate) fn set_span_as_creation_context_if_absent(
    event: &mut Event,
    cx: &opentelemetry::Context,
) -> bool {
    if event.extension(TRACEPARENT).is_some() {
        return false;
    }
    let Some((traceparent, tracestate)) = super::context::w3c_fields(cx) else {
        return false;
    };
    event.set_extension(TRACEPARENT, traceparent);
    match tracestate {
        Some(ts) => event.set_extension(TRACESTATE, ts),
        None => {
            event.remove_extension(TRACESTATE);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn base() -> EventBuilderV10 {
        EventBuilderV10::new().id("id-1").source("/orders").ty("t")
    }

    #[test]
    fn ignores_absent_empty_or_non_string_traceparent() {
        let cases = [
            (base(), "absent"),
            (base().extension(TRACEPARENT, ""), "empty string"),
            (base().extension(TRACEPARENT, 7i64), "integer"),
        ];
        for (builder, reason) in cases {
            assert_eq!(
                creation_context(&builder.build().unwrap()),
                None,
                "{reason}"
            );
        }
    }

    #[test]
    fn set_creation_context_never_overwrites() {
        let mut event = base().extension(TRACEPARENT, TP).build().unwrap();
        let other = "00-11111111111111111111111111111111-2222222222222222-01";
        assert!(!set_creation_context_if_absent(
            &mut event,
            other,
            Some("x=y")
        ));
        assert_eq!(
            creation_context(&event),
            Some((TP.to_owned(), None)),
            "kept"
        );

        let mut event = base().extension(TRACESTATE, "stale=1").build().unwrap();
        assert!(set_creation_context_if_absent(&mut event, other, None));
        assert_eq!(
            creation_context(&event),
            Some((other.to_owned(), None)),
            "stale state dropped"
        );

        let mut event = base().build().unwrap();
        assert!(set_creation_context_if_absent(&mut event, TP, Some("a=b")));
        assert_eq!(
            creation_context(&event),
            Some((TP.to_owned(), Some("a=b".to_owned())))
        );
    }
}
