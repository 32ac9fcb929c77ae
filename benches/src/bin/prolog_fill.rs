//! Fills an `ocs-deploy-server` data directory for the PROLOG benchmark against the real
//! OCS server (`benches/prolog_vs_real_ocs.sh`): N computers (as if each had sent an
//! inventory) and P packages, each activated and affected to every computer, in the
//! database file `ocs-deploy-server serve` then uses (`DATA_DIR/ocs-deploy.db`,
//! package files under `DATA_DIR/packages`).
//!
//! ```text
//! prolog-fill --data-dir /tmp/ours --computers 100000 --packages 50 --devices-out devices.txt
//! ```
//!
//! Computer n is `pc<n, 7 digits>-2026-01-01-00-00-00`, the DEVICEID the script also
//! writes into the real server's `hardware` table. The packages are Execute packages
//! without files, activated at `ocs.example.com/download`, like `prolog-load`'s.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use ocs_deploy_benches::{affect_packages, device_text, register_computers};
use ocs_deploy_core::Timestamp;
use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
use ocs_deploy_core::store::Store;
use ocs_deploy_store_sql::{DirectoryFiles, SqlStore};

#[derive(Parser)]
#[command(about = "Fill an ocs-deploy-server data directory with a fleet and its affectations")]
struct Args {
    /// The server's data directory (must not hold a database yet).
    #[arg(long)]
    data_dir: PathBuf,
    /// Computers in the fleet.
    #[arg(long, default_value_t = 100_000)]
    computers: u32,
    /// Packages affected to every computer.
    #[arg(long, default_value_t = 50)]
    packages: u32,
    /// Write the DEVICEIDs here, one a line.
    #[arg(long)]
    devices_out: Option<PathBuf>,
}

fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let db = args.data_dir.join("ocs-deploy.db");
    if db.exists() {
        return Err(format!("{} exists: give an empty data directory", db.display()).into());
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let sql = Arc::new(SqlStore::connect(&format!("sqlite://{}", db.display())).await?);
    let store: Arc<dyn Store> = Arc::clone(&sql) as Arc<dyn Store>;
    let service = DeploymentService::new(
        Arc::clone(&store),
        Arc::new(DirectoryFiles::new(args.data_dir.join("packages"))),
        ServiceConfig::default(),
    );
    let now = now();
    let started = std::time::Instant::now();
    let ids = register_computers(&store, args.computers, now, || ()).await?;
    eprintln!(
        "{} computers in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    affect_packages(&service, &store, &ids, args.packages, now, || ()).await?;
    eprintln!(
        "{} packages affected to every computer, {:.1} s in all",
        args.packages,
        started.elapsed().as_secs_f64()
    );
    // Closing checkpoints the write-ahead log into the database file, so the server does
    // not start by checkpointing the fill's hundreds of megabytes while it is measured.
    drop(service);
    drop(store);
    sql.close().await;
    if let Some(path) = args.devices_out {
        let mut text = String::with_capacity(args.computers as usize * 32);
        for n in 0..args.computers {
            text.push_str(&device_text(n));
            text.push('\n');
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}
