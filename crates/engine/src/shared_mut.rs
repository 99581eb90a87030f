//! A raw pointer that threads share to write disjoint parts of one buffer.

/// A buffer's start, handed to the threads of a parallel loop that each
/// write their own part of it.
///
/// The parts are interleaved (rows of every channel, columns of a
/// row-major matrix), so `chunks_mut` and its kin cannot hand them out as
/// slices; the borrow checker cannot see that they are disjoint, so each
/// use says why in its own `SAFETY:` note.
pub struct SharedMut<T>(*mut T);

impl<T> SharedMut<T> {
    /// The start of `buffer`. The pointer is valid as long as `buffer` is
    /// neither moved nor reallocated; its users must see to that.
    pub fn new(buffer: &mut [T]) -> Self {
        SharedMut(buffer.as_mut_ptr())
    }

    /// From a pointer to a buffer that may not be initialised yet (its users write before
    /// they read; see [`crate::Tensor::written_by`]).
    pub(crate) fn from_ptr(start: *mut T) -> Self {
        SharedMut(start)
    }

    /// The pointer. A method, not a field access, so that closures capture
    /// the whole (`Send`) wrapper rather than the bare pointer.
    pub fn get(self) -> *mut T {
        self.0
    }
}

impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedMut<T> {}

// SAFETY: moving the pointer to another thread does nothing by itself; every
// write through it happens in an `unsafe` block whose note shows that no two
// threads touch the same element and that the buffer outlives them. The
// elements themselves cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for SharedMut<T> {}

// SAFETY: as for `Send`: threads sharing `&SharedMut` can only copy the
// pointer out; what they write through it is justified where they write.
unsafe impl<T: Send> Sync for SharedMut<T> {}
