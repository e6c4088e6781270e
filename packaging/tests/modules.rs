//! The `rdbreak` tool's modules use each other without a cycle, as the init's rooms do (the
//! checker is the init's, `init/tests/common/modgraph.rs`).

use std::collections::BTreeMap;
use std::path::Path;

#[path = "../../init/tests/common/modgraph.rs"]
mod modgraph;

#[test]
fn no_cycle_between_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modgraph::sources(&src, &src, &mut files);
    let cycles = modgraph::sibling_cycles(&files);
    assert!(cycles.is_empty(), "modules that use each other in a cycle:\n{}", cycles.join("\n"));
}
