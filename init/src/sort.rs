//! Sorting, spelt once. A stable sort is 3–4 KB of machine code for every element type and
//! comparison it is used with, a dozen of them in the init (some 45 KB of a binary that must
//! stay small), so every sort here sorts indices with one shared, non-generic sort and only
//! the comparison and the final moves are per type. The lists sorted are short (devices,
//! modaliases, directory entries), so the indirect call per comparison costs nothing that shows.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Sorts `v` as `slice::sort` does (stable).
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// Sorts `v` by a key as `slice::sort_by_key` does (stable).
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` by `cmp` as `slice::sort_by` does (stable).
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort_indices(&mut order, &mut |a, b| match (v.get(a), v.get(b)) {
        (Some(x), Some(y)) => cmp(x, y),
        _ => Ordering::Equal,
    });
    permute(v, &order);
}

/// A set of `items`, as `collect::<BTreeSet<_>>()` makes it but inserted one at a time:
/// `collect` sorts its input first, one more stable sort instance per element type.
pub fn set<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut s = BTreeSet::new();
    s.extend(items);
    s
}

/// The one instance of the standard library's stable sort.
#[inline(never)]
fn sort_indices(order: &mut [usize], cmp: &mut dyn FnMut(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}

/// Moves the element at `order[i]` to `i`, in place. Positions before `i` are final when `i` is
/// reached; an element wanted from one of them was swapped away from it, to the place the
/// chain of `order` leads to. `order` is a permutation of `0..v.len()`, so nothing is out of range.
fn permute<T>(v: &mut [T], order: &[usize]) {
    for i in 0..v.len() {
        let Some(mut j) = order.get(i).copied() else { return };
        while j < i {
            let Some(&next) = order.get(j) else { return };
            j = next;
        }
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_the_standard_stable_sort_does() {
        // Every permutation of up to 6 elements with repeated keys, plus longer pseudo-random
        // lists: the same order as slice::sort_by_key, ties in their first order.
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for len in 0..200usize {
            for _ in 0..20 {
                let v: Vec<(u32, usize)> =
                    (0..len).map(|i| (next() % (u32::try_from(len).unwrap() / 2 + 1), i)).collect();
                let mut want = v.clone();
                want.sort_by_key(|e| e.0);
                let mut got = v.clone();
                sort_by_key(&mut got, |e| e.0);
                assert_eq!(got, want, "from {v:?}");
                let mut all = v.clone();
                sort(&mut all);
                let mut want_all = v;
                want_all.sort();
                assert_eq!(all, want_all);
            }
        }
    }

    #[test]
    fn moves_owned_values() {
        let mut v: Vec<String> = ["sdb", "sda", "vda", "nvme0n1", "sda"].iter().map(|s| s.to_string()).collect();
        sort(&mut v);
        assert_eq!(v, ["nvme0n1", "sda", "sda", "sdb", "vda"]);
        sort_by(&mut v, |a, b| b.cmp(a));
        assert_eq!(v, ["vda", "sdb", "sda", "sda", "nvme0n1"]);
    }
}
