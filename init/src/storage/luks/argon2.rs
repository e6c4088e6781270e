//! Argon2i and Argon2id (RFC 9106, version 0x13), the KDFs of LUKS2 keyslots, written for the
//! size-optimised PID 1: the compression function in explicit SSE2 (x86-64's baseline: no CPU
//! check; `safe_arch` exposes it as safe functions), the lanes of each slice on their own threads.
//!
//! Why not the `argon2` crate: its speed comes from LLVM vectorising scalar code, and the release
//! profile's fat LTO re-optimises everything at `opt-level = "z"`, where rustc turns the
//! vectorisers off; there it ran as fast as libargon2's scalar code (docs/benchmark.md). The
//! crate stays a dev-dependency: the tests compare the two on many parameters.
//!
//! Memory is kept as one vector per (slice, lane) segment, filled by pushing in the first pass:
//! no pass over the memory to zero it first, and while lane `l` fills its segment of slice `s`
//! it holds that segment mutably and every other slice shared, which is exactly what Argon2
//! lets it read (other lanes' blocks of the running slice are never referenced), so the lanes
//! run in parallel in safe code.

#[cfg(not(target_arch = "x86_64"))]
compile_error!("rdbreak's Argon2 is written for x86-64 (SSE2)");

use safe_arch::{
    add_i64_m128i as add, bitor_m128i as or, bitxor_m128i as xor, m128i, mul_widen_u32_odd_m128i as mul_lo32,
    prefetch_t0 as prefetch, shl_imm_u64_m128i as shl, shr_imm_u64_m128i as shr, shuffle_ai_f32_all_m128i as shuffle32,
    shuffle_ai_i16_h64all_m128i as shuffle16_hi, shuffle_ai_i16_l64all_m128i as shuffle16_lo,
    unpack_high_i64_m128i as unpack_hi, unpack_low_i64_m128i as unpack_lo,
};
use std::sync::{Mutex, PoisonError};

use blake2::digest::block_api::{UpdateCore, VariableOutputCore};
use blake2::digest::block_buffer::LazyBuffer;
use blake2::digest::Digest;
use blake2::{Blake2b512, Blake2bVarCore};
use zeroize::{Zeroize, Zeroizing};

const VERSION: u32 = 0x13;
const SLICES: usize = 4;
/// Words of pseudo-random addresses one address block holds.
const ADDRESSES: usize = 128;
/// RFC 9106's bound on the lane count.
const MAX_LANES: u32 = (1 << 24) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    I,
    Id,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::I => 1,
            Kind::Id => 2,
        }
    }
}

/// Why a hash could not be computed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fail {
    /// The parameters break RFC 9106's rules (the text says which).
    #[error("{0}")]
    Params(String),
    /// The memory could not be reserved.
    #[error("the memory could not be reserved")]
    Memory,
}

/// 1 KiB of Argon2 memory as 64 SSE registers of two little-endian words each.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([m128i; 64]);

impl Block {
    #[inline(always)]
    fn zero() -> Block {
        Block([m128i::from([0u64; 2]); 64])
    }

    fn from_bytes(bytes: &[u8; 1024]) -> Block {
        let mut b = Block::zero();
        for (v, pair) in b.0.iter_mut().zip(bytes.chunks_exact(16)) {
            let (lo, hi) = pair.split_at(8);
            *v = m128i::from([le64(lo), le64(hi)]);
        }
        b
    }

    fn word(&self, i: usize) -> u64 {
        <[u64; 2]>::from(self.0[i / 2])[i % 2]
    }

    #[inline]
    fn xor(&mut self, other: &Block) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a = xor(*a, *b);
        }
    }

    fn to_bytes(self, out: &mut [u8; 1024]) {
        for (i, w) in out.chunks_exact_mut(8).enumerate() {
            w.copy_from_slice(&self.word(i).to_le_bytes());
        }
    }
}

