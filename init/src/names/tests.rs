//! The names room on trees laid out as the kernel lays out transports a VM cannot show (SAS,
//! FC, iSCSI), and on hostile ones.

use std::path::Path;

use super::*;

/// A sysfs tree made by hand, laid out as the kernel lays it out.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        Tree(tempfile::tempdir().unwrap())
    }

    fn root(&self) -> &Path {
        self.0.path()
    }

    /// A device directory with its `uevent`, its subsystem link and attributes.
    fn dev(&self, path: &str, subsystem: Option<&str>, devtype: Option<&str>, attrs: &[(&str, &[u8])]) -> &Tree {
        let d = self.root().join(path);
        std::fs::create_dir_all(&d).unwrap();
        let uevent = devtype.map(|t| format!("DEVTYPE={t}\n")).unwrap_or_default();
        std::fs::write(d.join("uevent"), uevent).unwrap();
        if let Some(s) = subsystem {
            std::os::unix::fs::symlink(format!("/sys/bus/{s}"), d.join("subsystem")).unwrap();
        }
        for (name, value) in attrs {
            std::fs::write(d.join(name), value).unwrap();
        }
        self
    }

    /// `/sys/class/<class>/<name>` leading to `path`.
    fn class(&self, class: &str, name: &str, path: &str) -> &Tree {
        let c = self.root().join("class").join(class);
        std::fs::create_dir_all(&c).unwrap();
        std::os::unix::fs::symlink(self.root().join(path), c.join(name)).unwrap();
        self
    }

    fn links(&self, name: &str) -> Vec<String> {
        links(self.root(), name)
    }
}

/// A VPD page 0x83 with one NAA identifier (binary).
fn page83_naa(id: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 0x83, 0, u8::try_from(id.len() + 4).unwrap(), 0x01, 0x03, 0, u8::try_from(id.len()).unwrap()];
    p.extend_from_slice(id);
    p
}

const NAA5: &[u8] = &[0x50, 0x00, 0xc5, 0x00, 0x12, 0x34, 0x56, 0x78];

/// The SCSI part below a host: target, device (with INQUIRY strings and page 0x83) and disk.
fn scsi_below(t: &Tree, host_path: &str, hbtl: &str, disk: &str, page83: &[u8]) -> String {
    let (h, b, tg) = {
        let v: Vec<&str> = hbtl.split(':').collect();
        (v[0], v[1], v[2])
    };
    let target = format!("{host_path}/target{h}:{b}:{tg}");
    let sdev = format!("{target}/{hbtl}");
    let block = format!("{sdev}/block/{disk}");
    t.dev(&target, Some("scsi"), Some("scsi_target"), &[])
        .dev(
            &sdev,
            Some("scsi"),
            Some("scsi_device"),
            &[("vendor", b"SEAGATE \n"), ("model", b"ST4000NM0023    \n"), ("type", b"0\n"), ("vpd_pg83", page83)],
        )
        .dev(&block, Some("block"), Some("disk"), &[])
        .class("block", disk, &block);
    block
}

#[test]
fn sas_disks_direct_and_behind_an_expander() {
    let t = Tree::new();
    let pci = "devices/pci0000:00/0000:00:01.0/0000:01:00.0";
    t.dev("devices/pci0000:00", None, None, &[])
        .dev("devices/pci0000:00/0000:00:01.0", Some("pci"), None, &[])
        .dev(pci, Some("pci"), None, &[])
        .dev(&format!("{pci}/host0"), Some("scsi"), Some("scsi_host"), &[]);
    // Direct: host0/port-0:0/end_device-0:0, a one-phy port.
    let port = format!("{pci}/host0/port-0:0");
    let end = format!("{port}/end_device-0:0");
    t.dev(&port, None, None, &[]).dev(&end, None, None, &[]);
    t.dev(&format!("{port}/sas_port/port-0:0"), None, None, &[("num_phys", b"1\n")]).class(
        "sas_port",
        "port-0:0",
        &format!("{port}/sas_port/port-0:0"),
    );
    t.dev(
        &format!("{end}/sas_device/end_device-0:0"),
        None,
        None,
        &[("phy_identifier", b"3\n"), ("sas_address", b"0x5000c50012345679\n")],
    )
    .class("sas_device", "end_device-0:0", &format!("{end}/sas_device/end_device-0:0"));
    scsi_below(&t, &end, "0:0:0:0", "sda", &page83_naa(NAA5));
    assert_eq!(
        t.links("sda"),
        [
            "disk/by-id/scsi-35000c50012345678",
            "disk/by-path/pci-0000:01:00.0-sas-phy3-lun-0",
            "disk/by-id/wwn-0x5000c50012345678"
        ]
    );

    // Behind an expander: the expander's address and the phy the disk is on.
    let exp = format!("{pci}/host0/port-0:1/expander-0:0");
    let port = format!("{exp}/port-0:0:5");
    let end = format!("{port}/end_device-0:0:5");
    t.dev(&format!("{pci}/host0/port-0:1"), None, None, &[]).dev(&exp, None, None, &[]);
    t.dev(&format!("{exp}/sas_device/expander-0:0"), None, None, &[("sas_address", b"0x500605b0000272bf\n")]).class(
        "sas_device",
        "expander-0:0",
        &format!("{exp}/sas_device/expander-0:0"),
    );
    t.dev(&port, None, None, &[]).dev(&end, None, None, &[]);
    t.dev(&format!("{port}/sas_port/port-0:0:5"), None, None, &[("num_phys", b"1\n")]).class(
        "sas_port",
        "port-0:0:5",
        &format!("{port}/sas_port/port-0:0:5"),
    );
    t.dev(&format!("{end}/sas_device/end_device-0:0:5"), None, None, &[("phy_identifier", b"5\n")]).class(
        "sas_device",
        "end_device-0:0:5",
        &format!("{end}/sas_device/end_device-0:0:5"),
    );
    scsi_below(&t, &end, "0:0:1:0", "sdb", &page83_naa(&[0x50, 0, 0, 0, 0, 0, 0, 1]));
    assert!(t.links("sdb").contains(&"disk/by-path/pci-0000:01:00.0-sas-exp0x500605b0000272bf-phy5-lun-0".to_string()));
}

