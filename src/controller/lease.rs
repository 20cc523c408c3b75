//! Leader election through a `coordination.k8s.io` Lease.
//!
//! Besides "am I the leader", the writer needs "is my lease still valid right now": a leader that
//! was frozen (SIGSTOP, a stalled node) past its lease wakes up believing it still leads, while a
//! standby has already taken over. So every successful renewal records, on this process's
//! monotonic clock, until when the lease is certainly still ours — the time the renewal was *sent*
//! plus the lease duration, minus a safety margin — and the writer checks that deadline before
//! every single write.
//!
//! A standby takes over a lease only after seeing the same holder record unchanged for a whole
//! lease duration on its own clock (as client-go does), so clock skew between replicas does not
//! matter, and the old leader's deadline has always passed by then.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::Result;

/// Field manager of the Lease patches.
const LEASE_MANAGER: &str = "playbill-leader-election";

/// How one replica takes part in the election.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// How long a lease lasts without renewal.
    pub duration: Duration,
    /// How long one call to the API server may take.
    pub timeout: Duration,
}

impl LeaseConfig {
    /// A leader renews three times per lease duration.
    fn renew_every(&self) -> Duration {
        self.duration / 3
    }

    /// The part of the lease a leader does not use: covers scheduling delays between the check
    /// and the request reaching the API server.
    fn margin(&self) -> Duration {
        (self.duration / 5).max(Duration::from_secs(1))
    }

    /// A hung call must not hold the election: it is given up before the next renewal is due.
    fn call_timeout(&self) -> Duration {
        self.timeout.min(self.renew_every())
    }
}

/// Whether this replica leads, as the writer sees it.
#[derive(Debug)]
pub struct Leadership {
    valid_until: Mutex<Option<Instant>>,
    leading: watch::Sender<bool>,
}

impl Leadership {
    pub fn new(leading: bool) -> Leadership {
        Leadership {
            valid_until: Mutex::new(None),
            leading: watch::Sender::new(leading),
        }
    }

    /// Always the leader (no election): valid forever.
    pub fn always() -> Leadership {
        Leadership::new(true)
    }

    /// Changes whenever this replica gains or loses the lead.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    pub fn leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Whether a write may be sent now: this replica leads and its lease has not run out.
    pub fn valid(&self) -> bool {
        if !self.leading() {
            return false;
        }
        match *self.valid_until.lock().expect("lease lock") {
            Some(until) => Instant::now() < until,
            // Without election there is no deadline.
            None => true,
        }
    }

    fn renewed(&self, until: Instant) {
        let was_valid = self.valid();
        *self.valid_until.lock().expect("lease lock") = Some(until);
        if was_valid {
            return;
        }
        // Gained, or valid again after the deadline had passed (a renewal that hung): either way
        // the writer must hear of it and re-evaluate everything it may have left unwritten.
        self.leading.send_replace(true);
    }

    fn lost(&self) {
        *self.valid_until.lock().expect("lease lock") = Some(Instant::now());
        self.leading
            .send_if_modified(|l| std::mem::replace(l, false));
    }
}

/// The holder record last seen, and when this replica first saw it.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    since: Instant,
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Leading,
    Following,
}

pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

