//! Package model: ids, priorities and digests in every form the agents use.

use ocs_deploy_core::package::{
    AgentSupport, DigestAlgorithm, DigestEncoding, DigestError, DigestForm, DigestHasher,
    ExpectedDigest, PackageIdError,
};
use ocs_deploy_core::{PackageId, Priority};
use proptest::prelude::*;

const FORMS: [DigestForm; 4] = [
    DigestForm::HexLowercase,
    DigestForm::HexUppercase,
    DigestForm::Base64Padded,
    DigestForm::Base64Unpadded,
];

#[test]
fn known_digests_of_the_reference_archive() {
    let archive = crate::reference::read("console-packages/archives/install-sh.tar.gz");
    let md5 = DigestHasher::digest(DigestAlgorithm::Md5, &archive);
    assert_eq!(
        md5.to_text(DigestForm::HexLowercase),
        "1e1fb8569a13de1ba56e0bca47faff0d"
    );
    // 1700000202 is SHA1 + Base64 (padded) of the same archive, written by create_pack.
    let sha1 = DigestHasher::digest(DigestAlgorithm::Sha1, &archive);
    assert_eq!(
        sha1.to_text(DigestForm::Base64Padded),
        "BeKhtdnk9+z1Qc+3LG5+/xZzR5U="
    );
    assert_eq!(
        sha1.to_text(DigestForm::Base64Unpadded),
        "BeKhtdnk9+z1Qc+3LG5+/xZzR5U"
    );
}

#[test]
fn every_algorithm_and_form_verifies_and_names_the_form() {
    for algorithm in DigestAlgorithm::ALL {
        let computed = DigestHasher::digest(algorithm, b"payload");
        for form in FORMS {
            let text = computed.to_text(form);
            let expected = ExpectedDigest::parse(algorithm, form.encoding(), &text).unwrap();
            assert_eq!(expected.form(), form, "{algorithm} {text}");
            assert_eq!(expected.verify(&computed), Ok(form));
            assert_eq!(expected.to_text(), text);
            let other = DigestHasher::digest(algorithm, b"payloaD");
            assert!(matches!(
                expected.verify(&other),
                Err(DigestError::Mismatch { .. })
            ));
        }
    }
}

#[test]
fn agent_support_follows_form_and_algorithm() {
    let cases = [
        (DigestAlgorithm::Md5, DigestForm::HexLowercase, true, true),
        (DigestAlgorithm::Md5, DigestForm::HexUppercase, false, false),
        (DigestAlgorithm::Sha1, DigestForm::Base64Padded, false, true),
        (
            DigestAlgorithm::Sha1,
            DigestForm::Base64Unpadded,
            true,
            false,
        ),
        (
            DigestAlgorithm::Sha256,
            DigestForm::HexLowercase,
            false,
            true,
        ), // Unix: MD5 or SHA1 only
    ];
    for (algorithm, form, unix, windows) in cases {
        let d = ExpectedDigest::new(DigestHasher::digest(algorithm, b"x"), form);
        assert_eq!(
            d.accepted_by(),
            AgentSupport { unix, windows },
            "{algorithm} {form:?}"
        );
    }
}

#[test]
fn undecodable_digests_are_typed_errors() {
    use DigestAlgorithm::{Md5, Sha1};
    use DigestEncoding::{Base64, Hexa};
    assert!(matches!(
        ExpectedDigest::parse(Md5, Hexa, ""),
        Err(DigestError::Empty { .. })
    ));
    assert!(matches!(
        ExpectedDigest::parse(Md5, Hexa, "xyz"),
        Err(DigestError::NotHex { .. })
    ));
    assert!(matches!(
        ExpectedDigest::parse(Md5, Base64, "!!!!"),
        Err(DigestError::NotBase64 { .. })
    ));
    assert!(matches!(
        ExpectedDigest::parse(Sha1, Hexa, "1e1fb8569a13de1ba56e0bca47faff0d"),
        Err(DigestError::WrongLength {
            expected: 20,
            found: 16,
            base64_of_hex: false,
            ..
        })
    ));
}

#[test]
fn package_ids_are_canonical_decimal() {
    assert_eq!(
        "1700000101".parse::<PackageId>().unwrap().to_string(),
        "1700000101"
    );
    assert_eq!("".parse::<PackageId>(), Err(PackageIdError::Empty));
    for bad in [
        "0",
        "0170",
        "-1",
        "+1",
        "1.5",
        "1 ",
        "../1",
        "1/2",
        "99999999999999999999999",
    ] {
        assert!(bad.parse::<PackageId>().is_err(), "{bad}");
    }
    assert_eq!(PackageId::new(7).unwrap().fragment_name(1), "7-1");
}

#[test]
fn priorities_are_zero_to_ten() {
    for p in 0..=10u8 {
        assert_eq!(p.to_string().parse::<Priority>().unwrap().get(), p);
    }
    for bad in ["11", "-1", "", "5.0", "a", "100"] {
        assert!(bad.parse::<Priority>().is_err(), "{bad}");
    }
    assert!(Priority::new(11).is_err());
}

proptest! {
    #[test]
    fn package_id_text_round_trips(n in 1u64..) {
        let id = PackageId::new(n).unwrap();
        prop_assert_eq!(id.to_string().parse::<PackageId>().unwrap(), id);
    }

    #[test]
    fn digest_text_round_trips(data in prop::collection::vec(any::<u8>(), 0..256), a in 0usize..3, f in 0usize..4) {
        let algorithm = DigestAlgorithm::ALL[a];
        let form = FORMS[f];
        let computed = DigestHasher::digest(algorithm, &data);
        let text = computed.to_text(form);
        let parsed = ExpectedDigest::parse(algorithm, form.encoding(), &text).unwrap();
        prop_assert_eq!(parsed.verify(&computed), Ok(form));
    }

    #[test]
    fn digest_parse_never_panics(text in ".{0,80}", a in 0usize..3, hex in any::<bool>()) {
        let encoding = if hex { DigestEncoding::Hexa } else { DigestEncoding::Base64 };
        let _ = ExpectedDigest::parse(DigestAlgorithm::ALL[a], encoding, &text);
    }
}
