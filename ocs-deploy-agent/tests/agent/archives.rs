//! Archives made byte by byte, hostile ones included: a TAR writer that puts any name,
//! link and type in a header, and ZIP archives through the zip crate's writer.

use std::io::{Cursor, Write as _};

use async_compression::tokio::write::GzipEncoder;
use tokio::io::AsyncWriteExt as _;
use zip::write::SimpleFileOptions;

/// One TAR entry as written in its header.
pub(crate) struct TarEntry<'a> {
    pub name: &'a str,
    pub kind: u8,
    pub mode: u32,
    pub link: &'a str,
    pub data: &'a [u8],
    /// The size written in the header (`None`: the data's length).
    pub declared: Option<u64>,
}

impl<'a> TarEntry<'a> {
    pub(crate) fn file(name: &'a str, data: &'a [u8]) -> Self {
        Self {
            name,
            kind: b'0',
            mode: 0o644,
            link: "",
            data,
            declared: None,
        }
    }

    pub(crate) fn dir(name: &'a str) -> Self {
        Self {
            kind: b'5',
            mode: 0o755,
            ..Self::file(name, b"")
        }
    }

    pub(crate) fn link(name: &'a str, kind: u8, target: &'a str) -> Self {
        Self {
            kind,
            link: target,
            ..Self::file(name, b"")
        }
    }

    pub(crate) fn special(name: &'a str, kind: u8) -> Self {
        Self {
            kind,
            ..Self::file(name, b"")
        }
    }
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}", width = field.len() - 1);
    field[..text.len()].copy_from_slice(text.as_bytes());
}

/// A ustar stream of these entries.
pub(crate) fn tar(entries: &[TarEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        h[..e.name.len()].copy_from_slice(e.name.as_bytes());
        octal(&mut h[100..108], u64::from(e.mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], e.declared.unwrap_or(e.data.len() as u64));
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = e.kind;
        h[157..157 + e.link.len()].copy_from_slice(e.link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        octal(&mut h[148..155], sum);
        out.extend_from_slice(&h);
        out.extend_from_slice(e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

pub(crate) async fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzipEncoder::new(Vec::new());
    encoder.write_all(data).await.unwrap();
    encoder.shutdown().await.unwrap();
    encoder.into_inner()
}

pub(crate) async fn tar_gz(entries: &[TarEntry<'_>]) -> Vec<u8> {
    gzip(&tar(entries)).await
}

/// One ZIP entry.
pub(crate) enum ZipEntry<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

pub(crate) fn zip(entries: &[ZipEntry<'_>]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        match e {
            ZipEntry::File(name, data, mode) => {
                let options = SimpleFileOptions::default()
                    .unix_permissions(*mode)
                    .large_file(data.len() > u32::MAX as usize / 2);
                writer.start_file(*name, options).unwrap();
                writer.write_all(data).unwrap();
            }
            ZipEntry::Dir(name) => writer
                .add_directory(*name, SimpleFileOptions::default())
                .unwrap(),
            ZipEntry::Symlink(name, target) => writer
                .add_symlink(*name, *target, SimpleFileOptions::default())
                .unwrap(),
        }
    }
    writer.finish().unwrap().into_inner()
}
