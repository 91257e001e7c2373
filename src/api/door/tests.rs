//! The door's admission rules.

use super::framing::tests::limits;
use super::*;

#[test]
fn admission_caps_clients_and_keeps_a_reserve_for_the_box() {
    let door = Arc::new(Door {
        limits: limits(),
        upstream: Arc::new(RwLock::new(PathBuf::new())),
        stop: CancellationToken::new(),
        counts: Mutex::new(Counts::default()),
        refused: Mutex::new(RefusalLog::default()),
        tls: None,
    });
    let a: IpAddr = "10.0.0.2".parse().unwrap();
    let b: IpAddr = "10.0.0.3".parse().unwrap();
    let own: IpAddr = "127.0.0.1".parse().unwrap();
    let t1 = door.admit(a).unwrap();
    let _t2 = door.admit(a).unwrap();
    assert!(door.admit(a).is_err(), "per client");
    let _t3 = door.admit(b).unwrap();
    let _t4 = door.admit(b).unwrap();
    assert!(door.admit(b).is_err(), "full for the LAN");
    let t5 = door.admit(own).unwrap();
    assert!(door.admit(own).is_err(), "the reserve is used up too");
    drop(t5);
    drop(t1);
    assert!(door.admit(a).is_ok(), "a ticket gives its place back");
}
