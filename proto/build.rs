//! Generates the taxi.v1 Rust code with a `protoc` taken from a crate, never from the machine.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "taxi/v1/common.proto",
    "taxi/v1/fleet.proto",
    "taxi/v1/driver.proto",
    "taxi/v1/hotline.proto",
    "taxi/v1/onekey.proto",
    "taxi/v1/dispatch.proto",
    "taxi/v1/auth.proto",
    "taxi/v1/callcentre.proto",
    "taxi/v1/notify.proto",
    "taxi/v1/recurring.proto",
    "taxi/v1/stands.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    let protos: Vec<PathBuf> = PROTOS.iter().map(PathBuf::from).collect();
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("taxi_v1_descriptor.bin"))
        .compile_with_config(config, &protos, &[PathBuf::from("."), include])?;

    // prost-build does not say what it read: rebuild whenever an API file changes.
    println!("cargo:rerun-if-changed=taxi");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
