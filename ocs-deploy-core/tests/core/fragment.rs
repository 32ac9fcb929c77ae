//! Fragments: the console's real packages, plans, split-then-assemble, corruption.

use ocs_deploy_core::fragment::{
    Assembler, FragmentCheck, FragmentError, FragmentPlan, SplitEvent, Splitter, verify_fragment,
};
use ocs_deploy_core::info;
use ocs_deploy_core::package::{DigestAlgorithm, DigestForm, DigestHasher};
use ocs_deploy_core::{ArchiveKind, PackageId, Payload, StatusCode};
use proptest::prelude::*;

use crate::reference;

const CONSOLE_MD5: &str = "1e1fb8569a13de1ba56e0bca47faff0d";

fn id() -> PackageId {
    PackageId::new(1_700_000_201).unwrap()
}

/// Splits `data`, pushed in `chunks`, and returns the payload and each fragment's bytes.
fn split(
    mut splitter: Splitter,
    data: &[u8],
    chunks: &[usize],
) -> Result<(Payload, Vec<Vec<u8>>), FragmentError> {
    let mut fragments: Vec<Vec<u8>> = Vec::new();
    let mut done = Vec::new();
    let mut rest = data;
    let mut sizes = chunks.iter().copied().cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        for event in splitter.push(chunk)? {
            match event {
                SplitEvent::FragmentBytes { fragment, bytes } => {
                    let index = fragment as usize - 1;
                    if fragments.len() == index {
                        fragments.push(Vec::new());
                    }
                    assert_eq!(fragments.len(), index + 1, "fragments come in order");
                    fragments[index].extend_from_slice(bytes);
                }
                SplitEvent::FragmentDone { fragment, sha256 } => done.push((fragment, sha256)),
            }
        }
    }
    let payload = splitter.finish(DigestForm::HexLowercase)?;
    // The empty archive's one fragment never gets bytes: the caller creates it.
    while fragments.len() < payload.fragments as usize {
        fragments.push(Vec::new());
    }
    let listed = payload.fragment_sha256.clone().unwrap();
    for (fragment, sha256) in done {
        assert_eq!(listed[fragment as usize - 1], sha256);
    }
    Ok((payload, fragments))
}

fn assemble(payload: &Payload, fragments: &[Vec<u8>]) -> Result<DigestForm, FragmentError> {
    let mut assembler = Assembler::new(payload)?;
    for (n, bytes) in (1..).zip(fragments) {
        assembler.begin_fragment(n)?;
        for chunk in bytes.chunks(7) {
            assembler.push(chunk)?;
        }
        assembler.end_fragment()?;
    }
    assembler.finish()
}

#[test]
fn console_create_pack_1700000201_reassembles() {
    let info = info::read(&reference::read(
        "console-packages/create_pack/1700000201/info",
    ))
    .unwrap();
    let payload = info.payload().unwrap();
    assert_eq!(payload.fragments, 2);
    let fragments: Vec<Vec<u8>> = (1..=2)
        .map(|n| {
            reference::read(&format!(
                "console-packages/create_pack/1700000201/1700000201-{n}"
            ))
        })
        .collect();
    for (n, bytes) in (1..).zip(&fragments) {
        assert_eq!(
            verify_fragment(payload, n, bytes),
            Ok(FragmentCheck::Unchecked)
        );
    }
    assert_eq!(assemble(payload, &fragments), Ok(DigestForm::HexLowercase));

    // The same fragments, swapped, are refused by the package digest.
    let swapped = [fragments[1].clone(), fragments[0].clone()];
    let error = assemble(payload, &swapped).unwrap_err();
    assert!(
        matches!(error, FragmentError::PackageDigest(_)),
        "{error:?}"
    );
    assert_eq!(error.status(), StatusCode::ErrBadDigest);
}

