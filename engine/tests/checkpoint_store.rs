//! The local checkpoint store: the storage contract, atomic writes, file
//! modes, and refusal of checkpoints it cannot trust.

mod storage_contract;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use engine::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, LocalStorage, OperatorState, RuleFile,
    RulesetFingerprint, SourceOffset, StreamWatermark,
};

#[test]
fn a_local_directory_keeps_the_storage_contract() {
    let dir = tempfile::tempdir().unwrap();
    storage_contract::run_all(Arc::new(LocalStorage::open(dir.path()).unwrap()), "run");
}

fn ruleset() -> RulesetFingerprint {
    RulesetFingerprint::of(["rule a from auth emit x { user_id }"])
}

fn checkpoint(id: u64) -> Checkpoint {
    Checkpoint {
        id,
        ruleset: ruleset(),
        offsets: vec![
            SourceOffset {
                topic: "auth".into(),
                partition: 0,
                next_offset: 10 * id as i64,
            },
            SourceOffset {
                topic: "auth".into(),
                partition: 1,
                next_offset: 7,
            },
        ],
        watermarks: vec![
            StreamWatermark {
                stream: "auth".into(),
                partition: Some(0),
                watermark: 1_000,
            },
            StreamWatermark {
                stream: "auth".into(),
                partition: None,
                watermark: 900,
            },
        ],
        operators: vec![OperatorState {
            rule: "a".into(),
            state: (0..=255).collect(),
        }],
        rules: vec![RuleFile {
            name: "r.eddy".into(),
            text: "rule a from auth emit x { user_id }".into(),
        }],
        outputs: vec![SourceOffset {
            topic: "alerts".into(),
            partition: 0,
            next_offset: 3,
        }],
        unacknowledged: Vec::new(),
    }
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn only_the_last_two_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    for id in 1..=5 {
        store.save(&checkpoint(id)).unwrap();
    }
    assert_eq!(store.ids().unwrap(), vec![4, 5]);
    assert_eq!(
        files(dir.path()),
        vec![
            "checkpoint-00000000000000000004.ckpt",
            "checkpoint-00000000000000000005.ckpt"
        ]
    );
}

#[test]
fn ids_must_grow() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    store.save(&checkpoint(3)).unwrap();
    let error = store.save(&checkpoint(3)).unwrap_err();
    assert!(matches!(
        error,
        CheckpointError::NotNewer { id: 3, latest: 3 }
    ));
}

#[test]
fn a_leftover_temporary_file_is_ignored_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    store.save(&checkpoint(1)).unwrap();
    // A crash in the middle of writing checkpoint 2, an hour ago: half a
    // temporary file.
    let half = &fs::read(dir.path().join("checkpoint-00000000000000000001.ckpt")).unwrap()[..20];
    let leftover = dir
        .path()
        .join(".tmp-1234-0-checkpoint-00000000000000000002.ckpt");
    fs::write(&leftover, half).unwrap();
    fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    // One being written now by another process is left alone.
    let in_progress = dir
        .path()
        .join(".tmp-5678-0-checkpoint-00000000000000000002.ckpt");
    fs::write(&in_progress, half).unwrap();

    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    assert_eq!(store.load_latest().unwrap(), Some(checkpoint(1)));
    assert_eq!(store.next_id(), 2);
    store.save(&checkpoint(2)).unwrap();
    assert!(!leftover.exists());
    assert!(in_progress.exists());
}

#[test]
fn a_checkpoint_of_another_rule_set_is_read_with_its_rules_but_not_written() {
    let dir = tempfile::tempdir().unwrap();
    CheckpointStore::open(dir.path(), ruleset())
        .unwrap()
        .save(&checkpoint(1))
        .unwrap();

    // Read as it is: whoever restores it rebuilds its rules (a restart
    // after the rules changed carries the unchanged rules' state over).
    let changed = RulesetFingerprint::of(["rule a from auth emit x { user_id, ip }"]);
    let store = CheckpointStore::open(dir.path(), changed.clone()).unwrap();
    let read = store.load_latest().unwrap().unwrap();
    assert_eq!(read.ruleset, ruleset());
    assert_eq!(read.rules, checkpoint(1).rules);

    // Nor can a store save another rule set's checkpoint.
    let mut store = CheckpointStore::open(dir.path(), changed).unwrap();
    assert!(matches!(
        store.save(&checkpoint(2)),
        Err(CheckpointError::WrongRuleset { .. })
    ));
}

#[test]
fn a_checkpoint_of_another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    let path = store.save(&checkpoint(1)).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    fs::write(&path, bytes).unwrap();

    let error = store.load_latest().unwrap_err();
    assert!(
        matches!(
            error,
            CheckpointError::UnsupportedVersion {
                found: 99,
                supported: 2,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_damaged_only_checkpoint_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    let path = store.save(&checkpoint(1)).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1; // one bit of operator state
    fs::write(&path, bytes).unwrap();

    let error = store.load_latest().unwrap_err();
    assert!(
        matches!(&error, CheckpointError::Corrupt { problem, .. } if problem == "checksum mismatch"),
        "{error:?}"
    );
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    store.save(&checkpoint(1)).unwrap();
    let newest = store.save(&checkpoint(2)).unwrap();
    let bytes = fs::read(&newest).unwrap();
    fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();

    assert_eq!(store.load_latest().unwrap(), Some(checkpoint(1)));
}

#[test]
fn unrelated_files_in_the_directory_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("README"), "not a checkpoint").unwrap();
    fs::write(dir.path().join("checkpoint-x.ckpt"), "bad name").unwrap();
    let mut store = CheckpointStore::open(dir.path(), ruleset()).unwrap();
    assert_eq!(store.load_latest().unwrap(), None);
    store.save(&checkpoint(1)).unwrap();
    assert_eq!(store.load_latest().unwrap(), Some(checkpoint(1)));
}

#[test]
fn the_directory_and_files_are_the_owner_s_only_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    // A directory that exists already, open to everyone.
    let existing = root.path().join("existing");
    fs::create_dir(&existing).unwrap();
    fs::set_permissions(&existing, fs::Permissions::from_mode(0o777)).unwrap();
    // The most permissive umask: nothing taken off what eddy asks for. The
    // umask is the process's: put back what it was whatever happens.
    struct Restore(libc::mode_t);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: umask only sets the process's file-mode mask.
            unsafe { libc::umask(self.0) };
        }
    }
    // SAFETY: as above.
    let _restore = Restore(unsafe { libc::umask(0) });
    let mode = |path: &std::path::Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for dir in [root.path().join("new/checkpoints"), existing] {
        let mut store = CheckpointStore::open(&dir, ruleset()).unwrap();
        let file = store.save(&checkpoint(1)).unwrap();
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        assert_eq!(mode(file.as_ref()), 0o600, "{file}");
        let second = store.save(&checkpoint(2)).unwrap();
        assert_eq!(mode(second.as_ref()), 0o600);
    }
}
