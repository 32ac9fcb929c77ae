//! The agent's package state machine: every status it can end with, the bad fragment
//! fetched again alone, crash recovery, and a whole deployment driven by the scheduler.

use std::collections::BTreeMap;
use std::time::Duration;

use ocs_deploy_core::agent::{
    FetchFailed, InstallOutcome, Job, JobConfig, PostCommand, ResultStyle, Stage, Task, Verdict,
};
use ocs_deploy_core::fragment::{Assembler, FragmentPlan, SplitEvent, Splitter};
use ocs_deploy_core::package::{DigestAlgorithm, DigestForm, PackageFile, Payload};
use ocs_deploy_core::protocol::{DownloadConfig, PackageNotice};
use ocs_deploy_core::schedule::{Next, Scheduler};
use ocs_deploy_core::{Action, PackageId, PackageInfo, Priority, StatusCode, Timestamp, info};

use crate::reference;

const NOW: Timestamp = Timestamp::from_secs(1_700_000_500);

fn id() -> PackageId {
    PackageId::new(1_700_000_000).unwrap()
}

fn notice() -> PackageNotice {
    PackageNotice::new(id(), "ocs.example.com/download", "dl.example.com/files")
}

/// A Launch package of `count` fragments: its info file and fragments, with our
/// per-fragment SHA-256 unless `ocs_only`.
fn package(data: &[u8], count: u32, ocs_only: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut splitter = Splitter::new(
        FragmentPlan::by_count(data.len() as u64, count).unwrap(),
        DigestAlgorithm::Md5,
        id(),
    );
    let mut fragments: Vec<Vec<u8>> = Vec::new();
    for event in splitter.push(data).unwrap() {
        if let SplitEvent::FragmentBytes { fragment, bytes } = event {
            if fragments.len() < fragment as usize {
                fragments.push(Vec::new());
            }
            fragments[fragment as usize - 1].extend_from_slice(bytes);
        }
    }
    let mut payload: Payload = splitter.finish(DigestForm::HexLowercase).unwrap();
    if ocs_only {
        payload.fragment_sha256 = None;
        payload.size = None;
        payload.archive = None;
    }
    let mut info = PackageInfo::new(
        id(),
        Action::Launch {
            command: "install.sh".into(),
        },
    );
    info.file = PackageFile::Fragments(payload);
    (info::write(&info).into_bytes(), fragments)
}

fn job_with(config: JobConfig) -> Job {
    Job::new(notice(), false, config)
}

fn job() -> Job {
    job_with(JobConfig::default())
}

fn fetch(job: &mut Job, fragment: u32, bytes: &[u8]) -> Verdict {
    let mut receiver = job.receiver(fragment);
    for chunk in bytes.chunks(7) {
        receiver.push(chunk);
    }
    job.fragment_fetched(Ok(receiver.finish()))
}

/// Builds from the fragments the driver holds, as the runtime does from its files.
fn build(
    job: &Job,
    held: &BTreeMap<u32, Vec<u8>>,
) -> Result<(), ocs_deploy_core::fragment::FragmentError> {
    let payload = job.info().unwrap().payload().unwrap();
    let mut assembler = Assembler::new(payload)?;
    for (n, bytes) in held {
        assembler.begin_fragment(*n)?;
        assembler.push(bytes)?;
        assembler.end_fragment()?;
    }
    assembler.finish().map(drop)
}

/// Runs a job through fetch steps until it is ready, keeping what it says to keep.
fn download(job: &mut Job, fragments: &[Vec<u8>], held: &mut BTreeMap<u32, Vec<u8>>) {
    while let Some(Task::FetchFragment { fragment, .. }) = job.step(NOW) {
        let bytes = &fragments[fragment as usize - 1];
        if fetch(job, fragment, bytes) == Verdict::Keep {
            held.insert(fragment, bytes.clone());
        }
    }
}

