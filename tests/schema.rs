//! `schema.graphql` at the repository root is the exported federated SDL.
#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repository root");
    let current = ds_subgraph::graphql::federation_sdl();
    if committed != current {
        panic!(
            "schema.graphql drifted from the code; regenerate it with `cargo run -- schema > schema.graphql`.\n--- current ---\n{current}"
        );
    }
}

#[test]
fn binary_prints_the_same_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ds-subgraph"))
        .arg("schema")
        .output()
        .expect("the binary runs");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        ds_subgraph::graphql::federation_sdl()
    );
}
