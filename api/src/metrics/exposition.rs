//! The one writer of Prometheus text exposition (format 0.0.4) in the server: every
//! metric family gets its `# HELP` and `# TYPE` lines and its samples, written the same
//! way by the intake, the query index and anchoring. A few counters, gauges and one
//! histogram do not need a metrics library.

use std::fmt::{Display, Write};

/// The metric type of a family.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) -> &mut Exposition {
        let _ = writeln!(
            self.out,
            "# HELP {name} {help}\n# TYPE {name} {}",
            kind.as_str()
        );
        self
    }

    /// One sample of the current family, with `labels` as `name="value"` pairs.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) -> &mut Exposition {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// A family of one unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, kind: Kind, value: impl Display) {
        self.family(name, help, kind).sample(name, &[], value);
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_labelled_samples() {
        let mut e = Exposition::new();
        e.single("a_total", "As.", Kind::Counter, 3);
        e.family("b", "Bs by colour.", Kind::Gauge)
            .sample("b", &[("colour", "red")], 1)
            .sample("b", &[("colour", "blue"), ("size", "xl")], 2.5);
        assert_eq!(
            e.finish(),
            "# HELP a_total As.\n# TYPE a_total counter\na_total 3\n\
             # HELP b Bs by colour.\n# TYPE b gauge\nb{colour=\"red\"} 1\n\
             b{colour=\"blue\",size=\"xl\"} 2.5\n"
        );
    }
}
