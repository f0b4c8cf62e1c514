//! Metrics defined by the guest, with Envoy's rules (`Context::defineMetric`,
//! `incrementMetric`, `recordMetric`, `getMetric`): the metric type lives in
//! the low two bits of the id, counters only grow, recording into a counter
//! adds, into a gauge sets, into a histogram samples.

use std::collections::HashMap;

use super::abi::{MetricType, Status};

const TYPE_MASK: u32 = 0x3;
const ID_INCREMENT: u32 = 0x4;

#[derive(Debug)]
struct Metric {
    kind: MetricType,
    value: u64,
    samples: Vec<u64>,
}

/// Every metric the guest defined.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    by_id: HashMap<u32, Metric>,
    by_name: HashMap<(MetricType, String), u32>,
    next: u32,
}

// === impl Metrics ===

impl Metrics {
    /// Defines (or finds) a metric; the same type and name give the same id.
    pub(crate) fn define(&mut self, kind: u32, name: &str) -> Result<u32, Status> {
        let kind = MetricType::from_abi(kind).ok_or(Status::BadArgument)?;
        if let Some(id) = self.by_name.get(&(kind, name.to_string())) {
            return Ok(*id);
        }
        self.next += ID_INCREMENT;
        let id = self.next | kind as u32;
        let metric = Metric {
            kind,
            value: 0,
            samples: Vec::new(),
        };
        self.by_id.insert(id, metric);
        self.by_name.insert((kind, name.to_string()), id);
        Ok(id)
    }

    fn kind_of(id: u32) -> Option<MetricType> {
        MetricType::from_abi(id & TYPE_MASK)
    }

    /// `proxy_increment_metric`: counters take only positive offsets,
    /// gauges go both ways, histograms cannot be incremented.
    pub(crate) fn increment(&mut self, id: u32, offset: i64) -> Result<(), Status> {
        match Self::kind_of(id) {
            Some(MetricType::Counter) | Some(MetricType::Gauge) => {}
            _ => return Err(Status::BadArgument),
        }
        let metric = self.by_id.get_mut(&id).ok_or(Status::NotFound)?;
        match (metric.kind, offset > 0) {
            (MetricType::Counter, false) => return Err(Status::BadArgument),
            (_, true) => metric.value = metric.value.saturating_add(offset.unsigned_abs()),
            (_, false) => metric.value = metric.value.saturating_sub(offset.unsigned_abs()),
        }
        Ok(())
    }

    /// `proxy_record_metric`.
    pub(crate) fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        let metric = self.by_id.get_mut(&id).ok_or(Status::NotFound)?;
        match metric.kind {
            MetricType::Counter => metric.value = metric.value.saturating_add(value),
            MetricType::Gauge => metric.value = value,
            MetricType::Histogram => metric.samples.push(value),
        }
        Ok(())
    }

    /// `proxy_get_metric`: histograms have no single value.
    pub(crate) fn get(&self, id: u32) -> Result<u64, Status> {
        match Self::kind_of(id) {
            Some(MetricType::Counter) | Some(MetricType::Gauge) => {}
            _ => return Err(Status::BadArgument),
        }
        self.by_id.get(&id).map(|m| m.value).ok_or(Status::NotFound)
    }

    /// The value of the counter or gauge called `name`.
    pub(crate) fn value(&self, name: &str) -> Option<u64> {
        [MetricType::Counter, MetricType::Gauge]
            .into_iter()
            .find_map(|kind| self.by_name.get(&(kind, name.to_string())))
            .and_then(|id| self.by_id.get(id))
            .map(|m| m.value)
    }

    /// The samples recorded into the histogram called `name`.
    pub(crate) fn samples(&self, name: &str) -> Option<&[u64]> {
        self.by_name
            .get(&(MetricType::Histogram, name.to_string()))
            .and_then(|id| self.by_id.get(id))
            .map(|m| m.samples.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_grow() {
        let mut m = Metrics::default();
        let id = m.define(0, "c").expect("define");
        assert_eq!(m.define(0, "c"), Ok(id), "same name, same metric");
        m.increment(id, 2).expect("inc");
        assert_eq!(m.increment(id, 0), Err(Status::BadArgument), "zero offset");
        assert_eq!(
            m.increment(id, -1),
            Err(Status::BadArgument),
            "negative offset"
        );
        m.record(id, 3).expect("record adds to a counter");
        assert_eq!(m.get(id), Ok(5));
        assert_eq!(m.value("c"), Some(5));
    }

    #[test]
    fn gauges_move_both_ways_and_record_sets() {
        let mut m = Metrics::default();
        let id = m.define(1, "g").expect("define");
        m.increment(id, 5).expect("up");
        m.increment(id, -2).expect("down");
        assert_eq!(m.get(id), Ok(3));
        m.record(id, 42).expect("set");
        assert_eq!(m.value("g"), Some(42));
    }

    #[test]
    fn histograms_sample_and_have_no_value() {
        let mut m = Metrics::default();
        let id = m.define(2, "h").expect("define");
        m.record(id, 7).expect("sample");
        assert_eq!(m.increment(id, 1), Err(Status::BadArgument));
        assert_eq!(m.get(id), Err(Status::BadArgument));
        assert_eq!(m.samples("h"), Some(&[7][..]));
        assert_eq!(m.value("h"), None);
    }

    #[test]
    fn unknown_ids_and_types() {
        let mut m = Metrics::default();
        assert_eq!(m.define(3, "x"), Err(Status::BadArgument), "unknown type");
        assert_eq!(
            m.increment(4, 1),
            Err(Status::NotFound),
            "counter id never defined"
        );
        assert_eq!(m.record(4, 1), Err(Status::NotFound));
        assert_eq!(m.get(5), Err(Status::NotFound), "gauge id never defined");
    }
}
