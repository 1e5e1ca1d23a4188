//! Files a campaign or a command writes: a finding's program, report, JSON and page under a
//! fresh name, and files a user named. Nothing a user kept is overwritten without their `--force`.

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Creates `dir` if need be and checks that a file can be written in it (a probe, removed at
/// once), so that a campaign learns before it starts, not at its first finding, that its
/// findings would have nowhere to go. The error names the folder and what failed.
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{}: exists and is not a directory", dir.display()));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    let probe = dir.join(format!(".delalloc-fuzz-probe-{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"probe\n").and_then(|()| f.sync_all()));
    let removed = std::fs::remove_file(&probe);
    written.map_err(|e| format!("{}: cannot write a file there: {e}", dir.display()))?;
    removed.map_err(|e| {
        format!(
            "{}: cannot remove the probe file {}: {e}",
            dir.display(),
            probe.display()
        )
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_created_and_probed_and_what_fails_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        assert_eq!(prepare_dir(&dir), Ok(()));
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no probe left");
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = prepare_dir(&file).unwrap_err();
        assert!(e.contains("exists and is not a directory"), "{e}");
        let e = prepare_dir(Path::new("/proc/delalloc-fuzz-x")).unwrap_err();
        assert!(
            e.contains("/proc/delalloc-fuzz-x: cannot create the folder"),
            "{e}"
        );
    }
}