#[test]
fn fibre_channel_and_iscsi_luns() {
    let t = Tree::new();
    let pci = "devices/pci0000:00/0000:00:03.0/0000:05:00.0";
    t.dev("devices/pci0000:00", None, None, &[])
        .dev("devices/pci0000:00/0000:00:03.0", Some("pci"), None, &[])
        .dev(pci, Some("pci"), None, &[])
        .dev(&format!("{pci}/host5"), Some("scsi"), Some("scsi_host"), &[])
        .dev(&format!("{pci}/host5/rport-5:0-2"), None, None, &[]);
    let rport = format!("{pci}/host5/rport-5:0-2");
    t.dev(
        &format!("{rport}/target5:0:0/fc_transport/target5:0:0"),
        None,
        None,
        &[("port_name", b"0x500507680b214ac1\n")],
    )
    .class("fc_transport", "target5:0:0", &format!("{rport}/target5:0:0/fc_transport/target5:0:0"));
    scsi_below(&t, &rport, "5:0:0:3", "sdc", &page83_naa(NAA5));
    assert!(t.links("sdc").contains(&"disk/by-path/pci-0000:05:00.0-fc-0x500507680b214ac1-lun-3".to_string()));

    // iSCSI: host3/session1 on the platform bus; the names come from the session and its
    // connection.
    let session = "devices/platform/host3/session1";
    t.dev("devices/platform", None, None, &[])
        .dev("devices/platform/host3", Some("scsi"), Some("scsi_host"), &[])
        .dev(session, None, None, &[])
        .dev(
            &format!("{session}/iscsi_session/session1"),
            None,
            None,
            &[("targetname", b"iqn.2003-01.org.example:disk\n")],
        )
        .class("iscsi_session", "session1", &format!("{session}/iscsi_session/session1"))
        .dev(
            "devices/platform/host3/connection1:0/iscsi_connection/connection1:0",
            None,
            None,
            &[("persistent_address", b"10.0.0.1\n"), ("persistent_port", b"3260\n")],
        )
        .class(
            "iscsi_connection",
            "connection1:0",
            "devices/platform/host3/connection1:0/iscsi_connection/connection1:0",
        );
    let naa6 = [0x60, 0x01, 0x40, 0x5a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01];
    scsi_below(&t, session, "3:0:0:1", "sdd", &page83_naa(&naa6));
    assert_eq!(
        t.links("sdd"),
        [
            "disk/by-id/scsi-36001405abcdef0123456789abcdef001",
            "disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2003-01.org.example:disk-lun-1",
            "disk/by-id/wwn-0x6001405abcdef0123456789abcdef001"
        ]
    );
}

/// A virtio disk `vda` on PCI with this serial attribute, and its partition `vda1`.
fn virtio_disk(t: &Tree, serial: &[u8]) {
    let v = "devices/pci0000:00/0000:00:04.0/virtio0";
    t.dev("devices/pci0000:00", None, None, &[])
        .dev("devices/pci0000:00/0000:00:04.0", Some("pci"), None, &[])
        .dev(v, Some("virtio"), None, &[])
        .dev(&format!("{v}/block/vda"), Some("block"), Some("disk"), &[("serial", serial)])
        .dev(&format!("{v}/block/vda/vda1"), Some("block"), Some("partition"), &[("partition", b"1\n")])
        .class("block", "vda", &format!("{v}/block/vda"))
        .class("block", "vda1", &format!("{v}/block/vda/vda1"));
}