fn le64(b: &[u8]) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// BlaMka's addition: a + b + 2·lo32(a)·lo32(b), per 64-bit lane.
#[inline(always)]
fn bla(a: m128i, b: m128i) -> m128i {
    let m = mul_lo32(a, b);
    add(add(a, b), add(m, m))
}

#[inline(always)]
fn ror32(x: m128i) -> m128i {
    shuffle32::<0b10_11_00_01>(x)
}

#[inline(always)]
fn ror24(x: m128i) -> m128i {
    or(shr::<24>(x), shl::<40>(x))
}

#[inline(always)]
fn ror16(x: m128i) -> m128i {
    // A rotation by whole 16-bit words: one word shuffle per half, no shifts.
    shuffle16_hi::<0b00_11_10_01>(shuffle16_lo::<0b00_11_10_01>(x))
}

#[inline(always)]
fn ror63(x: m128i) -> m128i {
    or(shr::<63>(x), add(x, x))
}

/// `$e` for `$i` = 0, 1, 2, 3, written out: at `opt-level = "z"` LLVM unrolls nothing, and a
/// loop over registers would keep them in memory.
macro_rules! four {
    ($i:ident => $e:expr) => {{
        {
            let $i = 0;
            $e
        };
        {
            let $i = 1;
            $e
        };
        {
            let $i = 2;
            $e
        };
        {
            let $i = 3;
            $e
        };
    }};
}

/// Eight BLAKE2b G functions with BlaMka's addition: four register quartets (a, b, c, d) of
/// two lanes each. Each step is done for the four before the next, so the CPU always has four
/// independent chains to overlap (one G is a chain of 16 dependent operations).
#[inline(always)]
fn g(a: &mut [m128i; 4], b: &mut [m128i; 4], c: &mut [m128i; 4], d: &mut [m128i; 4]) {
    four!(i => a[i] = bla(a[i], b[i]));
    four!(i => d[i] = ror32(xor(d[i], a[i])));
    four!(i => c[i] = bla(c[i], d[i]));
    four!(i => b[i] = ror24(xor(b[i], c[i])));
    four!(i => a[i] = bla(a[i], b[i]));
    four!(i => d[i] = ror16(xor(d[i], a[i])));
    four!(i => c[i] = bla(c[i], d[i]));
    four!(i => b[i] = ror63(xor(b[i], c[i])));
}

/// (x's high word, y's low word).
#[inline(always)]
fn hi_lo(x: m128i, y: m128i) -> m128i {
    unpack_hi(x, unpack_lo(y, y))
}

/// Lines the diagonals of the row in quartets `j` and `j + 1` up as columns: its b, c and d
/// parts rotated left by one, two and three words.
#[inline(always)]
fn diagonalize(b: &mut [m128i; 4], c: &mut [m128i; 4], d: &mut [m128i; 4], j: usize) {
    (b[j], b[j + 1]) = (hi_lo(b[j], b[j + 1]), hi_lo(b[j + 1], b[j]));
    c.swap(j, j + 1);
    (d[j], d[j + 1]) = (hi_lo(d[j + 1], d[j]), hi_lo(d[j], d[j + 1]));
}

#[inline(always)]
fn undiagonalize(b: &mut [m128i; 4], c: &mut [m128i; 4], d: &mut [m128i; 4], j: usize) {
    (b[j], b[j + 1]) = (hi_lo(b[j + 1], b[j]), hi_lo(b[j], b[j + 1]));
    c.swap(j, j + 1);
    (d[j], d[j + 1]) = (hi_lo(d[j], d[j + 1]), hi_lo(d[j + 1], d[j]));
}

