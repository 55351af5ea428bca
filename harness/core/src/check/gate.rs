//! When each check runs: the `[expect]` key that turns it on, or what else
//! decides. Written once, read by the code that runs the checks
//! ([`super::safety::enabled`], [`super::liveness::evaluate`]) and held to
//! the book's table of checks (docs/src/checks.md) by a test, so the two cannot disagree.

use clusterlab_scenario::Expect;

/// Each check, and when it runs, in the book's words (docs/src/checks.md).
pub const GATES: &[(&str, &str)] = &[
    ("single-leader", "`single_leader`"),
    ("single-bootstrap", "`single_bootstrap`"),
    ("leader-key-expiry", "`leader_key_matches`"),
    ("registered", "`announced_equals_live`"),
    ("fencing", "`single_leader`"),
    ("window-within-lease", "`single_leader`"),
    ("stable", "`announced_equals_live`"),
    ("leader-key-follows", "`leader_key_matches`"),
    ("clean-stop", "`announced_equals_live`"),
    ("claim-lapse", "`single_bootstrap`"),
    (
        "bounded-waits",
        "always (where the agents report their phases)",
    ),
    ("membership", "always"),
    ("one-leader", "`single_leader`"),
    ("leader-key", "`leader_key_matches`"),
    ("peers", "`announced_equals_live`"),
    ("bootstrapped", "`single_bootstrap`"),
    ("announced-live", "`announced_equals_live`"),
    ("converged", "always"),
    ("failover", "`failover_within`"),
    ("formed-before-fault", "always (scenario schedules)"),
    ("fault-target", "always (scenario schedules)"),
    (
        "linearizable",
        "a register workload; always in the simulator",
    ),
    ("set", "a set or messages workload"),
    ("no-lost-writes", "a writes workload"),
    ("rogue", "a secured store (`tls = true`)"),
    ("no-leftovers", "always (containers)"),
    ("run", "always (containers)"),
];

/// Whether the check `name`, turned on by an `[expect]` key, runs under
/// `expect`; true for a check no key turns off.
pub fn on(name: &str, expect: &Expect) -> bool {
    match GATES.iter().find(|(n, _)| *n == name).map(|(_, g)| *g) {
        Some("`single_leader`") => expect.single_leader,
        Some("`single_bootstrap`") => expect.single_bootstrap,
        Some("`leader_key_matches`") => expect.leader_key_matches,
        Some("`announced_equals_live`") => expect.announced_equals_live,
        Some("`failover_within`") => expect.failover_within.is_some(),
        _ => true,
    }
}
