//! A fake module tree shared by the kmod tests: a few virtio, ext4 and HID modules.

use std::path::Path;

use super::ModuleIndex;

pub(super) const DEP: &str = "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.zst kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko.zst:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/hid/hid-generic.ko:
";
pub(super) const ALIAS: &str = "# Aliases extracted from modules themselves.
alias virtio:d00000002v* virtio_blk
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias fs-ext4 ext4
alias crypto-crc32c crc32c_generic
alias hid:b*g0001v*p* hid_generic
";
pub(super) const SOFTDEP: &str = "softdep ext4 pre: crypto-crc32c\nsoftdep cifs gcm\n";

pub(super) fn index() -> ModuleIndex {
    ModuleIndex::from_text(Path::new("/lib/modules/x"), DEP, ALIAS, SOFTDEP, "kernel/fs/fat/fat.ko\n")
}

/// modules.dep of a chain `m0 -> m1 -> ... -> m(n-1)`, then `more` lines (later lines win).
pub(super) fn chain(n: usize, more: &str) -> String {
    let mut dep: String = (1..n).map(|i| format!("m{}.ko: m{i}.ko\n", i - 1)).collect();
    dep.push_str(&format!("m{}.ko:\n", n - 1));
    dep + more
}
