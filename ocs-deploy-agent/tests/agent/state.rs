//! The state directory: everything a crash must not lose, read back as it was saved.

use ocs_deploy_agent::state::{StateDir, StoredJob, write_atomic};
use ocs_deploy_core::agent::{Job, JobConfig, JobSnapshot, Stage, Task};
use ocs_deploy_core::protocol::{DeviceId, PackageNotice};
use ocs_deploy_core::{PackageId, StatusCode, Timestamp};

fn id(n: u64) -> PackageId {
    PackageId::new(1_700_000_000 + n).unwrap()
}

const INFO: &str = r#"<DOWNLOAD ID="1700000001" PRI="5" ACT="STORE" DIGEST="5d41402abc4b2a76b9719d911017c592" PROTO="HTTP" FRAGS="2" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" PATH="/opt/data" NOTIFY_USER="0" NOTIFY_TEXT="" NOTIFY_COUNTDOWN="" NOTIFY_CAN_ABORT="0" NOTIFY_CAN_DELAY="0" NEED_DONE_ACTION="0" NEED_DONE_ACTION_TEXT="" GARDEFOU="rien" />"#;

fn downloading_job() -> JobSnapshot {
    let mut notice = PackageNotice::new(id(1), "ocs.example.com/download", "dl.example.com/x");
    notice.post_command = Some("echo 'two\nlines' \\ done".into());
    notice.schedule = Some("2030/01/01 10:00".into());
    notice.force = true;
    let mut job = Job::new(notice, false, JobConfig::default());
    job.info_fetched(Ok(INFO.as_bytes()), Timestamp::from_secs(1_700_000_100));
    assert_eq!(job.stage(), &Stage::Downloading);
    job.snapshot()
}

fn only(jobs: Vec<StoredJob>) -> JobSnapshot {
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().unwrap().into_snapshot()
}

#[test]
fn the_device_id_is_made_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let first = state
        .device_id(|| DeviceId::parse("pc-2026-11-24-10-00-00").unwrap())
        .unwrap();
    let again = StateDir::open(dir.path())
        .unwrap()
        .device_id(|| panic!("made twice"))
        .unwrap();
    assert_eq!(first, again);
    std::fs::write(dir.path().join("device-id"), "not an id").unwrap();
    assert!(state.device_id(|| panic!("not remade")).is_err());
}

#[test]
fn history_is_kept_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    assert_eq!(state.history().unwrap(), vec![]);
    for n in [3, 1, 3, 2] {
        state.add_history(id(n)).unwrap();
    }
    assert_eq!(state.history().unwrap(), vec![id(3), id(1), id(2)]);
}

#[test]
fn a_job_reads_back_as_saved_in_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let base = downloading_job();
    for stage in [
        Stage::NeedInfo,
        Stage::Downloading,
        Stage::Ready,
        Stage::Installing,
        Stage::Result(StatusCode::from_wire("ERR_EXIT_CODE_3")),
        Stage::Result(StatusCode::from_wire("A RESULT\nwith a newline")),
        Stage::Done(StatusCode::Success),
    ] {
        let mut job = base.clone();
        job.stage = stage.clone();
        job.failures = 2;
        job.not_before = Some(Timestamp::from_millis(1_700_000_123_456));
        state.save_job(&job).unwrap();
        assert_eq!(only(state.jobs().unwrap()), job, "{stage:?}");
    }
}

#[test]
fn only_whole_fragments_count() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let mut job = downloading_job();
    state.save_job(&job).unwrap();
    // Fragment 1 written and committed, but the crash came before the job was saved.
    let mut f = state.fragment_file(id(1), 1).unwrap();
    f.write(b"hello").unwrap();
    f.commit().unwrap();
    // Fragment 2 half written when the crash came: a temporary file, never the fragment.
    let mut g = state.fragment_file(id(1), 2).unwrap();
    g.write(b"hal").unwrap();
    std::mem::forget(g);
    let restored = only(state.jobs().unwrap());
    assert_eq!(restored.fragments_present, vec![1]);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("packages/1700000001"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new(), "temporaries cleaned");
    // A fragment the job file lists but whose file is gone does not count.
    job.fragments_present = vec![1, 2];
    state.save_job(&job).unwrap();
    assert_eq!(only(state.jobs().unwrap()).fragments_present, vec![1]);
    // A writer dropped without commit leaves nothing.
    drop(state.fragment_file(id(1), 2).unwrap());
    assert!(!state.fragment_path(id(1), 2).exists());
    // The restored job fetches fragment 2, never fragment 1 again.
    let mut job = Job::restore(only(state.jobs().unwrap()), JobConfig::default());
    assert!(matches!(
        job.step(Timestamp::from_secs(1_700_000_200)),
        Some(Task::FetchFragment { fragment: 2, .. })
    ));
}

