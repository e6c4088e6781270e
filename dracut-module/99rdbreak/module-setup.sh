#!/bin/bash
# dracut module "rdbreak": makes the static rdbreak-init the image's /init.
# rdbreak needs no udev, no shell and no dracut-lib: it mounts, loads modules, finds and mounts
# the root, offers the rd.break shell and does switch_root by itself.

# Opt-in: only with `dracut -a rdbreak` or add_dracutmodules+=" rdbreak ".
check() {
    return 255
}

depends() {
    return 0
}

# Storage, virtio and filesystem drivers a generic image needs to find its root, and a USB
# keyboard's for the shell (the kernel takes USB over from the firmware at boot). instmods
# honours hostonly mode itself: on a hostonly image only what this host uses is kept.
installkernel() {
    instmods virtio_pci virtio_blk virtio_scsi virtio_mmio \
        nvme ahci ata_piix sd_mod sr_mod \
        xhci_pci ehci_pci ohci_pci uhci_hcd usb_storage uas usbhid hid_generic \
        mmc_block sdhci_pci sdhci_acpi
    instmods ext4 xfs btrfs vfat f2fs crc32c_generic crc32c-intel libcrc32c
}

install() {
    local init="${RDBREAK_INIT:-/usr/lib/rdbreak/rdbreak-init}"
    if [[ ! -x $init ]]; then
        dfatal "rdbreak: $init is missing or not executable (set RDBREAK_INIT=/path/to/rdbreak-init)"
        return 1
    fi
    # Whatever module put /init here before us (base's init.sh, systemd's symlink), we own it.
    rm -f -- "${initdir}/init"
    inst_simple "$init" /init
    chmod 0755 "${initdir}/init"
    # dracut's btrfs module loads btrfs before udev starts (rd.driver.pre=btrfs) so that its udev
    # rule can register devices. rdbreak has no udev: it loads btrfs when a root needs it and names
    # every device of a multi-device root in the mount. Loaded first, btrfs (and raid6's
    # benchmark) cost every boot about a second.
    if [[ $(cat "${initdir}/etc/cmdline.d/00-btrfs.conf" 2>/dev/null) == "rd.driver.pre=btrfs" ]]; then
        rm -f -- "${initdir}/etc/cmdline.d/00-btrfs.conf"
    fi
    # Mount points and the places the init and its shell use.
    inst_dir /sysroot
    inst_dir /run
    inst_dir /etc/cmdline.d
    # A login shell for `chroot` users that expect root's entry to exist.
    [[ -e ${initdir}/etc/passwd ]] || echo 'root:x:0:0::/root:/bin/sh' > "${initdir}/etc/passwd"
}
