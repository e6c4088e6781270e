//! The root's `/etc/fstab`, read for what must be mounted before the switch: a separate `/usr`
//! (dracut's usrmount: a merged-usr root's init lives there) and entries marked
//! `x-initrd.mount` (systemd's rule for the initrd).

use crate::mounts::unoctal;

/// One fstab line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub spec: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
    pub passno: u32,
}

/// Every entry of an fstab's text; comments, blank and short lines are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (spec, target, fstype) = (f.first()?, f.get(1)?, f.get(2)?);
            Some(Entry {
                spec: unoctal(spec),
                target: unoctal(target),
                fstype: fstype.to_string(),
                options: f.get(3).map_or("defaults", |o| o).to_string(),
                passno: f.get(5).and_then(|p| p.parse().ok()).unwrap_or(0),
            })
        })
        .collect()
}

/// What the initramfs mounts under /sysroot before the switch, in fstab order: `/usr`, and
/// every `x-initrd.mount` entry but the root itself; swap and `noauto` entries never.
pub fn initrd_mounts(text: &str) -> Vec<Entry> {
    parse(text)
        .into_iter()
        .filter(|e| e.target != "/" && e.fstype != "swap" && e.target.starts_with('/'))
        .filter(|e| e.target == "/usr" || e.options.split(',').any(|o| o == "x-initrd.mount"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usr_and_x_initrd_mount_entries_in_order() {
        let text = "# /etc/fstab\n\
            UUID=r / xfs defaults 0 0\n\
            UUID=u /usr ext4 ro,noatime 0 2\n\
            /dev/vdb2 none swap sw 0 0\n\
            LABEL=var /var ext4 defaults,x-initrd.mount 0 0\n\
            LABEL=home /home ext4 defaults 0 0\n\
            \n\
            UUID=s /srv\\040data ext4 x-initrd.mount\n\
            short line\n";
        let m = initrd_mounts(text);
        let targets: Vec<&str> = m.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(targets, ["/usr", "/var", "/srv data"]);
        assert_eq!(
            m[0],
            Entry {
                spec: "UUID=u".into(),
                target: "/usr".into(),
                fstype: "ext4".into(),
                options: "ro,noatime".into(),
                passno: 2
            }
        );
        assert_eq!(m[2].options, "x-initrd.mount");
        assert!(initrd_mounts("UUID=r / ext4 x-initrd.mount 0 1\n").is_empty(), "the root is mounted already");
    }

    #[test]
    fn escapes_and_garbage() {
        assert_eq!(unoctal("a\\040b\\011c\\0"), "a b\tc\\0");
        assert!(parse("\u{0}\u{0} \\777\n###\n").is_empty());
    }
}
