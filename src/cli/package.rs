//! `ketamine-cds package`: the knowledge (embedded, or a site's `--profiles`) as a FHIR package
//! `.tgz` (see `knowledge::package`). Reproducible: the same knowledge gives the same bytes —
//! files in a fixed order, every header with the same time, owner and mode, and a gzip header
//! without a time or a name — so a site can diff and sign it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::knowledge::package::{self, PackageFile};
use crate::knowledge::{Knowledge, artifacts};

#[derive(Debug, Clone, Args)]
pub struct PackageArgs {
    /// A site's profiles directory instead of the embedded knowledge.
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Where to write the package (default: NAME-VERSION.tgz in the working directory).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The time every entry carries: the one npm gives reproducible tarballs (1985-10-26 08:15 UTC).
const MTIME: u64 = 499_162_500;

/// The files as a gzip'd tar archive.
pub fn tgz(files: &[PackageFile]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for file in files {
        let mut header = tar::Header::new_ustar();
        header.set_path(&file.path)?;
        header.set_size(file.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append(&header, file.bytes.as_slice())?;
    }
    tar.into_inner()?.finish()
}

/// The package's files for the knowledge of `profiles` (checked as the service loads it).
pub fn package_files(profiles: Option<&Path>) -> Result<(String, Vec<PackageFile>), String> {
    let knowledge = Knowledge::load(profiles).map_err(|errors| {
        format!("the profiles set is broken: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    })?;
    let texts = artifacts::texts(profiles)?;
    let version = knowledge.version().to_owned();
    Ok((version.clone(), package::files(&version, &texts, &package::shipped_examples())))
}

/// Writes the package; the exit code (2: broken profiles or an unwritable file).
pub fn run(args: &PackageArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let built = package_files(args.profiles.as_deref())
        .and_then(|(version, files)| Ok((version, files.len(), tgz(&files).map_err(|e| e.to_string())?)));
    let (version, count, bytes) = match built {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds package: {e}");
            return 2;
        }
    };
    let path = args.output.clone().unwrap_or_else(|| PathBuf::from(format!("{}-{version}.tgz", package::NAME)));
    if let Err(e) = std::fs::write(&path, &bytes) {
        let _ = writeln!(err, "ketamine-cds package: {}: {e}", path.display());
        return 2;
    }
    let _ = writeln!(
        out,
        "{}: FHIR package {} {version}, {count} files, {} bytes",
        path.display(),
        package::NAME,
        bytes.len()
    );
    0
}
