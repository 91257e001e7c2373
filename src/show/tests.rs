//! The domain's rules, checked without a database.

use super::*;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

fn essences() -> Vec<Essence> {
    default_essences()
}

fn draft() -> GuestDraft {
    GuestDraft {
        name: Some("  Ana María  ".into()),
        email: Some(" Ana@Example.org ".into()),
        energy: Some("Lunar".into()),
        element: Some("water".into()),
        essence: Some("colibrí".into()),
        language: None,
        consent: Some(true),
    }
}

#[test]
fn a_good_questionnaire_is_normalised() {
    let g = validate_guest(&draft(), &essences()).unwrap();
    assert_eq!(g.name, "Ana María");
    assert_eq!(g.email, "Ana@Example.org");
    assert_eq!(email_key(&g.email), "ana@example.org");
    assert_eq!(g.energy, Energy::Lunar);
    assert_eq!(g.element, Element::Agua);
    assert_eq!(g.language, Language::Es);
}

#[test]
fn each_bad_field_is_named() {
    type Mutation = Box<dyn Fn(&mut GuestDraft)>;
    let cases: Vec<(Mutation, &str, &str)> = vec![
        (Box::new(|d| d.name = None), "name", "missing_field"),
        (
            Box::new(|d| d.name = Some("   ".into())),
            "name",
            "invalid_value",
        ),
        (
            Box::new(|d| d.name = Some("x".repeat(101))),
            "name",
            "invalid_value",
        ),
        (
            Box::new(|d| d.name = Some("a\u{7}b".into())),
            "name",
            "invalid_value",
        ),
        (
            Box::new(|d| d.email = Some("not-an-email".into())),
            "email",
            "invalid_value",
        ),
        (
            Box::new(|d| d.email = Some("a@localhost".into())),
            "email",
            "invalid_value",
        ),
        (Box::new(|d| d.email = None), "email", "missing_field"),
        (
            Box::new(|d| d.energy = Some("stellar".into())),
            "energy",
            "invalid_value",
        ),
        (
            Box::new(|d| d.element = Some("metal".into())),
            "element",
            "invalid_value",
        ),
        (
            Box::new(|d| d.essence = Some("dragón".into())),
            "essence",
            "invalid_value",
        ),
        (
            Box::new(|d| d.language = Some("fr".into())),
            "language",
            "invalid_value",
        ),
        (
            Box::new(|d| d.consent = None),
            "consent",
            "consent_required",
        ),
        (
            Box::new(|d| d.consent = Some(false)),
            "consent",
            "consent_required",
        ),
    ];
    for (mutate, field, code) in cases {
        let mut d = draft();
        mutate(&mut d);
        let r = validate_guest(&d, &essences()).unwrap_err();
        assert_eq!(
            (r.field.as_deref(), r.code.as_str()),
            (Some(field), code),
            "{r:?}"
        );
        assert_eq!(r.kind, RefusalKind::Invalid);
    }
}

#[test]
fn a_name_of_exactly_100_characters_is_accepted() {
    let mut d = draft();
    d.name = Some("ñ".repeat(100));
    assert!(validate_guest(&d, &essences()).is_ok());
}

