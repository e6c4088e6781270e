//! Encrypted roots: LUKS containers made by the real cryptsetup in the builder VM (this host's
//! kernel has no dm-crypt), opened by rdbreak itself with the passphrase typed at the serial
//! console like a person would, with a key file, or by hand with the shell's `cryptsetup open`
//! after wrong tries; LVM inside LUKS (the Debian/Ubuntu "encrypted LVM" layout) through both
//! image builders, LUKS on MD RAID1 with LVM inside, a damaged primary header, hibernation to an
//! encrypted swap LV. The passphrase must never reach the console, the kmsg or the rdsosreport.
//!
//! Every container has a second keyslot, a cheap PBKDF2 one for [`HOST_KEY`]: the host opens
//! the container with it after the boot (rdbreak's own LUKS code, AES-XTS here) and reads the
//! root's /etc/shadow from the decrypted copy, so "the password changed" is checked on the disk.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rdbreak_init::storage::luks;
use rdbreak_qemu_tests::layouts::luks::{ARRAY, FS_UUID, HOST_KEY, KEYFILE, KEY_LABEL, LUKS_UUID, PASSPHRASE};
use rdbreak_qemu_tests::layouts::{self, first_lv, root_hash};
use rdbreak_qemu_tests::lvm_disk::{self, Placed};
use rdbreak_qemu_tests::{assets, Disk, Initrd, Modules, Scenario, Vm};

const PASSWORD: &str = "Rdbreak-Luks-Root!";
/// What the test init prints when the hibernated process goes on.
const RESUMED: &str = "RDBREAK-TEST-INIT resumed from hibernation";

/// [`layouts::luks2_root`]: the LUKS2 root (disk 0) and the disk with its key file (disk 1),
/// copied into the scenario's directory.
fn luks_root(s: &Scenario) -> (PathBuf, PathBuf) {
    let disks = layouts::luks2_root().copy_to(s.dir());
    (disks[0].clone(), disks[1].clone())
}

/// [`layouts::lvm_on_luks`] with the tests' Argon2id cost.
fn lvm_on_luks(s: &Scenario) -> PathBuf {
    layouts::lvm_on_luks(layouts::luks::ARGON2).copy_to(s.dir()).remove(0)
}

fn prompt_for(node: &str) -> String {
    format!("Please enter passphrase for disk {node} (luks-{LUKS_UUID}):")
}

fn prompt() -> String {
    prompt_for("/dev/vda")
}

/// The passphrase in none of what the machine printed or kept.
fn never_leaked(text: &str, what: &str) {
    assert!(!text.contains(PASSPHRASE), "the passphrase is in the {what}");
    assert!(!text.contains("Ich-bin-das"), "part of the passphrase is in the {what}");
}

// ---- The host's look at a container after the boot ----

/// A LUKS container: its disk image and where on it the container lies.
struct Container {
    disk: PathBuf,
    offset: u64,
    size: u64,
}

impl Container {
    fn whole(disk: &Path) -> Container {
        let size = std::fs::metadata(disk).expect("stat the disk").len();
        Container { disk: disk.into(), offset: 0, size }
    }
}

/// The container's data decrypted into `out`, opened with the host's keyslot. Sectors whose
/// ciphertext is all zero were never written and stay holes.
fn decrypt(c: &Container, out: &Path) -> PathBuf {
    let f = File::open(&c.disk).expect("open the disk");
    let mut read = |at: u64, buf: &mut [u8]| f.read_at(buf, c.offset + at);
    let h = luks::read_header(&mut read, c.size).expect("the LUKS header after the boot");
    let key = h.unlock(&mut read, HOST_KEY.as_bytes(), u64::MAX).expect("the host's keyslot opens the container");
    assert_eq!(h.cipher, "aes-xts-plain64", "the data cipher");
    let len = h.data_size.unwrap_or(c.size - h.data_offset);
    let ss = h.sector_size.max(512) as usize;
    let plain = File::create(out).expect("create the decrypted copy");
    plain.set_len(len).expect("size the decrypted copy");
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = (len - pos).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], c.offset + h.data_offset + pos).expect("read the ciphertext");
        for (i, sector) in buf[..n].chunks_exact_mut(ss).enumerate() {
            if sector.iter().all(|&b| b == 0) {
                continue;
            }
            let at = pos + (i * ss) as u64;
            luks::decrypt_sectors(&h.cipher, key.bytes(), h.iv_tweak + at / 512, ss, sector).expect("decrypt a sector");
            plain.write_all_at(sector, at).expect("write the decrypted copy");
        }
        pos += n as u64;
    }
    out.to_path_buf()
}