#[test]
fn an_unreadable_job_reports_err_done_failed() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let job = downloading_job();
    state.save_job(&job).unwrap();
    let path = dir.path().join("packages/1700000001/job");
    let text = std::fs::read_to_string(&path).unwrap();
    // Torn (no end marker), then garbage: both unreadable.
    for broken in [&text[..text.len() / 2], "\u{0}\u{1}garbage"] {
        std::fs::write(&path, broken).unwrap();
        let stored = state.jobs().unwrap();
        assert_eq!(stored, vec![StoredJob::Unreadable(id(1))]);
        let mut job = Job::restore(
            stored.into_iter().next().unwrap().into_snapshot(),
            JobConfig::default(),
        );
        assert_eq!(
            job.step(Timestamp::from_secs(0)),
            Some(Task::Report(StatusCode::ErrDoneFailed))
        );
    }
    // Its info file gone while the job is past the info stage: unreadable too.
    state.save_job(&job).unwrap();
    std::fs::remove_file(dir.path().join("packages/1700000001/info")).unwrap();
    assert_eq!(state.jobs().unwrap(), vec![StoredJob::Unreadable(id(1))]);
}

#[test]
fn a_folder_without_a_job_file_is_dropped_and_removal_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    std::fs::create_dir_all(dir.path().join("packages/1700000009")).unwrap();
    assert_eq!(state.jobs().unwrap(), vec![]);
    assert!(!dir.path().join("packages/1700000009").exists());
    state.save_job(&downloading_job()).unwrap();
    state.remove_package(id(1)).unwrap();
    state.remove_package(id(1)).unwrap();
    assert_eq!(state.jobs().unwrap(), vec![]);
}

#[test]
fn atomic_writes_replace_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    write_atomic(&path, b"old").unwrap();
    write_atomic(&path, b"new content").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new content");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary left: {names:?}");
    assert!(write_atomic(&dir.path().join("missing/dir/file"), b"x").is_err());
}

#[test]
fn a_fragment_torn_on_disk_is_dropped_when_the_jobs_are_read_back() {
    // Fragments are not flushed one by one: after a power cut, one may hold other bytes
    // than those checked. With the info file's per-fragment SHA-256 it is found, removed
    // and fetched again.
    use sha2::Digest as _;
    let hex = |b: &[u8]| hex_string(&sha2::Sha256::digest(b));
    let info = INFO.replace(
        "GARDEFOU=",
        &format!(
            "OCSD_FRAG_SHA256=\"{},{}\" GARDEFOU=",
            hex(b"hello"),
            hex(b"world")
        ),
    );
    let mut job = Job::new(
        PackageNotice::new(id(1), "ocs.example.com/download", "dl.example.com/x"),
        false,
        JobConfig::default(),
    );
    job.info_fetched(Ok(info.as_bytes()), Timestamp::from_secs(1_700_000_100));
    assert_eq!(job.stage(), &Stage::Downloading);
    let mut job = job.snapshot();
    assert!(
        job.info
            .as_ref()
            .unwrap()
            .payload()
            .unwrap()
            .fragment_sha256
            .is_some()
    );
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    for (n, bytes) in [(1, &b"hello"[..]), (2, b"w\0rld")] {
        let mut f = state.fragment_file(id(1), n).unwrap();
        f.write(bytes).unwrap();
        f.commit().unwrap();
    }
    job.fragments_present = vec![1, 2];
    state.save_job(&job).unwrap();
    assert_eq!(only(state.jobs().unwrap()).fragments_present, vec![1]);
    assert!(state.fragment_path(id(1), 1).exists());
    assert!(
        !state.fragment_path(id(1), 2).exists(),
        "the torn one is removed"
    );
}

fn hex_string(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
