//! Work in progress, counted where it happens (hashing, database work) so that the metrics can
//! read it. The counts are prometheus-client gauges: shared atomics that know nothing of HTTP.

pub use prometheus_client::metrics::gauge::Gauge;

/// One unit of work counted in a gauge for as long as this is held, however the work ends: a
/// request dropped half-way (its client gone) gives its count back too.
pub struct Held(Gauge);

impl Held {
    pub fn new(gauge: &Gauge) -> Held {
        gauge.inc();
        Held(gauge.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_unit_counts_until_it_is_dropped() {
        let gauge = Gauge::default();
        let first = Held::new(&gauge);
        let second = Held::new(&gauge);
        assert_eq!(gauge.get(), 2);
        drop(first);
        assert_eq!(gauge.get(), 1);
        drop(second);
        assert_eq!(gauge.get(), 0);
    }
}