/// The filesystem of the container's root: the whole decrypted data, or (`lvm`) the first LV
/// of the PV in it, `lv_mib` long.
fn root_fs(c: &Container, dir: &Path, lvm: Option<u64>) -> Placed {
    let name = format!("plain-{}-{}.img", c.disk.file_name().expect("name").to_string_lossy(), c.offset);
    let plain = decrypt(c, &dir.join(name));
    let len = std::fs::metadata(&plain).expect("stat").len();
    match lvm {
        None => Placed { lv: "root".into(), disk: plain, offset: 0, len },
        Some(mib) => first_lv(&plain, 0, mib << 20),
    }
}

/// The walk-through at rd.break ([`Vm::password_reset`]) after the passphrase was typed; then
/// the real init ran, and on each container (decrypted here) the root's password hash changed
/// and /.autorelabel exists. Returns the console log.
fn reset_and_check(dir: &Path, vm: &mut Vm, containers: &[Container], lvm: Option<u64>) -> String {
    let before: Vec<String> = containers.iter().map(|c| root_hash(&root_fs(c, dir, lvm))).collect();
    let mounts = vm.password_reset(PASSWORD);
    assert!(mounts.contains(" on /sysroot type ext4 (ro"), "the unlocked root, read-only: {mounts}");
    let t = vm.powered_off();
    assert!(t.contains("RDBREAK-TEST-INIT pid=1"), "the real init ran as PID 1");
    never_leaked(&t, "console log");
    for (c, before) in containers.iter().zip(before) {
        let fs = root_fs(c, dir, lvm);
        let after = root_hash(&fs);
        assert_ne!(after, before, "the root password hash changed on {}", c.disk.display());
        assert!(after.starts_with("$y$") || after.starts_with("$6$"), "a real crypt hash: {after}");
        assert!(lvm_disk::read_file(&fs, "/.autorelabel").is_some(), "/.autorelabel on {}", c.disk.display());
        let _ = std::fs::remove_file(&fs.disk);
    }
    t
}

// ---- The scenarios ----

/// The first case: a LUKS2 root (Argon2id from luksFormat), the passphrase typed at the
/// console, then the rd.break walk-through on the unlocked ext4, and the real init runs from it.
#[test]
fn luks2_root_passphrase_at_the_console_then_password_reset() {
    let s = Scenario::new("luks2_reset");
    let (disk, _) = luks_root(&s);
    let dir = s.dir().to_path_buf();
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid=luks-{LUKS_UUID} rd.break"))
        .boot();
    vm.answer(&prompt(), PASSPHRASE, 240);
    let t = reset_and_check(&dir, &mut vm, &[Container::whole(&disk)], None);
    assert!(t.contains(&format!("opened LUKS2 /dev/vda as /dev/mapper/luks-{LUKS_UUID}")), "{t}");
}

/// cryptsetup's default Argon2id cost on a machine fast enough that its 2 s benchmark reaches
/// the cap: 1 GiB of memory, 4 lanes, 4 passes (in the builder's TCG guest the benchmark would
/// pick far less, so the cost is given). A 1 GiB machine cannot afford it: rdbreak asks, then
/// says what the keyslot needs and what the machine has, and opens the shell naming the device.
fn default_cost_disk(s: &Scenario) -> PathBuf {
    layouts::luks2_default_cost().copy_to(s.dir()).remove(0)
}

#[test]
fn luks2_at_cryptsetups_default_cost_in_a_1_gib_vm_says_what_it_needs() {
    let s = Scenario::new("luks2_default_cost_1g").mem_mib(1024);
    let disk = default_cost_disk(&s);
    let mut vm = s.disk(Disk::virtio(&disk)).append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID}")).boot();
    vm.answer(&prompt(), PASSPHRASE, 240);
    let t = vm.expect("give the VM or machine more memory", 240);
    assert!(t.contains("keyslot 1 needs 1024 MiB for argon2id, this machine has "), "{t}");
    assert!(t.contains("Cannot open LUKS device /dev/vda"), "{t}");
    vm.expect(&format!("cryptsetup open /dev/vda luks-{LUKS_UUID}"), 30);
    let mut sh = vm.at_prompt("dracut:/# ", 60);
    let dump = sh.run("cryptsetup luksDump /dev/vda");
    assert!(dump.contains("argon2id") && dump.contains("1048576 KiB"), "{dump}");
    sh.poweroff();
}

