//! The one API through which a model's state is written: tables of fixed-size records that keep
//! their own fingerprint and an undo log.
//!
//! A state is a handful of [`Table`]s (and [`Cached`] values, which are not part of it but must
//! follow it back). Its fingerprint is Zobrist-style: the XOR, over every record that differs
//! from its type's default, of a 64-bit mix of (table, index, record). A write updates it as
//! `fp ^= h(old) ^ h(new)`, so a step's fingerprint costs what the step wrote, not the size of
//! the state, and a record left at its default costs nothing: a table of 2^21 untouched entries
//! adds nothing to the cost of a step.
//!
//! While a checkpoint is open every write logs (index, old record), and [`Journaled::rollback`]
//! undoes the writes since the latest one. The explorer applies a step in place, fingerprints
//! the result, and rolls it back, instead of cloning the state for every successor.
//!
//! Why in-place apply with an undo log rather than copy-on-write chunked tables: a depth-first
//! search visits a successor and comes straight back, so an undo log costs exactly the writes of
//! the step, twice, with no allocation once the log has grown to the deepest path; copy-on-write
//! chunks cost a chunk copy (and an allocation and a reference count) for the first write to
//! each chunk, and keep whole chunks alive for every state on the stack. Breadth-first search,
//! which needs many states at once, keeps (parent, action) per state instead and moves one state
//! between them by rolling back to the common ancestor and re-applying (see the explorer), so it
//! too never copies a state. The log doubles as the record of what a step changed, which replay
//! prints.

use std::fmt;

/// A record of a [`Table`]: a small `Copy` value with an injective packing into 128 bits.
///
/// The default value is the record of an untouched entry; it contributes nothing to the
/// fingerprint.
pub trait Record: Copy + Eq + Default {
    /// An injective packing: distinct records give distinct words.
    fn pack(self) -> u128;
}

macro_rules! record_as_int {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn pack(self) -> u128 {
                self as u128
            }
        }
    )*};
}
record_as_int!(u8, u16, u32, u64, u128, usize);

impl Record for i32 {
    fn pack(self) -> u128 {
        u128::from(self as u32)
    }
}

impl Record for i64 {
    fn pack(self) -> u128 {
        u128::from(self as u64)
    }
}

impl Record for bool {
    fn pack(self) -> u128 {
        u128::from(self)
    }
}

/// Something that is part of an explorable state, or follows it back: it takes checkpoints,
/// rolls back to them, and contributes to the state's fingerprint.
///
/// A struct of tables implements it by listing its fields once, with [`journaled!`]; every
/// method then covers every field, so a table a later layer adds cannot be left out of one of
/// them.
pub trait Journaled {
    /// Opens a checkpoint: the writes from here on can be undone.
    fn checkpoint(&mut self);
    /// Undoes every write since the latest open checkpoint and closes it.
    fn rollback(&mut self);
    /// Closes every checkpoint, keeping the writes.
    fn commit(&mut self);
    /// The fingerprint of the contents: XOR-combinable with other tables'.
    fn fingerprint(&self) -> u64;
    /// The fingerprint recomputed from every record, ignoring what the writes kept: equal to
    /// [`Journaled::fingerprint`] unless the incremental bookkeeping is wrong.
    fn recompute_fingerprint(&self) -> u64;
    /// Appends the identifier of every table, so that a test can check they are distinct.
    fn table_ids(&self, out: &mut Vec<u32>);
}

/// Implements [`Journaled`] for a struct by delegating to the listed fields, each itself
/// [`Journaled`] (a [`Table`], a [`Cached`] value, or another such struct).
///
/// ```
/// use biopin_explore::{Journaled, Table, journaled};
/// struct Counters { hits: Table<u32>, misses: Table<u32> }
/// journaled!(Counters { hits, misses });
/// let mut c = Counters { hits: Table::new(1, 4), misses: Table::new(2, 4) };
/// let before = c.fingerprint();
/// c.checkpoint();
/// c.hits.set(2, 7);
/// assert_ne!(c.fingerprint(), before);
/// c.rollback();
/// assert_eq!((c.hits.get(2), c.fingerprint()), (0, before));
/// ```
#[macro_export]
macro_rules! journaled {
    ($ty:ty { $($field:ident),+ $(,)? }) => {
        impl $crate::Journaled for $ty {
            fn checkpoint(&mut self) {
                $( $crate::Journaled::checkpoint(&mut self.$field); )+
            }
            fn rollback(&mut self) {
                $( $crate::Journaled::rollback(&mut self.$field); )+
            }
            fn commit(&mut self) {
                $( $crate::Journaled::commit(&mut self.$field); )+
            }
            fn fingerprint(&self) -> u64 {
                0 $( ^ $crate::Journaled::fingerprint(&self.$field) )+
            }
            fn recompute_fingerprint(&self) -> u64 {
                0 $( ^ $crate::Journaled::recompute_fingerprint(&self.$field) )+
            }
            fn table_ids(&self, out: &mut Vec<u32>) {
                $( $crate::Journaled::table_ids(&self.$field, out); )+
            }
        }
    };
}

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// wyhash's multiply-fold.
#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// What a record at `index` of the table salted `salt` adds to the fingerprint: a wyhash-style
/// mix of the three, or nothing for a default record.
#[inline]
fn contribution<T: Record>(salt: u64, index: usize, record: T) -> u64 {
    if record == T::default() {
        return 0;
    }
    let bits = record.pack();
    let key = salt ^ (index as u64).wrapping_mul(P2);
    mum(
        mum((bits as u64) ^ P0, ((bits >> 64) as u64) ^ key),
        key ^ P3,
    )
}