/// Argon2's permutation P on two independent rows of 16 words, each held as (v0 v1) (v2 v3)
/// … (v14 v15): G on the four columns, then on the four diagonals.
#[inline(always)]
fn permute2(v: [m128i; 16]) -> [m128i; 16] {
    let mut a = [v[0], v[1], v[8], v[9]];
    let mut b = [v[2], v[3], v[10], v[11]];
    let mut c = [v[4], v[5], v[12], v[13]];
    let mut d = [v[6], v[7], v[14], v[15]];
    g(&mut a, &mut b, &mut c, &mut d);
    diagonalize(&mut b, &mut c, &mut d, 0);
    diagonalize(&mut b, &mut c, &mut d, 2);
    g(&mut a, &mut b, &mut c, &mut d);
    undiagonalize(&mut b, &mut c, &mut d, 0);
    undiagonalize(&mut b, &mut c, &mut d, 2);
    [a[0], a[1], b[0], b[1], c[0], c[1], d[0], d[1], a[2], a[3], b[2], b[3], c[2], c[3], d[2], d[3]]
}

/// The 16 registers of columns i and i + 1 counted from register i: the two columns are
/// permuted together as two rows.
const COLUMNS: [usize; 16] = [0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57];

/// The compression function G(x, y) = P(x ⊕ y) ⊕ x ⊕ y into `dest`, or XORed into it when
/// `accumulate` (the passes after the first). P is applied to the eight rows of the 8×8
/// matrix of 16-byte registers (two at a time), then to its eight columns. x ⊕ y is not kept:
/// read again at the end, x and y are in L1, which costs less than a copy.
fn compress_into(x: &Block, y: &Block, dest: &mut Block, accumulate: bool) {
    // The referenced block is usually in DRAM, and so is `dest` after the first pass: ask for
    // all their cache lines at once rather than one miss after another (~10% off the hash).
    for line in y.0.iter().step_by(4).chain(dest.0.iter().step_by(4)) {
        prefetch(line);
    }
    let mut q = Block::zero();
    for ((q, x), y) in q.0.iter_mut().zip(&x.0).zip(&y.0) {
        *q = xor(*x, *y);
    }
    for rows in q.0.as_chunks_mut::<16>().0 {
        *rows = permute2(*rows);
    }
    let c = &mut q.0;
    for i in (0..8).step_by(2) {
        let v = permute2(COLUMNS.map(|o| c[i + o]));
        for (o, w) in COLUMNS.iter().zip(&v) {
            c[i + o] = *w;
        }
    }
    for (((d, q), x), y) in dest.0.iter_mut().zip(&q.0).zip(&x.0).zip(&y.0) {
        let v = xor(*q, xor(*x, *y));
        *d = if accumulate { xor(*d, v) } else { v };
    }
}

fn compress(x: &Block, y: &Block) -> Block {
    let mut out = Block::zero();
    compress_into(x, y, &mut out, false);
    out
}

/// BLAKE2b with an output of `out.len()` bytes (1 to 64) over the concatenated `parts`.
fn blake2b(parts: &[&[u8]], out: &mut [u8]) {
    let Ok(mut core) = Blake2bVarCore::new(out.len()) else { return };
    let mut buf = LazyBuffer::default();
    for p in parts {
        buf.digest_blocks(p, |blocks| core.update_blocks(blocks));
    }
    let mut full = Default::default();
    core.finalize_variable_core(&mut buf, &mut full);
    out.copy_from_slice(&full[..out.len()]);
    full.zeroize();
}

/// A lane number or count in Argon2's 32-bit field.
#[allow(clippy::cast_possible_truncation, reason = "lanes came in as a u32 (Argon2::new)")]
fn lane32(n: usize) -> [u8; 4] {
    (n as u32).to_le_bytes()
}