/// The same container on a machine with the memory: it opens, and the real init runs. The
/// 1 GiB Argon2 takes about 100 s of this test's two minutes under TCG (it starts early: see
/// .config/nextest.toml).
#[test]
fn luks2_at_cryptsetups_default_cost_opens_with_enough_memory() {
    let s = Scenario::new("luks2_default_cost_3g").mem_mib(3072);
    let disk = default_cost_disk(&s);
    let mut vm =
        s.disk(Disk::virtio(&disk)).append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID} rd.info")).boot();
    vm.answer(&prompt(), PASSPHRASE, 240);
    let t = vm.real_init_pid1(900);
    assert!(t.contains("keyslot 1 opened"), "{t}");
    never_leaked(&vm.powered_off(), "console log");
}

/// A LUKS1 root (PBKDF2-SHA256, AES-XTS), the passphrase at the console, the walk-through.
#[test]
fn luks1_root_password_reset() {
    let s = Scenario::new("luks1_reset");
    let disk = layouts::luks1_root().copy_to(s.dir()).remove(0);
    let dir = s.dir().to_path_buf();
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID} rd.info rd.break"))
        .boot();
    vm.answer(&prompt(), PASSPHRASE, 240);
    let t = reset_and_check(&dir, &mut vm, &[Container::whole(&disk)], None);
    assert!(t.contains("opened LUKS1 /dev/vda"), "{t}");
}

/// Wrong three times: the shell names the device and the command; `cryptsetup open` by hand
/// takes the right one; kmsg and rdsosreport hold no passphrase; `exit` goes on booting.
#[test]
fn three_wrong_passphrases_then_cryptsetup_open_by_hand() {
    let s = Scenario::new("luks2_wrong");
    let (disk, _) = luks_root(&s);
    let mut vm = s.disk(Disk::virtio(&disk)).append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID}")).boot();
    for (i, wrong) in ["wrong one", "Ich-bin-das-Passwort 43", "wrong three"].iter().enumerate() {
        vm.answer(&prompt(), wrong, 240);
        if i < 2 {
            vm.expect(&format!("No key available with this passphrase (try {} of 3).", i + 1), 120);
        }
    }
    let t = vm.expect("3 wrong tries.", 120);
    assert!(t.contains(&format!("LUKS device /dev/vda (luks-{LUKS_UUID})")), "the shell names the device: {t}");
    assert!(!t.contains("wrong one"), "a typed passphrase is never echoed");
    vm.expect(&format!("cryptsetup open /dev/vda luks-{LUKS_UUID}"), 30);
    let mut sh = vm.at_prompt("dracut:/# ", 60);
    sh.send_line(&format!("cryptsetup open /dev/vda luks-{LUKS_UUID}"));
    sh.answer("Enter passphrase for /dev/vda: ", PASSPHRASE, 30);
    let opened = sh.expect_prompt(240);
    assert!(opened.contains(&format!("/dev/vda is open as /dev/mapper/luks-{LUKS_UUID}")), "{opened}");
    let status = sh.run(&format!("cryptsetup status luks-{LUKS_UUID}"));
    assert!(status.contains("type:    LUKS2") && status.contains("cipher:  aes-xts-plain64"), "{status}");
    let lsblk = sh.run("lsblk");
    assert!(lsblk.contains(" crypt "), "lsblk shows the crypt layer: {lsblk}");
    let dump = sh.run("cryptsetup luksDump /dev/vda");
    assert!(dump.contains(LUKS_UUID) && dump.contains("argon2id"), "{dump}");
    never_leaked(&sh.run("dmesg"), "kmsg");
    sh.run_within("sosreport", 60);
    never_leaked(&sh.run_within("cat /run/initramfs/rdsosreport.txt", 60), "rdsosreport");
    let t = sh.continue_to_real_init();
    never_leaked(&t, "console log");
}

/// `rd.luks=0`: the container stays locked, no prompt, and the failure says why.
#[test]
fn rd_luks_0_leaves_it_locked() {
    let s = Scenario::new("luks_off");
    let (disk, _) = luks_root(&s);
    let mut vm =
        s.disk(Disk::virtio(&disk)).append(&format!("root=UUID={FS_UUID} ro rd.luks=0 rd.auto rd.retry=5")).boot();
    let t = vm.expect("Could not boot.", 240);
    assert!(!t.contains("Please enter passphrase"), "no prompt with rd.luks=0");
    vm.at_prompt("dracut:/# ", 60);
    let t = vm.transcript();
    assert!(t.contains("left locked: rd.luks=0 is given"), "{t}");
    assert!(!t.contains("Please enter passphrase"), "no prompt with rd.luks=0");
    vm.poweroff();
}

