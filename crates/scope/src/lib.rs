//! Pure, synchronous key encoding for taskctx (work in progress).
