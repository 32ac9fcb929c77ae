//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the same checks
//! the fuzz targets run, so CI catches regressions on stable without a fuzzer.

use std::path::PathBuf;

#[path = "../../../fuzz/checks.rs"]
#[allow(dead_code, unreachable_pub, clippy::missing_panics_doc)]
mod checks;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("corpus file");
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let result = std::panic::catch_unwind(|| check(&bytes));
        assert!(
            result.is_ok(),
            "fuzz input {} fails its check",
            path.display()
        );
    }
}

#[test]
fn info_read_corpus() {
    replay("info_read", checks::info_read);
}

#[test]
fn message_decode_corpus() {
    replay("message_decode", checks::message_decode);
}

#[test]
fn decompress_corpus() {
    replay("decompress", checks::decompress);
}
