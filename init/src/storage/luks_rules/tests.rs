use super::*;

const U: &str = "0f6c1a2e-7d3b-4c5a-9e8f-112233445566";
const NODE: &str = "/dev/vda2";

fn decide(cmdline: &str, crypttab: Option<&str>) -> Decision {
    Rules::new(&Cmdline::parse(cmdline), crypttab).decide(NODE, U, None)
}

fn open(cmdline: &str, crypttab: Option<&str>) -> Open {
    match decide(cmdline, crypttab) {
        Decision::Open(o) => o,
        Decision::Skip(why) => panic!("{cmdline:?} skipped: {why}"),
    }
}

fn skip(cmdline: &str, crypttab: Option<&str>) -> String {
    match decide(cmdline, crypttab) {
        Decision::Skip(why) => why,
        Decision::Open(o) => panic!("{cmdline:?} opened {o:?}"),
    }
}

#[test]
fn off_switches_and_the_default() {
    assert_eq!(skip("rd.luks=0 rd.luks.uuid=0f6c", None), "rd.luks=0 is given");
    assert_eq!(skip("rd_NO_LUKS rd.auto", None), "rd.luks=0 is given");
    assert!(skip("root=/dev/mapper/x", None).contains("rd.auto is off"), "dracut ≥ 024: nothing without a name");
    assert_eq!(open("rd.auto", None).name, format!("luks-{U}"));
    assert_eq!(open("rd.luks=1 rd.auto", None).name, format!("luks-{U}"));
}

#[test]
fn named_uuids_only_those_with_or_without_luks_prefix_and_by_prefix() {
    for c in [
        format!("rd.luks.uuid={U}"),
        format!("rd.luks.uuid=luks-{U}"),
        "rd.luks.uuid=0f6c1a2e".to_string(),
        "rd.luks.uuid=0F6C1A2E".to_string(),
        format!("rd_LUKS_UUID=luks-{U}"),
        format!("rd.luks.uuid=aaaa rd.luks.uuid={U}"),
        format!("rd.luks.uuid=keysource:{U}"),
    ] {
        assert_eq!(open(&c, None).name, format!("luks-{U}"), "{c}");
    }
    let why = skip("rd.luks.uuid=aaaa rd.auto", None);
    assert_eq!(why, format!("its UUID {U} is not among rd.luks.uuid=aaaa"));
    assert!(matches!(decide("rd.luks.uuid=6c1a", None), Decision::Skip(_)), "a prefix, not a substring");
}

#[test]
fn names_from_the_command_line_then_crypttab_then_luks_uuid() {
    assert_eq!(open(&format!("rd.luks.name={U}=cryptroot"), None).name, "cryptroot");
    assert_eq!(open(&format!("rd.luks.name=luks-{U}=cr rd.luks.uuid=aaaa"), None).name, "cr");
    let tab = format!("# made by dracut\n\nsda2_crypt UUID={U} none luks,discard\n");
    let o = open(&format!("rd.luks.uuid=luks-{U}"), Some(&tab));
    assert_eq!(o.name, "sda2_crypt");
    assert!(o.allow_discards);
    assert!(o.keys.is_empty(), "none is no key file");
    assert_eq!(open(&format!("rd.luks.name={U}=x"), Some(&tab)).name, "x", "the command line wins");
    assert_eq!(open(&format!("rd.luks.uuid={U} rd.luks.crypttab=0"), Some(&tab)).name, format!("luks-{U}"));
}

#[test]
fn crypttab_alone_opens_its_entries_as_systemd_does() {
    let tab = format!("root_crypt /dev/disk/by-uuid/{U} /etc/keys/root.key tries=5,keyfile-size=64\n");
    let o = open("", Some(&tab));
    assert_eq!(o.name, "root_crypt");
    assert_eq!(o.keys, [KeySpec { path: "/etc/keys/root.key".into(), device: None }]);
    assert_eq!((o.tries, o.keyfile_size), (5, Some(64)));
    let other = "other UUID=ffff none\n";
    assert!(skip("", Some(other)).contains("not in /etc/crypttab"));
    assert!(skip("", Some(&format!("r {NODE} none noauto"))).contains("noauto"));
    assert_eq!(open("", Some(&format!("r {NODE} - read-only,foo=1"))).ignored, ["foo=1"]);
    assert!(open("", Some(&format!("r {NODE} - read-only"))).read_only);
    assert!(skip("", Some(&format!("r {NODE} - header=/h.img"))).contains("header is detached (/h.img)"));
}

#[test]
fn a_detached_header_is_named_for_the_hand_off() {
    let tab = format!("r {NODE} - header=/h.img,discard\n");
    let key = |cmd: &str, tab: Option<&str>| detached_header(&Cmdline::parse(cmd), tab);
    assert_eq!(key("", Some(&tab)).as_deref(), Some("/etc/crypttab's r line (header=/h.img,discard)"));
    assert_eq!(key("rd.luks=0", Some(&tab)), None, "LUKS off: dracut opens nothing either");
    assert_eq!(key("rd.luks.crypttab=0", Some(&tab)), None, "the crypttab is not read");
    assert_eq!(key("", Some(&format!("r {NODE} - header=/h.img,noauto"))), None);
    assert_eq!(key("", Some(&format!("r {NODE} - discard"))), None);
    assert_eq!(key("", None), None);
    assert_eq!(
        key(&format!("rd.luks.uuid={U} rd.luks.options={U}=header=/h.img"), None).as_deref(),
        Some(format!("rd.luks.options={U}=header=/h.img").as_str())
    );
    assert_eq!(key(&format!("rd.luks.uuid={U} rd.luks.options=discard"), None), None);
}

