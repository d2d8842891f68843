//! The process of `exec --process FILE`: any bytes as `process.json`,
//! parsed as runc's process object and validated against a container's
//! configuration (`berth spec`'s) with `spec::build_process`, must give a
//! value or an error: no panic, no hang, no unbounded allocation.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn config() -> &'static berth::spec::Config {
    static CONFIG: OnceLock<berth::spec::Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let spec = berth::spec::parse(include_bytes!("../seeds/berth-spec.json"))
            .unwrap_or_else(|e| panic!("seed config: {e}"));
        berth::spec::build(spec, std::path::Path::new("/nonexistent/bundle"))
            .unwrap_or_else(|e| panic!("seed config: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(process) = serde_json::from_slice::<oci_spec::runtime::Process>(data) else {
        return;
    };
    let _ = berth::spec::build_process(&process, config());
});