/// H', Argon2's variable-length hash (RFC 9106 §3.3).
#[allow(clippy::cast_possible_truncation, reason = "a block (1 KiB) or the tag, whose length was checked as a u32")]
fn hash_long(parts: &[&[u8]], out: &mut [u8]) {
    let len = (out.len() as u32).to_le_bytes();
    let mut with_len = Vec::with_capacity(parts.len() + 1);
    with_len.push(&len[..]);
    with_len.extend_from_slice(parts);
    if out.len() <= 64 {
        return blake2b(&with_len, out);
    }
    let mut v = Zeroizing::new([0u8; 64]);
    blake2b(&with_len, &mut v[..]);
    // V1 … Vr give their first 32 bytes, V(r+1) the last 33 to 64 whole.
    let mut rest = &mut out[..];
    loop {
        let (head, tail) = rest.split_at_mut(32);
        head.copy_from_slice(&v[..32]);
        rest = tail;
        if rest.len() <= 64 {
            break;
        }
        let mut next = Blake2b512::new();
        next.update(&v[..]);
        v.copy_from_slice(&next.finalize());
    }
    blake2b(&[&v[..]], rest);
}

/// The shape of the memory for one set of parameters.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    kind: Kind,
    passes: u32,
    lanes: usize,
    /// Blocks per lane (q), and per segment (q / 4).
    lane: usize,
    segment: usize,
}

impl Geometry {
    fn blocks(&self) -> usize {
        self.lane * self.lanes
    }
}

/// Argon2 with its parameters checked: `time` passes over `memory_kib` KiB in `lanes` lanes.
pub struct Argon2 {
    geo: Geometry,
    memory_kib: u32,
}

impl Argon2 {
    /// The parameters RFC 9106 forbids are refused, the text saying which and why.
    pub fn new(kind: Kind, time: u32, memory_kib: u32, lanes: u32) -> Result<Argon2, Fail> {
        if time == 0 {
            return Err(Fail::Params("the time cost is 0; at least 1 pass is needed".into()));
        }
        if lanes == 0 || lanes > MAX_LANES {
            return Err(Fail::Params(format!("{lanes} lanes; 1 to {MAX_LANES} are allowed")));
        }
        if u64::from(memory_kib) < 8 * u64::from(lanes) {
            return Err(Fail::Params(format!("{memory_kib} KiB of memory for {lanes} lanes; at least 8 KiB per lane")));
        }
        let lanes = lanes as usize;
        let segment = memory_kib as usize / (SLICES * lanes);
        let geo = Geometry { kind, passes: time, lanes, lane: segment * SLICES, segment };
        Ok(Argon2 { geo, memory_kib })
    }

    /// The memory the hash fills, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.geo.blocks() as u64 * 1024
    }

    /// The tag of `pwd` (with `salt`, the secret `key` and associated data `ad`) into `out`,
    /// the lanes on up to `threads` threads (fewer when the system gives fewer).
    pub fn hash(
        &self,
        pwd: &[u8],
        salt: &[u8],
        key: &[u8],
        ad: &[u8],
        out: &mut [u8],
        threads: usize,
    ) -> Result<(), Fail> {
        let too_long = |what: &str| Fail::Params(format!("the {what} is longer than 4 GiB"));
        let len = |b: &[u8], what: &str| u32::try_from(b.len()).map(u32::to_le_bytes).map_err(|_| too_long(what));
        if salt.len() < 8 {
            return Err(Fail::Params(format!("a {}-byte salt; Argon2 needs at least 8 bytes", salt.len())));
        }
        if out.len() < 4 {
            return Err(Fail::Params(format!("a {}-byte output; at least 4 bytes", out.len())));
        }
        let g = self.geo;
        let mut h0 = Zeroizing::new([0u8; 72]);
        let params = [
            lane32(g.lanes),
            len(out, "output")?,
            self.memory_kib.to_le_bytes(),
            g.passes.to_le_bytes(),
            VERSION.to_le_bytes(),
            g.kind.code().to_le_bytes(),
        ];
        let (lp, ls, lk, la) = (len(pwd, "passphrase")?, len(salt, "salt")?, len(key, "secret")?, len(ad, "data")?);
        let mut parts: Vec<&[u8]> = params.iter().map(|p| &p[..]).collect();
        parts.extend_from_slice(&[&lp[..], pwd, &ls[..], salt, &lk[..], key, &la[..], ad]);
        blake2b(&parts, &mut h0[..64]);

        let mut segments = reserve(&g)?;
        let mut bytes = Zeroizing::new([0u8; 1024]);
        for (l, lane) in segments[..g.lanes].iter_mut().enumerate() {
            for i in 0..2u32 {
                h0[64..68].copy_from_slice(&i.to_le_bytes());
                h0[68..72].copy_from_slice(&lane32(l));
                hash_long(&[&h0[..]], &mut bytes[..]);
                lane.push(Block::from_bytes(&bytes));
            }
        }
        for pass in 0..g.passes {
            for slice in 0..SLICES {
                fill_slice(&g, pass, slice, &mut segments, threads);
            }
        }
        let mut last = Block::zero();
        for lane in &segments[(SLICES - 1) * g.lanes..] {
            if let Some(b) = lane.last() {
                last.xor(b);
            }
        }
        last.to_bytes(&mut bytes);
        hash_long(&[&bytes[..]], out);
        wipe(&mut segments);
        last = Block::zero();
        std::hint::black_box(&mut last);
        Ok(())
    }
}