#[test]
fn a_launch_package_goes_from_info_to_reported_success() {
    let (info, fragments) = package(&[7u8; 1000], 2, false);
    let mut job = job();
    assert_eq!(
        job.step(NOW),
        Some(Task::FetchInfo {
            url: "https://ocs.example.com/download/1700000000/info".into()
        })
    );
    job.info_fetched(Ok(&info), NOW);
    assert_eq!(job.stage(), &Stage::Downloading);
    assert_eq!(job.since(), Some(NOW));
    assert_eq!(
        job.step(NOW),
        Some(Task::FetchFragment {
            fragment: 1,
            url: "http://dl.example.com/files/1700000000/1700000000-1".into()
        })
    );
    let mut held = BTreeMap::new();
    download(&mut job, &fragments, &mut held);
    assert_eq!(job.fragments_present(), vec![1, 2]);
    assert_eq!(job.step(NOW), Some(Task::Build));
    let Some(Task::Install(plan)) = job.built(build(&job, &held)) else {
        panic!("install after a good build");
    };
    assert_eq!(plan.action.argument(), "install.sh");
    assert_eq!(plan.size, Some(1000));
    assert_eq!(job.step(NOW), None, "nothing while installing");
    let report = job.installed(InstallOutcome::Exited(0), NOW).unwrap();
    assert_eq!(report, Task::Report(StatusCode::Success));
    assert!(report.ends_step());
    job.reported(true);
    assert_eq!(job.stage(), &Stage::Done(StatusCode::Success));
    assert!(job.adds_to_history());
    assert_eq!(job.step(NOW), None);
}

#[test]
fn history_short_cut_unless_forced() {
    let mut job = Job::new(notice(), true, JobConfig::default());
    assert_eq!(
        job.step(NOW),
        Some(Task::Report(StatusCode::SuccessAlreadySetup))
    );
    let mut forced = notice();
    forced.force = true;
    let mut job = Job::new(forced, true, JobConfig::default());
    assert!(matches!(job.step(NOW), Some(Task::FetchInfo { .. })));
}

#[test]
fn info_failures_have_their_codes() {
    let mut job = job();
    job.info_fetched(Err(FetchFailed), NOW);
    assert_eq!(job.stage(), &Stage::Result(StatusCode::ErrDownloadInfo));

    let mut job = job_with(JobConfig::default());
    job.info_fetched(Ok(b"<DOWNLOAD ID="), NOW);
    assert_eq!(job.stage(), &Stage::Result(StatusCode::ErrBadParam));

    let (info, _) = package(b"abcd", 1, false);
    let text = String::from_utf8(info)
        .unwrap()
        .replace("1700000000", "1700000001");
    let mut job = job_with(JobConfig::default());
    job.info_fetched(Ok(text.as_bytes()), NOW);
    assert_eq!(job.stage(), &Stage::Result(StatusCode::ErrBadId));
}

