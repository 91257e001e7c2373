use super::*;

fn cfg() -> crate::config::AlertsConfig {
    let text = crate::demo::config_text();
    let c = crate::config::Config::from_toml_str(&text, std::path::Path::new("/tmp")).unwrap();
    c.alerts
}

fn well(now: DateTime<Utc>) -> Report {
    crate::health::all_well_at(now)
}

fn names(on: &[(Condition, On)]) -> Vec<&'static str> {
    on.iter().map(|(c, _)| c.as_str()).collect()
}

#[test]
fn each_condition_starts_at_its_threshold_and_not_before() {
    let c = cfg();
    let now = Utc::now();
    let r = well(now);
    fn at(now: DateTime<Utc>, r: &Report) -> Facts<'_> {
        Facts {
            now,
            report: r,
            show_today: true,
            failed_mail: 0,
            unclean_restart: None,
            backups: true,
        }
    }
    assert!(evaluate(&c, &at(now, &r)).is_empty(), "all well: nothing");

    let mut lost = well(now);
    lost.camera.connected = false;
    lost.camera.since = now - chrono::Duration::minutes(9);
    assert!(evaluate(&c, &at(now, &lost)).is_empty(), "9 of 10 minutes");
    lost.camera.since = now - chrono::Duration::minutes(10);
    assert_eq!(names(&evaluate(&c, &at(now, &lost))), ["camera_lost"]);
    let no_show = Facts {
        show_today: false,
        ..at(now, &lost)
    };
    assert!(evaluate(&c, &no_show).is_empty(), "no show today: no page");

    let mut down = well(now);
    down.mail.uplink.state = UplinkState::Down;
    down.mail.uplink.since = now - chrono::Duration::minutes(119);
    assert!(evaluate(&c, &at(now, &down)).is_empty());
    down.mail.uplink.since = now - chrono::Duration::hours(2);
    assert_eq!(names(&evaluate(&c, &at(now, &down))), ["uplink_down"]);

    let mut hot = well(now);
    hot.board.temperature_c = Some(80.0);
    assert!(
        evaluate(&c, &at(now, &hot)).is_empty(),
        "at the limit is fine"
    );
    hot.board.temperature_c = Some(80.5);
    hot.board.throttled = Some(crate::pi::Throttled::from_bits(0x50000));
    assert_eq!(
        names(&evaluate(&c, &at(now, &hot))),
        ["too_hot"],
        "throttling since boot only is not a condition now"
    );
    hot.board.throttled = Some(crate::pi::Throttled::from_bits(0x1));
    let on = evaluate(&c, &at(now, &hot));
    assert_eq!(names(&on), ["undervoltage", "too_hot"]);
    assert_eq!(on[0].1.detail, "under_voltage");

    let f = Facts {
        failed_mail: 2,
        unclean_restart: Some(now - chrono::Duration::minutes(59)),
        ..at(now, &r)
    };
    assert_eq!(names(&evaluate(&c, &f)), ["mail_failed", "unclean_restart"]);
    let settled = Facts {
        unclean_restart: Some(now - chrono::Duration::minutes(60)),
        ..at(now, &r)
    };
    assert!(evaluate(&c, &settled).is_empty(), "settled after an hour");

    let mut b = well(now);
    b.backup.stale = true;
    b.backup.status.last_error = Some("the drive is not plugged in".into());
    assert_eq!(
        names(&evaluate(&c, &at(now, &b))),
        ["backup_stale", "backup_failed"]
    );
    let unconfigured = Facts {
        backups: false,
        ..at(now, &b)
    };
    assert!(evaluate(&c, &unconfigured).is_empty());
}

#[test]
fn messages_say_box_condition_since_and_what_to_do_in_the_venues_language() {
    let since = DateTime::parse_from_rfc3339("2026-12-03T20:15:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let m = text::message(
        crate::show::Language::Es,
        "sala-norte",
        Condition::DiskLow,
        Notice::Started,
        since,
        "120 MB free, floor 500 MB",
    );
    assert_eq!(
        m.subject,
        "[COSMOS sala-norte] Alerta: Queda poco espacio en el disco de datos"
    );
    assert!(m.text.contains("Caja: sala-norte"), "{}", m.text);
    assert!(m.text.contains("Desde: 2026-12-0"), "{}", m.text);
    assert!(m.text.contains("Qué hacer: "), "{}", m.text);
    let end = text::message(
        crate::show::Language::En,
        "sala-norte",
        Condition::DiskLow,
        Notice::Ended,
        since,
        "",
    );
    assert!(
        end.subject
            .contains("Resolved: The data disk is almost full")
    );
    assert!(!end.text.contains("What to do"), "{}", end.text);
    for c in Condition::ALL {
        assert_eq!(Condition::parse(c.as_str()), Some(c));
    }
}
