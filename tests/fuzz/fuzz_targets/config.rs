//! Config loading and validation: any bytes as `config.json`, through
//! `spec::parse` and `spec::build`, then what `create` does with the result
//! before anything exists (the seccomp compile) and the process rules
//! `exec` applies, must give a value or an error: no panic, no hang, no
//! unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = berth::spec::parse(data) else {
        return;
    };
    let process = spec.process().clone();
    let Ok(config) = berth::spec::build(spec, std::path::Path::new("/nonexistent/bundle")) else {
        return;
    };
    if let Some(s) = &config.seccomp {
        let _ = berth::seccomp::compile(s);
    }
    if let Some(p) = process {
        let _ = berth::spec::build_process(&p, &config);
    }
});
