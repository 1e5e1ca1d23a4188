//! Files a campaign or a command writes: a finding's program, report, JSON and page under a
//! fresh name, and files a user named. Nothing a user kept is overwritten without their `--force`.

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Writes a finding's program, report and JSON as `<base>.txt`, `<base>.report.txt` and
/// `<base>.json` in `dir`, and its page as `<base>.html` when it has one, or all under
/// `<base>-2`, `<base>-3`, ... when a file of that name is there already: nothing a user kept is
/// overwritten.
pub fn write_finding_files(
    dir: &Path,
    base: &str,
    contents: &[String; 3],
    page: Option<&str>,
) -> io::Result<([PathBuf; 3], Option<PathBuf>)> {
    for n in 1u32.. {
        let name = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let paths = [".txt", ".report.txt", ".json"].map(|ext| dir.join(format!("{name}{ext}")));
        let page_path = dir.join(format!("{name}.html"));
        if paths.iter().chain([&page_path]).any(|p| p.exists()) {
            continue;
        }
        let written = write_new_all(&paths, contents).and_then(|()| match page {
            Some(page) => write_new(&page_path, page).map(|()| Some(page_path)),
            None => Ok(None),
        });
        match written {
            Ok(page) => return Ok((paths, page)),
            // Someone took the name in between: try the next one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("u32 names run out")
}

fn write_new_all(paths: &[PathBuf; 3], contents: &[String; 3]) -> io::Result<()> {
    for (p, c) in paths.iter().zip(contents) {
        write_new(p, c)?;
    }
    Ok(())
}

/// Writes a file that must not exist yet.
pub fn write_new(path: &Path, contents: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(contents.as_bytes())
}

/// Writes a file the user named: over an existing one only when `overwrite` (their `--force`).
pub fn write_user_file(path: &Path, contents: &str, overwrite: bool) -> io::Result<()> {
    if overwrite {
        std::fs::write(path, contents)
    } else {
        write_new(path, contents)
    }
}