/// One vector per (slice, lane) segment, slice-major, each reserved whole and advised onto
/// huge pages (10-15% off the hash) before its first write.
fn reserve(g: &Geometry) -> Result<Vec<Vec<Block>>, Fail> {
    let count = SLICES * g.lanes;
    let mut segments: Vec<Vec<Block>> = Vec::new();
    segments.try_reserve_exact(count).map_err(|_| Fail::Memory)?;
    for _ in 0..count {
        let mut s = Vec::new();
        s.try_reserve_exact(g.segment).map_err(|_| Fail::Memory)?;
        let _ = crate::sys::advise_huge_pages(s.spare_capacity_mut());
        segments.push(s);
    }
    Ok(segments)
}

/// Fills slice `slice` of every lane in pass `pass`: the lanes are handed out one at a time to
/// this thread and up to `threads - 1` others (a thread that cannot be started is simply not
/// there: the ones running take its lanes).
fn fill_slice(g: &Geometry, pass: u32, slice: usize, segments: &mut [Vec<Block>], threads: usize) {
    let (before, rest) = segments.split_at_mut(slice * g.lanes);
    let (current, after) = rest.split_at_mut(g.lanes);
    let view = View { g, slice, before, after };
    let queue = Mutex::new(current.iter_mut().enumerate());
    let work = || loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
        let Some((lane, mine)) = next else { break };
        fill_segment(&view, pass, lane, mine);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.min(g.lanes) {
            let spawned = std::thread::Builder::new().stack_size(crate::THREAD_STACK).spawn_scoped(scope, work);
            if spawned.is_err() {
                break;
            }
        }
        work();
    });
}

/// What a lane filling a segment of slice `slice` may read besides its own segment: the
/// segments of the slices before and after it.
struct View<'a> {
    g: &'a Geometry,
    slice: usize,
    before: &'a [Vec<Block>],
    after: &'a [Vec<Block>],
}

impl View<'_> {
    /// Block `index` of lane `lane`, `mine` being this lane's segment of the running slice
    /// (another lane's block is never in the running slice: `reference_index` spans only
    /// finished slices for other lanes).
    fn block<'b>(&'b self, mine: &'b [Block], lane: usize, index: usize) -> &'b Block {
        let (s, k) = (index / self.g.segment, index % self.g.segment);
        if s == self.slice {
            &mine[k]
        } else if s < self.slice {
            &self.before[s * self.g.lanes + lane][k]
        } else {
            &self.after[(s - self.slice - 1) * self.g.lanes + lane][k]
        }
    }
}