/// A fixed-length table of records, written only through [`Table::set`], which keeps the
/// table's fingerprint and, while a checkpoint is open, its undo log.
///
/// # Invariants
///
/// - `fp` is the XOR of [`contribution`] over `items`.
/// - `log[marks[k].0..]` holds (index, old record) for every write since checkpoint `k`, in
///   order; `marks[k].1` is the fingerprint at that checkpoint.
/// - Equality compares the records only.
#[derive(Clone)]
pub struct Table<T> {
    id: u32,
    salt: u64,
    items: Vec<T>,
    fp: u64,
    log: Vec<(u32, T)>,
    marks: Vec<(usize, u64)>,
}

impl<T: Record> Table<T> {
    /// A table of `len` default records. `id` tells this table from the others of the same
    /// state in the fingerprint: each table of a state needs its own.
    pub fn new(id: u32, len: usize) -> Self {
        Table {
            id,
            salt: mum(u64::from(id) ^ P0, P1),
            items: vec![T::default(); len],
            fp: 0,
            log: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the table has no records.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The record at `index`.
    #[inline]
    pub fn get(&self, index: usize) -> T {
        self.items[index]
    }

    /// Every record, in order.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    /// Writes the record at `index`, keeping the fingerprint and (while a checkpoint is open)
    /// the undo log. Writing the value already there does nothing.
    #[inline]
    pub fn set(&mut self, index: usize, value: T) {
        let old = self.items[index];
        if old == value {
            return;
        }
        self.fp ^= contribution(self.salt, index, old) ^ contribution(self.salt, index, value);
        if !self.marks.is_empty() {
            self.log.push((index as u32, old));
        }
        self.items[index] = value;
    }

    /// Rewrites the record at `index` with `f`.
    #[inline]
    pub fn update(&mut self, index: usize, f: impl FnOnce(&mut T)) {
        let mut value = self.items[index];
        f(&mut value);
        self.set(index, value);
    }

    /// Every record changed since the latest open checkpoint, as (index, record at the
    /// checkpoint), in index order, each once; empty with no checkpoint open. A record written
    /// and then written back is left out.
    pub fn changed(&self) -> Vec<(usize, T)> {
        let Some(&(start, _)) = self.marks.last() else {
            return Vec::new();
        };
        let mut first: Vec<(usize, T)> = Vec::new();
        for &(i, old) in &self.log[start..] {
            if !first.iter().any(|&(j, _)| j == i as usize) {
                first.push((i as usize, old));
            }
        }
        first.retain(|&(i, old)| self.items[i] != old);
        first.sort_unstable_by_key(|&(i, _)| i);
        first
    }
}

impl<T: Record> Journaled for Table<T> {
    #[inline]
    fn checkpoint(&mut self) {
        self.marks.push((self.log.len(), self.fp));
    }

    #[inline]
    fn rollback(&mut self) {
        let (start, fp) = self.marks.pop().expect("rollback without a checkpoint");
        while self.log.len() > start {
            let (i, old) = self.log.pop().expect("longer than start");
            self.items[i as usize] = old;
        }
        self.fp = fp;
    }

    fn commit(&mut self) {
        self.marks.clear();
        self.log.clear();
    }

    #[inline]
    fn fingerprint(&self) -> u64 {
        self.fp
    }

    fn recompute_fingerprint(&self) -> u64 {
        self.items
            .iter()
            .enumerate()
            .fold(0, |fp, (i, &r)| fp ^ contribution(self.salt, i, r))
    }

    fn table_ids(&self, out: &mut Vec<u32>) {
        out.push(self.id);
    }
}

impl<T: PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl<T: Eq> Eq for Table<T> {}

impl<T: fmt::Debug> fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.items).finish()
    }
}