#[test]
fn every_console_info_file_is_accepted_or_refused_with_a_code() {
    // The real console's files: each either starts a download or ends with a code.
    for name in [
        "create_pack/1700000201",
        "create_pack/1700000202",
        "create_pack/1700000203",
        "create_pack/1700000204",
        "packagebuilder/1700000101",
        "packagebuilder/1700000102",
        "packagebuilder/1700000103",
        "packagebuilder/1700000104",
    ] {
        let bytes = reference::read(&format!("console-packages/{name}/info"));
        let id: Option<PackageId> = name.rsplit('/').next().and_then(|n| n.parse().ok());
        let Some(id) = id else { continue };
        let mut job = Job::new(
            PackageNotice::new(id, "ocs.example.com/download", "ocs.example.com/download"),
            false,
            JobConfig::default(),
        );
        job.info_fetched(Ok(&bytes), NOW);
        match job.stage() {
            Stage::Downloading | Stage::Ready => {}
            Stage::Result(code) => assert!(!code.is_success(), "{name}: {code}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_failing_fragment_is_fetched_again_alone_then_gives_err_download_pack() {
    let (info, fragments) = package(&[1u8; 300], 3, false);
    let mut job = job();
    job.info_fetched(Ok(&info), NOW);
    assert_eq!(fetch(&mut job, 1, &fragments[0]), Verdict::Keep);
    // Four failures of fragment 2 (download errors and corrupt bytes), then it arrives.
    for attempt in 0..4 {
        let verdict = if attempt % 2 == 0 {
            job.fragment_fetched(Err(FetchFailed))
        } else {
            fetch(&mut job, 2, b"corrupt")
        };
        assert_eq!(verdict, Verdict::Discard);
        assert!(
            matches!(job.step(NOW), Some(Task::FetchFragment { fragment: 2, .. })),
            "only fragment 2 again"
        );
    }
    assert_eq!(fetch(&mut job, 2, &fragments[1]), Verdict::Keep);
    // The count starts again for the next fragment; five failures end the package.
    for _ in 0..5 {
        job.fragment_fetched(Err(FetchFailed));
    }
    assert_eq!(job.stage(), &Stage::Result(StatusCode::ErrDownloadPack));
    assert_eq!(
        job.step(NOW),
        Some(Task::Report(StatusCode::ErrDownloadPack))
    );
}

#[test]
fn fragments_out_of_turn_are_discarded() {
    let (info, fragments) = package(&[1u8; 300], 3, false);
    let mut job = job();
    job.info_fetched(Ok(&info), NOW);
    assert_eq!(fetch(&mut job, 2, &fragments[1]), Verdict::Discard);
    assert_eq!(fetch(&mut job, 0, b""), Verdict::Discard);
    assert_eq!(job.fragments_present(), Vec::<u32>::new());
}

#[test]
fn without_fragment_digests_a_bad_fragment_is_err_bad_digest() {
    // Files written by OCS list no fragment digest: only the package digest can tell.
    let (info, fragments) = package(&[9u8; 200], 2, true);
    let mut job = job();
    job.info_fetched(Ok(&info), NOW);
    let mut held = BTreeMap::new();
    assert_eq!(fetch(&mut job, 1, b"not the bytes"), Verdict::Keep);
    held.insert(1, b"not the bytes".to_vec());
    download(&mut job, &fragments, &mut held);
    assert_eq!(job.step(NOW), Some(Task::Build));
    let report = job.built(build(&job, &held));
    assert_eq!(report, Some(Task::Report(StatusCode::ErrBadDigest)));
}

#[test]
fn with_fragment_digests_a_bad_build_fetches_the_named_fragment_again() {
    let (info, fragments) = package(&[3u8; 300], 3, false);
    let mut job = job();
    job.info_fetched(Ok(&info), NOW);
    let mut held = BTreeMap::new();
    download(&mut job, &fragments, &mut held);
    // Fragment 2 rotted on disk after it was checked.
    held.insert(2, b"rotten".to_vec());
    assert_eq!(job.step(NOW), Some(Task::Build));
    assert_eq!(job.built(build(&job, &held)), None);
    assert_eq!(job.fragments_present(), vec![1, 3]);
    assert!(matches!(
        job.step(NOW),
        Some(Task::FetchFragment { fragment: 2, .. })
    ));
    download(&mut job, &fragments, &mut held);
    assert_eq!(job.step(NOW), Some(Task::Build));
    assert!(matches!(
        job.built(build(&job, &held)),
        Some(Task::Install(_))
    ));
}

fn installed_job() -> Job {
    let (info, fragments) = package(b"0123456789", 1, false);
    let mut job = job();
    job.info_fetched(Ok(&info), NOW);
    let mut held = BTreeMap::new();
    download(&mut job, &fragments, &mut held);
    job.step(NOW);
    assert!(matches!(
        job.built(build(&job, &held)),
        Some(Task::Install(_))
    ));
    job
}

#[test]
fn install_outcomes_map_to_their_codes() {
    for (outcome, code) in [
        (InstallOutcome::Exited(0), "SUCCESS"),
        (InstallOutcome::Exited(3), "ERR_EXIT_CODE_3"),
        (InstallOutcome::TimedOut, "ERR_EXECUTE_TIMEOUT"),
        (InstallOutcome::StartFailed, "ERR_EXECUTE"),
        (InstallOutcome::OutOfSpace, "ERR_OUT_OF_SPACE"),
        (InstallOutcome::ExtractFailed, "ERR_UNZIP"),
        (InstallOutcome::Aborted, "ERR_ABORTED"),
    ] {
        let mut job = installed_job();
        assert_eq!(
            job.installed(outcome, NOW),
            Some(Task::Report(StatusCode::from_wire(code))),
            "{outcome:?}"
        );
    }
    let mut unix = JobConfig::default();
    unix.style = ResultStyle::UnixAgent;
    let (info, fragments) = package(b"0123456789", 1, false);
    let mut job = job_with(unix);
    job.info_fetched(Ok(&info), NOW);
    let mut held = BTreeMap::new();
    download(&mut job, &fragments, &mut held);
    job.step(NOW);
    job.built(build(&job, &held));
    assert_eq!(
        job.installed(InstallOutcome::Exited(1), NOW),
        Some(Task::Report(StatusCode::from_wire("SUCCESS_1")))
    );
}

#[test]
fn a_user_delay_holds_the_package_back() {
    let mut job = installed_job();
    assert_eq!(job.installed(InstallOutcome::Delayed, NOW), None);
    let until = NOW + Duration::from_secs(3600);
    assert_eq!(job.step(NOW), Some(Task::Wait { until }));
    assert_eq!(job.step(until), Some(Task::Build));
}

#[test]
fn a_schedule_holds_the_package_until_its_time() {
    let mut n = notice();
    n.schedule = Some("2023/11/15 00:00".into());
    n.post_command = Some("REBOOT".into());
    let mut job = Job::new(n, false, JobConfig::default());
    let info = br#"<DOWNLOAD ID="1700000000" PRI="5" ACT="EXECUTE" DIGEST="" PROTO="HTTP" FRAGS="0" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" COMMAND="echo hi" NOTIFY_USER="0" NOTIFY_TEXT="" NOTIFY_COUNTDOWN="" NOTIFY_CAN_ABORT="0" NOTIFY_CAN_DELAY="0" NEED_DONE_ACTION="0" NEED_DONE_ACTION_TEXT="" GARDEFOU="rien" />"#;
    job.info_fetched(Ok(info), NOW);
    let due = Timestamp::from_utc(2023, 11, 15, 0, 0, 0).unwrap();
    assert_eq!(job.step(NOW), Some(Task::Wait { until: due }));
    let Some(Task::Install(plan)) = job.step(due) else {
        panic!("installed at its time");
    };
    assert!(!plan.has_file);
    assert_eq!(plan.archive, None);
    assert_eq!(plan.post_command, Some(PostCommand::Reboot));
    assert_eq!(
        job.installed(InstallOutcome::Exited(1), due),
        Some(Task::Report(StatusCode::from_wire("ERR_EXIT_CODE_1")))
    );
}

#[test]
fn a_result_is_kept_until_the_server_has_it() {
    let mut job = installed_job();
    job.installed(InstallOutcome::Exited(0), NOW);
    for _ in 0..3 {
        job.reported(false);
        assert_eq!(job.step(NOW), Some(Task::Report(StatusCode::Success)));
    }
    job.reported(true);
    assert_eq!(job.step(NOW), None);
}

#[test]
fn timeout_ends_pending_work_but_never_replaces_a_result() {
    let (info, _) = package(&[1u8; 100], 2, false);
    let mut job = job();
    job.info_fetched(Ok(&info), NOW);
    job.time_out();
    assert_eq!(job.stage(), &Stage::Result(StatusCode::ErrTimeout));

    let mut job = installed_job();
    job.installed(InstallOutcome::Exited(0), NOW);
    job.time_out();
    assert_eq!(job.stage(), &Stage::Result(StatusCode::Success));
}

#[test]
fn a_restored_job_resumes_without_fetching_or_running_twice() {
    let (info, fragments) = package(&[5u8; 300], 3, false);
    let mut job = job();
    job.info_fetched(Ok(&info), NOW);
    fetch(&mut job, 1, &fragments[0]);
    fetch(&mut job, 2, &fragments[1]);
    let restored = Job::restore(job.snapshot(), JobConfig::default());
    assert_eq!(restored.fragments_present(), vec![1, 2]);
    assert_eq!(restored.since(), Some(NOW));
    let mut restored = restored;
    assert!(matches!(
        restored.step(NOW),
        Some(Task::FetchFragment { fragment: 3, .. })
    ));

    // Killed while installing: never installed again.
    let mut job = installed_job();
    let snapshot = job.snapshot();
    assert_eq!(snapshot.stage, Stage::Installing);
    job = Job::restore(snapshot, JobConfig::default());
    assert_eq!(
        job.step(NOW),
        Some(Task::Report(StatusCode::ErrExecuteNoExitCode))
    );

    // A state that does not fit its info file.
    let mut snapshot = installed_job().snapshot();
    snapshot.stage = Stage::Downloading;
    snapshot.fragments_present = vec![9];
    let mut job = Job::restore(snapshot, JobConfig::default());
    assert_eq!(job.step(NOW), Some(Task::Report(StatusCode::ErrDoneFailed)));
}

fn kind(task: &Task) -> String {
    match task {
        Task::FetchInfo { .. } => "FetchInfo".into(),
        Task::FetchFragment { .. } => "FetchFragment".into(),
        Task::Wait { .. } => "Wait".into(),
        Task::Build => "Build".into(),
        Task::Install(_) => "Install".into(),
        Task::Report(status) => format!("Report {status}"),
    }
}

/// The scheduler and the job together, as a driver runs them: the real agent's package
/// (priority 5, two fragments, period 10) is fetched in cycles 5 and 10 and built, run and
/// reported in cycle 5 of the next period.
#[test]
fn scheduler_and_job_deploy_the_real_agents_package() {
    let (info, fragments) = package(&[42u8; 2048], 2, false);
    let config = DownloadConfig {
        fragment_latency: Duration::from_secs(10),
        cycle_latency: Duration::from_secs(60),
        period_latency: Duration::from_secs(1),
        period_length: 10,
        ..DownloadConfig::default()
    };
    let mut now = NOW;
    let mut job = job();
    job.info_fetched(Ok(&info), now);
    let mut scheduler = Scheduler::new(&config);
    scheduler.add(id(), Priority::new(5).unwrap(), now);
    let mut held = BTreeMap::new();
    let mut log = Vec::new();
    loop {
        match scheduler.poll(now) {
            Next::Step(p) => {
                let mut task = job.step(now);
                while let Some(t) = task.take() {
                    log.push(format!(
                        "{}/{} {}",
                        scheduler.period(),
                        scheduler.cycle(),
                        kind(&t)
                    ));
                    task = match &t {
                        Task::FetchFragment { fragment, .. } => {
                            let bytes = &fragments[*fragment as usize - 1];
                            if fetch(&mut job, *fragment, bytes) == Verdict::Keep {
                                held.insert(*fragment, bytes.clone());
                            }
                            None
                        }
                        Task::Build => job.built(build(&job, &held)),
                        Task::Install(_) => job.installed(InstallOutcome::Exited(0), now),
                        Task::Report(_) => {
                            job.reported(true);
                            None
                        }
                        other => panic!("unexpected {other:?}"),
                    };
                }
                if matches!(job.stage(), Stage::Done(_)) {
                    scheduler.remove(p);
                }
                scheduler.step_done(p, now);
            }
            Next::Sleep { until, .. } => now = until,
            Next::Idle => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        log,
        vec![
            "1/5 FetchFragment",
            "1/10 FetchFragment",
            "2/5 Build",
            "2/5 Install",
            "2/5 Report SUCCESS",
        ]
    );
    assert_eq!(job.stage(), &Stage::Done(StatusCode::Success));
}
