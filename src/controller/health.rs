//! What `/readyz` reports. Kept apart from the state lock so a probe never waits on the writer.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::Kind;

/// Ready means: every kind's watch is synced right now (not merely once), and this replica has
/// done its first full pass (the leader wrote every status that needed writing; a standby saw
/// everything).
#[derive(Debug, Default)]
pub struct Health {
    synced: [AtomicBool; Kind::ALL.len()],
    first_pass: AtomicBool,
}

fn slot(kind: Kind) -> usize {
    Kind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in Kind::ALL")
}

impl Health {
    pub fn set_synced(&self, kind: Kind, synced: bool) {
        self.synced[slot(kind)].store(synced, Ordering::SeqCst);
    }

    pub fn first_pass_done(&self) {
        self.first_pass.store(true, Ordering::SeqCst);
    }

    /// The kinds whose watch is not synced at the moment.
    pub fn unsynced(&self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| !self.synced[slot(*k)].load(Ordering::SeqCst))
            .collect()
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self) -> Result<(), String> {
        let unsynced = self.unsynced();
        if !unsynced.is_empty() {
            let names: Vec<&str> = unsynced.iter().map(|k| k.name()).collect();
            return Err(format!("watches not synced: {}", names.join(", ")));
        }
        if !self.first_pass.load(Ordering::SeqCst) {
            return Err("first resolution not written yet".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_while_every_watch_is_synced_after_the_first_pass() {
        let h = Health::default();
        assert!(h.check().is_err());
        for k in Kind::ALL {
            h.set_synced(k, true);
        }
        assert_eq!(h.check().unwrap_err(), "first resolution not written yet");
        h.first_pass_done();
        assert!(h.check().is_ok());
        h.set_synced(Kind::Group, false);
        assert_eq!(h.check().unwrap_err(), "watches not synced: Group");
        h.set_synced(Kind::Group, true);
        assert!(h.check().is_ok());
    }
}