#[test]
fn status_machine_allows_exactly_the_spec_transitions() {
    use ShowAction as A;
    use ShowStatus as S;
    let allowed = [
        (S::Scheduled, A::Start, S::Running),
        (S::Running, A::Pose, S::Posing),
        (S::Posing, A::Capture, S::Review),
        (S::Review, A::Capture, S::Review),
        (S::Review, A::Finish, S::Completed),
        (S::Scheduled, A::Cancel, S::Cancelled),
        (S::Running, A::Cancel, S::Cancelled),
        (S::Posing, A::Cancel, S::Cancelled),
        (S::Review, A::Cancel, S::Cancelled),
    ];
    for &s in S::ALL {
        for a in [A::Start, A::Pose, A::Capture, A::Finish, A::Cancel] {
            let expected = allowed
                .iter()
                .find(|(f, x, _)| *f == s && *x == a)
                .map(|t| t.2);
            match (s.apply(a), expected) {
                (Ok(n), Some(e)) => assert_eq!(n, e),
                (Err(r), None) => {
                    assert_eq!(r.kind, RefusalKind::Conflict);
                    assert_eq!(r.code, RefusalCode::IllegalTransition);
                }
                (got, want) => panic!("{s:?} {a:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}

fn at(min: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(min)
}

fn rules(gap: i64) -> ScheduleRules {
    ScheduleRules {
        changeover: Duration::minutes(gap),
        max_guests: 4,
        default_minutes: 15,
    }
}

#[test]
fn changeover_gap_is_respected_at_the_edges() {
    let a = Slot::new(at(0), 15);
    let r = rules(5);
    assert!(check_slot(&Slot::new(at(20), 15), [("a", a)], &r).is_ok());
    assert!(check_slot(&Slot::new(at(-20), 15), [("a", a)], &r).is_ok());
    let e = check_slot(&Slot::new(at(19), 15), [("a", a)], &r).unwrap_err();
    assert_eq!(e.code, RefusalCode::ShowOverlap);
    assert!(e.message.contains("next free start"), "{}", e.message);
    assert!(check_slot(&Slot::new(at(-19), 15), [("a", a)], &r).is_err());
    assert!(check_slot(&Slot::new(at(5), 2), [("a", a)], &r).is_err());
}

#[test]
fn roster_rules() {
    let r = rules(5);
    let ids = |n: usize| (0..n).map(|i| format!("g{i}")).collect::<Vec<_>>();
    assert!(validate_roster(&ids(1), &r).is_ok());
    assert!(validate_roster(&ids(4), &r).is_ok());
    assert_eq!(
        validate_roster(&ids(0), &r).unwrap_err().field.as_deref(),
        Some("guest_ids")
    );
    assert_eq!(
        validate_roster(&ids(5), &r).unwrap_err().code,
        RefusalCode::TooManyGuests
    );
    assert_eq!(
        validate_roster(&["a".into(), "a".into()], &r)
            .unwrap_err()
            .code,
        RefusalCode::DuplicateGuest
    );
}

proptest! {
    /// Whatever order shows are proposed in, the admitted ones never clash, and every
    /// refused one really clashes with an admitted one.
    #[test]
    fn admitted_shows_never_overlap(
        proposals in proptest::collection::vec((0i64..600, 1u32..60), 1..40),
        gap in 0i64..20,
    ) {
        let r = rules(gap);
        let mut admitted: Vec<(String, Slot)> = Vec::new();
        for (i, (start, len)) in proposals.into_iter().enumerate() {
            let cand = Slot::new(at(start), len);
            let others = admitted.iter().map(|(id, s)| (id.as_str(), *s));
            match check_slot(&cand, others, &r) {
                Ok(()) => admitted.push((format!("s{i}"), cand)),
                Err(_) => prop_assert!(admitted.iter().any(|(_, s)| cand.clashes(s, r.changeover))),
            }
        }
        for (i, (_, a)) in admitted.iter().enumerate() {
            for (_, b) in &admitted[i + 1..] {
                prop_assert!(!a.clashes(b, r.changeover), "{a:?} clashes with {b:?}");
                // clashing is symmetric, so order of the check does not matter
                prop_assert_eq!(a.clashes(b, r.changeover), b.clashes(a, r.changeover));
            }
        }
    }

    /// The proposed next free start is free, and nothing earlier (on the minute grid) after `from` is.
    #[test]
    fn next_free_start_is_free_and_earliest(
        shows in proptest::collection::vec((0i64..300, 1u32..30), 0..12),
        from in 0i64..300,
        len in 1i64..30,
        gap in 0i64..10,
    ) {
        let slots: Vec<Slot> = shows.iter().map(|(s, l)| Slot::new(at(*s), *l)).collect();
        let g = Duration::minutes(gap);
        let start = next_free_start(at(from), Duration::minutes(len), slots.clone(), g);
        let cand = Slot { start, end: start + Duration::minutes(len) };
        prop_assert!(slots.iter().all(|s| !cand.clashes(s, g)));
        let mut t = at(from);
        while t < start {
            let c = Slot { start: t, end: t + Duration::minutes(len) };
            prop_assert!(slots.iter().any(|s| c.clashes(s, g)), "{t} was free before {start}");
            t += Duration::minutes(1);
        }
    }
}

#[test]
fn a_guest_released_to_the_waitlist_yields_to_a_newer_waiting_entry() {
    use GuestStatus as G;
    assert_eq!(released_status(G::Waiting, false), G::Waiting);
    assert_eq!(released_status(G::Waiting, true), G::Cancelled);
    assert_eq!(
        released_status(G::Done, true),
        G::Done,
        "a finished guest stays done"
    );
    assert_eq!(ShowStatus::Cancelled.releases_guests_to(), Some(G::Waiting));
    assert_eq!(ShowStatus::Completed.releases_guests_to(), Some(G::Done));
    for s in [
        ShowStatus::Scheduled,
        ShowStatus::Running,
        ShowStatus::Posing,
        ShowStatus::Review,
    ] {
        assert_eq!(s.releases_guests_to(), None, "{s:?} keeps its guests");
    }
}

#[test]
fn guest_edits_and_assignments_follow_their_status() {
    use GuestStatus as G;
    for s in [G::Waiting, G::Assigned, G::Done] {
        assert!(check_guest_editable(s).is_ok(), "{s:?}");
    }
    assert_eq!(
        check_guest_editable(G::Cancelled).unwrap_err().code,
        RefusalCode::GuestCancelled
    );
    assert!(mail_follows_new_address(MailStatus::Queued));
    assert!(mail_follows_new_address(MailStatus::Failed));
    assert!(!mail_follows_new_address(MailStatus::Sent));
    assert!(G::Waiting.holds_email() && !G::Assigned.holds_email());
    assert!(check_email_free(false).is_ok());
    let e = check_email_free(true).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (RefusalCode::DuplicateWaitingEmail, Some("email"))
    );

    assert!(check_guest_assignable("g", Some(G::Waiting), false).is_ok());
    assert!(
        check_guest_assignable("g", Some(G::Assigned), true).is_ok(),
        "already in the show being changed"
    );
    let e = check_guest_assignable("g", Some(G::Assigned), false).unwrap_err();
    assert_eq!(
        (e.kind, e.code),
        (RefusalKind::Conflict, RefusalCode::GuestNotWaiting)
    );
    let e = check_guest_assignable("g", None, false).unwrap_err();
    assert_eq!(
        (e.kind, e.code, e.field.as_deref()),
        (
            RefusalKind::Invalid,
            RefusalCode::UnknownGuest,
            Some("guest_ids")
        )
    );
}

#[test]
fn only_one_show_starts_in_the_room_and_only_scheduled_shows_change() {
    assert_eq!(
        transition(ShowStatus::Scheduled, ShowAction::Start, None),
        Ok(ShowStatus::Running)
    );
    let e = transition(ShowStatus::Scheduled, ShowAction::Start, Some("shw_x")).unwrap_err();
    assert_eq!(e.code, RefusalCode::AnotherShowLive);
    assert!(e.message.contains("shw_x"));
    assert_eq!(
        transition(ShowStatus::Scheduled, ShowAction::Cancel, Some("shw_x")),
        Ok(ShowStatus::Cancelled),
        "a live show elsewhere only blocks a start"
    );
    assert_eq!(
        transition(ShowStatus::Completed, ShowAction::Start, Some("shw_x"))
            .unwrap_err()
            .code,
        RefusalCode::IllegalTransition,
        "the status machine speaks first"
    );
    assert!(check_show_editable(ShowStatus::Scheduled).is_ok());
    assert_eq!(
        check_show_editable(ShowStatus::Running).unwrap_err().code,
        RefusalCode::ShowNotScheduled
    );
}

#[test]
fn what_a_photo_does_to_its_show() {
    use PhotoKind as K;
    use ShowStatus as S;
    use Spontaneous as Sp;
    let r = record_photo(K::Spontaneous, S::Running, Sp::Taking, 0).unwrap();
    assert_eq!(
        r,
        PhotoRecorded {
            status: S::Running,
            spontaneous: Sp::Taken,
            replaces_pending_posed: false,
            event: TimelineEvent::SpontaneousTaken,
        }
    );
    assert_eq!(
        record_photo(K::Spontaneous, S::Running, Sp::Pending, 0)
            .unwrap_err()
            .code,
        RefusalCode::SpontaneousNotClaimed
    );
    let r = record_photo(K::Posed, S::Posing, Sp::Taken, 0).unwrap();
    assert_eq!(
        (r.status, r.spontaneous, r.event),
        (S::Review, Sp::Taken, TimelineEvent::Captured)
    );
    assert!(r.replaces_pending_posed);
    let r = record_photo(K::Posed, S::Review, Sp::Taken, 1).unwrap();
    assert_eq!((r.status, r.event), (S::Review, TimelineEvent::Retaken));
    assert_eq!(
        record_photo(K::Posed, S::Running, Sp::Taken, 0)
            .unwrap_err()
            .code,
        RefusalCode::IllegalTransition
    );
    assert_eq!(TimelineEvent::Status(S::Completed).as_str(), "completed");
}

#[test]
fn mail_drafts_must_match_the_show_as_it_is() {
    assert!(check_mail_drafts(true, ["a", "b"], ["b", "a"]).is_ok());
    for (unchanged, drafted) in [(false, vec!["a", "b"]), (true, vec!["a"])] {
        let e = check_mail_drafts(unchanged, ["a", "b"], drafted).unwrap_err();
        assert_eq!(
            (e.kind, e.code),
            (RefusalKind::Conflict, RefusalCode::ShowChanged)
        );
    }
}
