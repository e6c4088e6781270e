//! Host tests of the device-mapper buffers: what we send is laid out as the kernel's
//! `populate_table` reads it, and answers written the way `list_devices` and `retrieve_status`
//! write them decode correctly or are refused when malformed.

use super::*;

fn t(start: u64, length: u64, kind: &str, params: &str) -> Target {
    Target { start, length, kind: kind.into(), params: params.into() }
}

/// The kernel's `huge_encode_dev`.
fn encode_dev(major: u32, minor: u32) -> u64 {
    u64::from(((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12))
}

#[test]
fn device_numbers() {
    for (ma, mi) in [(253, 0), (253, 255), (253, 256), (8, 1_000_000), (4095, 0)] {
        assert_eq!(decode_dev(encode_dev(ma, mi)), (ma, mi));
    }
}

#[test]
fn request_header() {
    let b = request(DM_IOCTL_SIZE, "centos-root", Some("LVM-abc"), READONLY).unwrap();
    assert_eq!(b.len(), 312);
    assert_eq!(ne32(&b, VERSION_AT), Some(4));
    assert_eq!(ne32(&b, DATA_SIZE_AT), Some(312));
    assert_eq!(ne32(&b, DATA_START_AT), Some(312));
    assert_eq!(ne32(&b, FLAGS_AT), Some(READONLY));
    assert_eq!(&b[NAME_AT..NAME_AT + 12], b"centos-root\0");
    assert_eq!(&b[UUID_AT..UUID_AT + 8], b"LVM-abc\0");
    // Names the kernel would refuse are refused here, with the value.
    for bad in ["a/b", &"x".repeat(128), "nul\0"] {
        assert!(matches!(request(312, bad, None, 0), Err(Error::BadName(_))), "{bad:?}");
    }
    assert!(request(312, &"x".repeat(127), None, 0).is_ok());
    assert!(matches!(request(312, "n", Some(&"u".repeat(129)), 0), Err(Error::BadUuid(_))));
}

#[test]
fn table_load_layout() {
    let targets = [t(0, 18432, "linear", "252:2 18432"), t(18432, 8192, "striped", "2 128 252:2 2048 252:3 2048")];
    let b = load_request("centos-root", &targets, false).unwrap();
    assert_eq!(ne32(&b, DATA_SIZE_AT), Some(u32::try_from(b.len()).unwrap()));
    assert_eq!(ne32(&b, TARGET_COUNT_AT), Some(2));
    // Walk it as populate_table does: the first spec at data_start, each next relative to it.
    let mut at = ne32(&b, DATA_START_AT).unwrap() as usize;
    for want in &targets {
        assert_eq!(at % 8, 0, "specs are 8-byte aligned");
        assert_eq!(ne64(&b, at), Some(want.start));
        assert_eq!(ne64(&b, at + 8), Some(want.length));
        assert_eq!(cstr(&b, at + 24, at + 40).unwrap().0, want.kind);
        assert_eq!(cstr(&b, at + 40, b.len()).unwrap().0, want.params);
        at += ne32(&b, at + 20).unwrap() as usize;
    }
    assert_eq!(at, b.len());
    assert_eq!(load_request("x", &targets, true).map(|b| ne32(&b, FLAGS_AT)), Ok(Some(READONLY)));
    for bad in [t(0, 1, "", "x"), t(0, 1, "sixteen-letters!", ""), t(0, 1, "linear", "a\0b")] {
        assert!(matches!(load_request("x", &[bad], false), Err(Error::BadTarget(_))));
    }
}

/// An answer buffer as the kernel leaves it: header with data_start 312 and data_size set.
fn answer(payload: &[u8], flags: u32, target_count: u32) -> Vec<u8> {
    let mut b = request(DM_IOCTL_SIZE + payload.len() + 64, "", None, flags).unwrap();
    b[DM_IOCTL_SIZE..DM_IOCTL_SIZE + payload.len()].copy_from_slice(payload);
    put32(&mut b, DATA_SIZE_AT, u32::try_from(DM_IOCTL_SIZE + payload.len()).unwrap());
    put32(&mut b, TARGET_COUNT_AT, target_count);
    b
}

/// `list_devices` of a ≥ 5.13 kernel: name, then at the next 8-byte boundary event_nr and
/// flags, then (with DM_UUID_FLAG) the UUID, each record `next` bytes from the previous.
fn name_list(devs: &[(&str, u32, u32, Option<&str>)]) -> Vec<u8> {
    let mut p = Vec::new();
    let mut prev: Option<usize> = None;
    for (name, ma, mi, uuid) in devs {
        let at = p.len();
        if let Some(prev) = prev {
            let next = u32::try_from(at - prev).unwrap();
            p[prev + 8..prev + 12].copy_from_slice(&next.to_ne_bytes());
        }
        p.extend_from_slice(&encode_dev(*ma, *mi).to_ne_bytes());
        p.extend_from_slice(&0u32.to_ne_bytes());
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        p.resize(align8(p.len()), 0);
        p.extend_from_slice(&7u32.to_ne_bytes());
        p.extend_from_slice(&(if uuid.is_some() { 1u32 } else { 2 }).to_ne_bytes());
        if let Some(u) = uuid {
            p.extend_from_slice(u.as_bytes());
            p.push(0);
            p.resize(align8(p.len()), 0);
        }
        prev = Some(at);
    }
    p
}

#[test]
fn list_answers() {
    let p = name_list(&[
        ("centos-root", 253, 0, Some("LVM-xyz")),
        ("plain", 253, 1, None),
        ("my--vg-lv", 253, 300, Some("u")),
    ]);
    let got = parse_list(&answer(&p, 0, 0)).unwrap();
    assert_eq!(
        got,
        [
            Listed { name: "centos-root".into(), major: 253, minor: 0, uuid: Some("LVM-xyz".into()) },
            Listed { name: "plain".into(), major: 253, minor: 1, uuid: None },
            Listed { name: "my--vg-lv".into(), major: 253, minor: 300, uuid: Some("u".into()) },
        ]
    );
    // No devices: the kernel writes one record with dev 0.
    assert_eq!(parse_list(&answer(&[0u8; 16], 0, 0)).unwrap(), []);
    // An old kernel: no event_nr/flags words (zeros from our own buffer), no UUIDs.
    let mut old = Vec::new();
    old.extend_from_slice(&encode_dev(253, 0).to_ne_bytes());
    old.extend_from_slice(&0u32.to_ne_bytes());
    old.extend_from_slice(b"a\0");
    assert_eq!(parse_list(&answer(&old, 0, 0)).unwrap()[0].uuid, None);
}

#[test]
fn hostile_list_answers() {
    let p = name_list(&[("a", 253, 0, None), ("b", 253, 1, None)]);
    // next pointing past the data, or backwards onto itself.
    for next in [4000u32, 4] {
        let mut q = p.clone();
        q[8..12].copy_from_slice(&next.to_ne_bytes());
        assert!(matches!(parse_list(&answer(&q, 0, 0)), Err(Error::Malformed { .. })), "next {next}");
    }
    // A name without its NUL before the record's end.
    let mut q = p.clone();
    q.truncate(14);
    let mut b = answer(&q, 0, 0);
    let end = DM_IOCTL_SIZE + 14;
    b[end..].fill(b'x');
    assert!(parse_list(&b).is_err());
    // data_size beyond the buffer, data_start inside the header.
    let mut b = answer(&p, 0, 0);
    put32(&mut b, DATA_SIZE_AT, 1 << 30);
    assert!(parse_list(&b).is_err());
    let mut b = answer(&p, 0, 0);
    put32(&mut b, DATA_START_AT, 8);
    assert!(parse_list(&b).is_err());
}

/// `retrieve_status`: specs whose `next` counts from the first spec.
fn status_payload(targets: &[Target]) -> Vec<u8> {
    let mut p = Vec::new();
    for x in targets {
        let at = p.len();
        let mut spec = vec![0u8; 40];
        put64(&mut spec, 0, x.start);
        put64(&mut spec, 8, x.length);
        spec[24..24 + x.kind.len()].copy_from_slice(x.kind.as_bytes());
        p.extend_from_slice(&spec);
        p.extend_from_slice(x.params.as_bytes());
        p.push(0);
        p.resize(align8(p.len()), 0);
        let next = u32::try_from(p.len()).unwrap();
        p[at + 20..at + 24].copy_from_slice(&next.to_ne_bytes());
    }
    p
}

#[test]
fn table_answers() {
    let targets = vec![t(0, 16384, "striped", "2 128 7:0 2048 7:1 2048"), t(16384, 22528, "linear", "7:0 10240")];
    let b = answer(&status_payload(&targets), STATUS_TABLE, 2);
    assert_eq!(parse_targets(&b).unwrap(), targets);
    assert_eq!(parse_targets(&b).unwrap()[1].to_string(), "16384 22528 linear 7:0 10240");
    // A count larger than what is there, a next that goes backwards, a huge count.
    assert!(parse_targets(&answer(&status_payload(&targets), 0, 3)).is_err());
    let mut p = status_payload(&targets);
    p[20..24].copy_from_slice(&0u32.to_ne_bytes());
    assert!(parse_targets(&answer(&p, 0, 2)).is_err());
    assert!(parse_targets(&answer(&p, 0, u32::MAX)).is_err());
}

#[test]
fn info_of_an_answer() {
    let mut b = request(DM_IOCTL_SIZE, "centos-root", Some("LVM-x"), ACTIVE_PRESENT | READONLY).unwrap();
    put64(&mut b, DEV_AT, encode_dev(253, 2));
    put32(&mut b, OPEN_COUNT_AT, 1);
    let i = info("info", &b).unwrap();
    assert_eq!((i.name.as_str(), i.uuid.as_str(), i.major, i.minor), ("centos-root", "LVM-x", 253, 2));
    assert_eq!((i.open_count, i.flags & READONLY != 0, i.kernel_name()), (1, true, "dm-2".to_string()));
    // A name filling its field with no NUL.
    b[NAME_AT..NAME_AT + NAME_LEN].fill(b'a');
    assert!(info("info", &b).is_err());
}

#[test]
fn lvm_names_split_back() {
    let cases = [
        ("centos-root", ("centos", "root", "")),
        ("my--vg-root", ("my-vg", "root", "")),
        ("vg-my--lv", ("vg", "my-lv", "")),
        ("vg-pool_tdata-real", ("vg", "pool_tdata", "real")),
        ("a--b--c-d--e-x-y", ("a-b-c", "d-e", "x-y")),
        ("novg", ("novg", "", "")),
    ];
    for (name, (vg, lv, layer)) in cases {
        assert_eq!(split_lvm_name(name), Some((vg.into(), lv.into(), layer.into())), "{name}");
    }
}

#[test]
fn udev_links() {
    let uuid = "LVM-O1CJf1Lu2xsPjKizUSlwjE7ZoiKSXeDzVvMG96iPQUNVO0y2y9kZWLAoC2vJSAhX";
    let l = links("my--vg-root", uuid, "dm-0");
    let want = [
        ("mapper/my--vg-root", "../dm-0"),
        ("my-vg/root", "../dm-0"),
        ("disk/by-id/dm-name-my--vg-root", "../../dm-0"),
        (&*format!("disk/by-id/dm-uuid-{uuid}"), "../../dm-0"),
    ];
    assert_eq!(l, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // Not LVM: no VG/LV link; no UUID: no dm-uuid link.
    let l = links("luks-1234", "", "dm-3");
    assert_eq!(
        l.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["mapper/luks-1234", "disk/by-id/dm-name-luks-1234"]
    );
    // pvmove and layers: only the mapper link, as lvm's rules turn the disk rules off.
    assert_eq!(links("vg-pvmove0", "LVM-x", "dm-4").len(), 1);
    assert_eq!(links("vg-lv-real", "LVM-x-real", "dm-5").len(), 1);
    // Names that would escape /dev/mapper make no links at all; odd bytes are replaced.
    assert!(links("..", "", "dm-6").is_empty());
    assert!(links("a/b", "", "dm-6").is_empty());
    assert_eq!(links("a b", "", "dm-7")[0].0, "mapper/a_b");
}

/// Answers with random bytes in the payload and the header's sizes: values, never panics.
#[test]
fn mutated_answers_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n.max(1) as u64).unwrap()
    };
    let list = answer(&name_list(&[("a", 253, 0, Some("u")), ("b", 253, 1, None)]), 0, 0);
    let table = answer(&status_payload(&[t(0, 8, "linear", "7:0 0"), t(8, 8, "zero", "")]), 0, 2);
    for _ in 0..5000 {
        for base in [&list, &table] {
            let mut b = base.clone();
            for _ in 0..1 + rnd(4) {
                let at = match rnd(3) {
                    0 => DATA_SIZE_AT + rnd(12),
                    _ => DM_IOCTL_SIZE + rnd(b.len() - DM_IOCTL_SIZE),
                };
                b[at] = u8::try_from(rnd(256)).unwrap();
            }
            let _ = parse_list(&b);
            let _ = parse_targets(&b);
            let _ = info("info", &b);
        }
    }
}

#[test]
fn crypt_keys_never_shown() {
    let key = "0123456789abcdef0123456789abcdef";
    let c = t(0, 8, "crypt", &format!("aes-xts-plain64 {key} 0 8:16 2048 1 allow_discards"));
    for shown in [c.to_string(), format!("{c:?}"), format!("{:?}", vec![c.clone()])] {
        assert!(!shown.contains(key), "{shown}");
        assert!(shown.contains("aes-xts-plain64 <key hidden> 0 8:16 2048 1 allow_discards"), "{shown}");
    }
    let bad = t(0, 8, "crypt", &format!("aes {key}\0"));
    let err = load_request("x", &[bad], false).unwrap_err().to_string();
    assert!(!err.contains(key), "{err}");
    // Other targets are shown whole.
    assert_eq!(t(0, 8, "linear", "8:16 2048").to_string(), "0 8 linear 8:16 2048");
}
