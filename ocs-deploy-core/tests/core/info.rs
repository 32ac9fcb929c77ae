//! Info files: every file the real console wrote, its bugs, and round trips.

use ocs_deploy_core::info::{self, InfoError, InfoNote};
use ocs_deploy_core::package::{
    AgentSupport, DigestAlgorithm, DigestEncoding, DigestError, DigestForm, ExpectedDigest,
    Notification,
};
use ocs_deploy_core::{
    Action, ArchiveKind, PackageFile, PackageId, PackageInfo, Payload, Priority, StatusCode,
};
use proptest::prelude::*;

use crate::reference;

fn read_ref(dir: &str) -> PackageInfo {
    info::read(&reference::read(&format!("console-packages/{dir}/info")))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
}

fn md5_hexa(hex: &str) -> ExpectedDigest {
    ExpectedDigest::parse(DigestAlgorithm::Md5, DigestEncoding::Hexa, hex).unwrap()
}

#[test]
fn packagebuilder_launch_1700000101() {
    let p = read_ref("packagebuilder/1700000101");
    assert_eq!(p.id.get(), 1_700_000_101);
    assert_eq!(p.priority.get(), 5);
    assert_eq!(
        p.action,
        Action::Launch {
            command: "install.sh hello world".into()
        }
    );
    assert_eq!(p.fragment_count(), 1);
    let payload = p.payload().unwrap();
    assert_eq!(payload.digest, md5_hexa("1e1fb8569a13de1ba56e0bca47faff0d"));
    assert_eq!(payload.digest.form(), DigestForm::HexLowercase);
    assert_eq!(payload.fragment_sha256, None);
    assert_eq!(p.notification, Notification::default());
    assert_eq!(p.gardefou, "rien");
    assert!(p.extra.is_empty());
}

#[test]
fn packagebuilder_unescaped_ampersand_and_greater_than_1700000102() {
    let (p, notes) = info::read_with_notes(&reference::read(
        "console-packages/packagebuilder/1700000102/info",
    ))
    .unwrap();
    assert_eq!(
        p.action,
        Action::Execute {
            command: r"cmd /c setup.bat && echo done > %TEMP%\x.txt".into()
        }
    );
    assert_eq!(p.priority.get(), 3);
    assert_eq!(
        p.payload().unwrap().digest,
        md5_hexa("c985a882128bc4e45d8e3f1277093e76")
    );
    assert_eq!(
        notes,
        [InfoNote::UnescapedValue {
            attribute: "COMMAND".into()
        }]
    );
}

#[test]
fn packagebuilder_unescaped_less_than_without_file_1700000103() {
    let (p, notes) = info::read_with_notes(&reference::read(
        "console-packages/packagebuilder/1700000103/info",
    ))
    .unwrap();
    assert_eq!(p.priority, Priority::new(0).unwrap());
    assert_eq!(
        p.action,
        Action::Execute {
            command: "apt-get install -y <pkg> & echo ok".into()
        }
    );
    assert_eq!(p.file, PackageFile::NONE);
    assert_eq!(p.archive_kind(), Some(ArchiveKind::None));
    assert_eq!(p.notification.text, "Installing <pkg> & rebooting");
    assert!(p.notification.enabled);
    assert_eq!(p.notification.countdown_secs, Some(30));
    assert_eq!(
        notes,
        [
            InfoNote::UnescapedValue {
                attribute: "COMMAND".into()
            },
            InfoNote::UnescapedValue {
                attribute: "NOTIFY_TEXT".into()
            },
        ]
    );
}

#[test]
fn packagebuilder_store_priority_10_1700000104() {
    let p = read_ref("packagebuilder/1700000104");
    assert_eq!(p.priority.get(), 10);
    assert_eq!(
        p.action,
        Action::Store {
            path: "/opt/ocs store".into()
        }
    );
}

