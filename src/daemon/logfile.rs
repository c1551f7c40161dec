//! The `log.to` file, rotated daily and pruned after `log.maxDays` days, as frp v0.65.0 does it
//! (`pkg/util/log/log.go` builds golib v0.5.1's `RotateFileWriter` with `RotateFileModeDaily`
//! and `MaxDays`; the writer is golib's `log/output_rotatefile.go`).
//!
//! What frp does, and what we do:
//! - At start the file is opened for appending (or created, mode 0600, with its directories); an
//!   old file is not rotated at start, and nothing is deleted at start. Same here.
//! - frp rotates from a timer at local midnight: `frps.log` is renamed to
//!   `frps.<YYYYMMDD-HHMMSS>.log` stamped with the rotation time (so `frps.20240103-000000.log`
//!   holds the lines of 2 January), a fresh `frps.log` is created with the old file's mode, then
//!   the old files are pruned. We rotate on the first write after the local date changes, and
//!   stamp the name with the new date at 00:00:00, giving the names frp gives. (A day without a
//!   single line gives no empty file, unlike frp.) A name already taken gets the next second.
//! - Pruning happens only after a rotation: files named `<stem>.<YYYYMMDD-HHMMSS><ext>` (the
//!   name's stamp, not the mtime) older than `now - maxDays days + 5ms` are deleted; other files
//!   are left alone; `maxDays <= 0` keeps everything.
//! - The local date comes from the local UTC offset, read when the file is opened (the daemons
//!   open it before starting their runtime) and read again each hour, so a DST change moves the
//!   boundary within the hour. Where the offset cannot be read the date is UTC's.
//!
//! This writer never panics and never drops a line because of rotation: when the rename or the
//! new file fails, lines keep going to the open handle and one line goes to stderr.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A log file rotated daily, for `tracing_subscriber::fmt().with_writer(Mutex<RotatingFile>)`.
pub struct RotatingFile {
    path: PathBuf,
    max_days: i64,
    file: File,
    /// The local date the open file belongs to.
    date: Date,
    /// The local offset, and the Unix hour it was last read in.
    offset: UtcOffset,
    offset_hour: i64,
    /// A rotation failure was reported on stderr (once until a rotation succeeds).
    warned: bool,
}

impl RotatingFile {
    /// Open (append to, or create) `path`, dated with the local clock.
    pub fn open(path: impl Into<PathBuf>, max_days: i64) -> io::Result<RotatingFile> {
        let utc = OffsetDateTime::now_utc();
        let offset = UtcOffset::local_offset_at(utc).unwrap_or(UtcOffset::UTC);
        Self::open_at(path, max_days, utc.to_offset(offset))
    }

    /// [`open`](Self::open) at the moment `now`, whose offset is the local one.
    pub fn open_at(
        path: impl Into<PathBuf>,
        max_days: i64,
        now: OffsetDateTime,
    ) -> io::Result<RotatingFile> {
        let path = path.into();
        if let Some(dir) = parent(&path) {
            fs::create_dir_all(dir)?;
        }
        let file = open_append(&path, None)?;
        Ok(RotatingFile {
            path,
            max_days,
            file,
            date: now.date(),
            offset: now.offset(),
            offset_hour: now.unix_timestamp().div_euclid(3600),
            warned: false,
        })
    }

    /// Write `buf` whole at the moment `now` (local time), rotating first when `now` is on a later
    /// date than the open file.
    pub fn write_at(&mut self, now: OffsetDateTime, buf: &[u8]) -> io::Result<usize> {
        if now.date() > self.date {
            self.rotate(now);
        }
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn now(&mut self) -> OffsetDateTime {
        let utc = OffsetDateTime::now_utc();
        let hour = utc.unix_timestamp().div_euclid(3600);
        if hour != self.offset_hour {
            self.offset_hour = hour;
            // Refused by some versions of `time` once threads run: keep the last offset then.
            if let Ok(offset) = UtcOffset::local_offset_at(utc) {
                self.offset = offset;
            }
        }
        utc.to_offset(self.offset)
    }

    fn rotate(&mut self, now: OffsetDateTime) {
        let today = now.date();
        // Once a day, whatever happens: a failure is retried at the next date change.
        self.date = today;
        let mode = match fs::metadata(&self.path) {
            Ok(meta) => {
                let Some(backup) = self.backup_path(today) else {
                    self.warn(format_args!("no free name to rotate it to"));
                    return;
                };
                if let Err(e) = fs::rename(&self.path, &backup) {
                    self.warn(format_args!(
                        "cannot rename it to {}: {e}",
                        backup.display()
                    ));
                    return;
                }
                Some(meta.permissions())
            }
            // Removed under us: frp then just creates a new one.
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                self.warn(format_args!("{e}"));
                return;
            }
        };
        match open_append(&self.path, mode) {
            Ok(file) => {
                self.file = file;
                self.warned = false;
                self.prune(now);
            }
            // Lines keep going to the renamed file.
            Err(e) => self.warn(format_args!("cannot create a new one: {e}")),
        }
    }

