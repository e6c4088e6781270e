//! UEFI machines as Debian ships them: OVMF firmware (`ovmf`), GRUB EFI (`grub-efi-amd64-bin`'s
//! monolithic image, what `grub-install` puts on an ESP), and for Secure Boot the Microsoft-keyed
//! OVMF variables, the signed shim (`shim-signed`) and the signed GRUB
//! (`grub-efi-amd64-signed`), booting Debian's signed kernel. All unpacked from the packages
//! (`apt-get download`), never installed on this machine.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::assets::{self, locked, run};

const PACKAGES: &[&str] = &["ovmf", "shim-signed", "grub-efi-amd64-signed", "grub-efi-amd64-bin"];

/// The unpacked packages, once per cache.
fn packages() -> PathBuf {
    let a = assets::get();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    PACKAGES.hash(&mut h);
    let dir = a.cache.join(format!("uefi-{:016x}", h.finish()));
    let stamp = dir.join(".ready");
    locked(&a.cache, "uefi", || {
        if stamp.exists() {
            return;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let debs = dir.join("debs");
        std::fs::create_dir_all(&debs).expect("create the UEFI package directory");
        run(Command::new("apt-get").arg("download").args(PACKAGES).current_dir(&debs));
        for deb in std::fs::read_dir(&debs).expect("the downloaded packages").flatten() {
            run(Command::new("dpkg-deb").arg("-x").arg(deb.path()).arg(dir.join("root")));
        }
        std::fs::write(&stamp, "").expect("stamp");
    });
    dir.join("root")
}

/// The firmware and boot path of a UEFI machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// OVMF without Secure Boot, GRUB as `\EFI\BOOT\BOOTX64.EFI`.
    Plain,
    /// OVMF's Secure Boot build with Microsoft's keys enrolled; shim as BOOTX64.EFI, then the
    /// signed GRUB, then the signed kernel (which then runs locked down).
    SecureBoot,
}

/// An ESP (a GPT disk with one EFI system partition) holding the boot loader for `boot`,
/// `grub_cfg` where Debian's GRUB EFI image looks for it (`\EFI\debian\grub.cfg`), and the
/// kernel and initramfs at its root (`/vmlinuz`, `/initrd.img`).
pub fn esp(dir: &Path, boot: Boot, grub_cfg: &str, kernel: &Path, initrd: &Path) -> PathBuf {
    let root = packages();
    let (first, grub) = match boot {
        Boot::Plain => (root.join("usr/lib/grub/x86_64-efi/monolithic/grubx64.efi"), None),
        Boot::SecureBoot => (
            root.join("usr/lib/shim/shimx64.efi.signed"),
            Some(root.join("usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")),
        ),
    };
    let size = |p: &Path| std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).len();
    let mib = (size(kernel) + size(initrd) + size(&first)) / (1 << 20) + 24;
    let fat = dir.join("esp.fat");
    let _ = std::fs::remove_file(&fat);
    run(Command::new("mkfs.vfat").args(["-F", "32", "-n", "ESP", "-C"]).arg(&fat).arg((mib * 1024).to_string()));
    let cfg = dir.join("grub.cfg");
    std::fs::write(&cfg, grub_cfg).expect("write grub.cfg");
    let copy = |src: &Path, dest: &str| {
        run(Command::new("mcopy").arg("-i").arg(&fat).arg(src).arg(format!("::{dest}")));
    };
    run(Command::new("mmd").arg("-i").arg(&fat).args(["::/EFI", "::/EFI/BOOT", "::/EFI/debian"]));
    copy(&first, "/EFI/BOOT/BOOTX64.EFI");
    if let Some(grub) = &grub {
        // shim starts grubx64.efi from its own directory.
        copy(grub, "/EFI/BOOT/grubx64.efi");
    }
    copy(&cfg, "/EFI/debian/grub.cfg");
    copy(kernel, "/vmlinuz");
    copy(initrd, "/initrd.img");
    // The partition starts at 1 MiB; the GPT's backup needs the last 33 sectors.
    let disk = dir.join("esp.img");
    let _ = std::fs::remove_file(&disk);
    std::fs::File::create(&disk).expect("create the ESP disk").set_len((mib + 2) << 20).expect("size the ESP disk");
    run(Command::new("sgdisk").args(["-n", "1:2048:0", "-t", "1:ef00", "-c", "1:EFI System"]).arg(&disk));
    run(Command::new("dd").arg(format!("if={}", fat.display())).arg(format!("of={}", disk.display())).args([
        "bs=1M",
        "seek=1",
        "conv=notrunc",
        "status=none",
    ]));
    let _ = std::fs::remove_file(&fat);
    disk
}

/// QEMU's arguments for the firmware of `boot`: a q35 machine (SMM on for Secure Boot, which
/// OVMF's secure build needs to protect its variables) and the code and a private copy of the
/// variables as flash.
pub fn firmware_args(dir: &Path, boot: Boot) -> Vec<String> {
    let ovmf = packages().join("usr/share/OVMF");
    let (code, vars) = match boot {
        Boot::Plain => ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
        Boot::SecureBoot => ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"),
    };
    let vars_copy = dir.join("OVMF_VARS.fd");
    std::fs::copy(ovmf.join(vars), &vars_copy).expect("copy the UEFI variables");
    let mut args: Vec<String> = Vec::new();
    let machine = if boot == Boot::SecureBoot { "q35,smm=on" } else { "q35" };
    args.extend(["-machine".into(), machine.into()]);
    if boot == Boot::SecureBoot {
        args.extend(["-global".into(), "driver=cfi.pflash01,property=secure,value=on".into()]);
    }
    args.extend([
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={}", ovmf.join(code).display()),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", vars_copy.display()),
    ]);
    args
}