#[test]
fn create_pack_double_escaped_notify_text_is_decoded_once_1700000201() {
    let (p, notes) = info::read_with_notes(&reference::read(
        "console-packages/create_pack/1700000201/info",
    ))
    .unwrap();
    assert_eq!(p.fragment_count(), 2);
    assert_eq!(
        p.action,
        Action::Launch {
            command: "install.sh \"a & b\" <x>".into()
        }
    );
    // Decoded once, as the agents do: the second layer of escaping stays visible.
    assert_eq!(
        p.notification.text,
        "Café &quot;quoted&quot; &amp; &lt;tag&gt;"
    );
    assert_eq!(p.notification.countdown_secs, Some(30));
    assert!(p.done_action.enabled);
    assert_eq!(p.done_action.text, "it's done");
    assert_eq!(
        notes,
        [InfoNote::DoubleEscapedValue {
            attribute: "NOTIFY_TEXT".into()
        }]
    );
}

#[test]
fn create_pack_sha1_base64_padded_1700000202() {
    let (p, notes) = info::read_with_notes(&reference::read(
        "console-packages/create_pack/1700000202/info",
    ))
    .unwrap();
    let digest = &p.payload().unwrap().digest;
    assert_eq!(digest.algorithm(), DigestAlgorithm::Sha1);
    assert_eq!(digest.form(), DigestForm::Base64Padded);
    assert_eq!(digest.to_text(), "BeKhtdnk9+z1Qc+3LG5+/xZzR5U=");
    assert_eq!(
        p.action,
        Action::Store {
            path: "/tmp/store here".into()
        }
    );
    assert_eq!(
        notes,
        [InfoNote::DigestNotPortable {
            accepted_by: AgentSupport {
                unix: false,
                windows: true
            }
        }]
    );
}

#[test]
fn console_sha1_hexa_writes_empty_digest_1700000203() {
    // create_pack wrote FRAGS="0" and an empty DIGEST for SHA1 + Hexa although it wrote a
    // fragment: agents run the command without the file, and so do we, with a note.
    let (p, notes) = info::read_with_notes(&reference::read(
        "console-packages/create_pack/1700000203/info",
    ))
    .unwrap();
    assert_eq!(
        p.action,
        Action::Execute {
            command: "echo hi".into()
        }
    );
    assert_eq!(
        p.file,
        PackageFile::None {
            digest_algorithm: DigestAlgorithm::Sha1,
            digest_encoding: DigestEncoding::Hexa
        }
    );
    assert_eq!(notes, [InfoNote::ConsoleSha1HexaWithoutFile]);
}

#[test]
fn console_sha1_hexa_empty_digest_with_fragments_names_the_bug() {
    let text = String::from_utf8(reference::read(
        "console-packages/create_pack/1700000203/info",
    ))
    .unwrap()
    .replace("FRAGS=\"0\"", "FRAGS=\"1\"");
    let err = info::read(text.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            InfoError::BadDigest {
                source: DigestError::Empty { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("create_pack cannot write SHA1 + Hexa"),
        "{err}"
    );
    assert_eq!(err.status(), StatusCode::ErrBadParam);
}

#[test]
fn console_md5_base64_of_hex_string_is_refused_naming_the_bug_1700000204() {
    let err = info::read(&reference::read(
        "console-packages/create_pack/1700000204/info",
    ))
    .unwrap_err();
    match &err {
        InfoError::BadDigest {
            source:
                DigestError::WrongLength {
                    base64_of_hex,
                    found,
                    ..
                },
            ..
        } => {
            assert!(*base64_of_hex);
            assert_eq!(*found, 32);
        }
        other => panic!("unexpected {other:?}"),
    }
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("Base64 of the hex string"), "{chain}");
    assert_eq!(err.status(), StatusCode::ErrBadParam);
}

/// The files whose values need no escaping come back byte for byte; the legacy writer's
/// escaped file too, because we escape as its htmlspecialchars does.
#[test]
fn writer_reproduces_console_files_byte_for_byte() {
    for dir in [
        "packagebuilder/1700000101",
        "packagebuilder/1700000104",
        "create_pack/1700000201",
        "create_pack/1700000202",
        "create_pack/1700000203",
    ] {
        let original = reference::read(&format!("console-packages/{dir}/info"));
        let written = info::write(&info::read(&original).unwrap());
        assert_eq!(written, String::from_utf8(original).unwrap(), "{dir}");
    }
}

#[test]
fn writer_escapes_what_the_packagebuilder_left_raw() {
    for dir in ["packagebuilder/1700000102", "packagebuilder/1700000103"] {
        let original =
            info::read(&reference::read(&format!("console-packages/{dir}/info"))).unwrap();
        let written = info::write(&original);
        assert!(
            !written.contains("&&") && !written.contains("<pkg>"),
            "{written}"
        );
        let (again, notes) = info::read_with_notes(written.as_bytes()).unwrap();
        assert_eq!(again, original);
        assert!(notes.is_empty(), "{notes:?}");
    }
}

fn base(extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<DOWNLOAD ID="1700000101" PRI="5" ACT="LAUNCH" DIGEST="1e1fb8569a13de1ba56e0bca47faff0d" PROTO="HTTP" FRAGS="1" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" NAME="install.sh" {extra}/>"#
    )
}

