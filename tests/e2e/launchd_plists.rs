//! The macOS launchd property lists in launchd/: each one parses with the `launchd` crate into
//! exactly the job we mean to ship (every key compared, unknown keys rejected by the crate), is
//! an XML plist 1.0 with Apple's DOCTYPE, and reads the same through Python's `plistlib` (the
//! reference parser that ships with Python) as after a write/read round trip through the crate.
//! These checks run on any OS; launchd itself is only on macOS.

use std::path::{Path, PathBuf};
use std::process::Command;

use launchd::{KeepAliveOptions, Launchd, ProcessType, ResourceLimits};

const PROGRAMS: [&str; 2] = ["frps", "frpc"];
/// frp drains connections for this long by default when asked to stop.
const DEFAULT_DRAIN_SECS: u32 = 5;
const EXIT_TIME_OUT: u32 = 15;

fn plist_path(program: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("launchd")
        .join(format!("{}.plist", label(program)))
}

fn label(program: &str) -> String {
    format!("org.frp-rs.{program}")
}

/// The job we mean to ship for `program`, key by key.
fn expected(program: &str) -> Launchd {
    let log = format!("/usr/local/var/log/frp/{program}.log");
    Launchd::default()
        .with_label(label(program))
        .with_program_arguments(vec![
            format!("/usr/local/bin/{program}"),
            "-c".to_string(),
            format!("/usr/local/etc/frp/{program}.toml"),
        ])
        .run_at_load()
        .with_keep_alive(KeepAliveOptions::new().with_successful_exit(false).into())
        .with_throttle_interval(5)
        .with_exit_timeout(EXIT_TIME_OUT)
        .with_process_type(ProcessType::Standard)
        .with_soft_resource_limits(ResourceLimits::new().with_number_of_files(10240))
        .with_umask(0o077)
        .with_standard_out_path(&log)
        .unwrap()
        .with_standard_error_path(&log)
        .unwrap()
}

#[test]
fn each_plist_is_the_job_we_mean_to_ship() {
    for program in PROGRAMS {
        let path = plist_path(program);
        let parsed = Launchd::from_file(&path)
            .unwrap_or_else(|e| panic!("{} does not parse as a launchd job: {e}", path.display()));
        assert_eq!(parsed, expected(program), "{}", path.display());
    }
}

#[test]
fn plistlib_sees_the_key_values_too() {
    // The same properties through the reference parser, independently of the crate: the label
    // is the file name, the program and its config, restart on failure only, logs, and a stop
    // timeout longer than frp's graceful drain.
    const { assert!(EXIT_TIME_OUT > DEFAULT_DRAIN_SECS) };
    for program in PROGRAMS {
        let path = plist_path(program);
        let job: serde_json::Value = serde_json::from_str(&plistlib_json(&path)).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(
            job["Label"],
            stem,
            "{}: Label is the file name",
            path.display()
        );
        assert_eq!(
            job["ProgramArguments"],
            serde_json::json!([
                format!("/usr/local/bin/{program}"),
                "-c",
                format!("/usr/local/etc/frp/{program}.toml")
            ])
        );
        assert_eq!(job["RunAtLoad"], true);
        assert_eq!(
            job["KeepAlive"],
            serde_json::json!({"SuccessfulExit": false})
        );
        let log = format!("/usr/local/var/log/frp/{program}.log");
        assert_eq!(job["StandardOutPath"], log);
        assert_eq!(job["StandardErrorPath"], log);
        assert!(job["ExitTimeOut"].as_u64().unwrap() > u64::from(DEFAULT_DRAIN_SECS));
        assert_eq!(
            job["ProcessType"], "Standard",
            "not Background: no throttling"
        );
        assert!(
            job.get("UserName").is_none(),
            "runs as root (see launchd/README.md)"
        );
    }
}

#[test]
fn each_plist_is_an_xml_plist_1_0_with_apples_doctype() {
    for program in PROGRAMS {
        let path = plist_path(program);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
            "{}",
            path.display()
        );
        assert_eq!(
            lines.next(),
            Some(
                r#"<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">"#
            ),
            "{}",
            path.display()
        );
        assert!(text.contains("<plist version=\"1.0\">\n<dict>"));
        assert!(text.trim_end().ends_with("</dict>\n</plist>"));
        // XML forbids "--" inside a comment; some parsers let it pass, plutil does not.
        for comment in text.split("<!--").skip(1) {
            let body = comment.split("-->").next().unwrap();
            assert!(!body.contains("--"), "'--' inside an XML comment: {body}");
        }
    }
}

/// Python's plistlib reading `file`, as JSON (sorted keys).
fn plistlib_json(file: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'), fmt=plistlib.FMT_XML), sort_keys=True))")
        .arg(file)
        .output()
        .expect("python3 runs (it reads the plists with plistlib, the reference parser)");
    assert!(
        out.status.success(),
        "plistlib rejects {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn plistlib_reads_the_same_job_as_the_crate_after_a_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for program in PROGRAMS {
        let path = plist_path(program);
        let parsed = Launchd::from_file(&path).unwrap();
        let written = dir.path().join(format!("{program}.plist"));
        parsed.to_file_xml(&written).unwrap();
        assert_eq!(
            Launchd::from_file(&written).unwrap(),
            parsed,
            "the crate reads back what it wrote"
        );
        let shipped = plistlib_json(&path);
        let round_tripped = plistlib_json(&written);
        println!("{}: {shipped}", path.display());
        assert_eq!(
            shipped, round_tripped,
            "plistlib sees the same dictionary in the shipped file and in the crate's rewrite"
        );
    }
}
