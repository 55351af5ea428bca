//! An effect of the fault engine as iptables rules, per namespace.

use std::net::Ipv4Addr;

use clusterlab_core::fault::Atom;

/// One rule: the node whose namespace holds it, and its match and target
/// (what follows `-A CLUSTERLAB`).
pub type Rule = (String, Vec<String>);

fn rule(node: &str, spec: &[&str]) -> Rule {
    (
        node.to_string(),
        spec.iter().map(|s| s.to_string()).collect(),
    )
}

/// Drops everything to and from `peer` in `node`'s namespace.
fn cut(node: &str, peer: Ipv4Addr) -> [Rule; 2] {
    let p = peer.to_string();
    [
        rule(node, &["-s", &p, "-j", "DROP"]),
        rule(node, &["-d", &p, "-j", "DROP"]),
    ]
}

/// The rules that put `atom` in effect, given each node's address (`ip`)
/// and the store's (`stores`). Effects that are not network rules (pause,
/// kill) have none. A node without a known address is skipped.
pub fn rules(atom: &Atom, ip: impl Fn(&str) -> Option<Ipv4Addr>, stores: &[Ipv4Addr]) -> Vec<Rule> {
    let mut out = Vec::new();
    match atom {
        Atom::Cut(a, b) => {
            if let (Some(ia), Some(ib)) = (ip(a), ip(b)) {
                out.extend(cut(a, ib));
                out.extend(cut(b, ia));
            }
        }
        Atom::OneWay(a, b) => {
            // Dropped where it arrives: b no longer hears a; b's answers
            // and b's own messages to a still flow.
            if let Some(ia) = ip(a) {
                out.push(rule(b, &["-s", &ia.to_string(), "-j", "DROP"]));
            }
        }
        Atom::Isolate(n) => {
            // Loopback still works, so the node's own processes keep
            // talking to each other.
            out.push(rule(n, &["!", "-i", "lo", "-j", "DROP"]));
            out.push(rule(n, &["!", "-o", "lo", "-j", "DROP"]));
        }
        Atom::CutStore(n) => {
            for s in stores {
                out.extend(cut(n, *s));
            }
        }
        Atom::Loss(n, ppm) => {
            for dir in [["!", "-i", "lo"], ["!", "-o", "lo"]] {
                out.push(drop_randomly(n, &dir, *ppm));
            }
        }
        Atom::ReplyLoss(n, ppm) => {
            // Requests reach the store; its answers do not come back.
            for s in stores {
                let from = s.to_string();
                out.push(drop_randomly(n, &["-s", &from], *ppm));
            }
        }
        Atom::Pause(_)
        | Atom::Down(_)
        | Atom::StoreDown(_)
        | Atom::Left(_)
        | Atom::ReplyDelay(..)
        | Atom::ClockRate(_)
        | Atom::IndexBack
        | Atom::NodeGone
        | Atom::DbUnready(_)
        | Atom::Shape(..) => {}
    }
    out
}

/// The rules of one shaped link, all in the sender's namespace: the
/// shaping is done where the packets leave, so one thread sees them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapedLink {
    /// The sender, whose namespace holds the rules and the shaper.
    pub node: String,
    /// What selects the link's packets (they leave from the sender's
    /// address, to the peer or to anyone but itself).
    pub matching: Vec<String>,
    /// One TEE rule per receiver, when packets are duplicated: the clone
    /// goes straight to the receiver.
    pub duplicates: Vec<Vec<String>>,
}

impl ShapedLink {
    /// The NFQUEUE rule that hands the link's packets to queue `queue`.
    pub fn queue_rule(&self, queue: u16) -> Vec<String> {
        let mut spec = self.matching.clone();
        spec.extend(
            [
                "-j",
                "NFQUEUE",
                "--queue-num",
                &queue.to_string(),
                "--queue-bypass",
            ]
            .map(str::to_string),
        );
        spec
    }
}

