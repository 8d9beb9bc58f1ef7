//! What every checkpoint storage must do, as scenarios over a
//! [`Storage`]: the local directory runs them in `checkpoint_store.rs`, an
//! S3-protocol server in `checkpoint_s3.rs`. Each scenario works under its
//! own key prefix.

#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;

use engine::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, Created, OperatorState, RulesetFingerprint,
    SourceOffset, Storage,
};

pub fn ruleset() -> RulesetFingerprint {
    RulesetFingerprint::of(["rule a from auth emit x { user_id }"])
}

/// Checkpoint `id` with state, `auth` partition 0 resuming at `10 * id`.
pub fn checkpoint(id: u64) -> Checkpoint {
    let mut checkpoint = Checkpoint::new(id, ruleset());
    checkpoint.offsets.push(SourceOffset {
        topic: "auth".into(),
        partition: 0,
        next_offset: 10 * id as i64,
    });
    checkpoint.operators.push(OperatorState {
        rule: "a".into(),
        state: (0..=255).collect(),
    });
    checkpoint
}

fn store(storage: &Arc<dyn Storage>, prefix: &str) -> CheckpointStore {
    CheckpointStore::in_storage(Arc::clone(storage), prefix, ruleset()).unwrap()
}

/// Every scenario, each under `prefix`/its name.
pub fn run_all(storage: Arc<dyn Storage>, prefix: &str) {
    let under = |name: &str| format!("{prefix}/{name}");
    objects_are_created_only_where_none_is(&storage, &under("create"));
    checkpoints_come_back_after_reopening(&storage, &under("reopen"));
    only_the_newest_two_are_kept(&storage, &under("retain"));
    a_claim_fences_the_previous_writer(&storage, &under("fence"));
    a_claim_of_an_empty_series_fences_too(&storage, &under("fence-empty"));
    a_writer_whose_ids_were_collected_never_becomes_the_newest(&storage, &under("zombie"));
}

pub fn objects_are_created_only_where_none_is(storage: &Arc<dyn Storage>, prefix: &str) {
    let key = format!("{prefix}/p-1/object");
    assert_eq!(storage.read(&key).unwrap(), None);
    assert_eq!(storage.create(&key, b"first").unwrap(), Created::Yes);
    assert_eq!(
        storage.create(&key, b"second").unwrap(),
        Created::AlreadyExists
    );
    assert_eq!(storage.read(&key).unwrap().as_deref(), Some(&b"first"[..]));
    storage
        .create(&format!("{prefix}/p-2/object"), b"x")
        .unwrap();
    let listing = storage.list(prefix).unwrap();
    assert_eq!(listing.prefixes, vec!["p-1".to_string(), "p-2".to_string()]);
    assert_eq!(listing.objects, Vec::<String>::new());
    storage.delete(&key).unwrap();
    storage.delete(&key).unwrap();
    assert_eq!(storage.read(&key).unwrap(), None);
}

pub fn checkpoints_come_back_after_reopening(storage: &Arc<dyn Storage>, prefix: &str) {
    let mut written = store(storage, prefix);
    assert_eq!(written.load_latest().unwrap(), None);
    assert_eq!(written.next_id(), 1);
    written.save(&checkpoint(1)).unwrap();
    written.save(&checkpoint(2)).unwrap();

    let reopened = store(storage, prefix);
    assert_eq!(reopened.load_latest().unwrap(), Some(checkpoint(2)));
    assert_eq!(reopened.next_id(), 3);
}

pub fn only_the_newest_two_are_kept(storage: &Arc<dyn Storage>, prefix: &str) {
    let mut store = store(storage, prefix);
    for id in 1..=5 {
        store.save(&checkpoint(id)).unwrap();
    }
    assert_eq!(store.ids().unwrap(), vec![4, 5]);
}

pub fn a_claim_fences_the_previous_writer(storage: &Arc<dyn Storage>, prefix: &str) {
    let mut old_owner = store(storage, prefix);
    old_owner.save(&checkpoint(1)).unwrap();

    let mut new_owner = store(storage, prefix);
    assert_eq!(new_owner.claim().unwrap(), Some(checkpoint(1)));
    assert_eq!(new_owner.next_id(), 3);

    // The old owner's next checkpoint meets the claim.
    let error = old_owner.save(&checkpoint(2)).unwrap_err();
    assert!(
        matches!(error, CheckpointError::Fenced { id: 2, .. }),
        "{error:?}"
    );
    new_owner.save(&checkpoint(3)).unwrap();
    assert_eq!(
        store(storage, prefix).load_latest().unwrap(),
        Some(checkpoint(3))
    );
}

pub fn a_claim_of_an_empty_series_fences_too(storage: &Arc<dyn Storage>, prefix: &str) {
    let mut old_owner = store(storage, prefix);
    let mut new_owner = store(storage, prefix);
    // Nothing to resume from, but the series is taken.
    assert_eq!(new_owner.claim().unwrap(), None);
    assert!(matches!(
        old_owner.save(&checkpoint(1)),
        Err(CheckpointError::Fenced { id: 1, .. })
    ));
    new_owner.save(&checkpoint(2)).unwrap();
    // A claim after that resumes from the real checkpoint.
    assert_eq!(store(storage, prefix).claim().unwrap(), Some(checkpoint(2)));
}

pub fn a_writer_whose_ids_were_collected_never_becomes_the_newest(
    storage: &Arc<dyn Storage>,
    prefix: &str,
) {
    let mut zombie = store(storage, prefix);
    zombie.save(&checkpoint(1)).unwrap();
    let mut owner = store(storage, prefix);
    owner.claim().unwrap();
    for id in 3..=6 {
        owner.save(&checkpoint(id)).unwrap();
    }
    // Ids 2 and below were collected: the zombie's writes land there, and
    // then meet the owner's.
    let mut outcomes = Vec::new();
    for id in 2..=6 {
        outcomes.push(zombie.save(&checkpoint(id)).is_ok());
        let newest = store(storage, prefix).load_latest().unwrap().unwrap();
        assert_eq!(newest, checkpoint(6), "after the zombie wrote {id}");
        if !outcomes[outcomes.len() - 1] {
            break;
        }
    }
    assert_eq!(outcomes.last(), Some(&false), "{outcomes:?}");
}
