//! What a server and an agent do with a package, through the core alone: no server, no
//! store, no network (the full quickstart is `examples/quickstart.rs`).
//!
//! ```sh
//! cargo run --release --example core_walkthrough [ARCHIVE]
//! ```
//!
//! It builds a package from ARCHIVE (default: the console's reference archive
//! `../shared/reference/console-packages/archives/install-sh.tar.gz`, else a generated
//! payload) into 3 fragments laid out as any web server can serve them
//! (`<root>/<id>/info`, `<root>/<id>/<id>-<n>`), then reads them back as an agent would:
//! the info file, each fragment checked against its SHA-256, the whole archive against its
//! MD5, and prints the status code the agent would report.

use std::error::Error;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use ocs_deploy_core::fragment::{Assembler, FragmentPlan, SplitEvent, Splitter};
use ocs_deploy_core::package::{DigestAlgorithm, DigestForm};
use ocs_deploy_core::{Action, PackageFile, PackageId, PackageInfo, StatusCode, info};

fn main() -> Result<(), Box<dyn Error>> {
    let archive = load_archive()?;
    let root = std::env::temp_dir().join(format!("ocs-deploy-quickstart-{}", std::process::id()));
    let result = run(&archive, &root);
    let _ = fs::remove_dir_all(&root);
    result
}

fn load_archive() -> Result<Vec<u8>, Box<dyn Error>> {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/console-packages/archives/install-sh.tar.gz");
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| reference.exists().then_some(reference));
    if let Some(path) = path {
        println!("archive     {}", path.display());
        Ok(fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?)
    } else {
        println!("archive     (generated: 100 KiB)");
        Ok((0..100 * 1024u32)
            .map(|i| (i % 251).to_le_bytes()[0])
            .collect())
    }
}

fn run(archive: &[u8], root: &Path) -> Result<(), Box<dyn Error>> {
    // --- Server side: build the package. --------------------------------------------
    let id = PackageId::new(1_700_000_000)?;
    let dir = root.join(id.to_string());
    fs::create_dir_all(&dir)?;
    let plan = FragmentPlan::by_count(u64::try_from(archive.len())?, 3)?;
    let mut splitter = Splitter::new(plan, DigestAlgorithm::Md5, id);
    let mut files: Vec<fs::File> = Vec::new();
    for chunk in archive.chunks(64 * 1024) {
        for event in splitter.push(chunk)? {
            if let SplitEvent::FragmentBytes { fragment, bytes } = event {
                // Fragments come in order: a new number opens the next file.
                if files.len() < usize::try_from(fragment)? {
                    files.push(fs::File::create(dir.join(id.fragment_name(fragment)))?);
                }
                if let Some(file) = files.last_mut() {
                    std::io::Write::write_all(file, bytes)?;
                }
            }
        }
    }
    drop(files);
    let payload = splitter.finish(DigestForm::HexLowercase)?;
    let mut package = PackageInfo::new(
        id,
        Action::Launch {
            command: "install.sh".into(),
        },
    );
    package.file = PackageFile::Fragments(payload);
    fs::write(dir.join("info"), info::write(&package))?;
    println!(
        "built       {} ({} fragments, MD5 {})",
        dir.display(),
        package.fragment_count(),
        package
            .payload()
            .map(|p| p.digest.to_text())
            .unwrap_or_default()
    );

    // --- Agent side: fetch the info file and the fragments, verify, report. -----------
    let status = match deploy_as_agent(&dir, id) {
        Ok(()) => StatusCode::Success,
        Err(status) => status,
    };
    println!(
        "info file   {}",
        fs::read_to_string(dir.join("info"))?
            .lines()
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take(120)
            .collect::<String>()
            + " ..."
    );
    println!("status      {status}");
    if status == StatusCode::Success {
        Ok(())
    } else {
        Err(format!("the package ended {status}").into())
    }
}

/// What an agent does after downloading: every failure is the status code it reports.
fn deploy_as_agent(dir: &Path, expected: PackageId) -> Result<(), StatusCode> {
    let bytes = fs::read(dir.join("info")).map_err(|_| StatusCode::ErrDownloadInfo)?;
    let (package, notes) = info::read_with_notes(&bytes).map_err(|e| e.status())?;
    if package.id != expected {
        return Err(StatusCode::ErrBadId);
    }
    for note in notes {
        println!("note        {note:?}");
    }
    let payload = package.payload().ok_or(StatusCode::ErrBadParam)?;
    let mut assembler = Assembler::new(payload).map_err(|e| e.status())?;
    let mut buf = vec![0u8; 64 * 1024];
    for n in 1..=payload.fragments {
        let mut file = fs::File::open(dir.join(expected.fragment_name(n)))
            .map_err(|_| StatusCode::ErrDownloadPack)?;
        assembler.begin_fragment(n).map_err(|e| e.status())?;
        loop {
            let read = file
                .read(&mut buf)
                .map_err(|_| StatusCode::ErrDownloadPack)?;
            if read == 0 {
                break;
            }
            assembler.push(&buf[..read]).map_err(|e| e.status())?;
        }
        assembler.end_fragment().map_err(|e| e.status())?;
        println!(
            "fragment    {} verified (SHA-256)",
            expected.fragment_name(n)
        );
    }
    let form = assembler.finish().map_err(|e| e.status())?;
    println!("digest      verified ({form:?})");
    Ok(())
}