    /// `<dir>/<stem>.<YYYYMMDD>-000000<ext>`, or the next free second of that day.
    fn backup_path(&self, date: Date) -> Option<PathBuf> {
        let (stem, ext) = split_name(&self.path)?;
        (0..60).find_map(|s| {
            let name = format!(
                "{stem}.{:04}{:02}{:02}-0000{s:02}{ext}",
                date.year(),
                u8::from(date.month()),
                date.day()
            );
            let p = match parent(&self.path) {
                Some(dir) => dir.join(name),
                None => PathBuf::from(name),
            };
            (!p.exists()).then_some(p)
        })
    }

    /// Delete rotated files whose stamp is older than `max_days` days before `now`.
    fn prune(&self, now: OffsetDateTime) {
        if self.max_days <= 0 {
            return;
        }
        let Some(cutoff) = self
            .max_days
            .checked_mul(86_400)
            .and_then(|s| now.checked_sub(Duration::seconds(s)))
            .and_then(|t| t.checked_add(Duration::milliseconds(5)))
        else {
            return;
        };
        let Some((stem, ext)) = split_name(&self.path) else {
            return;
        };
        let dir = parent(&self.path).unwrap_or(Path::new("."));
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(true) {
                continue;
            }
            let name = entry.file_name();
            let Some(stamp) = name
                .to_str()
                .and_then(|n| n.strip_prefix(stem.as_str()))
                .and_then(|n| n.strip_prefix('.'))
                .and_then(|n| n.strip_suffix(ext.as_str()))
                .and_then(parse_stamp)
            else {
                continue;
            };
            if stamp.assume_offset(now.offset()) < cutoff {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn warn(&mut self, what: std::fmt::Arguments) {
        if !self.warned {
            self.warned = true;
            eprintln!(
                "log.to: cannot rotate {}: {what}; still writing to the old file",
                self.path.display()
            );
        }
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let now = self.now();
        self.write_at(now, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Open for appending, creating it with `perm` (frp: the rotated file's mode, else 0600).
fn open_append(path: &Path, perm: Option<fs::Permissions>) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(perm.map(|p| p.mode() & 0o7777).unwrap_or(0o600));
    }
    #[cfg(not(unix))]
    let _ = perm;
    opts.open(path)
}

fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

/// The name split as Go's `filepath.Ext` does: `frps.log` → (`frps`, `.log`), `frps` → (`frps`,
/// ``), `.log` → (``, `.log`).
fn split_name(path: &Path) -> Option<(String, String)> {
    let name = path.file_name()?.to_str()?;
    Some(match name.rfind('.') {
        Some(i) => (name[..i].to_string(), name[i..].to_string()),
        None => (name.to_string(), String::new()),
    })
}

/// `YYYYMMDD-HHMMSS` (golib's `backupTimeFormat = "20060102-150405"`).
fn parse_stamp(s: &str) -> Option<PrimitiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 15 || b[8] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let month = Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(6..8)?).ok()?,
    )
    .ok()?;
    let time = Time::from_hms(
        u8::try_from(num(9..11)?).ok()?,
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(13..15)?).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap_or_default()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn appends_to_an_existing_file_and_keeps_writing_the_same_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        fs::write(&path, "old\n").unwrap();
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 08:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 08:00 +0), b"a\n").unwrap();
        f.write_at(datetime!(2024-01-02 23:59:59.999 +0), b"b\n")
            .unwrap();
        assert_eq!(read(&path), "old\na\nb\n");
        assert_eq!(names(dir.path()), ["frps.log"]);
    }

    #[test]
    fn rotates_on_the_first_write_of_a_new_day_with_frps_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        let mut f = RotatingFile::open_at(&path, 10, datetime!(2024-01-02 08:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 08:00 +0), b"day2\n")
            .unwrap();
        f.write_at(datetime!(2024-01-03 09:30 +0), b"day3\n")
            .unwrap();
        f.write_at(datetime!(2024-01-03 10:00 +0), b"day3 again\n")
            .unwrap();
        // Several days without a line: one rotation, named after the day of the write.
        f.write_at(datetime!(2024-01-06 00:00:01 +0), b"day6\n")
            .unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "frps.20240103-000000.log",
                "frps.20240106-000000.log",
                "frps.log"
            ]
        );
        assert_eq!(read(&dir.path().join("frps.20240103-000000.log")), "day2\n");
        assert_eq!(
            read(&dir.path().join("frps.20240106-000000.log")),
            "day3\nday3 again\n"
        );
        assert_eq!(read(&path), "day6\n");
    }

    #[test]
    fn the_date_is_the_local_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frpc.log");
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 23:00 +8)).unwrap();
        f.write_at(datetime!(2024-01-02 23:30 +8), b"a\n").unwrap();
        // 16:10 UTC is already 3 January in UTC+8.
        f.write_at(
            datetime!(2024-01-02 16:10 UTC).to_offset(time::macros::offset!(+8)),
            b"b\n",
        )
        .unwrap();
        assert_eq!(read(&dir.path().join("frpc.20240103-000000.log")), "a\n");
        assert_eq!(read(&path), "b\n");
    }

    #[test]
    fn a_clock_going_back_does_not_rotate_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 23:59 +0)).unwrap();
        f.write_at(datetime!(2024-01-03 00:00 +0), b"a\n").unwrap();
        f.write_at(datetime!(2024-01-02 23:59:30 +0), b"b\n")
            .unwrap();
        f.write_at(datetime!(2024-01-03 00:01 +0), b"c\n").unwrap();
        assert_eq!(names(dir.path()), ["frps.20240103-000000.log", "frps.log"]);
        assert_eq!(read(&path), "a\nb\nc\n");
    }

    #[test]
    fn a_taken_name_gets_the_next_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        fs::write(dir.path().join("frps.20240103-000000.log"), "earlier\n").unwrap();
        let mut f = RotatingFile::open_at(&path, 0, datetime!(2024-01-02 12:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 12:00 +0), b"a\n").unwrap();
        f.write_at(datetime!(2024-01-03 12:00 +0), b"b\n").unwrap();
        assert_eq!(
            read(&dir.path().join("frps.20240103-000000.log")),
            "earlier\n"
        );
        assert_eq!(read(&dir.path().join("frps.20240103-000001.log")), "a\n");
        assert_eq!(read(&path), "b\n");
    }

    #[test]
    fn a_rotation_deletes_files_older_than_max_days_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let path = d.join("frps.log");
        for name in [
            "frps.20231224-000000.log", // 10 days before the rotation
            "frps.20231231-000000.log", // 3 days before: not newer than the cutoff
            "frps.20231231-000001.log", // 3 days minus a second: kept
            "frps.20240102-000000.log", // yesterday
            "frps.log.20231224",        // other patterns, other programs, other files
            "frps.2023-12-24.log",
            "frpc.20231224-000000.log",
            "frps.20231224-000000.log.gz",
            "notes.txt",
        ] {
            fs::write(d.join(name), "x\n").unwrap();
        }
        fs::create_dir(d.join("frps.20231201-000000.log")).unwrap();
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 12:00 +0)).unwrap();
        // Nothing is deleted when the file is opened, as in frp.
        assert_eq!(names(d).len(), 11);
        f.write_at(datetime!(2024-01-02 12:00 +0), b"a\n").unwrap();
        f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
        assert_eq!(
            names(d),
            [
                "frpc.20231224-000000.log",
                "frps.2023-12-24.log",
                "frps.20231201-000000.log",
                "frps.20231224-000000.log.gz",
                "frps.20231231-000001.log",
                "frps.20240102-000000.log",
                "frps.20240103-000000.log",
                "frps.log",
                "frps.log.20231224",
                "notes.txt",
            ]
        );
    }

    #[test]
    fn max_days_zero_or_less_keeps_everything() {
        for max_days in [0, -1] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("frps.log");
            fs::write(dir.path().join("frps.20000101-000000.log"), "x\n").unwrap();
            let mut f =
                RotatingFile::open_at(&path, max_days, datetime!(2024-01-02 12:00 +0)).unwrap();
            f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
            assert!(dir.path().join("frps.20000101-000000.log").exists());
        }
        // And a huge one neither overflows nor deletes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        fs::write(dir.path().join("frps.20000101-000000.log"), "x\n").unwrap();
        let mut f = RotatingFile::open_at(&path, i64::MAX, datetime!(2024-01-02 12:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
        assert!(dir.path().join("frps.20000101-000000.log").exists());
    }

    #[test]
    fn names_without_an_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps");
        fs::write(dir.path().join("frps.20231201-000000"), "x\n").unwrap();
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 12:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 12:00 +0), b"a\n").unwrap();
        f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
        assert_eq!(names(dir.path()), ["frps", "frps.20240103-000000"]);
        assert_eq!(read(&dir.path().join("frps.20240103-000000")), "a\n");
    }

    #[test]
    fn reopening_after_a_rotation_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 12:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 12:00 +0), b"a\n").unwrap();
        f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
        drop(f);
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-03 08:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-03 08:00 +0), b"c\n").unwrap();
        assert_eq!(read(&path), "b\nc\n");
        assert_eq!(names(dir.path()), ["frps.20240103-000000.log", "frps.log"]);
    }

    #[test]
    fn creates_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/frps.log");
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 12:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 12:00 +0), b"a\n").unwrap();
        assert_eq!(read(&path), "a\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_0600_and_a_rotated_one_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 12:00 +0)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
        assert_eq!(mode(&path), 0o640);
    }

    #[test]
    fn a_failed_rename_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frps.log");
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 12:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 12:00 +0), b"a\n").unwrap();
        // All 60 names the rotation may take are taken.
        for s in 0..60 {
            let p = dir.path().join(format!("frps.20240103-0000{s:02}.log"));
            fs::create_dir(&p).unwrap();
        }
        f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
        f.write_at(datetime!(2024-01-03 00:01 +0), b"c\n").unwrap();
        assert_eq!(read(&path), "a\nb\nc\n");
        // Next day it tries again.
        for s in 0..60 {
            let _ = fs::remove_dir(dir.path().join(format!("frps.20240103-0000{s:02}.log")));
        }
        f.write_at(datetime!(2024-01-04 00:00 +0), b"d\n").unwrap();
        assert_eq!(
            read(&dir.path().join("frps.20240104-000000.log")),
            "a\nb\nc\n"
        );
        assert_eq!(read(&path), "d\n");
    }

    #[test]
    fn a_rename_error_keeps_the_old_handle() {
        let dir = tempfile::tempdir().unwrap();
        // 240 + ".log" fits in NAME_MAX (255), the rotated name (+16) does not: rename fails.
        let path = dir.path().join(format!("{}.log", "f".repeat(240)));
        let mut f = RotatingFile::open_at(&path, 3, datetime!(2024-01-02 12:00 +0)).unwrap();
        f.write_at(datetime!(2024-01-02 12:00 +0), b"a\n").unwrap();
        f.write_at(datetime!(2024-01-03 00:00 +0), b"b\n").unwrap();
        assert!(f.warned);
        f.write_at(datetime!(2024-01-04 00:00 +0), b"c\n").unwrap();
        assert_eq!(read(&path), "a\nb\nc\n");
        assert_eq!(names(dir.path()).len(), 1);
    }

    #[test]
    fn stamps_parse_like_go() {
        assert_eq!(
            parse_stamp("20240102-150405"),
            Some(PrimitiveDateTime::new(
                Date::from_calendar_date(2024, Month::January, 2).unwrap(),
                Time::from_hms(15, 4, 5).unwrap()
            ))
        );
        for bad in [
            "2024010-150405",
            "20240102150405",
            "20241302-000000",
            "20240230-000000",
            "20240102-240000",
            "2024010a-000000",
            "+2024012-000000",
            "20240102-00000é",
        ] {
            assert_eq!(parse_stamp(bad), None, "{bad}");
        }
        assert_eq!(
            split_name(Path::new("/x/frps.log")),
            Some(("frps".into(), ".log".into()))
        );
        assert_eq!(
            split_name(Path::new("a.b.log")),
            Some(("a.b".into(), ".log".into()))
        );
        assert_eq!(
            split_name(Path::new(".log")),
            Some(("".into(), ".log".into()))
        );
    }
}