#[test]
fn serial_numbers_are_escaped_as_udev_does_and_never_leave_the_directory() {
    let t = Tree::new();
    virtio_disk(&t, b" my  disk\t1 ");
    assert_eq!(
        t.links("vda1"),
        [
            "disk/by-id/virtio-my_disk_1-part1",
            "disk/by-path/pci-0000:00:04.0-part1",
            "disk/by-path/virtio-pci-0000:00:04.0-part1"
        ]
    );
    let t = Tree::new();
    virtio_disk(&t, "a*b\u{e9}/c".as_bytes());
    assert_eq!(t.links("vda")[0], "disk/by-id/virtio-a_b\u{e9}/c", "a slash makes a directory, as with udev");
    for hostile in [&b"../../../etc"[..], b"x/../../y", b"x//y", b"/", b"\xff\xfe/.."] {
        let t = Tree::new();
        virtio_disk(&t, hostile);
        let ids = t.links("vda");
        assert!(
            ids.iter().all(|l| l.split('/').all(|c| !c.is_empty() && c != "." && c != "..")),
            "{hostile:?}: {ids:?}"
        );
        assert_eq!(ids.iter().filter(|l| l.starts_with("disk/by-path/")).count(), 2, "{hostile:?}: {ids:?}");
    }
}

#[test]
fn hostile_trees_end_without_a_panic() {
    // A class link that loops, a chain deeper than any real one, garbage IDENTIFY words.
    let t = Tree::new();
    std::fs::create_dir_all(t.root().join("class/block")).unwrap();
    std::os::unix::fs::symlink("loop", t.root().join("class/block/loop")).unwrap();
    assert!(t.links("loop").is_empty());
    assert!(t.links("../../etc").is_empty());
    let deep: String = (0..200).map(|i| format!("d{i}/")).collect();
    let disk = format!("devices/pci0000:00/0000:00:04.0/{deep}block/sdz");
    t.dev("devices/pci0000:00/0000:00:04.0", Some("pci"), None, &[]).dev(&disk, Some("block"), Some("disk"), &[]);
    for i in 0..200 {
        let p: String = (0..=i).map(|j| format!("d{j}/")).collect();
        t.dev(&format!("devices/pci0000:00/0000:00:04.0/{p}"), Some("scsi"), None, &[]);
    }
    t.class("block", "sdz", &disk);
    assert!(t.links("sdz").is_empty(), "no SCSI device within reach: no name");
    assert!(ata::parse_words(b"zzzz").is_none());
    assert!(ata::parse_words(&b"0000 ".repeat(257)).is_none());
    assert!(ata::parse_words(&b"00000 ".repeat(256)).is_none());
    assert!(ata::parse_words(&b"0000 ".repeat(256)).is_some());
}

#[test]
fn identify_words_give_model_serial_and_wwn() {
    let mut id = [0u16; 256];
    let put = |id: &mut [u16; 256], at: usize, len: usize, s: &str| {
        let mut b = s.as_bytes().to_vec();
        b.resize(len, b' ');
        for (i, pair) in b.chunks(2).enumerate() {
            id[at + i] = u16::from_be_bytes([pair[0], pair[1]]);
        }
    };
    put(&mut id, 27, 40, "Samsung SSD 870 EVO 1TB");
    put(&mut id, 10, 20, "   S6PUNX0R123456");
    id[108..112].copy_from_slice(&[0x5002, 0x538f, 0x4123, 0x4567]);
    let a = ata::from_identify(&id).unwrap();
    assert_eq!(String::from_utf8(a.serial).unwrap(), "Samsung_SSD_870_EVO_1TB_S6PUNX0R123456");
    assert_eq!(a.wwn.as_deref(), Some("0x5002538f41234567"));
    put(&mut id, 10, 20, "");
    id[108] = 0x1234;
    let a = ata::from_identify(&id).unwrap();
    assert_eq!(String::from_utf8(a.serial).unwrap(), "Samsung_SSD_870_EVO_1TB", "no serial: the model alone");
    assert_eq!(a.wwn, None, "word 108 does not say NAA 5");
    assert!(ata::from_identify(&[0; 256]).is_none());
}

