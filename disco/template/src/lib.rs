//! disco-agent's command templates: the database's command line written
//! once, with placeholders that disco fills from the resolved peers.
//!
//! A crate of its own, with no I/O and no store client, so that the
//! scenario format can check a template without pulling in disco's
//! backends (and their protoc build).
//!
//! | placeholder         | becomes                                                   |
//! |---------------------|-----------------------------------------------------------|
//! | `{id}`              | this node's id                                            |
//! | `{advertise}`       | this node's address                                       |
//! | `{state}`           | `new` (bootstrap) or `existing` (etcd's word)             |
//! | `{peers}`           | the other members' addresses, comma-separated             |
//! | `{members}`         | all members' addresses including this one, comma-separated|
//! | `{initial_cluster}` | `id=address,...` for all members (etcd `--initial-cluster`)|
//! | `{leader}`          | the address to join through; the argument is dropped when there is none |
//! | `{peer}`            | the argument is repeated once per peer (RethinkDB `--join={peer}`), dropped when there are none |
//!
//! `{{` and `}}` stand for literal braces.

/// Every placeholder a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "id",
    "advertise",
    "state",
    "peers",
    "members",
    "initial_cluster",
    "leader",
    "peer",
];

/// A template error: which argument and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command argument {index} {arg:?}: {reason}")]
pub struct TemplateError {
    /// Zero-based argument index.
    pub index: usize,
    /// The argument as given.
    pub arg: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

/// One cluster member as the template sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// Node id.
    pub node: String,
    /// Its advertise address.
    pub address: String,
}

/// What a template is filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    /// This node.
    pub me: Member,
    /// `new` or `existing`.
    pub state: String,
    /// The other members, in node-id order.
    pub peers: Vec<Member>,
    /// Whom to join through, if anyone.
    pub leader: Option<Member>,
}

impl Values {
    /// This node and its peers, in node-id order.
    pub fn members(&self) -> Vec<Member> {
        let mut all = self.peers.clone();
        all.push(self.me.clone());
        all.sort();
        all
    }
}

/// Checks every placeholder in `args` before anything starts.
pub fn validate(args: &[String]) -> Result<(), TemplateError> {
    if args.is_empty() {
        return Err(TemplateError {
            index: 0,
            arg: String::new(),
            reason: "no command given; put the database command after `--`".into(),
        });
    }
    for (index, arg) in args.iter().enumerate() {
        let mut rest = arg.as_str();
        while let Some(open) = rest.find('{') {
            if rest[open..].starts_with("{{") {
                rest = &rest[open + 2..];
                continue;
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(TemplateError {
                    index,
                    arg: arg.clone(),
                    reason: "unclosed `{`".into(),
                });
            };
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(TemplateError {
                    index,
                    arg: arg.clone(),
                    reason: format!("unknown placeholder {{{name}}}; known: {}", known()),
                });
            }
            rest = &after[close + 1..];
        }
    }
    Ok(())
}

/// The placeholders as a user writes them, for hints.
pub fn known() -> String {
    PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fills `args` with `values`. Call [`validate`] first.
pub fn render(args: &[String], values: &Values) -> Vec<String> {
    let join = |v: Vec<String>| v.join(",");
    let members = values.members();
    let scalars = [
        ("{id}", values.me.node.clone()),
        ("{advertise}", values.me.address.clone()),
        ("{state}", values.state.clone()),
        (
            "{peers}",
            join(values.peers.iter().map(|m| m.address.clone()).collect()),
        ),
        (
            "{members}",
            join(members.iter().map(|m| m.address.clone()).collect()),
        ),
        (
            "{initial_cluster}",
            join(
                members
                    .iter()
                    .map(|m| format!("{}={}", m.node, m.address))
                    .collect(),
            ),
        ),
    ];
    // `{{` and `}}` are literal braces (HCL or JSON in an argument).
    let fill = |arg: &str| {
        let escaped = arg.replace("{{", "\u{1}").replace("}}", "\u{2}");
        scalars
            .iter()
            .fold(escaped, |acc, (k, v)| acc.replace(k, v))
            .replace('\u{1}', "{")
            .replace('\u{2}', "}")
    };
    let mut out = Vec::new();
    for arg in args {
        if arg.contains("{peer}") {
            out.extend(
                values
                    .peers
                    .iter()
                    .map(|p| fill(&arg.replace("{peer}", &p.address))),
            );
        } else if arg.contains("{leader}") {
            if let Some(l) = &values.leader {
                out.push(fill(&arg.replace("{leader}", &l.address)));
            }
        } else {
            out.push(fill(arg));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(n: &str, a: &str) -> Member {
        Member {
            node: n.into(),
            address: a.into(),
        }
    }

    fn values(state: &str, peers: Vec<Member>) -> Values {
        Values {
            me: m("n2", "10.0.0.2:29015"),
            state: state.into(),
            leader: peers.first().cloned(),
            peers,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn seed_system_forms() {
        let p = values(
            "existing",
            vec![m("n1", "10.0.0.1:29015"), m("n3", "10.0.0.3:29015")],
        );
        assert_eq!(
            render(&s(&["rethinkdb", "--bind", "all", "--join={peer}"]), &p),
            s(&[
                "rethinkdb",
                "--bind",
                "all",
                "--join=10.0.0.1:29015",
                "--join=10.0.0.3:29015"
            ])
        );
        assert_eq!(
            render(&s(&["crate", "-Cdiscovery.seed_hosts={members}"]), &p),
            s(&[
                "crate",
                "-Cdiscovery.seed_hosts=10.0.0.1:29015,10.0.0.2:29015,10.0.0.3:29015"
            ])
        );
        assert_eq!(
            render(
                &s(&["rqlited", "-join=http://{leader}", "-node-id={id}"]),
                &p
            ),
            s(&["rqlited", "-join=http://10.0.0.1:29015", "-node-id=n2"])
        );
        assert_eq!(
            render(
                &s(&[
                    "etcd",
                    "--initial-cluster={initial_cluster}",
                    "--initial-cluster-state={state}"
                ]),
                &p
            ),
            s(&[
                "etcd",
                "--initial-cluster=n1=10.0.0.1:29015,n2=10.0.0.2:29015,n3=10.0.0.3:29015",
                "--initial-cluster-state=existing"
            ])
        );
    }

    #[test]
    fn bootstrap_drops_join_arguments() {
        let p = values("new", vec![]);
        assert_eq!(
            render(
                &s(&["rqlited", "-join={leader}", "--join={peer}", "{state}"]),
                &p
            ),
            s(&["rqlited", "new"])
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        let p = values("new", vec![]);
        let args = s(&[
            "consul",
            "-hcl=performance {{ raft_multiplier = 1 }}",
            "-node={id}",
        ]);
        assert!(validate(&args).is_ok());
        assert_eq!(
            render(&args, &p),
            s(&[
                "consul",
                "-hcl=performance { raft_multiplier = 1 }",
                "-node=n2"
            ])
        );
    }

    #[test]
    fn validation_names_the_argument() {
        assert!(validate(&s(&["db", "--join={peer}"])).is_ok());
        let e = validate(&s(&["db", "--join={peers_list}"])).unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.reason.contains("unknown placeholder {peers_list}"), "{e}");
        assert!(validate(&s(&["db", "--x={id"]))
            .unwrap_err()
            .reason
            .contains("unclosed"));
        assert!(validate(&[]).is_err());
    }
}