/// Computes lane `lane`'s segment of the view's slice (RFC 9106 §3.4).
fn fill_segment(view: &View<'_>, pass: u32, lane: usize, mine: &mut Vec<Block>) {
    let g = view.g;
    let slice = view.slice;
    let independent = g.kind == Kind::I || (pass == 0 && slice < SLICES / 2);
    let (zero, mut input, mut addresses) = (Block::zero(), [0u64; 8], Block::zero());
    let next_addresses = |input: &mut [u64; 8], addresses: &mut Block| {
        input[6] += 1;
        let mut z = Block::zero();
        z.0[..4].iter_mut().enumerate().for_each(|(i, v)| *v = m128i::from([input[2 * i], input[2 * i + 1]]));
        *addresses = compress(&zero, &compress(&zero, &z));
    };
    if independent {
        input[..6].copy_from_slice(&[
            u64::from(pass),
            lane as u64,
            slice as u64,
            g.blocks() as u64,
            u64::from(g.passes),
            u64::from(g.kind.code()),
        ]);
    }
    let first = if pass == 0 && slice == 0 { 2 } else { 0 };
    if independent && first == 2 {
        next_addresses(&mut input, &mut addresses);
    }
    for k in first..g.segment {
        let index = slice * g.segment + k;
        let prev = if index == 0 { g.lane - 1 } else { index - 1 };
        if pass == 0 {
            mine.push(Block::zero());
        }
        // Block k is written; of this lane's own segment only the blocks before it are read.
        let (done, rest) = mine.split_at_mut(k);
        let prev_block = view.block(done, lane, prev);
        let random = if independent {
            if k % ADDRESSES == 0 {
                next_addresses(&mut input, &mut addresses);
            }
            addresses.word(k % ADDRESSES)
        } else {
            prev_block.word(0)
        };
        let ref_lane = if pass == 0 && slice == 0 { lane } else { (random >> 32) as usize % g.lanes };
        let reference = view.block(done, ref_lane, reference_index(g, pass, slice, k, ref_lane == lane, random));
        compress_into(prev_block, reference, &mut rest[0], pass > 0);
    }
}

/// Where in its lane the block referenced at position `k` of the segment lies (RFC 9106
/// §3.4.1.2): J1, the low half of `random`, picks among the blocks this one may reference,
/// biased towards the most recent.
fn reference_index(g: &Geometry, pass: u32, slice: usize, k: usize, same_lane: bool, random: u64) -> usize {
    let finished = if pass == 0 { slice * g.segment } else { g.lane - g.segment };
    let area = (if same_lane { finished + k - 1 } else { finished - usize::from(k == 0) }) as u64;
    let j1 = random & 0xffff_ffff;
    let x = (j1 * j1) >> 32;
    let relative = area - 1 - ((area * x) >> 32);
    let start = if pass == 0 || slice == SLICES - 1 { 0 } else { (slice + 1) * g.segment };
    // Below `area`, a usize.
    (start + usize::try_from(relative).unwrap_or(0)) % g.lane
}