type IsExpected = fn(&InfoError) -> bool;

/// A table of cases: one line each reads better than the limit on function length.
#[allow(clippy::too_many_lines)]
#[test]
fn unusable_values_are_typed_errors_reported_as_bad_param() {
    let cases: Vec<(String, IsExpected)> = vec![
        (base("").replace("PRI=\"5\"", "PRI=\"11\""), |e| {
            matches!(e, InfoError::BadPriority(_))
        }),
        (base("").replace("PRI=\"5\"", "PRI=\"\""), |e| {
            matches!(e, InfoError::BadPriority(_))
        }),
        (base("").replace("PRI=\"5\" ", ""), |e| {
            matches!(e, InfoError::MissingAttribute { name: "PRI" })
        }),
        (base("").replace("ACT=\"LAUNCH\"", "ACT=\"launch\""), |e| {
            matches!(e, InfoError::UnknownAction { .. })
        }),
        (
            base("").replace("NAME=\"install.sh\"", "NAME=\"  \""),
            |e| {
                matches!(
                    e,
                    InfoError::EmptyArgument {
                        attribute: "NAME",
                        ..
                    }
                )
            },
        ),
        (base("").replace("NAME=\"install.sh\"", ""), |e| {
            matches!(e, InfoError::EmptyArgument { .. })
        }),
        (base("").replace("FRAGS=\"1\" ", ""), |e| {
            matches!(e, InfoError::MissingAttribute { name: "FRAGS" })
        }),
        (base("").replace("FRAGS=\"1\"", "FRAGS=\"-1\""), |e| {
            matches!(e, InfoError::BadFragmentCount { .. })
        }),
        (base("").replace("FRAGS=\"1\"", "FRAGS=\"0\""), |e| {
            matches!(e, InfoError::MissingFile { action: "LAUNCH" })
        }),
        (base("").replace("PROTO=\"HTTP\"", "PROTO=\"FTP\""), |e| {
            matches!(e, InfoError::UnknownProtocol { .. })
        }),
        (
            base("").replace("DIGEST_ALGO=\"MD5\"", "DIGEST_ALGO=\"CRC\""),
            |e| matches!(e, InfoError::UnknownDigestAlgorithm { .. }),
        ),
        (
            base("").replace("DIGEST_ENCODE=\"Hexa\"", "DIGEST_ENCODE=\"raw\""),
            |e| matches!(e, InfoError::UnknownDigestEncoding { .. }),
        ),
        (
            base("").replace("1e1fb8569a13de1ba56e0bca47faff0d", "zz"),
            |e| matches!(e, InfoError::BadDigest { .. }),
        ),
        (
            base("").replace("1e1fb8569a13de1ba56e0bca47faff0d", "1e1f"),
            |e| matches!(e, InfoError::BadDigest { .. }),
        ),
        (
            base("").replace("ID=\"1700000101\"", "ID=\"../../etc\""),
            |e| matches!(e, InfoError::BadId(_)),
        ),
        (base("NOTIFY_USER=\"yes\" "), |e| {
            matches!(
                e,
                InfoError::BadFlag {
                    name: "NOTIFY_USER",
                    ..
                }
            )
        }),
        (base("NOTIFY_COUNTDOWN=\"soon\" "), |e| {
            matches!(e, InfoError::BadNumber { .. })
        }),
        (base("PRI=\"3\" "), |e| {
            matches!(e, InfoError::DuplicateAttribute { .. })
        }),
        (base("OCSD_FRAG_SHA256=\"abc\" "), |e| {
            matches!(e, InfoError::BadExtension { .. })
        }),
        (base("OCSD_SIZE=\"big\" "), |e| {
            matches!(e, InfoError::BadExtension { .. })
        }),
        (base("OCSD_ARCHIVE=\"rar\" "), |e| {
            matches!(e, InfoError::BadExtension { .. })
        }),
        (base("NOTIFY_TEXT=\"a\0b\" "), |e| {
            matches!(e, InfoError::NulCharacter { .. })
        }),
        (base("NOTIFY_TEXT=\"a&#0;b\" "), |e| {
            matches!(e, InfoError::NulCharacter { .. })
        }),
        (base("NEED_D%ONE=\"\" "), |e| {
            matches!(e, InfoError::BadAttributeName { .. })
        }),
        ("<OTHER ID=\"1\"/>".to_owned(), |e| {
            matches!(e, InfoError::NoDownloadElement)
        }),
        (String::new(), |e| matches!(e, InfoError::NoDownloadElement)),
        ("<DOWNLOAD ID=1700000101 />".to_owned(), |e| {
            matches!(e, InfoError::Xml { .. })
        }),
        ("<DOWNLOAD ID=\"1700000101".to_owned(), |e| {
            matches!(e, InfoError::Xml { .. })
        }),
    ];
    for (text, expected) in cases {
        let err = info::read(text.as_bytes()).expect_err(&text);
        assert!(expected(&err), "{text}\ngave {err:?}");
        assert_eq!(err.status(), StatusCode::ErrBadParam, "{err}");
    }
    let err = info::read(b"<DOWNLOAD ID=\"\xff\"/>").unwrap_err();
    assert_eq!(err, InfoError::NotUtf8 { offset: 14 });
}