/// A damaged primary LUKS2 header (its JSON area overwritten): the secondary copy is read,
/// the console says so, the passphrase opens it and the real init runs.
#[test]
fn a_damaged_primary_header_is_read_from_the_secondary() {
    let s = Scenario::new("luks2_damaged_primary");
    let (disk, _) = luks_root(&s);
    File::options()
        .write(true)
        .open(&disk)
        .and_then(|f| f.write_all_at(&[0xa5; 512], 4096 + 64))
        .expect("damage the primary header's JSON");
    let mut vm =
        s.disk(Disk::virtio(&disk)).append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID} rd.info")).boot();
    vm.answer(&prompt(), PASSPHRASE, 240);
    vm.real_init_pid1(300);
    // Said once in the whole boot (the header is read before the prompt, for its tokens).
    let t = vm.transcript();
    let said = "LUKS /dev/vda: the primary header is damaged (the sha256 checksum of the header at byte 0 does not \
                match): the secondary header at byte 16384 is used";
    assert_eq!(t.matches(said).count(), 1, "said once, with the device: {t}");
    never_leaked(&vm.powered_off(), "console log");
}

/// A key file on a second disk found by its label, mounted read-only for the read: no prompt,
/// and the real init runs from the unlocked root.
#[test]
fn a_key_file_on_a_labelled_disk_opens_the_root() {
    let s = Scenario::new("luks_keyfile");
    let (disk, keys) = luks_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .disk(Disk::virtio(&keys))
        .append(&format!(
            "root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID} rd.luks.key=/root.key:LABEL={KEY_LABEL} rd.info"
        ))
        .boot();
    let t = vm.real_init_pid1(300);
    assert!(!t.contains("Please enter passphrase"), "the key file opened it: no prompt");
    assert!(t.contains("opened LUKS2 /dev/vda as /dev/mapper/luks-"), "{t}");
    vm.powered_off();
}

/// A key file on a labelled disk that is not there: the prompt waits a while for it, saying
/// so, then asks for the passphrase, which opens the root.
#[test]
fn a_missing_key_disk_is_waited_for_then_the_passphrase_is_asked() {
    let s = Scenario::new("luks_keyfile_missing");
    let (disk, _) = luks_root(&s);
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID} rd.luks.key=/root.key:LABEL={KEY_LABEL}"))
        .boot();
    let t = vm.expect(&prompt(), 240);
    assert!(
        t.contains(&format!(
            "LUKS /dev/vda: key file /root.key: no device LABEL={KEY_LABEL} with a filesystem is present; waiting 10 s"
        )),
        "{t}"
    );
    vm.send_line(PASSPHRASE);
    vm.real_init_pid1(300);
    never_leaked(&vm.powered_off(), "console log");
}

/// A key file in the image itself (`rdbreak build --file`), named by `rd.luks.key=/path`.
#[test]
fn a_key_file_in_the_image_opens_the_root() {
    let s = Scenario::new("luks_keyfile_image");
    let (disk, _) = luks_root(&s);
    // A fixed path and content: the image is cached by its options.
    let key = assets::get().cache.join("luks-test-root.key");
    if std::fs::read(&key).ok().as_deref() != Some(KEYFILE.as_bytes()) {
        std::fs::write(&key, KEYFILE).expect("write the key file");
    }
    let s = s.initrd(Initrd::RdbreakBuild(vec!["--file".into(), format!("{}:/etc/luks/root.key", key.display())]));
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID} rd.luks.key=/etc/luks/root.key rd.info"))
        .boot();
    let t = vm.real_init_pid1(300);
    assert!(!t.contains("Please enter passphrase"), "the key file opened it: no prompt");
    assert!(t.contains("opened LUKS2 /dev/vda as /dev/mapper/luks-"), "{t}");
    vm.powered_off();
}

fn lvm_on_luks_reset(name: &str, initrd: Initrd) {
    let s = Scenario::new(name).initrd(initrd);
    let disk = lvm_on_luks(&s);
    let dir = s.dir().to_path_buf();
    let mut vm = s
        .disk(Disk::virtio(&disk))
        .append(&format!(
            "root=/dev/mapper/vgubuntu-root ro rd.luks.uuid=luks-{LUKS_UUID} rd.lvm.lv=vgubuntu/root rd.break"
        ))
        .boot();
    vm.answer(&prompt(), PASSPHRASE, 240);
    reset_and_check(&dir, &mut vm, &[Container::whole(&disk)], Some(256));
}

