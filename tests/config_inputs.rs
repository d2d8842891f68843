//! The fuzz seeds (and any input a fuzz run ever found a fault with, kept
//! under `tests/fuzz/regressions/`) replayed through what the fuzz targets
//! run, on every `cargo test`: config loading, validation, the seccomp
//! compile and the `exec` process rules. No root needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

/// What the `config` fuzz target does; returns whether `build` accepted it.
fn config_target(data: &[u8]) -> bool {
    let Ok(spec) = berth::spec::parse(data) else {
        return false;
    };
    let process = spec.process().clone();
    let Ok(config) = berth::spec::build(spec, Path::new("/nonexistent/bundle")) else {
        return false;
    };
    if let Some(s) = &config.seccomp {
        let _ = berth::seccomp::compile(s);
    }
    if let Some(p) = process {
        let _ = berth::spec::build_process(&p, &config);
    }
    true
}

#[test]
fn config_seeds_and_regressions_load_or_fail_cleanly() {
    let seeds = files("seeds");
    assert!(seeds.len() >= 16, "the seeds are missing: {seeds:?}");
    let mut accepted = Vec::new();
    for f in seeds.iter().chain(&files("regressions")) {
        if config_target(&std::fs::read(f).unwrap()) {
            accepted.push(f.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    // berth's own templates are valid configs; a broken JSON file is not.
    for want in ["berth-spec.json", "berth-spec-rootless.json"] {
        assert!(accepted.iter().any(|a| a == want), "{want}: {accepted:?}");
    }
    assert!(!accepted.iter().any(|a| a == "schema-bad-invalid-json.json"));
}

#[test]
fn process_seeds_validate_against_a_config() {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/berth-spec.json");
    let spec = berth::spec::parse(&std::fs::read(template).unwrap()).unwrap();
    let config = berth::spec::build(spec, Path::new("/nonexistent/bundle")).unwrap();
    let seeds = files("seeds-process");
    assert!(!seeds.is_empty());
    let mut ok = 0;
    for f in seeds.iter().chain(&files("regressions-process")) {
        let Ok(p) =
            serde_json::from_slice::<oci_spec::runtime::Process>(&std::fs::read(f).unwrap())
        else {
            continue;
        };
        if berth::spec::build_process(&p, &config).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 0, "not even berth spec's process validates");
}