#[test]
fn unknown_attributes_are_kept_in_order_and_written_back() {
    let text = base("LOC=\"srv/download\" SCHEDULE=\"2016/06/30 02:15\" POSTCMD=\"REBOOT\" ");
    let p = info::read(text.as_bytes()).unwrap();
    assert_eq!(
        p.extra,
        [
            ("LOC".to_string(), "srv/download".to_string()),
            ("SCHEDULE".into(), "2016/06/30 02:15".into()),
            ("POSTCMD".into(), "REBOOT".into()),
        ]
    );
    let written = info::write(&p);
    assert!(written.contains(" GARDEFOU=\"rien\" LOC=\"srv/download\" SCHEDULE=\"2016/06/30 02:15\" POSTCMD=\"REBOOT\" />"), "{written}");
    assert_eq!(info::read(written.as_bytes()).unwrap(), p);
}

#[test]
fn id_mismatch_maps_to_bad_id() {
    let err = InfoError::IdMismatch {
        expected: PackageId::new(1).unwrap(),
        found: PackageId::new(2).unwrap(),
    };
    assert_eq!(err.status(), StatusCode::ErrBadId);
}

#[test]
fn our_extension_round_trips() {
    let mut p = read_ref("create_pack/1700000201");
    let PackageFile::Fragments(payload) = &mut p.file else {
        panic!("has a file")
    };
    payload.fragment_sha256 = Some(vec![[0xab; 32], [0x01; 32]]);
    payload.size = Some(185);
    payload.archive = Some(ArchiveKind::TarGz);
    let written = info::write(&p);
    assert!(written.contains(&format!(
        "OCSD_FRAG_SHA256=\"{},{}\"",
        "ab".repeat(32),
        "01".repeat(32)
    )));
    assert_eq!(info::read(written.as_bytes()).unwrap(), p);
}

#[test]
fn doctype_entities_are_never_expanded() {
    let text = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<DOWNLOAD ID="1700000101" PRI="5" ACT="EXECUTE" PROTO="HTTP" FRAGS="0" COMMAND="&x;"/>"#;
    let p = info::read(text.as_bytes()).unwrap();
    assert_eq!(p.action.argument(), "&x;");
}

// --- property tests ------------------------------------------------------------------

fn text_value() -> BoxedStrategy<String> {
    // Any characters, including the ones that need escaping and control characters.
    prop::string::string_regex("[ -~\u{e9}\u{20ac}\t\n\r&<>\"'\u{1}]{0,24}")
        .unwrap()
        .boxed()
}