#[test]
fn lvm_on_luks_password_reset_dracut_image() {
    lvm_on_luks_reset("lvm_on_luks_dracut", Initrd::Dracut(Modules::Plain));
}

#[test]
fn lvm_on_luks_password_reset_rdbreak_build_image() {
    lvm_on_luks_reset("lvm_on_luks_build", Initrd::rdbreak_build(&[]));
}

/// Where a 1.2 member's data is, as a container.
fn md_data(member: &Path) -> Container {
    let data = layouts::md_data(member);
    Container { disk: data.disk, offset: data.offset, size: data.len }
}

/// LUKS on an MD RAID1 with LVM inside (dracut's TEST-13-ENC-RAID-LVM stack): the array
/// assembled, the passphrase asked for the array, the VG inside activated; the walk-through,
/// and the new hash on both mirrors.
#[test]
fn luks_on_raid1_with_lvm_inside_password_reset() {
    let s = Scenario::new("luks_md_lvm");
    let disks = layouts::luks_on_raid1_lvm().copy_to(s.dir());
    let dir = s.dir().to_path_buf();
    let mut vm = s
        .disk(Disk::virtio(&disks[0]))
        .disk(Disk::virtio(&disks[1]))
        .append(&format!(
            "root=/dev/mapper/vgraid-root ro rd.md.uuid={ARRAY} rd.luks.uuid=luks-{LUKS_UUID} rd.lvm.lv=vgraid/root rd.break"
        ))
        .boot();
    vm.answer(&prompt_for("/dev/md127"), PASSPHRASE, 240);
    reset_and_check(&dir, &mut vm, &[md_data(&disks[0]), md_data(&disks[1])], Some(256));
}

/// Hibernation to the swap LV inside LUKS (the Ubuntu layout), then a boot that asks for the
/// passphrase, activates the swap LV and hands the image to the kernel before any filesystem is
/// mounted: the hibernated test init goes on.
#[test]
fn hibernate_to_an_encrypted_swap_lv_and_resume() {
    let s = Scenario::new("luks_resume_prep");
    let disk = lvm_on_luks(&s);
    let swap = "/dev/mapper/vgubuntu-swap_1";
    let append = format!(
        "root=/dev/mapper/vgubuntu-root ro rd.luks.uuid=luks-{LUKS_UUID} rd.lvm.lv=vgubuntu/root \
         rd.lvm.lv=vgubuntu/swap_1 resume={swap}"
    );
    let boot =
        |name: &str, append: &str| Scenario::new(name).mem_mib(512).disk(Disk::virtio(&disk)).append(append).boot();
    let mut vm = boot("luks_resume_sleep", &format!("{append} rdbreak_test=hibernate:{swap}"));
    vm.answer(&prompt(), PASSPHRASE, 240);
    vm.expect(&format!("RDBREAK-TEST-INIT swapon {swap}: Ok"), 240);
    let t = vm.wait_exit(600);
    assert!(t.contains("PM: hibernation: hibernation entry") || t.contains("PM: Syncing filesystems"), "{t}");
    assert!(!t.contains("hibernation failed"), "{t}");
    let mut vm = boot("luks_resume_wake", &format!("{append} rd.info"));
    vm.answer(&prompt(), PASSPHRASE, 240);
    let t = vm.expect(RESUMED, 600);
    assert!(t.contains("resume: restoring the hibernation image on /dev/dm-"), "{t}");
    assert!(!t.contains("Mounted root filesystem"), "nothing was mounted before the resume: {t}");
    never_leaked(&t, "console log");
    vm.real_init_report(120);
    vm.powered_off();
}

/// Ctrl-C at the prompt goes to the shell at once, naming how to open it by hand.
#[test]
fn ctrl_c_at_the_prompt_opens_the_shell() {
    let s = Scenario::new("luks_ctrl_c");
    let (disk, _) = luks_root(&s);
    let mut vm = s.disk(Disk::virtio(&disk)).append(&format!("root=UUID={FS_UUID} ro rd.luks.uuid={LUKS_UUID}")).boot();
    vm.expect(&prompt(), 240);
    vm.send(b"half\x03");
    vm.expect("cancelled.", 30);
    vm.expect(&format!("cryptsetup open /dev/vda luks-{LUKS_UUID}"), 30);
    vm.at_prompt("dracut:/# ", 60).poweroff();
}
