//! The shaping faults (`latency`, `jitter`, `reorder`, `duplicate`): a
//! link made slow or untidy rather than cut.

use super::*;

impl Checker<'_> {
    /// A `latency`, `jitter`, `reorder` or `duplicate` fault.
    pub(super) fn shape(&self, f: &RawFault, action: &str, nodes: &[String]) -> Check<Action> {
        let aspan = f.action.span();
        let target = match &f.target {
            Some(t) => self.targets(t, nodes, "target")?,
            None => {
                return Err(self.err(
                    aspan,
                    format!("`{action}` needs `target`"),
                    "target = \"leader\": whose packets are shaped",
                ))
            }
        };
        let peer = match &f.peer {
            None => Peer::All,
            Some(p) => match p.get_ref() {
                Value::String(s) if s == "store" => Peer::Store,
                Value::String(s) if s == "all" => Peer::All,
                _ => Peer::Nodes(self.targets(p, nodes, "peer").map_err(|mut e| {
                    e.hint = Some(
                        "peer = \"store\", \"all\" (the default), or node names and roles".into(),
                    );
                    e
                })?),
            },
        };
        let direction = match f.direction.as_ref().map(|d| (d.get_ref().as_str(), d.span())) {
            None | Some(("both", _)) => Direction::Both,
            Some(("out", _)) => Direction::Out,
            Some(("in", _)) => Direction::In,
            Some((other, span)) => {
                return Err(self.err(
                    span,
                    format!("unknown direction {other:?}"),
                    "direction = \"out\" (what the target sends), \"in\" (what it receives) or \"both\" (the default)",
                ))
            }
        };
        let delay = || -> Check<Duration> {
            let d = f.delay.as_ref().ok_or_else(|| {
                self.err(
                    aspan.clone(),
                    format!("`{action}` needs `delay`"),
                    "delay = \"50ms\"",
                )
            })?;
            let v = d.get_ref().0;
            if v.is_zero() || v > MAX_SHAPE_DELAY {
                return Err(self.err(
                    d.span(),
                    format!("a delay of {v:?}"),
                    &format!(
                        "use a delay above 0 and at most {}s; a longer one is a cut: use `cut-discovery` or `isolate`",
                        MAX_SHAPE_DELAY.as_secs()
                    ),
                ));
            }
            Ok(v)
        };
        let rate = || -> Check<f64> {
            let r = f.rate.as_ref().ok_or_else(|| {
                self.err(
                    aspan.clone(),
                    format!("`{action}` needs `rate`"),
                    "rate = 0.1: one packet in ten",
                )
            })?;
            let v = *r.get_ref();
            if !(v > 0.0 && v <= 1.0) {
                return Err(self.err(
                    r.span(),
                    format!("rate {v} is outside (0, 1]"),
                    "rate = 0.1: one packet in ten",
                ));
            }
            Ok(v)
        };
        let shape = match action {
            "latency" => Shape::Latency { delay: delay()? },
            "jitter" => {
                let delay = delay()?;
                let j = f.jitter.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`jitter` needs `jitter`".into(),
                        "jitter = \"10ms\": each delay is drawn from delay +- jitter",
                    )
                })?;
                let jitter = j.get_ref().0;
                if jitter.is_zero() || jitter > delay {
                    return Err(self.err(
                        j.span(),
                        format!("a jitter of {jitter:?} around a delay of {delay:?}"),
                        "use a jitter above 0 and at most the delay (no packet arrives before it is sent)",
                    ));
                }
                Shape::Jitter { delay, jitter }
            }
            "reorder" => Shape::Reorder {
                rate: rate()?,
                delay: delay()?,
            },
            _ => Shape::Duplicate { rate: rate()? },
        };
        Ok(Action::Shape {
            shape,
            target,
            peer,
            direction,
        })
    }
}
