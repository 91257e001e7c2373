//! The owner task on tokio's paused clock: busy retries, stuck calls, unplug and reconnect.

use super::*;

/// The owner's bounds in these tests (the recovery ladder's tests share them).
pub(super) fn timing() -> Timing {
    Timing {
        call_timeout: Duration::from_secs(2),
        poll_every: Duration::from_millis(200),
        busy_retries: 3,
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        liveview_settle: Duration::from_millis(500),
    }
}

async fn connected(h: &CameraHandle) {
    let mut w = h.watch();
    w.wait_for(|s| s.connected).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn busy_is_retried_and_stuck_counts_as_a_disconnect() {
    let (sim, ctl) = Simulated::new(64, 48);
    let stop = CancellationToken::new();
    let (h, task) = spawn(Device::Simulated(sim), timing(), stop.clone());
    connected(&h).await;

    ctl.push(Fault::Busy);
    ctl.push(Fault::Busy);
    let shot = h.capture().await.unwrap();
    assert_eq!(shot.attempts, 3);

    for _ in 0..4 {
        ctl.push(Fault::Busy);
    }
    assert!(
        matches!(h.capture().await, Err(CameraError::Busy(_))),
        "bounded retries"
    );

    ctl.push(Fault::Stuck(Duration::from_secs(60)));
    ctl.push(Fault::Stuck(Duration::from_secs(60)));
    assert_eq!(
        h.capture().await.unwrap_err(),
        CameraError::Stuck(Duration::from_secs(2))
    );
    // reconnects by itself and works again
    connected(&h).await;
    assert!(h.capture().await.is_ok());
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_unplugged_camera_is_noticed_and_reconnected_with_backoff() {
    let (sim, ctl) = Simulated::new(64, 48);
    let stop = CancellationToken::new();
    let (h, _task) = spawn(Device::Simulated(sim), timing(), stop.clone());
    connected(&h).await;
    ctl.unplug();
    let mut w = h.watch();
    w.wait_for(|s| !s.connected).await.unwrap();
    assert!(matches!(
        h.capture().await,
        Err(CameraError::Disconnected(_))
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    ctl.plug();
    connected(&h).await;
    assert!(h.capture().await.is_ok());
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_disconnect_mid_capture_reconnects_and_retries_once() {
    let (sim, ctl) = Simulated::new(64, 48);
    let (h, _task) = spawn(Device::Simulated(sim), timing(), CancellationToken::new());
    connected(&h).await;
    ctl.push(Fault::Disconnect);
    let shot = h.capture().await.unwrap();
    assert_eq!(shot.attempts, 2);
    ctl.push(Fault::StoreFull);
    assert_eq!(h.capture().await.unwrap_err(), CameraError::StoreFull);
    assert!(h.state().connected, "a full card is not a disconnect");
}