#[test]
fn keys_from_the_command_line_in_both_forms() {
    let o = open(&format!("rd.luks.uuid={U} rd.luks.key=/root.key"), None);
    assert_eq!(o.keys, [KeySpec { path: "/root.key".into(), device: None }]);
    let o = open(&format!("rd.luks.uuid={U} rd.luks.key=/k:LABEL=keys"), None);
    assert_eq!(o.keys, [KeySpec { path: "/k".into(), device: Some("LABEL=keys".into()) }]);
    let o = open(&format!("rd.luks.uuid={U} rd.luks.key=/k:/:UUID=0f6c"), None);
    assert_eq!(o.keys, [KeySpec { path: "/k".into(), device: None }], "dracut's keydev / is the image");
    let o = open(&format!("rd.luks.uuid={U} rd.luks.key=/k:UUID=abcd:UUID=ffff"), None);
    assert!(o.keys.is_empty(), "a key for another container");
    let o = open(&format!("rd.luks.uuid={U} rd.luks.key={U}=/k:UUID=abcd rd.luks.key=ffff=/other"), None);
    assert_eq!(o.keys, [KeySpec { path: "/k".into(), device: Some("UUID=abcd".into()) }], "systemd's UUID= form");
}

#[test]
fn discards_and_options() {
    assert!(!open("rd.auto", None).allow_discards);
    assert!(open("rd.auto rd.luks.allow-discards", None).allow_discards);
    assert!(open(&format!("rd.auto rd.luks.allow-discards=luks-{U}"), None).allow_discards);
    assert!(!open("rd.auto rd.luks.allow-discards=ffff", None).allow_discards);
    assert!(open("rd.auto rd.luks.options=discard,tries=2", None).allow_discards);
    assert_eq!(open("rd.auto rd.luks.options=discard,tries=2", None).tries, 2);
    assert_eq!(open(&format!("rd.auto rd.luks.options={U}=tries=0"), None).tries, 0);
    assert_eq!(open("rd.auto rd.luks.options=ffff=tries=0", None).tries, DEFAULT_TRIES);
}

#[test]
fn device_specs_match_as_udev_links_do() {
    let m = |s| spec_matches(s, "/dev/vdb1", Some("ABCD-1234"), Some("keys"), Some("pp-11"));
    assert!(m("UUID=abcd-1234") && m("UUID=ABCD") && m("/dev/disk/by-uuid/ABCD-1234"));
    assert!(m("LABEL=keys") && m("/dev/disk/by-label/keys") && !m("LABEL=Keys"));
    assert!(m("PARTUUID=PP-11") && m("/dev/vdb1"));
    assert!(!m("/dev/vdb") && !m("UUID=") && !m("UUID=ffff"));
}

#[test]
fn hostile_crypttab_lines_are_skipped_not_fatal() {
    let t = parse_crypttab("onlyname\n\t\n#x y\n a  b  c:d  e,,f \n");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].keyfile, Some(KeySpec { path: "c".into(), device: Some("d".into()) }));
    assert_eq!(t[0].options, ["e", "f"]);
    for s in
        ["rd.luks.key=", "rd.luks.key=:", "rd.luks.key==", "rd.luks.name==", "rd.luks.uuid=luks-", "rd.luks.options=="]
    {
        let _ = decide(&format!("rd.auto {s}"), Some(":\n= = = =\n"));
    }
}

#[test]
fn dm_uuids_as_cryptsetup_makes_them() {
    assert_eq!(dm_uuid(2, U, "luks-x"), "CRYPT-LUKS2-0f6c1a2e7d3b4c5a9e8f112233445566-luks-x");
}

