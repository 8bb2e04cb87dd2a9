//! Compiles `proto/hrmesh/**.proto` with protox (no system `protoc`), generates tonic 0.14 code and
//! writes the descriptor set that servers embed for reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "hrmesh/common/v1/common.proto",
    "hrmesh/ledger/v1/ledger.proto",
    "hrmesh/notification/v1/notification.proto",
    "hrmesh/performance/v1/performance.proto",
    "hrmesh/orchestrator/v1/orchestrator.proto",
    "hrmesh/events/v1/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: a build script binary reused from another checkout of the workspace (a
    // shared target directory) must compile this checkout's files, not the other's.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let descriptors = protox::compile(PROTOS, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("hrmesh_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    // `prost::Name` for every message: events travel packed in `google.protobuf.Any`.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(descriptors, config)?;
    println!("cargo:rerun-if-changed=hrmesh");
    Ok(())
}
