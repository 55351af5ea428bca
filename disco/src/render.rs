//! Render the database's command line from a [`JoinPlan`], through the
//! template language of the `disco-template` crate (placeholders `{id}`,
//! `{peer}`, `{leader}`, `{initial_cluster}`..., documented there).

use crate::node::JoinPlan;
pub use disco_template::{validate, TemplateError};

/// Renders `args` for `plan`. Call [`validate`] first.
pub fn render(args: &[String], plan: &JoinPlan) -> Vec<String> {
    let member = |m: &crate::peers::Member| disco_template::Member {
        node: m.node.clone(),
        address: m.address.clone(),
    };
    let values = disco_template::Values {
        me: member(&plan.me),
        state: plan.role.state().to_string(),
        peers: plan.peers.iter().map(member).collect(),
        leader: plan.leader.as_ref().map(member),
    };
    disco_template::render(args, &values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::Role;
    use crate::peers::Member;

    fn m(n: &str, a: &str) -> Member {
        Member {
            node: n.into(),
            address: a.into(),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_plan_fills_the_template() {
        let plan = JoinPlan {
            me: m("n2", "10.0.0.2:2380"),
            role: Role::Join {
                bootstrapper: "n1".into(),
            },
            peers: vec![m("n1", "10.0.0.1:2380")],
            leader: Some(m("n1", "10.0.0.1:2380")),
        };
        assert_eq!(
            render(
                &s(&[
                    "etcd",
                    "--initial-cluster={initial_cluster}",
                    "--initial-cluster-state={state}",
                    "--join={leader}"
                ]),
                &plan
            ),
            s(&[
                "etcd",
                "--initial-cluster=n1=10.0.0.1:2380,n2=10.0.0.2:2380",
                "--initial-cluster-state=existing",
                "--join=10.0.0.1:2380"
            ])
        );
    }
}