#[test]
fn token_options_are_understood_not_ignored() {
    let o =
        open("", Some(&format!("r {NODE} - tpm2-device=auto,tpm2-pcrs=7+11,tpm2-pin=yes,headless=1,token-timeout=5s")));
    assert!(o.ignored.is_empty(), "{:?}", o.ignored);
    assert_eq!(o.token.tpm2_device.as_deref(), Some("auto"));
    assert_eq!((o.token.tpm2_pcrs, o.token.tpm2_pin, o.token.headless), (Some(1 << 7 | 1 << 11), true, true));
    assert_eq!(o.token.token_timeout, Some(std::time::Duration::from_secs(5)));
    let o = open(&format!("rd.luks.uuid={U} rd.luks.options=fido2-device=auto,pkcs11-uri=auto"), None);
    assert_eq!(o.token.asked(), ["systemd-fido2", "systemd-pkcs11"]);
    // A value that does not read is ignored and logged with why.
    let o = open(&format!("rd.luks.uuid={U} rd.luks.options=tpm2-pcrs=99,discard"), None);
    assert_eq!(o.ignored, ["tpm2-pcrs=99 (PCR 99 (a TPM2 has 0 to 23))"]);
    assert!(o.allow_discards && o.token.tpm2_pcrs.is_none());
    // The most common line: no UUID before the option's own `=`.
    let o = open(&format!("rd.luks.uuid={U} rd.luks.options=tpm2-device=auto"), None);
    assert_eq!((o.token.tpm2_device.as_deref(), o.ignored.len()), (Some("auto"), 0));
    let o = open(&format!("rd.luks.uuid={U} rd.luks.options=luks-{U}=tpm2-device=auto"), None);
    assert_eq!(o.token.tpm2_device.as_deref(), Some("auto"));
    let o = open(&format!("rd.luks.uuid={U} rd.luks.options=ffff=tpm2-device=auto"), None);
    assert_eq!(o.token.tpm2_device, None, "for another container");
}

#[test]
fn token_unlocks_are_named_for_the_hand_off() {
    let key = |cmd: &str, tab: Option<&str>| token_unlock(&Cmdline::parse(cmd), tab);
    let tab = format!("root {NODE} none tpm2-device=auto,discard\nhome UUID=ffff - fido2-device=auto\n");
    assert_eq!(
        key("", Some(&tab)),
        [
            ("/etc/crypttab's root line (tpm2-device=auto,discard)".to_string(), "systemd-tpm2"),
            ("/etc/crypttab's home line (fido2-device=auto)".to_string(), "systemd-fido2"),
        ]
    );
    assert_eq!(key("rd.luks=0", Some(&tab)), []);
    assert_eq!(key("rd.luks.crypttab=0", Some(&tab)), []);
    assert_eq!(key("", Some(&format!("r {NODE} - tpm2-device=auto,noauto"))), []);
    assert_eq!(key("", Some(&format!("r {NODE} - tpm2-pcrs=7"))), [], "PCRs alone ask for nothing");
    assert_eq!(
        key(&format!("rd.luks.uuid={U} rd.luks.options={U}=pkcs11-uri=auto"), None),
        [(format!("rd.luks.options={U}=pkcs11-uri=auto"), "systemd-pkcs11")]
    );
}

/// dracut's cryptroot-ask and systemd's generator find a container's crypttab line by its device
/// field under any name udev gives the device, or by the mapping's name.
#[test]
fn crypttab_lines_match_by_any_device_name_or_by_the_mapping_name() {
    let links = vec![
        "/dev/disk/by-id/ata-QEMU_HARDDISK_disk1".to_string(),
        "/dev/disk/by-path/pci-0000:00:1f.2-ata-2".to_string(),
        format!("/dev/disk/by-uuid/{U}"),
    ];
    let dev = Device { node: "/dev/sdb", uuid: U, label: Some("vault"), partuuid: Some("5E0C-01"), links: &links };
    let entry = |crypttab: &str, cmdline: &str| match Rules::new(&Cmdline::parse(cmdline), Some(crypttab))
        .decide_device(&dev)
    {
        Decision::Open(o) => (o.name, o.keys.first().map(|k| k.path.clone())),
        Decision::Skip(why) => panic!("{crypttab:?} skipped: {why}"),
    };
    let with_key = |name: &str| (name.to_string(), Some("/etc/key".to_string()));
    // The issue's line: a by-id path, the container named on the command line.
    let by_id = format!("luks-{U} /dev/disk/by-id/ata-QEMU_HARDDISK_disk1 /etc/key timeout=0\n");
    assert_eq!(entry(&by_id, &format!("rd.luks.uuid=luks-{U}")), with_key(&format!("luks-{U}")));
    assert_eq!(entry("data /dev/disk/by-path/pci-0000:00:1f.2-ata-2 /etc/key\n", ""), with_key("data"));
    assert_eq!(entry("data /dev/sdb /etc/key\n", ""), with_key("data"));
    assert_eq!(entry("data PARTUUID=5e0c-01 /etc/key\n", ""), with_key("data"));
    assert_eq!(entry("data LABEL=vault /etc/key\n", ""), with_key("data"));
    assert_eq!(entry(&format!("data UUID={U} /etc/key\n"), ""), with_key("data"));
    // By name: a device field that names nothing here, but the mapping's name.
    let by_name = format!("luks-{U} /dev/disk/by-id/renamed-since /etc/key\n");
    assert_eq!(entry(&by_name, &format!("rd.luks.uuid={U}")), with_key(&format!("luks-{U}")));
    assert_eq!(entry("vault /dev/gone /etc/key\n", &format!("rd.luks.name={U}=vault")), with_key("vault"));
    // A line for another device is not this one's.
    let other = "other /dev/disk/by-id/ata-OTHER /etc/otherkey\n";
    let rules = Rules::new(&Cmdline::parse(&format!("rd.luks.uuid={U}")), Some(other));
    let Decision::Open(o) = rules.decide_device(&dev) else { panic!("named on the command line") };
    assert!(o.keys.is_empty(), "no key of another line: {:?}", o.keys);
}
