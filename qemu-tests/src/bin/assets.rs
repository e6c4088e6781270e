//! Prepares the VM tests' assets (kernel, binaries, the dracut image) ahead of the tests, so a
//! fresh machine pays for them once, visibly.

fn main() {
    let a = rdbreak_qemu_tests::assets::get();
    let image = a.dracut_image(rdbreak_qemu_tests::Modules::Plain);
    println!("kernel {} ({})", a.kver, a.kernel.display());
    println!(
        "dracut -a rdbreak image: {} ({} bytes)",
        image.display(),
        std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0)
    );
}
