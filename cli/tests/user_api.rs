//! What a user's own test looks like, as the README shows it: load a
//! scenario, run it in a world, assert on the outcome. `the_readme_shows_it`
//! keeps the README's copy of the example the same as this one.

// README example begins
#[tokio::test]
async fn quick_survives_the_loss_of_its_leader() {
    let scenario = clusterlab::load("../scenarios/quick.toml").unwrap();
    let outcome = clusterlab::Lab::sim().seed(7).run(&scenario).await.unwrap();
    outcome.assert_passed();
    assert!(outcome.failover_ms.is_some_and(|ms| ms < 5_000));
}
// README example ends

/// A check that fails is reported by name: the same scenario with a
/// failover bound no cluster meets.
#[tokio::test]
async fn a_failed_check_is_named_in_the_outcome() {
    let mut scenario = clusterlab::load("../scenarios/quick.toml").unwrap();
    scenario.expect.failover_within = Some(std::time::Duration::from_millis(1));
    let outcome = clusterlab::Lab::sim().seed(7).run(&scenario).await.unwrap();
    assert!(!outcome.passed);
    let failed: Vec<&str> = outcome.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["failover"]);
    let panicked = std::panic::catch_unwind(|| outcome.assert_passed());
    assert!(panicked.is_err(), "assert_passed fails the test");
}

#[test]
fn the_readme_shows_it() {
    let me = include_str!("user_api.rs");
    let example = me
        .split("// README example begins\n")
        .nth(1)
        .and_then(|rest| rest.split("// README example ends").next())
        .unwrap();
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(example),
        "README.md must show tests/user_api.rs's example verbatim:\n{example}"
    );
}
