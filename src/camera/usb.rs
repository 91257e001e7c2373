//! Resetting the camera's USB device: the third rung of the recovery ladder. libgphoto2
//! names a USB camera's port `usb:BBB,DDD` (bus, device number); the kernel's node for it
//! is `/dev/bus/usb/BBB/DDD`, and `USBDEVFS_RESET` on that node re-enumerates the device,
//! as unplugging and replugging the cable would. After a reset the device number (so the
//! port) usually changes: reconnecting must not insist on the old port.

use std::path::PathBuf;

use rustix::ioctl::{NoArg, ioctl, opcode};

/// The usbdevfs node of a libgphoto2 port, or why there is none.
pub fn node_of_port(port: &str) -> Result<PathBuf, String> {
    let rest = port
        .strip_prefix("usb:")
        .ok_or_else(|| format!("port {port:?} is not a USB port (usb:BBB,DDD)"))?;
    let (bus, dev) = rest
        .split_once(',')
        .ok_or_else(|| format!("port {port:?} does not name a bus and a device (usb:BBB,DDD)"))?;
    let num = |s: &str, what: &str| -> Result<u16, String> {
        let ok = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse::<u16>() {
            Ok(n) if ok && (1..=999).contains(&n) => Ok(n),
            _ => Err(format!(
                "port {port:?}: the {what} {s:?} is not a number from 1 to 999"
            )),
        }
    };
    let (bus, dev) = (num(bus, "bus")?, num(dev, "device")?);
    Ok(PathBuf::from(format!("/dev/bus/usb/{bus:03}/{dev:03}")))
}

/// `USBDEVFS_RESET` is `_IO('U', 20)` in `<linux/usbdevice_fs.h>`.
const USBDEVFS_RESET: rustix::ioctl::Opcode = opcode::none(b'U', 20);

/// Resets the USB device behind `port`. Blocking (opens a device node and waits for the
/// kernel): call it from a blocking thread. The error says which node and why.
pub fn reset_port(port: &str) -> Result<(), String> {
    let node = node_of_port(port)?;
    reset_node(&node)
}

/// Resets the USB device at `node` (a usbdevfs node).
pub fn reset_node(node: &std::path::Path) -> Result<(), String> {
    let fd = rustix::fs::open(
        node,
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| {
        format!(
            "cannot open {} to reset the camera's USB device: {e} (the service user needs \
             write access to it: the package's udev rules give it)",
            node.display()
        )
    })?;
    // SAFETY: USBDEVFS_RESET takes no argument and reads or writes no memory of ours; the
    // kernel refuses it (ENOTTY) on a node that is not a usbdevfs device.
    unsafe { ioctl(&fd, NoArg::<USBDEVFS_RESET>::new()) }.map_err(|e| {
        format!(
            "resetting the USB device {} failed: {e}{}",
            node.display(),
            if e == rustix::io::Errno::NOTTY {
                " (this node is not a USB device)"
            } else {
                ""
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_libgphoto2_usb_port_names_its_device_node() {
        assert_eq!(
            node_of_port("usb:001,004").unwrap(),
            PathBuf::from("/dev/bus/usb/001/004")
        );
        assert_eq!(
            node_of_port("usb:3,12").unwrap(),
            PathBuf::from("/dev/bus/usb/003/012")
        );
        for bad in [
            "usb:",
            "usb:001",
            "usb:001,",
            "usb:,004",
            "usb:0,004",
            "usb:1000,1",
            "usb:a,1",
            "usb:-1,2",
            "usb:1,2,3",
            "serial:/dev/ttyS0",
            "simulated:",
            "",
        ] {
            assert!(node_of_port(bad).is_err(), "{bad:?} is not a usb port");
        }
        assert!(
            node_of_port("ptpip:1.2.3.4")
                .unwrap_err()
                .contains("not a USB port"),
            "the error says why"
        );
    }

    #[test]
    fn resetting_a_node_that_is_not_a_usb_device_says_so() {
        // /dev/null is a real device node, but not usbdevfs: the kernel refuses the ioctl.
        let e = reset_node(std::path::Path::new("/dev/null")).unwrap_err();
        assert!(
            e.contains("/dev/null") && e.contains("not a USB device"),
            "{e}"
        );
        let e = reset_node(std::path::Path::new("/dev/bus/usb/999/999")).unwrap_err();
        assert!(e.contains("cannot open /dev/bus/usb/999/999"), "{e}");
    }
}