/// Zeroes the memory before it is freed (it holds values derived from the passphrase); the
/// `black_box` keeps the stores from being dropped as dead.
fn wipe(segments: &mut [Vec<Block>]) {
    for s in segments.iter_mut() {
        s.iter_mut().for_each(|b| *b = Block::zero());
    }
    std::hint::black_box(segments);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    struct Case {
        kind: Kind,
        t: u32,
        m: u32,
        p: u32,
        len: usize,
    }

    /// The `argon2` crate's tag for the same inputs.
    fn reference(c: Case, pwd: &[u8], salt: &[u8], key: &[u8]) -> Vec<u8> {
        let alg = match c.kind {
            Kind::I => ::argon2::Algorithm::Argon2i,
            Kind::Id => ::argon2::Algorithm::Argon2id,
        };
        let params = ::argon2::Params::new(c.m, c.t, c.p, Some(c.len)).unwrap();
        let mut out = vec![0; c.len];
        ::argon2::Argon2::new_with_secret(key, alg, ::argon2::Version::V0x13, params)
            .unwrap()
            .hash_password_into(pwd, salt, &mut out)
            .unwrap();
        out
    }

    fn ours(c: Case, pwd: &[u8], salt: &[u8], key: &[u8], threads: usize) -> Vec<u8> {
        let mut out = vec![0; c.len];
        Argon2::new(c.kind, c.t, c.m, c.p).unwrap().hash(pwd, salt, key, &[], &mut out, threads).unwrap();
        out
    }

    #[test]
    fn the_tag_is_the_argon2_crates_for_every_shape_of_memory_and_output() {
        // Memory not a multiple of 4 lanes (rounded down), one to five lanes, more than one
        // address block per segment (m = 1100), outputs around H''s 64-byte switch.
        let cases = [
            (Kind::Id, 1, 8, 1, 32),
            (Kind::I, 1, 8, 1, 4),
            (Kind::Id, 2, 33, 2, 64),
            (Kind::I, 3, 97, 3, 65),
            (Kind::Id, 3, 120, 5, 100),
            (Kind::Id, 2, 1100, 2, 64),
            (Kind::I, 2, 1100, 1, 1024),
            (Kind::Id, 4, 2048, 4, 32),
        ];
        for (i, &(kind, t, m, p, len)) in cases.iter().enumerate() {
            let c = Case { kind, t, m, p, len };
            let pwd = format!("pass {i}");
            let salt = [u8::try_from(i).unwrap(); 16];
            let key: &[u8] = if i % 2 == 0 { b"" } else { b"secret" };
            assert_eq!(ours(c, pwd.as_bytes(), &salt, key, 4), reference(c, pwd.as_bytes(), &salt, key), "{c:?}");
        }
    }

    #[test]
    fn the_tag_does_not_depend_on_how_many_threads_run_the_lanes() {
        let c = Case { kind: Kind::Id, t: 2, m: 256, p: 4, len: 32 };
        let want = ours(c, b"pw", b"saltsalt", b"", 1);
        for threads in [2, 3, 4, 64] {
            assert_eq!(ours(c, b"pw", b"saltsalt", b"", threads), want, "{threads}");
        }
    }

    #[test]
    fn parameters_rfc_9106_forbids_are_refused_with_the_value() {
        let params = |r: Result<Argon2, Fail>| r.err().expect("refused").to_string();
        assert!(params(Argon2::new(Kind::Id, 0, 64, 1)).contains("time cost is 0"));
        assert!(params(Argon2::new(Kind::Id, 1, 64, 0)).contains("0 lanes"));
        assert!(params(Argon2::new(Kind::Id, 1, 64, 1 << 24)).contains("16777216 lanes"));
        assert!(params(Argon2::new(Kind::Id, 1, 31, 4)).contains("31 KiB of memory for 4 lanes"));
        let a = Argon2::new(Kind::I, 1, 32, 4).unwrap();
        assert_eq!(a.memory_bytes(), 32 << 10);
        let mut out = [0; 3];
        assert!(
            matches!(a.hash(b"", b"saltsalt", b"", b"", &mut out, 1), Err(Fail::Params(w)) if w.contains("3-byte output"))
        );
        let mut out = [0; 32];
        assert!(
            matches!(a.hash(b"", b"salt", b"", b"", &mut out, 1), Err(Fail::Params(w)) if w.contains("4-byte salt"))
        );
    }

    #[test]
    fn the_memory_rounds_down_to_four_blocks_per_lane() {
        assert_eq!(Argon2::new(Kind::Id, 1, 37, 2).unwrap().memory_bytes(), 32 << 10);
        assert_eq!(Argon2::new(Kind::Id, 4, 1 << 20, 4).unwrap().memory_bytes(), 1 << 30);
    }
}
