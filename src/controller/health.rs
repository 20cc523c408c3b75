//! What `/readyz` reports. Kept apart from the state lock so a probe never waits on the writer.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::Kind;

/// Ready means: every kind's watch is synced right now (not merely once), this replica has
/// done its first full pass (the leader wrote every status that needed writing; a standby saw
/// everything), and, when it serves the catalog API, the API holds the whole catalog (a Service
/// must not send a reader to a replica that would answer 503).
#[derive(Debug, Default)]
pub struct Health {
    synced: [AtomicBool; Kind::ALL.len()],
    first_pass: AtomicBool,
    /// In consent mode, the grant and namespace watches too.
    consent_watched: AtomicBool,
    consent_synced: [AtomicBool; 2],
    /// Whether this replica serves the catalog API, and whether the API's snapshot holds every
    /// kind.
    catalog_served: AtomicBool,
    catalog_complete: AtomicBool,
}

/// What the operator watches besides the catalog kinds in `--cross-namespace-refs=consent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentSource {
    Grants,
    Namespaces,
}

impl ConsentSource {
    pub const ALL: [ConsentSource; 2] = [ConsentSource::Grants, ConsentSource::Namespaces];

    pub fn name(self) -> &'static str {
        match self {
            ConsentSource::Grants => "CatalogGrant",
            ConsentSource::Namespaces => "Namespace",
        }
    }
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

    /// From now on the grant and namespace watches count too.
    pub fn watch_consents(&self) {
        self.consent_watched.store(true, Ordering::SeqCst);
    }

    pub fn set_consent_synced(&self, source: ConsentSource, synced: bool) {
        self.consent_synced[source as usize].store(synced, Ordering::SeqCst);
    }

    /// From now on the catalog API's snapshot counts too.
    pub fn serve_catalog(&self) {
        self.catalog_served.store(true, Ordering::SeqCst);
    }

    pub fn set_catalog_complete(&self, complete: bool) {
        self.catalog_complete.store(complete, Ordering::SeqCst);
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
        let consent_unsynced = ConsentSource::ALL.into_iter().filter(|s| {
            self.consent_watched.load(Ordering::SeqCst)
                && !self.consent_synced[*s as usize].load(Ordering::SeqCst)
        });
        let names: Vec<&str> = unsynced
            .iter()
            .map(|k| k.name())
            .chain(consent_unsynced.map(ConsentSource::name))
            .collect();
        if !names.is_empty() {
            return Err(format!("watches not synced: {}", names.join(", ")));
        }
        if !self.first_pass.load(Ordering::SeqCst) {
            return Err("first resolution not written yet".to_owned());
        }
        if self.catalog_served.load(Ordering::SeqCst)
            && !self.catalog_complete.load(Ordering::SeqCst)
        {
            return Err("catalog API not built yet".to_owned());
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
        h.watch_consents();
        assert_eq!(
            h.check().unwrap_err(),
            "watches not synced: CatalogGrant, Namespace"
        );
        h.set_consent_synced(ConsentSource::Grants, true);
        h.set_consent_synced(ConsentSource::Namespaces, true);
        assert!(h.check().is_ok());
        h.serve_catalog();
        assert_eq!(h.check().unwrap_err(), "catalog API not built yet");
        h.set_catalog_complete(true);
        assert!(h.check().is_ok());
    }
}
