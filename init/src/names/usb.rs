//! udev's `usb_id` builtin (systemd 252), the part the links use: `ID_USB_SERIAL`, the vendor,
//! the model, the USB serial number and, for mass storage speaking SCSI, the LUN
//! (`QEMU_QEMU_HARDDISK_1-0000:00:04.0-1-0:0`).

use super::sysfs::{Dev, Sysfs};
use super::text::{replace_chars, replace_whitespace, NAME_SIZE};

/// `udev_replace_whitespace` into a 64-byte buffer, then `udev_replace_chars`.
fn clean(raw: &[u8]) -> Vec<u8> {
    replace_chars(&replace_whitespace(raw, 63), b"")
}

/// `ID_USB_SERIAL` of a block device on USB; None where usb_id fails (no interface, no
/// vendor or product id).
pub fn usb_serial(sys: &Sysfs, dev: &Dev) -> Option<Vec<u8>> {
    let iface = sys.parent_with(dev, "usb", Some("usb_interface"))?;
    let class = u32::from_str_radix(iface.attr_text("bInterfaceClass")?.trim(), 16).ok()?;
    // Mass storage: the subclass says how it talks (6 SCSI, 2 ATAPI); C's safe_atoi reads it
    // in decimal.
    let protocol = match class {
        8 => iface.attr_text("bInterfaceSubClass").and_then(|s| s.parse::<i32>().ok()).unwrap_or(0),
        _ => 0,
    };
    let usb = sys.parent_with(&iface, "usb", Some("usb_device"))?;
    let (mut vendor, mut model, mut instance) = (Vec::new(), Vec::new(), None);
    if protocol == 6 || protocol == 2 {
        // The SCSI strings, in udev's order: the first one missing leaves the rest to the USB
        // ones.
        let _ = (|| {
            let s = sys.parent_with(dev, "scsi", Some("scsi_device"))?;
            let n: Vec<i32> = s.sysname().split(':').filter_map(|p| p.parse().ok()).collect();
            let [_, _, target, lun] = n[..] else { return None };
            vendor = clean(&s.attr("vendor")?);
            model = clean(&s.attr("model")?);
            s.attr("type")?;
            s.attr("rev")?;
            instance = Some(format!("{target}:{lun}"));
            Some(())
        })();
    }
    let vendor_id = usb.attr("idVendor")?;
    let product_id = usb.attr("idProduct")?;
    if vendor.is_empty() {
        vendor = clean(&usb.attr("manufacturer").unwrap_or(vendor_id));
    }
    if model.is_empty() {
        model = clean(&usb.attr("product").unwrap_or(product_id));
    }
    // A serial number with control characters, non-ASCII or commas is not used (as Windows
    // does, says udev).
    let serial = usb
        .attr("serial")
        .filter(|s| s.iter().all(|&c| (0x20..=0x7f).contains(&c) && c != b','))
        .map(|s| replace_chars(&replace_whitespace(&s, NAME_SIZE - 1), b""))
        .unwrap_or_default();
    let mut out = vendor;
    out.push(b'_');
    out.extend(model);
    if !serial.is_empty() {
        out.push(b'_');
        out.extend(serial);
    }
    if let Some(i) = instance {
        out.push(b'-');
        out.extend(i.as_bytes());
    }
    // udev builds it in a 256-byte buffer.
    out.truncate(255);
    Some(out)
}