#[test]
fn by_count_reproduces_the_console_fragments() {
    let archive = reference::read("console-packages/archives/install-sh.tar.gz");
    assert_eq!(
        DigestHasher::digest(DigestAlgorithm::Md5, &archive).to_text(DigestForm::HexLowercase),
        CONSOLE_MD5
    );
    let plan = FragmentPlan::by_count(archive.len() as u64, 2).unwrap();
    let console: Vec<Vec<u8>> = (1..=2)
        .map(|n| {
            reference::read(&format!(
                "console-packages/create_pack/1700000201/1700000201-{n}"
            ))
        })
        .collect();
    for (n, range) in plan.fragments() {
        assert_eq!(
            range.end - range.start,
            console[n as usize - 1].len() as u64,
            "fragment {n}"
        );
    }
    for chunks in [&[1][..], &[5, 90], &[185], &[91, 1, 1]] {
        let (payload, fragments) = split(
            Splitter::new(plan, DigestAlgorithm::Md5, id()),
            &archive,
            chunks,
        )
        .unwrap();
        assert_eq!(fragments, console, "chunks {chunks:?}");
        assert_eq!(payload.digest.to_text(), CONSOLE_MD5);
        assert_eq!(payload.fragments, 2);
        assert_eq!(payload.size, Some(185));
        assert_eq!(payload.archive, Some(ArchiveKind::TarGz));
        // Our payload verifies the console's fragments one by one.
        for (n, bytes) in (1..).zip(&console) {
            assert_eq!(
                verify_fragment(&payload, n, bytes),
                Ok(FragmentCheck::Verified)
            );
        }
    }
}

#[test]
fn single_fragment_console_packages_match_their_archives() {
    for (dir, archive, kind) in [
        (
            "packagebuilder/1700000101",
            "install-sh.tar.gz",
            ArchiveKind::TarGz,
        ),
        (
            "packagebuilder/1700000102",
            "setup-bat.zip",
            ArchiveKind::Zip,
        ),
    ] {
        let info = info::read(&reference::read(&format!("console-packages/{dir}/info"))).unwrap();
        let payload = info.payload().unwrap();
        let archive = reference::read(&format!("console-packages/archives/{archive}"));
        let name = dir.rsplit('/').next().unwrap();
        let fragment = reference::read(&format!("console-packages/{dir}/{name}-1"));
        assert_eq!(fragment, archive);
        assert_eq!(
            assemble(payload, &[fragment]),
            Ok(DigestForm::HexLowercase),
            "{dir}"
        );
        let plan = FragmentPlan::by_count(archive.len() as u64, 1).unwrap();
        let (ours, _) = split(
            Splitter::new(plan, DigestAlgorithm::Md5, id()),
            &archive,
            &[64],
        )
        .unwrap();
        assert_eq!(ours.digest, payload.digest, "{dir}");
        assert_eq!(ours.archive, Some(kind));
    }
}

#[test]
fn sha1_base64_console_package_1700000202_reassembles() {
    let info = info::read(&reference::read(
        "console-packages/create_pack/1700000202/info",
    ))
    .unwrap();
    let payload = info.payload().unwrap();
    let fragment = reference::read("console-packages/create_pack/1700000202/1700000202-1");
    assert_eq!(assemble(payload, &[fragment]), Ok(DigestForm::Base64Padded));
}

