//! Turning a desired status into the status object to write, and deciding whether a write is
//! needed at all. Pure: the caller supplies the clock.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::EntityStatus;
use crate::index::Desired;

pub const READY: &str = "Ready";

/// The full status for `desired`, keeping the Ready condition's lastTransitionTime from
/// `observed` unless the condition's status flips.
pub fn render(desired: &Desired, observed: Option<&EntityStatus>, now: &Time) -> EntityStatus {
    let status = if desired.readiness.ready {
        "True"
    } else {
        "False"
    };
    let previous = observed.and_then(|o| o.conditions.iter().find(|c| c.type_ == READY));
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now.clone(),
    };
    let mut out = desired.status.clone();
    out.conditions = vec![Condition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: desired.readiness.reason.to_owned(),
        message: desired.readiness.message.clone(),
        observed_generation: desired.status.observed_generation,
        last_transition_time,
    }];
    out
}

/// The status to write, or `None` when `observed` already says what `desired` says. Only a flip of
/// Ready moves lastTransitionTime, so the rendered status equals the observed one exactly when
/// nothing else differs.
pub fn to_write(
    desired: &Desired,
    observed: Option<&EntityStatus>,
    now: &Time,
) -> Option<EntityStatus> {
    let status = render(desired, observed, now);
    (observed != Some(&status)).then_some(status)
}

/// Whether `observed` already says what `desired` says (ignoring only lastTransitionTime).
pub fn up_to_date(desired: &Desired, observed: Option<&EntityStatus>) -> bool {
    to_write(desired, observed, &Time(Default::default())).is_none()
}

/// Whether the Ready condition flips between `observed` and `desired`, and to what.
pub fn ready_flip(desired: &Desired, observed: Option<&EntityStatus>) -> Option<bool> {
    let before = observed
        .and_then(|o| o.conditions.iter().find(|c| c.type_ == READY))
        .map(|c| c.status == "True");
    (before != Some(desired.readiness.ready)).then_some(desired.readiness.ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Readiness;

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn desired(ready: bool, message: &str) -> Desired {
        Desired {
            status: EntityStatus {
                observed_generation: Some(3),
                entity_ref: Some("component:a/b".into()),
                ..Default::default()
            },
            readiness: Readiness {
                ready,
                reason: if ready {
                    "Resolved"
                } else {
                    "UnresolvedReferences"
                },
                message: message.into(),
            },
        }
    }

    #[test]
    fn first_render_uses_now() {
        let s = render(&desired(true, "ok"), None, &time(100));
        assert_eq!(s.conditions.len(), 1);
        let c = &s.conditions[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("Ready", "True", "Resolved")
        );
        assert_eq!(c.last_transition_time, time(100));
        assert_eq!(c.observed_generation, Some(3));
        assert!(!up_to_date(&desired(true, "ok"), None));
    }

    #[test]
    fn transition_time_moves_only_on_a_flip() {
        let first = render(&desired(false, "x not found"), None, &time(100));
        // Same status, new message: time kept, but a write is needed.
        let second = render(&desired(false, "y not found"), Some(&first), &time(200));
        assert_eq!(second.conditions[0].last_transition_time, time(100));
        assert!(!up_to_date(&desired(false, "y not found"), Some(&first)));
        assert_eq!(
            ready_flip(&desired(false, "y not found"), Some(&first)),
            None
        );
        // Flip: time moves.
        let third = render(&desired(true, "ok"), Some(&second), &time(300));
        assert_eq!(third.conditions[0].last_transition_time, time(300));
        assert_eq!(ready_flip(&desired(true, "ok"), Some(&second)), Some(true));
    }

    #[test]
    fn unchanged_desired_needs_no_write() {
        let written = render(&desired(true, "ok"), None, &time(100));
        assert!(up_to_date(&desired(true, "ok"), Some(&written)));
        let mut other_gen = desired(true, "ok");
        other_gen.status.observed_generation = Some(4);
        assert!(!up_to_date(&other_gen, Some(&written)));
        // A condition someone else added is not ours to keep.
        let mut extra = written.clone();
        extra.conditions.push(Condition {
            type_: "Other".into(),
            ..written.conditions[0].clone()
        });
        assert!(!up_to_date(&desired(true, "ok"), Some(&extra)));
    }
}