impl Elector {
    /// Makes sure the Lease exists. Failing here (no RBAC to read or create it) stops the
    /// operator at start-up, where the cause is easy to see.
    pub async fn new(client: kube::Client, config: LeaseConfig) -> Result<Elector> {
        let api: Api<Lease> = Api::namespaced(client, &config.namespace);
        if api.get_opt(&config.name).await?.is_none() {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": config.name, "namespace": config.namespace},
                "spec": {},
            }))
            .expect("a valid Lease");
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Elector {
            api,
            config,
            observed: None,
        })
    }

    /// Takes part in the election until `shutdown`, then hands the lease back if it holds it.
    pub async fn run(mut self, leadership: &Leadership, mut shutdown: watch::Receiver<bool>) {
        loop {
            let sent = Instant::now();
            let attempt = tokio::time::timeout(self.config.call_timeout(), self.attempt());
            let result = match attempt.await {
                Ok(r) => r,
                Err(_) => Err(kube::Error::Service("the lease call timed out".into())),
            };
            match result {
                Ok(Outcome::Leading) => {
                    if !leadership.leading() {
                        info!(identity = %self.config.identity, "acquired the lease");
                    }
                    leadership.renewed(sent + self.config.duration - self.config.margin());
                }
                Ok(Outcome::Following) => {
                    if leadership.leading() {
                        warn!(identity = %self.config.identity, "lost the lease");
                    }
                    leadership.lost();
                }
                Err(e) => {
                    // The deadline still protects every write; the lead is given up only once
                    // the lease could have passed to someone else.
                    warn!(error = %e, "cannot renew or acquire the lease; retrying");
                    if leadership.leading() && !leadership.valid() {
                        warn!(identity = %self.config.identity, "lease ran out");
                        leadership.lost();
                    }
                }
            }
            let pause = if leadership.leading() {
                self.config.renew_every()
            } else {
                (self.config.renew_every() / 2).max(Duration::from_millis(500))
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
        }
        if leadership.leading() {
            leadership.lost();
            let release = tokio::time::timeout(self.config.call_timeout(), self.release());
            if let Ok(Err(e)) = release.await {
                warn!(error = %e, "cannot release the lease; it will expire on its own");
            }
        }
    }

    async fn attempt(&mut self) -> Result<Outcome, kube::Error> {
        let lease = self.api.get(&self.config.name).await?;
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let me = self.config.identity.as_str();
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != spec.renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew_time: spec.renew_time.clone(),
                since: Instant::now(),
            });
        }
        let duration = spec
            .lease_duration_seconds
            .map_or(self.config.duration, |s| {
                Duration::from_secs(s.max(1) as u64)
            });
        let expired = self
            .observed
            .as_ref()
            .is_some_and(|o| o.since.elapsed() > duration);
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let seconds = self.config.duration.as_secs().max(1) as i32;
        let spec_patch = match holder.as_deref() {
            Some(h) if h == me => json!({"renewTime": now, "leaseDurationSeconds": seconds}),
            Some(_) if !expired => return Ok(Outcome::Following),
            _ => json!({
                "holderIdentity": me,
                "acquireTime": now,
                "renewTime": now,
                "leaseDurationSeconds": seconds,
                "leaseTransitions": spec.lease_transitions.unwrap_or(0) + i32::from(holder.is_some()),
            }),
        };
        match self.patch_if_unchanged(&lease, spec_patch).await {
            Ok(_) => Ok(Outcome::Leading),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Outcome::Following),
            Err(e) => Err(e),
        }
    }

    /// Hands the lease back so a standby takes over at once instead of after it expires.
    async fn release(&self) -> Result<(), kube::Error> {
        let lease = self.api.get(&self.config.name).await?;
        let holder = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        if holder != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let spec = json!({"holderIdentity": null, "renewTime": null, "acquireTime": null});
        self.patch_if_unchanged(&lease, spec).await?;
        info!(identity = %self.config.identity, "released the lease");
        Ok(())
    }

    /// Merges `spec` into the Lease, only if it is still the version read as `lease`: the
    /// resourceVersion makes the patch conditional, so two replicas racing for the same lease
    /// cannot both win (the loser gets 409 Conflict).
    async fn patch_if_unchanged(
        &self,
        lease: &Lease,
        spec: serde_json::Value,
    ) -> Result<Lease, kube::Error> {
        let patch = json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": spec,
        });
        let params = PatchParams {
            field_manager: Some(LEASE_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        self.api
            .patch(&self.config.name, &params, &Patch::Merge(&patch))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_valid_only_until_its_deadline() {
        let l = Leadership::new(false);
        assert!(!l.valid());
        let mut changes = l.subscribe();
        l.renewed(Instant::now() + Duration::from_secs(60));
        assert!(l.leading() && l.valid());
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        // A routine renewal is no news...
        l.renewed(Instant::now() + Duration::from_secs(60));
        assert!(!changes.has_changed().unwrap());
        // A renewal that was sent long ago: the process was frozen since.
        l.renewed(Instant::now() - Duration::from_millis(1));
        assert!(l.leading() && !l.valid());
        // ...but being valid again after the deadline had passed is.
        l.renewed(Instant::now() + Duration::from_secs(60));
        assert!(changes.has_changed().unwrap());
        l.lost();
        assert!(!l.leading() && !l.valid());
        assert!(Leadership::always().valid());
    }

    #[test]
    fn renewals_leave_a_margin() {
        let c = LeaseConfig {
            name: "l".into(),
            namespace: "n".into(),
            identity: "me".into(),
            duration: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        };
        assert_eq!(c.renew_every(), Duration::from_secs(5));
        assert_eq!(c.margin(), Duration::from_secs(3));
        assert_eq!(c.call_timeout(), Duration::from_secs(5));
        let short = LeaseConfig {
            duration: Duration::from_secs(3),
            ..c
        };
        assert_eq!(short.margin(), Duration::from_secs(1));
    }
}