#[test]
fn empty_archive_has_one_empty_fragment_and_its_digest_is_checked() {
    for splitter in [
        Splitter::new(
            FragmentPlan::by_size(0, 1024).unwrap(),
            DigestAlgorithm::Md5,
            id(),
        ),
        Splitter::new(
            FragmentPlan::by_count(0, 1).unwrap(),
            DigestAlgorithm::Md5,
            id(),
        ),
        Splitter::by_size_streaming(1024, DigestAlgorithm::Md5, id()).unwrap(),
    ] {
        let (payload, fragments) = split(splitter, &[], &[]).unwrap();
        assert_eq!(payload.fragments, 1);
        assert_eq!(fragments, [Vec::<u8>::new()]);
        assert_eq!(payload.size, Some(0));
        assert_eq!(payload.archive, None);
        assert_eq!(payload.digest.to_text(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(assemble(&payload, &fragments), Ok(DigestForm::HexLowercase));
        // One stray byte is caught.
        assert!(matches!(
            assemble(&payload, &[vec![0]]),
            Err(FragmentError::TooManyBytes {
                expected: 0,
                received: 1
            })
        ));
    }
    let plan = FragmentPlan::by_size(0, 1).unwrap();
    assert_eq!(
        (plan.count(), plan.fragment_len(1), plan.offset(1)),
        (1, Some(0), Some(0))
    );
    assert_eq!(
        FragmentPlan::by_count(0, 2),
        Err(FragmentError::MoreFragmentsThanBytes { total: 0, count: 2 })
    );
}

#[test]
fn plan_errors() {
    assert_eq!(
        FragmentPlan::by_size(10, 0),
        Err(FragmentError::ZeroFragmentSize)
    );
    assert_eq!(
        FragmentPlan::by_count(10, 0),
        Err(FragmentError::ZeroFragmentCount)
    );
    assert_eq!(
        FragmentPlan::by_count(3, 4),
        Err(FragmentError::MoreFragmentsThanBytes { total: 3, count: 4 })
    );
    assert_eq!(
        FragmentPlan::by_size(u64::MAX, 1),
        Err(FragmentError::TooManyFragments {
            total: u64::MAX,
            fragment_size: 1
        })
    );
    assert!(Splitter::by_size_streaming(0, DigestAlgorithm::Md5, id()).is_err());
    for e in [
        FragmentError::ZeroFragmentSize,
        FragmentError::ZeroFragmentCount,
        FragmentError::MoreFragmentsThanBytes { total: 3, count: 4 },
    ] {
        assert_eq!(e.status(), StatusCode::ErrBadParam);
    }
    let plan = FragmentPlan::by_size(10, 4).unwrap();
    assert_eq!(
        (plan.fragment_len(0), plan.fragment_len(4), plan.offset(4)),
        (None, None, None)
    );
}

#[test]
fn plans_past_4_gib() {
    let total = (5 << 30) + 123; // 5 GiB and a bit
    let plan = FragmentPlan::by_size(total, 1 << 20).unwrap();
    assert_eq!(plan.count(), 5 * 1024 + 1);
    assert_eq!(plan.fragment_len(plan.count()), Some(123));
    assert_eq!(plan.offset(plan.count()), Some(5 << 30));
    let plan = FragmentPlan::by_count(total, 3).unwrap();
    assert_eq!(plan.fragment_size(), total / 3);
    assert_eq!(plan.range(3).unwrap().end, total);
    let plan = FragmentPlan::by_count(u64::MAX, u32::MAX).unwrap();
    assert_eq!(plan.range(u32::MAX).unwrap().end, u64::MAX);
    let plan = FragmentPlan::by_size(u64::MAX, u64::MAX / 2).unwrap();
    assert_eq!(plan.count(), 3);
    assert_eq!(plan.fragment_len(3), Some(1));
    let plan = FragmentPlan::by_size(u64::from(u32::MAX), 1).unwrap();
    assert_eq!(plan.count(), u32::MAX);
}

#[test]
fn splitter_refuses_too_many_and_too_few_bytes() {
    let plan = FragmentPlan::by_count(10, 2).unwrap();
    let mut splitter = Splitter::new(plan, DigestAlgorithm::Md5, id());
    splitter.push(b"012345").unwrap().for_each(drop);
    assert_eq!(
        splitter.push(b"6789X").err(),
        Some(FragmentError::TooManyBytes {
            expected: 10,
            received: 11
        })
    );
    // The refused chunk changed nothing.
    assert_eq!(splitter.received(), 6);
    let short = splitter.clone().finish(DigestForm::HexLowercase);
    assert_eq!(
        short,
        Err(FragmentError::TooFewBytes {
            expected: 10,
            received: 6
        })
    );
    splitter.push(b"6789").unwrap().for_each(drop);
    let payload = splitter.finish(DigestForm::HexLowercase).unwrap();
    assert_eq!(payload.digest.to_text(), "781e5e245d69b566979b86e28d23f2c7");

    let mut streaming = Splitter::by_size_streaming(1, DigestAlgorithm::Md5, id()).unwrap();
    let big = vec![0u8; 16];
    for _ in 0..4 {
        streaming.push(&big).unwrap().for_each(drop);
    }
    assert_eq!(streaming.fragment_digests().len(), 64);
}

#[test]
fn dropping_the_events_still_counts_the_chunk() {
    let plan = FragmentPlan::by_size(10, 3).unwrap();
    let mut splitter = Splitter::new(plan, DigestAlgorithm::Md5, id());
    let first = splitter.push(b"0123456789").unwrap().next();
    assert_eq!(
        first,
        Some(SplitEvent::FragmentBytes {
            fragment: 1,
            bytes: b"012"
        })
    );
    let payload = splitter.finish(DigestForm::HexLowercase).unwrap();
    assert_eq!(payload.fragments, 4);
    assert_eq!(payload.digest.to_text(), "781e5e245d69b566979b86e28d23f2c7");
}

#[test]
fn assembler_refuses_out_of_order_and_missing_fragments() {
    let plan = FragmentPlan::by_count(9, 3).unwrap();
    let (payload, fragments) = split(
        Splitter::new(plan, DigestAlgorithm::Sha256, id()),
        b"abcdefghi",
        &[4],
    )
    .unwrap();
    let mut a = Assembler::new(&payload).unwrap();
    assert_eq!(
        a.begin_fragment(2),
        Err(FragmentError::OutOfOrder {
            expected: 1,
            found: 2
        })
    );
    assert_eq!(
        a.begin_fragment(0),
        Err(FragmentError::NoSuchFragment {
            fragment: 0,
            count: 3
        })
    );
    assert_eq!(
        a.begin_fragment(4),
        Err(FragmentError::NoSuchFragment {
            fragment: 4,
            count: 3
        })
    );
    assert_eq!(a.push(b"x"), Err(FragmentError::NoOpenFragment));
    assert_eq!(a.end_fragment(), Err(FragmentError::NoOpenFragment));
    a.begin_fragment(1).unwrap();
    assert_eq!(
        a.begin_fragment(2),
        Err(FragmentError::FragmentStillOpen { open: 1 })
    );
    a.push(&fragments[0]).unwrap();
    assert_eq!(
        a.clone().finish(),
        Err(FragmentError::FragmentStillOpen { open: 1 })
    );
    a.end_fragment().unwrap();
    assert_eq!(
        a.begin_fragment(1),
        Err(FragmentError::OutOfOrder {
            expected: 2,
            found: 1
        })
    );
    let e = a.clone().finish().unwrap_err();
    assert_eq!(
        e,
        FragmentError::MissingFragments {
            received: 1,
            count: 3
        }
    );
    assert_eq!(e.status(), StatusCode::ErrBuild);
    // A failed download is dropped and the fragment fed again.
    a.begin_fragment(2).unwrap();
    a.push(b"d").unwrap();
    a.abort_fragment();
    assert_eq!(a.received(), 3);
    a.begin_fragment(2).unwrap();
    a.push(&fragments[1]).unwrap();
    a.end_fragment().unwrap();
    a.begin_fragment(3).unwrap();
    assert_eq!(
        a.push(b"ghij"),
        Err(FragmentError::TooManyBytes {
            expected: 9,
            received: 10
        })
    );
    assert_eq!(a.next_fragment(), 3);
    a.begin_fragment(3).unwrap();
    a.push(&fragments[2]).unwrap();
    a.end_fragment().unwrap();
    assert_eq!(a.finish(), Ok(DigestForm::HexLowercase));
}

/// The payload of `abcd` split in two fragments of two bytes.
fn abcd_in_two_fragments() -> Payload {
    let plan = FragmentPlan::by_count(4, 2).unwrap();
    split(
        Splitter::new(plan, DigestAlgorithm::Md5, id()),
        b"abcd",
        &[],
    )
    .unwrap()
    .0
}

#[test]
fn payload_with_a_wrong_digest_list_is_refused() {
    let mut payload = abcd_in_two_fragments();
    payload.fragment_sha256.as_mut().unwrap().pop();
    let e = Assembler::new(&payload).unwrap_err();
    assert_eq!(
        e,
        FragmentError::FragmentDigestCount {
            count: 2,
            listed: 1
        }
    );
    assert_eq!(e.status(), StatusCode::ErrBadParam);
    payload.fragments = 0;
    assert_eq!(
        Assembler::new(&payload).unwrap_err(),
        FragmentError::ZeroFragmentCount
    );
}

#[test]
fn short_archive_is_refused_when_the_size_is_known() {
    let mut payload = abcd_in_two_fragments();
    payload.fragment_sha256 = None;
    let e = assemble(&payload, &[b"ab".to_vec(), b"c".to_vec()]).unwrap_err();
    assert_eq!(
        e,
        FragmentError::TooFewBytes {
            expected: 4,
            received: 3
        }
    );
}

/// A plan kind, for the properties.
#[derive(Debug, Clone, Copy)]
enum Kind {
    BySize(u64),
    ByCount(u32),
    Streaming(u64),
}

fn splitter_for(kind: Kind, len: usize, algorithm: DigestAlgorithm) -> Option<Splitter> {
    let total = len as u64;
    match kind {
        Kind::BySize(size) => FragmentPlan::by_size(total, size)
            .ok()
            .map(|p| Splitter::new(p, algorithm, id())),
        Kind::ByCount(n) => FragmentPlan::by_count(total, n)
            .ok()
            .map(|p| Splitter::new(p, algorithm, id())),
        Kind::Streaming(size) => Splitter::by_size_streaming(size, algorithm, id()).ok(),
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (1u64..300).prop_map(Kind::BySize),
        (1u32..40).prop_map(Kind::ByCount),
        (1u64..300).prop_map(Kind::Streaming),
    ]
}

fn algorithm() -> impl Strategy<Value = DigestAlgorithm> {
    prop_oneof![
        Just(DigestAlgorithm::Md5),
        Just(DigestAlgorithm::Sha1),
        Just(DigestAlgorithm::Sha256)
    ]
}

proptest! {
    #[test]
    fn by_count_sizes_sum_to_the_total_with_equal_parts(total in 0u64..u64::MAX, n in 1u32..=u32::MAX) {
        match FragmentPlan::by_count(total, n) {
            Ok(plan) => {
                prop_assert_eq!(plan.count(), n);
                let base = total / u64::from(n);
                let mut sum = 0u64;
                let mut expected_start = 0u64;
                // Check the first, the last and a few in between (n may be huge).
                for k in [1, 2, n / 2, n - 1, n].into_iter().filter(|k| (1..=n).contains(k)) {
                    let len = plan.fragment_len(k).unwrap();
                    if k < n { prop_assert_eq!(len, base); }
                    prop_assert_eq!(plan.offset(k).unwrap(), u64::from(k - 1) * base);
                }
                if n <= 1000 {
                    for (k, range) in plan.fragments() {
                        prop_assert_eq!(range.start, expected_start);
                        prop_assert_eq!(Some(range.end - range.start), plan.fragment_len(k));
                        expected_start = range.end;
                        sum += range.end - range.start;
                    }
                    prop_assert_eq!(sum, total);
                }
                prop_assert_eq!(u64::from(n - 1) * base + plan.fragment_len(n).unwrap(), total);
            }
            Err(e) => prop_assert_eq!(e, FragmentError::MoreFragmentsThanBytes { total, count: n }),
        }
    }

    #[test]
    fn by_count_small_plans_sum_to_the_total(total in 0u64..5000, n in 1u32..200) {
        let Ok(plan) = FragmentPlan::by_count(total, n) else {
            prop_assert!(u64::from(n) > total.max(1));
            return Ok(());
        };
        let lens: Vec<u64> = plan.fragments().map(|(_, r)| r.end - r.start).collect();
        prop_assert_eq!(lens.len(), n as usize);
        prop_assert_eq!(lens.iter().sum::<u64>(), total);
        prop_assert!(lens[..lens.len() - 1].iter().all(|&l| l == total / u64::from(n)));
        prop_assert!(lens[lens.len() - 1] >= total / u64::from(n));
    }

    #[test]
    fn by_size_covers_the_total(total in 0u64..u64::MAX, size in 1u64..u64::MAX) {
        match FragmentPlan::by_size(total, size) {
            Ok(plan) => {
                let n = plan.count();
                prop_assert_eq!(u64::from(n), total.div_ceil(size).max(1));
                prop_assert_eq!(plan.range(n).unwrap().end, total);
                let last = plan.fragment_len(n).unwrap();
                prop_assert!(last <= size && (last > 0 || total == 0));
            }
            Err(e) => prop_assert_eq!(e, FragmentError::TooManyFragments { total, fragment_size: size }),
        }
    }

    #[test]
    fn split_then_assemble_is_the_identity(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        chunks in proptest::collection::vec(1usize..500, 1..8),
        kind in kind(),
        algorithm in algorithm(),
    ) {
        let Some(splitter) = splitter_for(kind, data.len(), algorithm) else {
            // Only by_count with more fragments than bytes is refused.
            prop_assert!(matches!(kind, Kind::ByCount(n) if u64::from(n) > (data.len() as u64).max(1)));
            return Ok(());
        };
        let (payload, fragments) = split(splitter, &data, &chunks).unwrap();
        prop_assert_eq!(fragments.concat(), data.clone());
        prop_assert_eq!(payload.fragments as usize, fragments.len());
        prop_assert_eq!(payload.size, Some(data.len() as u64));
        prop_assert_eq!(payload.digest.value(), &DigestHasher::digest(algorithm, &data));
        if let Kind::BySize(size) | Kind::Streaming(size) = kind {
            let plan = FragmentPlan::by_size(data.len() as u64, size).unwrap();
            for (n, range) in plan.fragments() {
                prop_assert_eq!(fragments[n as usize - 1].len() as u64, range.end - range.start);
            }
        }
        prop_assert_eq!(assemble(&payload, &fragments), Ok(DigestForm::HexLowercase));
    }

    #[test]
    fn a_corrupted_byte_names_its_fragment(
        data in proptest::collection::vec(any::<u8>(), 1..2000),
        kind in kind(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let Some(splitter) = splitter_for(kind, data.len(), DigestAlgorithm::Md5) else {
            return Ok(());
        };
        let (payload, mut fragments) = split(splitter, &data, &[97]).unwrap();
        let at = at.index(data.len());
        // Find the fragment holding byte `at`.
        let mut start = 0;
        let (k, offset) = fragments.iter().enumerate().find_map(|(i, f)| {
            let found = (at < start + f.len()).then(|| (i, at - start));
            start += f.len();
            found
        }).unwrap();
        fragments[k][offset] ^= flip;
        let fragment = u32::try_from(k + 1).unwrap();
        let e = assemble(&payload, &fragments).unwrap_err();
        prop_assert_eq!(e.fragment(), Some(fragment));
        prop_assert_eq!(e.status(), StatusCode::ErrBadDigest);
        prop_assert!(verify_fragment(&payload, fragment, &fragments[k]).is_err());

        // Fetching the fragment again mends it: the assembler rolled back to its start.
        let mut a = Assembler::new(&payload).unwrap();
        let mut mended = fragments[k].clone();
        mended[offset] ^= flip;
        for (n, bytes) in (1..).zip(&fragments) {
            a.begin_fragment(n).unwrap();
            a.push(bytes).unwrap();
            if n == fragment {
                prop_assert!(a.end_fragment().is_err());
                a.begin_fragment(n).unwrap();
                a.push(&mended).unwrap();
            }
            a.end_fragment().unwrap();
        }
        prop_assert_eq!(a.finish(), Ok(DigestForm::HexLowercase));

        // Without the per-fragment list, only the package digest catches it.
        let mut console = payload.clone();
        console.fragment_sha256 = None;
        let e = assemble(&console, &fragments).unwrap_err();
        prop_assert!(matches!(e, FragmentError::PackageDigest(_)));
        prop_assert_eq!(e.status(), StatusCode::ErrBadDigest);
    }
}
