use ocs_deploy_core::{DeploymentStatus, StatusClass, StatusCode};
use proptest::prelude::*;

const EVERY_CODE: &[&str] = &[
    "SUCCESS",
    "SUCCESS_0",
    "SUCCESS_1",
    "SUCCESS_-1",
    "SUCCESS_REBOOT_INITIATED",
    "SUCCESS_REBOOT_REQUIRED",
    "SUCCESS_RESTART_REQUIRED",
    "SUCCESS_ALREADY_SETUP",
    "SUCCESS_ALREADY_IN_HISTORY",
    "EXIT_CODE_1603",
    "EXIT_CODE_-1",
    "ERR_EXIT_CODE_2",
    "ERR_ALREADY_SETUP",
    "ERR_BAD_ID",
    "ERR_BAD_DIGEST",
    "ERR_DOWNLOAD_INFO",
    "ERR_DOWNLOAD_PACK",
    "ERR_BUILD",
    "ERR_UNZIP",
    "ERR_OUT_OF_SPACE",
    "ERR_BAD_PARAM",
    "ERR_EXECUTE_PACK",
    "ERR_EXECUTE",
    "ERR_EXECUTE_NO_EXIT_CODE",
    "ERR_EXECUTE_TIMEOUT",
    "ERR_EXECUTE_TOO_MANY_TRY",
    "ERR_CLEAN",
    "ERR_DONE_FAILED",
    "ERR_TIMEOUT",
    "ERR_ABORTED",
    "UNKNOWN_CODE",
];

#[test]
fn every_known_code_has_its_own_variant_and_prints_back() {
    for wire in EVERY_CODE {
        let code = StatusCode::from_wire(wire);
        assert!(
            !matches!(code, StatusCode::Other(_)),
            "{wire} fell through to Other"
        );
        assert_eq!(code.to_string(), *wire);
    }
}

#[test]
fn numbered_codes_carry_their_numbers() {
    assert_eq!(
        StatusCode::from_wire("SUCCESS_0"),
        StatusCode::SuccessExitCode(0)
    );
    assert_eq!(
        StatusCode::from_wire("SUCCESS_-1"),
        StatusCode::SuccessExitCode(-1)
    );
    assert_eq!(
        StatusCode::from_wire("EXIT_CODE_1603"),
        StatusCode::ExitCode(1603)
    );
    assert_eq!(
        StatusCode::from_wire("ERR_EXIT_CODE_2"),
        StatusCode::ErrExitCode(2)
    );
}

#[test]
fn unix_agent_retry_sends_bare_success_underscore_and_it_is_kept() {
    // The Unix agent's retry path calls done() without a code and sends "SUCCESS_".
    let code = StatusCode::from_wire("SUCCESS_");
    assert_eq!(code, StatusCode::Other("SUCCESS_".into()));
    assert_eq!(code.to_string(), "SUCCESS_");
    assert_eq!(code.class(), StatusClass::Success);
}

#[test]
fn non_canonical_and_overflowing_numbers_stay_verbatim() {
    for s in [
        "SUCCESS_007",
        "SUCCESS_-0",
        "SUCCESS_+1",
        "EXIT_CODE_99999999999",
        "EXIT_CODE_",
        "ERR_EXIT_CODE_x",
    ] {
        assert_eq!(StatusCode::from_wire(s), StatusCode::Other(s.into()), "{s}");
        assert_eq!(StatusCode::from_wire(s).to_string(), s);
    }
}

#[test]
fn classification_matches_the_console_columns() {
    let cases: &[(Option<&str>, StatusClass)] = &[
        (None, StatusClass::Waiting),
        (Some("NOTIFIED"), StatusClass::Notified),
        (Some("SUCCESS"), StatusClass::Success),
        (Some("SUCCESS_1"), StatusClass::Success), // a failed Unix Launch counts as success
        (Some("SUCCESS_ALREADY_IN_HISTORY"), StatusClass::Success),
        (Some("success_0"), StatusClass::Success), // MySQL LIKE is case-insensitive
        (Some("ERR_BAD_DIGEST"), StatusClass::Error),
        (Some("EXIT_CODE_1603"), StatusClass::Error),
        (Some("ERR_EXIT_CODE_1"), StatusClass::Error),
        (Some("ERR"), StatusClass::Unclassified), // 'ERR_%' needs a fourth character
        (Some("UNKNOWN_CODE"), StatusClass::Unclassified),
        (Some(""), StatusClass::Unclassified),
    ];
    for (stored, class) in cases {
        assert_eq!(StatusClass::of_stored(*stored), *class, "{stored:?}");
    }
}

#[test]
fn exit_code_spellings_of_each_agent_family() {
    assert_eq!(
        StatusCode::windows_exit(1641).to_string(),
        "SUCCESS_REBOOT_INITIATED"
    );
    assert_eq!(
        StatusCode::windows_exit(3011).to_string(),
        "SUCCESS_RESTART_REQUIRED"
    );
    assert_eq!(StatusCode::windows_exit(-5).to_string(), "EXIT_CODE_-5");
    assert_eq!(StatusCode::unix_launch_exit(2).to_string(), "SUCCESS_2");
    assert_eq!(
        StatusCode::documented_exit(2).to_string(),
        "ERR_EXIT_CODE_2"
    );
    assert_eq!(StatusCode::documented_exit(0), StatusCode::Success);
}

#[test]
fn deployment_status_round_trips_through_the_stored_text() {
    for s in [
        None,
        Some("NOTIFIED"),
        Some("SUCCESS_0"),
        Some("garbage\u{7f}"),
    ] {
        assert_eq!(DeploymentStatus::from_stored(s).to_stored().as_deref(), s);
    }
}

proptest! {
    #[test]
    fn any_text_survives_verbatim(s in ".*") {
        prop_assert_eq!(StatusCode::from_wire(&s).to_string(), s);
    }

    #[test]
    fn coded_texts_survive_verbatim(prefix in prop::sample::select(vec!["SUCCESS_", "EXIT_CODE_", "ERR_EXIT_CODE_"]), n in any::<i64>()) {
        let s = format!("{prefix}{n}");
        let code = StatusCode::from_wire(&s);
        prop_assert_eq!(code.to_string(), s.clone());
        // In range of i32, it is a numbered variant, never Other.
        if i32::try_from(n).is_ok() {
            prop_assert!(!matches!(code, StatusCode::Other(_)));
        }
    }

    #[test]
    fn class_of_code_equals_class_of_its_text(s in "(SUCCESS|ERR_|EXIT_CODE|NOTI|UNKNOWN)[A-Z_0-9-]{0,12}") {
        prop_assert_eq!(StatusCode::from_wire(&s).class(), StatusClass::of_stored(Some(&s)));
    }
}