/// The link an [`Atom::Shape`] shapes, given each node's (and store node's)
/// address; `everyone` names every node and store node of the run (the
/// receivers of a link to anyone). `None` for other atoms, or when the
/// sender's address is unknown.
pub fn shaped(
    atom: &Atom,
    ip: impl Fn(&str) -> Option<Ipv4Addr>,
    everyone: &[String],
) -> Option<ShapedLink> {
    let Atom::Shape(from, to, s) = atom else {
        return None;
    };
    let me = ip(from)?.to_string();
    let (matching, receivers): (Vec<String>, Vec<Ipv4Addr>) = match to {
        Some(t) => {
            let peer = ip(t)?;
            (
                vec!["-s".into(), me.clone(), "-d".into(), peer.to_string()],
                vec![peer],
            )
        }
        None => (
            vec!["-s".into(), me.clone(), "!".into(), "-d".into(), me.clone()],
            everyone
                .iter()
                .filter(|n| *n != from)
                .filter_map(|n| ip(n))
                .collect(),
        ),
    };
    let duplicates = if s.duplicate_ppm == 0 {
        Vec::new()
    } else {
        receivers
            .iter()
            .map(|r| {
                let r = r.to_string();
                let mut spec: Vec<String> = ["-s", &me, "-d", &r].map(str::to_string).to_vec();
                spec.extend(at_random(s.duplicate_ppm));
                spec.extend(["-j", "TEE", "--gateway", &r].map(str::to_string));
                spec
            })
            .collect()
    };
    Some(ShapedLink {
        node: from.clone(),
        matching,
        duplicates,
    })
}

/// In `node`'s namespace, drops a random `ppm` millionths of what
/// `matching` selects (`-m statistic`: this kernel has no netem).
fn drop_randomly(node: &str, matching: &[&str], ppm: u32) -> Rule {
    let mut spec: Vec<String> = matching.iter().map(|m| m.to_string()).collect();
    spec.extend(at_random(ppm));
    spec.extend(["-j", "DROP"].map(str::to_string));
    (node.to_string(), spec)
}

/// The match of a random `ppm` millionths of the packets.
fn at_random(ppm: u32) -> [String; 6] {
    let p = format!("{:.6}", f64::from(ppm) / 1e6);
    ["-m", "statistic", "--mode", "random", "--probability", &p].map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_effect_names_its_namespaces() {
        let ip = |n: &str| match n {
            "n1" => Some(Ipv4Addr::new(10, 0, 0, 1)),
            "n2" => Some(Ipv4Addr::new(10, 0, 0, 2)),
            _ => None,
        };
        let cut = rules(&Atom::cut("n1", "n2"), ip, &[]);
        assert_eq!(cut.len(), 4);
        assert!(cut.contains(&rule("n1", &["-s", "10.0.0.2", "-j", "DROP"])));
        assert!(cut.contains(&rule("n2", &["-d", "10.0.0.1", "-j", "DROP"])));
        let one = rules(&Atom::OneWay("n1".into(), "n2".into()), ip, &[]);
        assert_eq!(one, [rule("n2", &["-s", "10.0.0.1", "-j", "DROP"])]);
        let store = rules(
            &Atom::CutStore("n1".into()),
            ip,
            &[Ipv4Addr::new(10, 0, 0, 9)],
        );
        assert_eq!(store.len(), 2);
        let loss = rules(&Atom::Loss("n1".into(), 300_000), ip, &[]);
        assert!(loss[0].1.contains(&"0.300000".to_string()), "{loss:?}");
        assert!(rules(&Atom::Down("n1".into()), ip, &[]).is_empty());
    }

    #[test]
    fn a_shaped_link_lives_in_the_senders_namespace() {
        use clusterlab_core::fault::Shaping;
        let ip = |n: &str| match n {
            "n1" => Some(Ipv4Addr::new(10, 0, 0, 1)),
            "n2" => Some(Ipv4Addr::new(10, 0, 0, 2)),
            "s1" => Some(Ipv4Addr::new(10, 0, 0, 9)),
            _ => None,
        };
        let late = Shaping {
            delay_us: 50_000,
            hold_ppm: 1_000_000,
            ..Shaping::default()
        };
        let to_store = shaped(&Atom::Shape("n1".into(), Some("s1".into()), late), ip, &[]).unwrap();
        assert_eq!(to_store.node, "n1");
        assert_eq!(
            to_store.queue_rule(3).join(" "),
            "-s 10.0.0.1 -d 10.0.0.9 -j NFQUEUE --queue-num 3 --queue-bypass"
        );
        assert!(to_store.duplicates.is_empty());
        let everyone = ["n1", "n2", "s1"].map(String::from);
        let twice = Shaping {
            duplicate_ppm: 100_000,
            ..Shaping::default()
        };
        let dup = shaped(&Atom::Shape("s1".into(), None, twice), ip, &everyone).unwrap();
        assert_eq!(dup.node, "s1");
        assert_eq!(dup.matching.join(" "), "-s 10.0.0.9 ! -d 10.0.0.9");
        assert_eq!(dup.duplicates.len(), 2, "one TEE rule per receiver");
        assert!(dup.duplicates[0]
            .join(" ")
            .ends_with("-j TEE --gateway 10.0.0.1"));
        assert!(shaped(&Atom::Pause("n1".into()), ip, &everyone).is_none());
    }
}
