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
        | Atom::NodeGone => {}
    }
    out
}

/// In `node`'s namespace, drops a random `ppm` millionths of what
/// `matching` selects (`-m statistic`: this kernel has no netem).
fn drop_randomly(node: &str, matching: &[&str], ppm: u32) -> Rule {
    let p = format!("{:.6}", f64::from(ppm) / 1e6);
    let mut spec = matching.to_vec();
    spec.extend([
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        &p,
        "-j",
        "DROP",
    ]);
    rule(node, &spec)
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
}
