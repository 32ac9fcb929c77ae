//! `split-package`: builds a package's fragments from an archive, as the server does.
//!
//! Reads FILE through one reused buffer, drives the sans-IO
//! [`Splitter`], writes `<out>/<id>/<id>-<n>`, and
//! prints the package digest and the fragment count. Memory stays at the buffer's size
//! whatever the file's size.
//!
//! ```text
//! cargo run --release -p ocs-deploy-benches --bin split-package -- --out /tmp/pkgs archive.tar.gz
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use ocs_deploy_core::PackageId;
use ocs_deploy_core::fragment::{FragmentPlan, SplitEvent, Splitter};
use ocs_deploy_core::package::{DigestAlgorithm, DigestForm};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(version, about = "Cut an archive into OCS package fragments")]
struct Args {
    /// The archive to split.
    file: PathBuf,
    /// Where to write `<id>/<id>-<n>`.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// The package id (a Unix timestamp, as the console uses).
    #[arg(long, default_value_t = 1_700_000_000)]
    id: u64,
    /// Fragment size in bytes (ignored with --fragments).
    #[arg(long, default_value_t = 1 << 20)]
    fragment_size: u64,
    /// Cut into exactly this many fragments, as the OCS console does.
    #[arg(long)]
    fragments: Option<u32>,
    /// The package digest algorithm.
    #[arg(long, value_enum, default_value_t = Algorithm::Md5)]
    algorithm: Algorithm,
    /// Read buffer size in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    buffer: usize,
}

/// `DIGEST_ALGO`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Algorithm {
    Md5,
    Sha1,
    Sha256,
}

impl From<Algorithm> for DigestAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::Md5 => Self::Md5,
            Algorithm::Sha1 => Self::Sha1,
            Algorithm::Sha256 => Self::Sha256,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("split-package: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

/// Any error of the driver, with its context.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn with_path(path: &Path) -> impl FnOnce(io::Error) -> BoxError + '_ {
    move |e| format!("{}: {e}", path.display()).into()
}

fn run(args: &Args) -> Result<(), BoxError> {
    let id = PackageId::new(args.id)?;
    let mut input = File::open(&args.file).map_err(with_path(&args.file))?;
    let total = input.metadata().map_err(with_path(&args.file))?.len();
    let plan = match args.fragments {
        Some(n) => FragmentPlan::by_count(total, n)?,
        None => FragmentPlan::by_size(total, args.fragment_size)?,
    };
    let dir = args.out.join(id.to_string());
    fs::create_dir_all(&dir).map_err(with_path(&dir))?;

    let mut splitter = Splitter::new(plan, args.algorithm.into(), id);
    let mut buffer = vec![0u8; args.buffer.max(1)];
    let mut current: Option<(u32, File)> = None;
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(with_path(&args.file)(e)),
        };
        let chunk = buffer.get(..read).unwrap_or_default();
        for event in splitter.push(chunk)? {
            match event {
                SplitEvent::FragmentBytes { fragment, bytes } => {
                    let file = match &mut current {
                        Some((n, file)) if *n == fragment => file,
                        _ => {
                            let path = dir.join(id.fragment_name(fragment));
                            let file = File::create(&path).map_err(with_path(&path))?;
                            &mut current.insert((fragment, file)).1
                        }
                    };
                    file.write_all(bytes)
                        .map_err(|e| format!("fragment {fragment}: {e}"))?;
                }
                SplitEvent::FragmentDone { .. } => current = None,
            }
        }
    }
    drop(current);
    let payload = splitter.finish(DigestForm::HexLowercase)?;
    if total == 0 {
        // The empty archive's one fragment never received bytes.
        let path = dir.join(id.fragment_name(1));
        File::create(&path).map_err(with_path(&path))?;
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{}  {}  {} fragments  {} bytes  {}",
        payload.digest.to_text(),
        payload.digest.algorithm(),
        payload.fragments,
        total,
        dir.display()
    )?;
    Ok(())
}
