//! Buffers of secret text that are wiped when dropped: every byte of the allocation (the text and
//! its spare capacity) is zeroed before it is freed.
//!
//! [`zeroize::Zeroizing`] of a `String` or `Vec<u8>` wipes the text one volatile byte write at a
//! time; [`Wiped`] wipes the whole allocation with the bulk `[u8]` routine of the same crate (a
//! fill that an optimization barrier keeps), a few instructions per 32 bytes instead of a few per
//! byte.

use std::ops::{Deref, DerefMut};

use zeroize::Zeroize;

/// A `String` or `Vec<u8>` whose whole allocation is zeroed on drop (see the module notes).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Wiped<B: Buffer>(B);

/// The byte buffers [`Wiped`] holds.
pub(crate) trait Buffer: Default {
    /// The buffer's bytes, in the same allocation.
    fn into_bytes(self) -> Vec<u8>;
}

impl Buffer for Vec<u8> {
    fn into_bytes(self) -> Vec<u8> {
        self
    }
}

impl Buffer for String {
    fn into_bytes(self) -> Vec<u8> {
        self.into_bytes()
    }
}

impl<B: Buffer> Wiped<B> {
    /// Takes `buffer`; its allocation is wiped when this is dropped.
    pub(crate) const fn new(buffer: B) -> Self {
        Self(buffer)
    }
}

impl<B: Buffer> Drop for Wiped<B> {
    fn drop(&mut self) {
        wipe(&mut std::mem::take(&mut self.0).into_bytes());
    }
}

/// Zeroes every byte of `bytes`'s allocation, leaving it as long as its capacity.
///
/// The spare capacity is first made part of the vector (a plain fill, which may be optimized
/// away), so that one bulk zeroing, which may not be, covers the whole allocation.
fn wipe(bytes: &mut Vec<u8>) {
    if bytes.capacity() == 0 {
        // Nothing was ever written (a buffer taken out, or never grown): no call to make.
        return;
    }
    bytes.resize(bytes.capacity(), 0);
    bytes.as_mut_slice().zeroize();
}

impl<B: Buffer> Deref for Wiped<B> {
    type Target = B;

    fn deref(&self) -> &B {
        &self.0
    }
}

impl<B: Buffer> DerefMut for Wiped<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wipe_zeroes_the_whole_allocation_in_place() {
        for (len, kept) in [(77, 3), (1, 0), (64, 64), (33, 32), (0, 0), (4096, 1000)] {
            let mut bytes = vec![0xA5_u8; len];
            bytes.truncate(kept);
            let (start, capacity) = (bytes.as_ptr(), bytes.capacity());
            wipe(&mut bytes);
            assert_eq!((bytes.as_ptr(), bytes.capacity()), (start, capacity));
            assert_eq!(bytes, vec![0; capacity], "{len} bytes, {kept} kept");
        }
    }

    #[test]
    fn a_string_is_wiped_in_its_own_allocation() {
        let mut text = String::with_capacity(100);
        text.push_str(&"secret ".repeat(14));
        text.truncate(40);
        let (start, capacity) = (text.as_ptr(), text.capacity());
        let mut bytes = text.into_bytes();
        wipe(&mut bytes);
        assert_eq!((bytes.as_ptr(), bytes.len()), (start, capacity));
        assert!(bytes.iter().all(|&byte| byte == 0));
    }

    #[test]
    fn a_wiped_buffer_reads_and_compares_as_its_contents() {
        let mut text = Wiped::new(String::from("abc"));
        text.push('d');
        assert_eq!(text.as_str(), "abcd");
        assert!(text == Wiped::new("abcd".to_owned()));
        assert!(Wiped::<Vec<u8>>::default().is_empty());
    }
}