#[test]
fn nvme_multipath_namespaces_are_named_by_their_controller() {
    // With multipathing, the namespace hangs off the subsystem (virtual); its path is the
    // controller's PCI function.
    let t = Tree::new();
    let ns = "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1";
    t.dev(
        "devices/virtual/nvme-subsystem/nvme-subsys0",
        Some("nvme-subsystem"),
        None,
        &[
            ("model", b"Samsung SSD 980 PRO 1TB                 \n"),
            ("serial", b"S5GXNX0T123456      \n"),
            ("firmware_rev", b"5B2QGXA7\n"),
        ],
    )
    .dev(ns, Some("block"), Some("disk"), &[("wwid", b"eui.002538b111b1c7a2\n"), ("nsid", b"1\n")])
    .class("block", "nvme0n1", ns)
    .dev("devices/pci0000:00", None, None, &[])
    .dev("devices/pci0000:00/0000:00:1d.0", Some("pci"), None, &[])
    .dev("devices/pci0000:00/0000:00:1d.0/0000:3d:00.0", Some("pci"), None, &[])
    .dev("devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0", Some("nvme"), None, &[])
    .class("nvme", "nvme0", "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0");
    assert_eq!(
        t.links("nvme0n1"),
        [
            "disk/by-id/nvme-eui.002538b111b1c7a2",
            "disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456",
            "disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456_1",
            "disk/by-path/pci-0000:3d:00.0-nvme-1"
        ]
    );
    // A fabrics controller is virtual too: no path then, as with udev.
    let t2 = Tree::new();
    t2.dev("devices/virtual/nvme-subsystem/nvme-subsys0", Some("nvme-subsystem"), None, &[])
        .dev(ns, Some("block"), Some("disk"), &[("nsid", b"1\n")])
        .class("block", "nvme0n1", ns)
        .dev("devices/virtual/nvme-fabrics/ctl/nvme0", Some("nvme"), None, &[])
        .class("nvme", "nvme0", "devices/virtual/nvme-fabrics/ctl/nvme0");
    assert!(t2.links("nvme0n1").is_empty());
}

/// IDENTIFY words as libata's `id` attribute shows them, with this model and serial.
fn identify_attr(model: &str, serial: &str) -> Vec<u8> {
    let mut id = [0u16; 256];
    id[0] = 0x85c0; // an ATAPI CD-ROM
    for (at, len, s) in [(27, 40, model), (10, 20, serial)] {
        let mut b = s.as_bytes().to_vec();
        b.resize(len, b' ');
        for (i, pair) in b.chunks(2).enumerate() {
            id[at + i] = u16::from_be_bytes([pair[0], pair[1]]);
        }
    }
    id.iter()
        .enumerate()
        .map(|(i, w)| format!("{w:04x}{}", if i % 8 == 7 { '\n' } else { ' ' }))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn an_atapi_drive_is_named_by_ata_id_only_when_it_speaks_spc3() {
    for (level, named) in [(&b"6\n"[..], true), (b"5\n", false)] {
        let t = Tree::new();
        let port = "devices/pci0000:00/0000:00:02.0/ata3";
        let sdev = format!("{port}/host2/target2:0:0/2:0:0:0");
        t.dev("devices/pci0000:00", None, None, &[])
            .dev("devices/pci0000:00/0000:00:02.0", Some("pci"), None, &[])
            .dev(port, None, None, &[])
            .dev(&format!("{port}/ata_port/ata3"), Some("ata_port"), None, &[("port_no", b"1\n")])
            .class("ata_port", "ata3", &format!("{port}/ata_port/ata3"))
            .dev(
                &format!("{port}/link3/dev3.0/ata_device/dev3.0"),
                None,
                None,
                &[("id", &identify_attr("QEMU DVD-ROM", "QM00005"))],
            )
            .class("ata_device", "dev3.0", &format!("{port}/link3/dev3.0/ata_device/dev3.0"))
            .dev(&format!("{port}/host2"), Some("scsi"), Some("scsi_host"), &[])
            .dev(&format!("{port}/host2/target2:0:0"), Some("scsi"), Some("scsi_target"), &[])
            .dev(
                &sdev,
                Some("scsi"),
                Some("scsi_device"),
                &[("vendor", b"QEMU    \n"), ("model", b"QEMU DVD-ROM    \n"), ("type", b"5\n"), ("scsi_level", level)],
            )
            .dev(&format!("{sdev}/block/sr0"), Some("block"), Some("disk"), &[])
            .class("block", "sr0", &format!("{sdev}/block/sr0"));
        let mut expected = vec!["disk/by-path/pci-0000:00:02.0-ata-1.0", "disk/by-path/pci-0000:00:02.0-ata-1"];
        if named {
            expected.insert(0, "disk/by-id/ata-QEMU_DVD-ROM_QM00005");
        }
        assert_eq!(t.links("sr0"), expected, "scsi_level {level:?}");
    }
}
