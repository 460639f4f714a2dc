//! The `slotstream` binary: the composition root.

fn main() {
    println!("slotstream");
}