fn digest() -> impl Strategy<Value = ExpectedDigest> {
    (
        prop::sample::select(DigestAlgorithm::ALL.to_vec()),
        prop::sample::select(vec![
            DigestForm::HexLowercase,
            DigestForm::HexUppercase,
            DigestForm::Base64Padded,
            DigestForm::Base64Unpadded,
        ]),
        prop::collection::vec(any::<u8>(), 32),
    )
        .prop_map(|(algorithm, form, bytes)| {
            let value = ocs_deploy_core::package::DigestValue::from_bytes(
                algorithm,
                &bytes[..algorithm.output_len()],
            )
            .unwrap();
            ExpectedDigest::new(value, form)
        })
}

fn package_file() -> impl Strategy<Value = PackageFile> {
    prop_oneof![
        (
            prop::sample::select(DigestAlgorithm::ALL.to_vec()),
            prop::bool::ANY
        )
            .prop_map(|(a, hex)| PackageFile::None {
                digest_algorithm: a,
                digest_encoding: if hex {
                    DigestEncoding::Hexa
                } else {
                    DigestEncoding::Base64
                },
            }),
        (
            1u32..6,
            digest(),
            prop::option::of(any::<u64>()),
            prop::option::of(prop::sample::select(vec![
                ArchiveKind::Zip,
                ArchiveKind::TarGz
            ])),
            prop::bool::ANY
        )
            .prop_map(
                |(fragments, digest, size, archive, hashes)| PackageFile::Fragments(Payload {
                    fragments,
                    digest,
                    fragment_sha256: hashes.then(|| (0..fragments)
                        .map(|i| [u8::try_from(i).unwrap(); 32])
                        .collect()),
                    size,
                    archive,
                })
            ),
    ]
}

fn action(needs_file: bool) -> impl Strategy<Value = Action> {
    let arg = text_value()
        .prop_filter("non-blank", |s| !s.trim().is_empty())
        .boxed();
    if needs_file {
        prop_oneof![
            arg.clone().prop_map(|command| Action::Launch { command }),
            arg.clone().prop_map(|command| Action::Execute { command }),
            arg.prop_map(|path| Action::Store { path }),
        ]
        .boxed()
    } else {
        arg.prop_map(|command| Action::Execute { command }).boxed()
    }
}

prop_compose! {
    fn package_info()(file in package_file())(
        action in action(matches!(file, PackageFile::Fragments(_))),
        file in Just(file),
        id in 1u64..,
        priority in 0u8..=10,
        https in prop::bool::ANY,
        notification in (prop::bool::ANY, text_value(), prop::option::of(any::<u32>()), prop::bool::ANY, prop::bool::ANY),
        done in (prop::bool::ANY, text_value()),
        gardefou in text_value(),
        extra in prop::collection::vec(("X_[A-Z0-9_]{1,8}", text_value()), 0..3),
    ) -> PackageInfo {
        let mut extra = extra;
        extra.sort();
        extra.dedup_by(|a, b| a.0 == b.0);
        PackageInfo {
            id: PackageId::new(id).unwrap(),
            priority: Priority::new(priority).unwrap(),
            action,
            protocol: if https { ocs_deploy_core::package::Protocol::Https } else { ocs_deploy_core::package::Protocol::Http },
            file,
            notification: Notification {
                enabled: notification.0,
                text: notification.1,
                countdown_secs: notification.2,
                can_abort: notification.3,
                can_delay: notification.4,
            },
            done_action: ocs_deploy_core::package::DoneAction { enabled: done.0, text: done.1 },
            gardefou,
            extra,
        }
    }
}

proptest! {
    #[test]
    fn write_then_read_gives_the_same_package(p in package_info()) {
        let written = info::write(&p);
        let (read, notes) = info::read_with_notes(written.as_bytes()).unwrap();
        prop_assert_eq!(&read, &p);
        prop_assert!(notes.iter().all(|n| !matches!(n, InfoNote::UnescapedValue { .. })), "{notes:?}");
    }

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = info::read(&bytes);
    }

    #[test]
    fn reading_mutated_console_files_never_panics(pos in 0usize..400, byte in any::<u8>()) {
        let mut bytes = reference::read("console-packages/create_pack/1700000201/info");
        let i = pos % bytes.len();
        bytes[i] = byte;
        let _ = info::read(&bytes);
    }
}