/// A value that is not part of the state (a cache, such as an allocator's search hint) but
/// must follow it back on rollback: saved at each checkpoint, restored by the rollback, left
/// out of equality and of the fingerprint.
#[derive(Clone, Debug, Default)]
pub struct Cached<T> {
    value: T,
    saved: Vec<T>,
}

impl<T: Copy> Cached<T> {
    /// A cached value.
    pub fn new(value: T) -> Self {
        Cached {
            value,
            saved: Vec::new(),
        }
    }

    /// The value.
    #[inline]
    pub fn get(&self) -> T {
        self.value
    }

    /// Replaces the value.
    #[inline]
    pub fn set(&mut self, value: T) {
        self.value = value;
    }
}

impl<T> PartialEq for Cached<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Cached<T> {}

impl<T: Copy> Journaled for Cached<T> {
    fn checkpoint(&mut self) {
        self.saved.push(self.value);
    }

    fn rollback(&mut self) {
        self.value = self.saved.pop().expect("rollback without a checkpoint");
    }

    fn commit(&mut self) {
        self.saved.clear();
    }

    fn fingerprint(&self) -> u64 {
        0
    }

    fn recompute_fingerprint(&self) -> u64 {
        0
    }

    fn table_ids(&self, _: &mut Vec<u32>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn contributions_of_small_records_do_not_collide() {
        // Every (table, index, record) over small ranges: what most states are made of.
        let mut seen = HashSet::new();
        for id in 0..4u32 {
            let salt = mum(u64::from(id) ^ P0, P1);
            for index in 0..256usize {
                for record in 1..512u64 {
                    assert!(
                        seen.insert(contribution(salt, index, record)),
                        "collision at table {id} index {index} record {record}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_default_record_costs_nothing_and_a_huge_table_starts_at_zero() {
        let t: Table<u64> = Table::new(3, 1 << 21);
        assert_eq!(t.fingerprint(), 0);
        assert_eq!(t.recompute_fingerprint(), 0);
    }

    #[test]
    fn the_same_records_in_two_tables_do_not_cancel() {
        let mut a: Table<u8> = Table::new(1, 4);
        let mut b: Table<u8> = Table::new(2, 4);
        a.set(1, 9);
        b.set(1, 9);
        assert_ne!(a.fingerprint() ^ b.fingerprint(), 0);
    }

    #[test]
    fn changed_lists_each_index_once_with_its_value_at_the_checkpoint() {
        let mut t: Table<u8> = Table::new(1, 8);
        t.set(5, 1);
        t.checkpoint();
        t.set(5, 2);
        t.set(2, 3);
        t.set(5, 4);
        t.set(7, 1);
        t.set(7, 0);
        assert_eq!(t.changed(), vec![(2, 0), (5, 1)]);
    }

    proptest! {
        /// Nested checkpoints and writes: every rollback restores the records and fingerprint of
        /// its checkpoint, and the fingerprint always equals a recomputation.
        #[test]
        fn rollback_restores_exactly(
            script in proptest::collection::vec((0usize..3, 0usize..16, 0u32..4), 1..200)
        ) {
            let mut t: Table<u32> = Table::new(7, 16);
            let mut saved: Vec<(Vec<u32>, u64)> = Vec::new();
            for (what, index, value) in script {
                match what {
                    0 => {
                        saved.push((t.as_slice().to_vec(), t.fingerprint()));
                        t.checkpoint();
                    }
                    1 if !saved.is_empty() => {
                        t.rollback();
                        let (items, fp) = saved.pop().unwrap();
                        prop_assert_eq!(t.as_slice(), &items[..]);
                        prop_assert_eq!(t.fingerprint(), fp);
                    }
                    _ => t.set(index, value),
                }
                prop_assert_eq!(t.fingerprint(), t.recompute_fingerprint());
            }
        }

        /// Equal contents, however reached, give equal fingerprints.
        #[test]
        fn the_fingerprint_depends_on_the_contents_only(
            writes in proptest::collection::vec((0usize..8, 0u8..3), 0..40)
        ) {
            let mut t: Table<u8> = Table::new(1, 8);
            for &(i, v) in &writes {
                t.set(i, v);
            }
            let mut u: Table<u8> = Table::new(1, 8);
            for (i, &v) in t.as_slice().iter().enumerate() {
                u.set(i, v);
            }
            prop_assert_eq!(t.fingerprint(), u.fingerprint());
        }
    }
}
