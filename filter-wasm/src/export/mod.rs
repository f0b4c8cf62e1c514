//! From finished spans to export calls, without the host: the OTLP
//! encoder ([`otlp`]), the bounded per-VM batch ([`batch`]) and the
//! collector target the calls go to ([`target`]). The calls themselves are
//! made by the host glue (`host::export`).

pub mod batch;
pub mod otlp;
pub mod target;
