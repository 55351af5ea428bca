//! The project's images build offline through the Docker API, run their
//! binaries, and are not rebuilt when nothing changed.

use std::process::Command;

use clusterlab_containers::image::{self, stock, ImageError, Recipe};

/// Runs `cmd` in a throwaway container of `tag` (labelled, removed).
fn run_in(tag: &str, cmd: &[&str]) -> String {
    let label = format!("clusterlab.run=image-test-{}", std::process::id());
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--label", &label, tag])
        .args(cmd)
        .output()
        .expect("docker cli");
    assert!(
        out.status.success(),
        "{cmd:?} in {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn stock_images_build_once_and_run_their_binaries() {
    let docker = clusterlab_containers::docker::connect()
        .await
        .expect("Docker runs on every dev and CI machine");
    for (recipe, version_cmd, want) in [
        (
            stock::etcd().unwrap(),
            vec!["/usr/local/bin/etcd", "--version"],
            "etcd Version: 3.5",
        ),
        (
            stock::consul().unwrap(),
            vec!["/usr/local/bin/consul", "version"],
            "Consul v1.8",
        ),
    ] {
        let first = image::ensure(&docker, &recipe).await.unwrap();
        assert!(
            first.tag.starts_with(&format!("{}:", recipe.name)),
            "{}",
            first.tag
        );
        let again = image::ensure(&docker, &recipe).await.unwrap();
        assert_eq!(
            again,
            image::Built {
                tag: first.tag.clone(),
                fresh: false
            },
            "an unchanged image is not rebuilt"
        );
        assert!(run_in(&first.tag, &version_cmd).contains(want));
        assert!(
            run_in(&first.tag, &["/usr/local/bin/disco-agent", "--version"])
                .starts_with("disco-agent")
        );
    }
}

#[test]
fn the_tag_follows_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tool");
    std::fs::copy("/bin/true", &f).unwrap();
    let a = Recipe::new("clusterlab/t").binary(&f, "bin/tool").unwrap();
    assert!(
        a.files.keys().any(|k| k.contains("libc.so")),
        "libraries come along: {:?}",
        a.files.keys()
    );
    let t1 = a.tag().unwrap();
    assert_eq!(t1, a.tag().unwrap(), "stable");
    std::fs::copy("/bin/false", &f).unwrap();
    assert_ne!(t1, a.tag().unwrap(), "a changed binary changes the tag");
}

#[test]
fn a_missing_input_names_the_file_and_the_fix() {
    let e = Recipe::new("clusterlab/x")
        .binary(std::path::Path::new("/nonexistent/etcd"), "etcd")
        .unwrap_err();
    assert!(matches!(e, ImageError::Input { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/etcd") && msg.contains("ci/setup.sh"),
        "{msg}"
    );
}

/// `disco-agent` layered onto a user's image runs through its own loader
/// and libraries, the image's entrypoint no longer swallows the command,
/// the image's own binary still runs with the image's own libraries, and a
/// rebuilt user image gets a new tag.
#[tokio::test]
async fn the_agent_layers_onto_a_users_image() {
    let docker = clusterlab_containers::docker::connect()
        .await
        .expect("Docker runs on every dev and CI machine");
    let user = "clusterlab-example/consul:1.8";
    let id = clusterlab_containers::docker::image_id(&docker, user)
        .await
        .unwrap()
        .expect("ci/setup.sh builds clusterlab-example/consul:1.8 (ci/example-image.sh)");
    let recipe = stock::generic(user, &id).unwrap();
    assert!(recipe.dockerfile().contains("ENTRYPOINT []"));
    let built = image::ensure(&docker, &recipe).await.unwrap();
    let mut agent: Vec<&str> = stock::GENERIC_AGENT.to_vec();
    agent.push("--version");
    assert!(run_in(&built.tag, &agent).starts_with("disco-agent"));
    assert!(run_in(&built.tag, &["/usr/local/bin/consul", "version"]).contains("Consul v1.8"));
    let other = stock::generic(user, "sha256:another").unwrap();
    assert_ne!(built.tag, other.tag().unwrap(), "a rebuilt base, a new tag");
}
