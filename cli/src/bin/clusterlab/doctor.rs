//! `clusterlab doctor`: whether this machine can run the container world,
//! piece by piece, with the fix for each missing one. The kernel features
//! are tried for real, in a network namespace made for the check.

use std::io::Write as _;
use std::process::{Command, ExitCode};

use clusterlab_containers::image::setup;
use clusterlab_provision::cache;

/// One check's verdict.
enum Verdict {
    /// Present: what was found.
    Ok(String),
    /// Missing, and the run cannot do without it: why, and the fix.
    Missing(String, String),
    /// Not there yet, but made on first use: what and when.
    Later(String),
}

/// Runs `cmd args`, returning its stdout, or its stderr (or the spawn
/// error) when it fails.
fn output(cmd: &str, args: &[&str]) -> Result<String, String> {
    match Command::new(cmd).args(args).output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn tool(name: &str, version: &[&str], package: &str, why: &str) -> Verdict {
    match output(name, version) {
        Ok(v) => Verdict::Ok(v.lines().next().unwrap_or_default().to_string()),
        Err(e) => Verdict::Missing(
            format!("`{name}` does not run ({e}); {why}"),
            format!("apt-get install {package}"),
        ),
    }
}

fn docker() -> Verdict {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match clusterlab_containers::docker::connect().await {
            Ok(d) => match d.version().await {
                Ok(v) => Verdict::Ok(format!(
                    "Docker {} (API {})",
                    v.version.unwrap_or_default(),
                    v.api_version.unwrap_or_default()
                )),
                Err(e) => Verdict::Ok(format!("answers, but not its version: {e}")),
            },
            Err(e) => Verdict::Missing(
                e.to_string(),
                "start the daemon (`systemctl start docker`, or `dockerd &`) or point DOCKER_HOST at one".into(),
            ),
        }
    })
}

fn root() -> Verdict {
    match output("id", &["-u"]).as_deref() {
        Ok("0") => Verdict::Ok("running as root".into()),
        _ => Verdict::Missing(
            "not root: faults are set with nsenter and iptables in containers' namespaces".into(),
            "run clusterlab as root (or with sudo)".into(),
        ),
    }
}

/// The iptables matches and targets the nemesis uses, added in a fresh
/// network namespace (so nothing of the host's is touched).
fn kernel() -> Verdict {
    let script = "set -e; \
        iptables -w -A OUTPUT -m statistic --mode random --probability 0.5 -j DROP; \
        iptables -w -A OUTPUT -p udp -j NFQUEUE --queue-num 7 --queue-bypass; \
        iptables -w -t mangle -A OUTPUT -p udp -j TEE --gateway 127.0.0.1";
    match output("unshare", &["--net", "sh", "-c", script]) {
        Ok(_) => Verdict::Ok("iptables statistic, NFQUEUE and TEE accepted in a new namespace".into()),
        Err(e) => Verdict::Missing(
            format!("a fault rule is refused in a new network namespace: {e}"),
            "load the modules (`modprobe xt_statistic xt_NFQUEUE nfnetlink_queue xt_TEE`) or use a kernel with them".into(),
        ),
    }
}

fn freezer() -> Verdict {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let v1 = std::path::Path::new("/sys/fs/cgroup/freezer").is_dir();
    if v2 || v1 {
        Verdict::Ok(format!(
            "cgroup {} freezer (docker pause)",
            if v2 { "v2" } else { "v1" }
        ))
    } else {
        Verdict::Missing(
            "no cgroup freezer under /sys/fs/cgroup: `pause` faults cannot freeze a node".into(),
            "mount cgroup2 on /sys/fs/cgroup (or the v1 freezer controller)".into(),
        )
    }
}

fn agent() -> Verdict {
    match clusterlab_containers::image::stock::disco_agent() {
        Ok(p) => Verdict::Ok(p.display().to_string()),
        Err(e) => Verdict::Missing(e.to_string(), "see the message".into()),
    }
}

fn servers() -> Verdict {
    let bin = cache::servers_bin();
    match (output(&bin.join("etcd").display().to_string(), &["--version"]), output(&bin.join("consul").display().to_string(), &["version"])) {
        (Ok(e), Ok(c)) => Verdict::Ok(format!(
            "{}; {} in {}",
            e.lines().next().unwrap_or_default(),
            c.lines().next().unwrap_or_default(),
            bin.display()
        )),
        _ => Verdict::Later(format!(
            "not in {} yet: fetched from Debian's packages on first use (or now: `clusterlab setup`)",
            bin.display()
        )),
    }
}

fn cache_dir() -> Verdict {
    let root = cache::root();
    let probe = root.join(".doctor");
    match std::fs::create_dir_all(&root).and_then(|_| std::fs::write(&probe, b"ok")) {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Verdict::Ok(format!("{} (writable)", root.display()))
        }
        Err(e) => Verdict::Missing(
            format!("{} is not writable: {e}", root.display()),
            "set CLUSTERLAB_CACHE (or XDG_CACHE_HOME) to a writable folder".into(),
        ),
    }
}

/// Runs every check; exit 1 when a required piece is missing.
pub fn doctor() -> ExitCode {
    let checks: Vec<(&str, Verdict)> = vec![
        ("docker", docker()),
        ("root", root()),
        (
            "iptables",
            tool(
                "iptables",
                &["--version"],
                "iptables",
                "the nemesis sets faults with it",
            ),
        ),
        (
            "nsenter",
            tool(
                "nsenter",
                &["--version"],
                "util-linux",
                "the nemesis enters containers' namespaces with it",
            ),
        ),
        ("kernel", kernel()),
        ("freezer", freezer()),
        ("disco-agent", agent()),
        ("cache", cache_dir()),
        ("servers", servers()),
        (
            "apt-get",
            tool(
                "apt-get",
                &["--version"],
                "apt",
                "the servers and bases come from Debian's packages",
            ),
        ),
        (
            "dpkg-deb",
            tool(
                "dpkg-deb",
                &["--version"],
                "dpkg",
                "the servers are unpacked from .deb files",
            ),
        ),
        (
            "debootstrap",
            tool(
                "debootstrap",
                &["--version"],
                "debootstrap",
                "the Patroni, RabbitMQ and Galera bases are made with it",
            ),
        ),
    ];
    let mut missing = 0;
    // Written at once, so that a closed pipe (`| head`) ends it quietly.
    let mut out = String::new();
    for (name, v) in &checks {
        match v {
            Verdict::Ok(what) => line(&mut out, format!("ok       {name:<14} {what}")),
            Verdict::Later(what) => line(&mut out, format!("later    {name:<14} {what}")),
            Verdict::Missing(why, fix) => {
                missing += 1;
                line(
                    &mut out,
                    format!("MISSING  {name:<14} {why}\n         {:<14} fix: {fix}", ""),
                );
            }
        }
    }
    for (base, tag) in setup::bases_present() {
        match tag {
            Some(tag) => line(&mut out, format!("ok       {base:<14} {tag}")),
            None => line(&mut out, format!(
                "later    {base:<14} built on first use by a scenario that needs it (or now: `clusterlab setup`)"
            )),
        }
    }
    if missing == 0 {
        line(&mut out, "ready: this machine can run every world".into());
    } else {
        line(&mut out, format!("{missing} missing: the container world cannot run here until they are fixed (the simulator can)"));
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn line(out: &mut String, text: String) {
    out.push_str(&text);
    out.push('\n');
}
