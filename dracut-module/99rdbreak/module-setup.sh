#!/bin/bash
# dracut module "rdbreak": makes the static rdbreak-init the image's /init.
# rdbreak needs no udev, no shell and no dracut-lib: it mounts, loads modules, finds and mounts
# the root, offers the rd.break shell and does switch_root by itself. dracut's own init stays in
# the image as /init.dracut, for what rdbreak does not do (rdbreak-init(8), "Hand-off").
# dracut.conf: rdbreak_mode="handoff" boots with dracut's init unless rd.break or rd.rdbreak=1
# is on the command line.

# Opt-in: only with `dracut -a rdbreak` or add_dracutmodules+=" rdbreak ".
check() {
    return 255
}

depends() {
    return 0
}

# The storage (disks, LVM, MD RAID, LUKS), USB and filesystem drivers of drivers.txt beside this file
# (rdbreak build reads the same list). instmods honours hostonly mode itself: a generic image gets
# them all; a hostonly one only what this host uses (md_mod and raid1 when an array is running).
installkernel() {
    local list="${moddir:-$(dirname "${BASH_SOURCE[0]}")}/drivers.txt"
    # shellcheck disable=SC2046 # one word a module
    instmods $(sed -n 's/^[a-z-]*://p' "$list")
}

install() {
    local init="${RDBREAK_INIT:-/usr/lib/rdbreak/rdbreak-init}"
    if [[ ! -x $init ]]; then
        dfatal "rdbreak: $init is missing or not executable (set RDBREAK_INIT=/path/to/rdbreak-init)"
        return 1
    fi
    case "${rdbreak_mode:-takeover}" in
        takeover | handoff) ;;
        *)
            dfatal "rdbreak: rdbreak_mode=\"$rdbreak_mode\" in the dracut config: use \"takeover\" (the default) or \"handoff\""
            return 1
            ;;
    esac
    # Whatever module put /init here before us (base's init.sh, systemd's symlink) is kept as
    # /init.dracut, with a record of which it is: rdbreak hands the boot to it for what it does
    # not do itself, and on rd.rdbreak=0. Then we own /init.
    mkdir -p -- "${initdir}/etc/rdbreak"
    rm -f -- "${initdir}/init.dracut" "${initdir}/etc/rdbreak/dracut-init" "${initdir}/etc/rdbreak/mode"
    if [[ -L ${initdir}/init || -e ${initdir}/init ]]; then
        local kind=other
        if [[ -L ${initdir}/init && $(readlink "${initdir}/init") == */systemd ]]; then
            kind=systemd
        elif [[ $(head -c 2 "${initdir}/init" 2> /dev/null) == "#!" ]]; then
            kind=shell
        fi
        mv -- "${initdir}/init" "${initdir}/init.dracut"
        echo "$kind" > "${initdir}/etc/rdbreak/dracut-init"
    else
        dwarning "rdbreak: dracut put no /init in this image: rd.rdbreak=0 will have nothing to hand off to"
    fi
    [[ ${rdbreak_mode:-takeover} == handoff ]] && echo handoff > "${initdir}/etc/rdbreak/mode"
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
