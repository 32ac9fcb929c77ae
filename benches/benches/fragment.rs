//! Splitter throughput over in-memory data: the package digest (MD5) and the per-fragment
//! SHA-256 in one pass, with each hash alone for comparison.
//!
//! ```text
//! cargo bench -p ocs-deploy-benches --bench fragment
//! ```
#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ocs_deploy_core::PackageId;
use ocs_deploy_core::fragment::{FragmentPlan, SplitEvent, Splitter};
use ocs_deploy_core::package::{DigestAlgorithm, DigestForm, DigestHasher};

const SIZE: usize = 64 << 20;
const FRAGMENT: u64 = 1 << 20;
const CHUNK: usize = 1 << 20;

fn data() -> Vec<u8> {
    // xorshift: incompressible, reproducible.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..SIZE / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

fn split(c: &mut Criterion) {
    let data = data();
    let id = PackageId::new(1_700_000_000).unwrap();
    let mut group = c.benchmark_group("split_64MiB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.bench_function("splitter_md5_sha256", |b| {
        b.iter(|| {
            let plan = FragmentPlan::by_size(SIZE as u64, FRAGMENT).unwrap();
            let mut splitter = Splitter::new(plan, DigestAlgorithm::Md5, id);
            for chunk in data.chunks(CHUNK) {
                for event in splitter.push(chunk).unwrap() {
                    if let SplitEvent::FragmentBytes { bytes, .. } = event {
                        black_box(bytes);
                    }
                }
            }
            black_box(splitter.finish(DigestForm::HexLowercase).unwrap())
        });
    });
    for algorithm in [DigestAlgorithm::Md5, DigestAlgorithm::Sha256] {
        group.bench_function(format!("{algorithm}_alone"), |b| {
            b.iter(|| black_box(DigestHasher::digest(algorithm, &data)));
        });
    }
    group.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
